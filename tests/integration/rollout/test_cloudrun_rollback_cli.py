"""`ethos rollback ... --traffic cloudrun` as a user runs it, against the Cloud Run fake.

The revisions' URLs are not given: ethos reads the tag URLs from the service's status (the
fake's tag URLs lead to fake revisions on 127.0.0.1), shifts by tag, and the real gcloud then
reads what ethos did. Failures of the update's long-running operation are journaled and
resumed; bad input (no credentials, wrong project / region / service) is one clear line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from ethos.rollout.traffic.cloudrun_fake import FakeCloudRun
from tests.integration.rollout._gcloud import REGION, GCloud, gcloud_view
from tests.integration.rollout._rollback_fakes import FakeRevision, WebhookReceiver

pytestmark = pytest.mark.slow  # starts the ethos CLI as a process per test: left out of `make test-fast`

CLOUD = ["--traffic", "cloudrun", "--service", "marketing-api", "--region", REGION, "--project", "proj"]


def ethos(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    e = {k: v for k, v in os.environ.items()
         if not k.startswith(("ETHOS_", "GOOGLE_", "CLOUDSDK_")) and k != "GCE_METADATA_HOST"}
    e.update(env or {})
    return subprocess.run([sys.executable, "-c", "from ethos.cli import main; main()", *args],
                          capture_output=True, text=True, env=e, timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[SimpleNamespace]:
    blue, green = FakeRevision("blue").start(), FakeRevision("green").start()
    hook = WebhookReceiver().start()
    # after a deploy: marketing-api-00002-abc serves (tag blue), 00003-xyz is the new green at 30 %
    from ethos.rollout.traffic.cloudrun_fake import Target

    revs = ["marketing-api-00002-abc", "marketing-api-00003-xyz"]
    fake = FakeCloudRun(revisions=revs, traffic=[Target(70, revs[0]), Target(30, revs[1]),
                                                 Target(0, revs[0], tag="blue"), Target(0, revs[1], tag="green")],
                        tag_urls={"blue": blue.url, "green": green.url}).start()
    state = tmp_path / "state"
    ns = SimpleNamespace(blue=blue, green=green, hook=hook, fake=fake, state=str(state), revs=revs,
                         flags=[*CLOUD, "--cloudrun-endpoint", fake.url, "--cloudrun-anonymous",
                                "--state-dir", str(state)],
                         env={"ETHOS_ADMIN_API_KEY": "k", "ETHOS_NOTIFY_WEBHOOK_URL": hook.url + "/hook",
                              "ETHOS_NO_AUTO_INCIDENT": "1"},
                         gcloud=lambda: GCloud(fake, tmp_path / "gcloud-config"))  # only the tests that use it need gcloud
    yield ns
    for srv in (blue, green, hook, fake):
        srv.stop()


def events(c: SimpleNamespace, rid: str) -> list[dict]:
    path = Path(c.state, "journal", f"{rid}.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_emergency_rollback_by_tag_and_gcloud_agrees(cloud: SimpleNamespace) -> None:
    r = ethos("rollback", "emergency", *cloud.flags, "--yes", "--json", "--reason", "error rate > 5%", env=cloud.env)
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout)
    assert out["status"] == "done"
    # the fake's state, ethos's result and gcloud's view: 100 % on the revision tagged blue
    blue_rev, green_rev = cloud.revs
    assert cloud.fake.in_force() == {blue_rev: 100}
    split, tags = gcloud_view(cloud.gcloud().describe())
    assert split == {blue_rev: 100} and tags == {"blue": blue_rev, "green": green_rev}
    shift = next(s for s in out["steps"] if s["name"] == "shift_traffic")
    assert shift["values"]["after"] == {"blue": 100, "green": 0}
    # the health checks and the cache invalidation went to the tag URLs read from the status
    for rev in (cloud.blue, cloud.green):
        assert ("GET", "/health") in rev.calls and ("POST", "/api/admin/cache/invalidate") in rev.calls
    start = events(cloud, out["rollback_id"])[0]
    t = start["targets"]
    assert t["source"] == "cloudrun status"
    assert t["revisions"] == {"blue": cloud.blue.url, "green": cloud.green.url}
    assert t["cloudrun"]["resolved"] == {"blue": blue_rev, "green": green_rev}  # who blue and green were
    (_, body), = cloud.hook.received
    assert body["outcome"] == "done"


def test_a_failed_operation_is_journaled_and_resume_finishes_the_rollback(cloud: SimpleNamespace) -> None:
    blue_rev = cloud.revs[0]
    cloud.fake.state.set_ready(blue_rev, False, "Container failed to start and listen on PORT=8080")
    r = ethos("rollback", "emergency", *cloud.flags, "--yes", "--json", env=cloud.env)
    assert r.returncode == 1, r.stdout + r.stderr
    out = json.loads(r.stdout)
    assert out["status"] == "failed" and "not ready" in out["message"]
    ended = [e for e in events(cloud, out["rollback_id"]) if e["event"] == "step_ended" and e["step"] == "shift_traffic"]
    assert ended and ended[0]["status"] == "failed"
    op = ended[0]["values"]["operation"]
    assert op.startswith(f"projects/proj/locations/{REGION}/operations/") and op in ended[0]["message"]
    assert ended[0]["values"]["error"] == "TrafficOperationError"
    assert cloud.fake.in_force() == {blue_rev: 70, cloud.revs[1]: 30}  # unchanged
    # blue comes back; resume acts on what is in force now
    cloud.fake.state.set_ready(blue_rev, True)
    r = ethos("rollback", "resume", out["rollback_id"], "--state-dir", cloud.state, "--yes", "--json", env=cloud.env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["status"] == "done"
    assert cloud.fake.in_force() == {blue_rev: 100}
    assert gcloud_view(cloud.gcloud().describe())[0] == {blue_rev: 100}


def test_a_refused_shift_changes_nothing_and_says_why(cloud: SimpleNamespace) -> None:
    cloud.fake.state.deny.add("run.services.update")
    version = cloud.fake.service.version
    r = ethos("rollback", "emergency", *cloud.flags, "--yes", env=cloud.env)
    assert r.returncode == 1
    assert "403 permission denied" in r.stdout and "run.services.update" in r.stdout and "nothing changed" in r.stdout
    assert "Traceback" not in r.stdout + r.stderr
    assert cloud.fake.service.version == version and cloud.fake.in_force() == {cloud.revs[0]: 70, cloud.revs[1]: 30}


@pytest.mark.parametrize(("flag", "value", "says"), [
    ("--service", "marketing-apii", "service 'marketing-apii' not found in project 'proj', region "
                                    "'australia-southeast1' (services there: marketing-api)"),
    ("--region", "australia-southeast9", "region 'australia-southeast9' not found: it is not a Cloud Run region"),
    ("--project", "no-such-project", "project 'no-such-project' not found"),
])
def test_wrong_service_region_or_project_names_the_thing_not_found(cloud: SimpleNamespace, flag: str, value: str,
                                                                   says: str) -> None:
    flags = list(cloud.flags)
    flags[flags.index(flag) + 1] = value
    r = ethos("rollback", "emergency", *flags, "--yes", env=cloud.env)
    assert r.returncode == 2, r.stdout + r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith("error: ") and says in line
    assert not [q for q in cloud.fake.requests if q.method == "PATCH"]
    assert not Path(cloud.state, "journal").exists() or not list(Path(cloud.state, "journal").glob("*.jsonl"))


def test_no_credentials_names_application_default_credentials(cloud: SimpleNamespace, tmp_path: Path) -> None:
    # no --cloudrun-anonymous: google-auth looks for ADC and finds none (no key file, no gcloud
    # ADC file in an empty config dir, no metadata server)
    flags = [f for f in cloud.flags if f != "--cloudrun-anonymous"]
    env = {**cloud.env, "HOME": str(tmp_path), "CLOUDSDK_CONFIG": str(tmp_path / "no-gcloud"),
           "NO_GCE_CHECK": "true"}
    r = ethos("rollback", "emergency", *flags, "--yes", env=env)
    assert r.returncode == 2, r.stdout + r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith("error: no Google Cloud credentials for Cloud Run")
    assert "Application Default Credentials" in line and "gcloud auth application-default login" in line
    assert cloud.fake.requests == []


def test_dry_run_shows_the_tag_urls_and_changes_nothing(cloud: SimpleNamespace) -> None:
    r = ethos("rollback", "emergency", *cloud.flags, "--dry-run", "--json", env=cloud.env)
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout)
    assert out["targets"]["revisions"] == {"blue": cloud.blue.url, "green": cloud.green.url}
    assert out["targets"]["cloudrun"]["resolved"] == {"blue": cloud.revs[0], "green": cloud.revs[1]}
    assert not [q for q in cloud.fake.requests if q.method == "PATCH"]


def test_standard_rollback_probe_accepts_the_revision_blue_resolved_to(tmp_path: Path) -> None:
    # revisions on Cloud Run answer with their own revision name, not "blue"
    from ethos.rollout.traffic.cloudrun_fake import Target

    revs = ["marketing-api-00002-abc", "marketing-api-00003-xyz"]
    blue, green, other = FakeRevision(revs[0]).start(), FakeRevision(revs[1]).start(), FakeRevision("elsewhere").start()
    fake = FakeCloudRun(revisions=revs, traffic=[Target(50, revs[0]), Target(50, revs[1]),
                                                 Target(0, revs[0], tag="blue"), Target(0, revs[1], tag="green")],
                        tag_urls={"blue": blue.url, "green": green.url}).start()
    try:
        flags = [*CLOUD, "--cloudrun-endpoint", fake.url, "--cloudrun-anonymous", "--yes", "--json", "--force"]
        env = {"ETHOS_ADMIN_API_KEY": "k", "ETHOS_NO_AUTO_INCIDENT": "1"}
        r = ethos("rollback", "standard", *flags, "--state-dir", str(tmp_path / "a"), env=env)
        assert r.returncode == 0, r.stdout + r.stderr
        probe = next(s for s in json.loads(r.stdout)["steps"] if s["name"] == "probe")
        assert probe["status"] == "ok" and probe["values"]["revision"] == revs[0]
        # a probe answered by another revision still fails
        fake.state.set_traffic_now(fake.service, [Target(50, revs[0]), Target(50, revs[1]),
                                                  Target(0, revs[0], tag="blue"), Target(0, revs[1], tag="green")])
        fake.state.tag_urls["blue"] = other.url
        r = ethos("rollback", "standard", *flags, "--state-dir", str(tmp_path / "b"), env=env)
        assert r.returncode == 1
        assert "probe was answered by elsewhere, expected blue (marketing-api-00002-abc)" in r.stdout
    finally:
        for srv in (blue, green, other, fake):
            srv.stop()
