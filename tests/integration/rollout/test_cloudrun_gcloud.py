"""The real gcloud and ethos's Cloud Run traffic manager against ONE fake Cloud Run.

gcloud (Knative serving.knative.dev/v1) and google-cloud-run (Admin API v2) read and write the
same state: what one changes, the other reads, and both agree with the fake's own state. The
runbook's commands are run as written, and the deploy steps of deploy/cloudrun/README.md
(`gcloud run services replace` of the manifest, `gcloud run deploy --no-traffic --tag green`,
`gcloud run services update-traffic --to-tags`) as the README gives them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from google.auth.credentials import AnonymousCredentials

from ethos.rollout.traffic.cloudrun import CloudRunTraffic
from ethos.rollout.traffic.cloudrun_fake import CloudRunState, FakeCloudRun, Target
from tests.integration.rollout._gcloud import REGION, GCloud, gcloud_view, render_manifest

pytestmark = pytest.mark.slow  # drives the real gcloud CLI: left out of `make test-fast`

# the runbook's commands, verbatim (/work/shared/spec/rollback-procedures.md)
RUNBOOK_EMERGENCY = ("gcloud run services update-traffic marketing-api "
                     "--to-revisions=marketing-api-blue=100 --region=australia-southeast1")
RUNBOOK_VERIFY = 'gcloud run services describe marketing-api --region=australia-southeast1 --format="value(status.traffic)"'
RUNBOOK_GRADUAL_1 = ("gcloud run services update-traffic marketing-api "
                     "--to-revisions=marketing-api-blue=50,marketing-api-green=50")


@pytest.fixture
def fake() -> Iterator[FakeCloudRun]:
    with FakeCloudRun() as f:  # revisions named as the runbook names them: marketing-api-blue / -green, 90/10
        yield f


@pytest.fixture
def gcloud(fake: FakeCloudRun, tmp_path: Path) -> GCloud:
    return GCloud(fake, tmp_path / "gcloud-config")


def ethos_tm(fake: FakeCloudRun, **kw: object) -> CloudRunTraffic:
    return CloudRunTraffic("marketing-api", REGION, "proj", credentials=AnonymousCredentials(),
                           api_endpoint=fake.url, **kw)  # type: ignore[arg-type]


def agree(fake: FakeCloudRun, gcloud: GCloud, tm: CloudRunTraffic) -> tuple[dict[str, int], dict[str, str]]:
    """gcloud's view, the fake's state and ethos's weights say the same; returns gcloud's view."""
    split, tags = gcloud_view(gcloud.describe())
    assert split == fake.in_force() and tags == fake.tags()
    names = tm.resolved()
    assert names == {n: tags[n] for n in ("blue", "green")}
    ours = tm.get_weights()
    assert {names.get(k, k): v for k, v in ours.items() if v} == split
    return split, tags


def test_the_runbooks_describe_and_ethos_read_the_same_service(fake: FakeCloudRun, gcloud: GCloud) -> None:
    tm = ethos_tm(fake)
    split, tags = agree(fake, gcloud, tm)
    assert split == {"marketing-api-blue": 90, "marketing-api-green": 10}
    out = gcloud.shell(RUNBOOK_VERIFY).stdout
    assert "'percent': 90, 'revisionName': 'marketing-api-blue'" in out
    assert f"'tag': 'green', 'url': '{fake.service.tag_url('green')}'" in out
    # gcloud sees the tag URLs ethos's rollback checks
    svc = gcloud.describe()
    urls = {t["tag"]: t["url"] for t in svc["status"]["traffic"] if t.get("tag")}
    assert urls == tm.revision_urls()
    assert svc["metadata"]["resourceVersion"] == fake.service.etag == tm.read().etag


def test_the_runbooks_emergency_command_as_written(fake: FakeCloudRun, gcloud: GCloud) -> None:
    # It works only while the revisions are literally named marketing-api-blue / -green (the
    # first deploy with --revision-suffix): the tags survive it, and ethos reads the result.
    version = fake.service.version
    r = gcloud.shell(RUNBOOK_EMERGENCY)
    assert "100% marketing-api-blue" in " ".join(r.stdout.replace("\x1b[1m", "").replace("\x1b[m", "").split())
    assert fake.in_force() == {"marketing-api-blue": 100}
    assert fake.tags() == {"blue": "marketing-api-blue", "green": "marketing-api-green"}
    assert fake.service.version > version
    put = [q for q in fake.requests if q.api == "v1" and q.method == "PUT"][-1]
    assert put.body["spec"]["traffic"][0] == {"percent": 100, "revisionName": "marketing-api-blue"}
    tm = ethos_tm(fake)
    assert tm.get_weights() == {"blue": 100, "green": 0}
    agree(fake, gcloud, tm)


def test_the_runbooks_gradual_commands_have_no_region(fake: FakeCloudRun, gcloud: GCloud) -> None:
    r = gcloud.shell(RUNBOOK_GRADUAL_1, check=False)
    assert r.returncode != 0 and "You must specify a region" in r.stderr
    assert not [q for q in fake.requests if q.method == "PUT"]
    gcloud.shell(RUNBOOK_GRADUAL_1 + " --region=australia-southeast1")
    assert fake.in_force() == {"marketing-api-blue": 50, "marketing-api-green": 50}
    assert ethos_tm(fake).get_weights() == {"blue": 50, "green": 50}


def test_ethos_shift_is_what_gcloud_then_reads_and_a_gcloud_shift_what_ethos_reads(fake: FakeCloudRun,
                                                                                  gcloud: GCloud) -> None:
    tm = ethos_tm(fake)
    fake.state.polls_until_done = 3
    assert tm.set_weights({"blue": 100}) == {"blue": 100, "green": 0}
    split, tags = agree(fake, gcloud, tm)
    assert split == {"marketing-api-blue": 100}
    assert set(tags) == {"blue", "green"}
    fake.state.polls_until_done = 3  # gcloud awaits the same kind of operation (run.googleapis.com/operation-id)
    gcloud("run", "services", "update-traffic", "marketing-api", "--to-tags=green=25", f"--region={REGION}")
    assert any(q.api == "ops" and q.path.endswith(":wait") for q in fake.requests)
    assert tm.get_weights() == {"blue": 75, "green": 25}
    agree(fake, gcloud, tm)


def test_gcloud_gets_the_same_409_when_the_service_changed_under_it(fake: FakeCloudRun, gcloud: GCloud) -> None:
    def operator(state: CloudRunState, s: object) -> None:
        state.set_traffic_now(fake.service, [Target(100, "marketing-api-green"),
                                             Target(0, "marketing-api-blue", tag="blue"),
                                             Target(0, "marketing-api-green", tag="green")])

    fake.state.before_write.append(operator)
    r = gcloud("run", "services", "update-traffic", "marketing-api", "--to-tags=blue=100", f"--region={REGION}",
               check=False)
    assert r.returncode != 0 and "ABORTED" in r.stderr and "current version" in r.stderr
    assert fake.in_force() == {"marketing-api-green": 100}


def test_from_the_manifest_to_blue_green_and_an_ethos_rollback(tmp_path: Path) -> None:
    """deploy/cloudrun/README.md's steps against an empty project, then ethos rolls back."""
    state = CloudRunState()
    state.add_project("proj")
    with FakeCloudRun(state=state) as fake:
        gcloud = GCloud(fake, tmp_path / "gcloud-config")
        image = f"{REGION}-docker.pkg.dev/proj/ethos/ethos"
        manifest = tmp_path / "service.yaml"
        manifest.write_text(render_manifest("r1", f"{image}:1"))
        # 1. first release from the manifest: revision marketing-api-r1, 100 %, tag blue
        gcloud("run", "services", "replace", str(manifest), f"--region={REGION}")
        split, tags = gcloud_view(gcloud.describe())
        assert split == {"marketing-api-r1": 100} and tags == {"blue": "marketing-api-r1"}
        svc = gcloud.describe()
        env = {e["name"]: e for e in svc["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["ETHOS_ADMIN_API_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "ethos-admin-api-key",
                                                                            "key": "latest"}
        # 2. the next release: a new revision tagged green, no traffic (the README's command)
        release(gcloud, image, "r2")
        svc = gcloud.describe()
        split, tags = gcloud_view(svc)
        green = tags["green"]
        assert split == {"marketing-api-r1": 100} and tags == {"blue": "marketing-api-r1", "green": "marketing-api-r2"}
        env = {e["name"]: e for e in svc["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["ETHOS_REVISION"]["value"] == "marketing-api-r2"
        assert "secretKeyRef" in env["ETHOS_ADMIN_API_KEY"]["valueFrom"]  # carried over from the manifest
        # 3. promote green by its tag
        gcloud("run", "services", "update-traffic", "marketing-api", "--to-tags=green=100", f"--region={REGION}")
        assert fake.state.in_force(fake.state.get("proj", REGION, "marketing-api")) == {green: 100}
        # the runbook's emergency command no longer works: there is no revision marketing-api-blue
        version = fake.state.get("proj", REGION, "marketing-api").version
        r = gcloud("run", "services", "update-traffic", "marketing-api", "--to-revisions=marketing-api-blue=100",
                   f"--region={REGION}", check=False)
        assert r.returncode != 0 and "Revision 'marketing-api-blue' does not exist" in r.stderr
        assert fake.state.get("proj", REGION, "marketing-api").version == version  # refused: nothing changed
        # 4. ethos rolls back by tag; gcloud and the fake agree, every tag kept
        tm = ethos_tm(fake)
        assert tm.resolved() == {"blue": "marketing-api-r1", "green": green}
        assert tm.set_weights({"blue": 100}) == {"blue": 100, "green": 0}
        split, tags = gcloud_view(gcloud.describe())
        assert split == {"marketing-api-r1": 100} and tags == {"blue": "marketing-api-r1", "green": green}
        # the runbook's command corrected: by tag; a second time it changes nothing in force
        gcloud("run", "services", "update-traffic", "marketing-api", "--to-tags=blue=100", f"--region={REGION}")
        assert gcloud_view(gcloud.describe()) == (split, tags)
        # 5. the tags move: r2 fixed and accepted, blue moves to it, r3 is the next green
        gcloud("run", "services", "update-traffic", "marketing-api", "--to-tags=green=100", f"--region={REGION}")
        gcloud("run", "services", "update-traffic", "marketing-api", "--update-tags=blue=marketing-api-r2",
               f"--region={REGION}")
        release(gcloud, image, "r3")
        assert tm.resolved() == {"blue": "marketing-api-r2", "green": "marketing-api-r3"}
        assert tm.get_weights() == {"blue": 100, "green": 0}
        gcloud("run", "services", "update-traffic", "marketing-api", "--to-tags=green=20", f"--region={REGION}")
        assert tm.set_weights({"blue": 100}) == {"blue": 100, "green": 0}
        split, tags = gcloud_view(gcloud.describe())
        assert split == {"marketing-api-r2": 100} and tags == {"blue": "marketing-api-r2", "green": "marketing-api-r3"}


def release(gcloud: GCloud, image: str, release: str) -> None:
    """deploy/cloudrun/README.md step 5, as written there."""
    gcloud("run", "deploy", "marketing-api", f"--image={image}:{release}", f"--revision-suffix={release}",
           f"--update-env-vars=ETHOS_REVISION=marketing-api-{release}", "--no-traffic", "--tag=green",
           f"--region={REGION}")
