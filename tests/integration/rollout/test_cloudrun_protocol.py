"""CloudRunTraffic through the real google-cloud-run client (REST) against the Cloud Run fake.

The fake (``ethos.rollout.traffic.cloudrun_fake``) answers with JSON built from the client's own
types and keeps one state, which gcloud reads too (test_cloudrun_gcloud.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from google.auth.credentials import AnonymousCredentials

from ethos.rollout.errors import (
    CloudRunNotFoundError,
    InvalidWeightsError,
    TrafficAuthError,
    TrafficConflictError,
    TrafficOperationError,
    TrafficUnreachableError,
    UnknownRevisionError,
)
from ethos.rollout.stack.state import free_port
from ethos.rollout.traffic.cloudrun import CloudRunTraffic
from ethos.rollout.traffic.cloudrun_fake import CloudRunState, FakeCloudRun, Target

REGION = "australia-southeast1"


@pytest.fixture
def api() -> Iterator[FakeCloudRun]:
    # revisions named as the runbook names them, tagged blue and green; 90/10 in force
    with FakeCloudRun() as fake:
        yield fake


def manager(url: str, project: str = "proj", region: str = REGION, service: str = "marketing-api",
            **kw: object) -> CloudRunTraffic:
    return CloudRunTraffic(service, region, project, transport="rest", credentials=AnonymousCredentials(),
                           api_endpoint=url, **kw)  # type: ignore[arg-type]


def patches(api: FakeCloudRun) -> list:
    return [r for r in api.requests if r.api == "v2" and r.method == "PATCH"]


def test_weights_are_read_by_tag_from_what_is_in_force(api: FakeCloudRun) -> None:
    tm = manager(api.url)
    assert tm.get_weights() == {"blue": 90, "green": 10}
    assert tm.resolved() == {"blue": "marketing-api-blue", "green": "marketing-api-green"}
    r = api.requests[0]
    assert r.method == "GET" and r.path == f"/v2/{api.name}"


def test_tags_move_with_each_deploy(api: FakeCloudRun) -> None:
    tm = manager(api.url)
    new = api.state.deploy(api.service, "img:v2", tag="green")  # gcloud run deploy --no-traffic --tag green
    assert new != "marketing-api-green" and new.startswith("marketing-api-0000")
    assert tm.resolved() == {"blue": "marketing-api-blue", "green": new}
    # the old green still has its 10 %, now under its own name: nothing in force is hidden
    assert tm.get_weights() == {"blue": 90, "green": 0, "marketing-api-green": 10}
    assert tm.set_weights({"blue": 100}) == {"blue": 100, "green": 0}
    assert api.in_force() == {"marketing-api-blue": 100}
    assert api.tags() == {"blue": "marketing-api-blue", "green": new}


def test_a_shift_writes_what_gcloud_writes_with_the_etag_and_awaits_the_operation(api: FakeCloudRun) -> None:
    api.state.polls_until_done = 3  # the client must poll the operation, not trust the first answer
    etag = api.service.etag
    tm = manager(api.url)
    assert tm.set_weights({"blue": 100}) == {"blue": 100, "green": 0}
    (patch,) = patches(api)
    assert patch.path == f"/v2/{api.name}"
    assert patch.body["etag"] == etag  # read-modify-write, guarded by the etag
    # one target with the traffic, then every tag on a 0 % target: as
    # `gcloud run services update-traffic marketing-api --to-tags blue=100` leaves it
    assert patch.body["traffic"] == [
        {"type": 2, "revision": "marketing-api-blue", "percent": 100},
        {"type": 2, "revision": "marketing-api-blue", "tag": "blue"},
        {"type": 2, "revision": "marketing-api-green", "tag": "green"},
    ]
    polls = [r for r in api.requests if "/operations/" in r.path]
    assert len(polls) >= 2 and all(r.path == f"/v2/{tm.last_operation}" for r in polls)
    assert api.in_force() == {"marketing-api-blue": 100}
    assert api.service.pending is None and api.service.ready == "True"
    assert tm.get_weights() == {"blue": 100, "green": 0}


def test_revisions_addressed_by_name(api: FakeCloudRun) -> None:
    tm = manager(api.url, revisions={"blue": "marketing-api-blue", "green": "marketing-api-green"}, tags={})
    assert tm.set_weights({"blue": 75, "green": 25}) == {"blue": 75, "green": 25}
    assert api.in_force() == {"marketing-api-blue": 75, "marketing-api-green": 25}
    assert api.tags() == {"blue": "marketing-api-blue", "green": "marketing-api-green"}


def test_tag_urls_come_from_the_service_status(api: FakeCloudRun) -> None:
    tm = manager(api.url)
    s = api.service
    urls = tm.revision_urls()
    assert urls == {"blue": s.tag_url("blue"), "green": s.tag_url("green")}
    assert urls["green"] == f"https://green---marketing-api-{s.hash}-ts.a.run.app"
    # a name addressed by revision uses a tag on that revision
    tm2 = manager(api.url, revisions={"green": "marketing-api-green"})
    assert tm2.revision_urls()["green"] == s.tag_url("green")


def test_a_revision_without_a_tag_has_no_url_and_says_how_to_tag_it(api: FakeCloudRun) -> None:
    api.state.set_traffic_now(api.service, [Target(100, "marketing-api-blue"), Target(0, "marketing-api-blue", tag="blue")])
    with pytest.raises(UnknownRevisionError, match="tag 'green'"):
        manager(api.url).revision_urls()
    tm = manager(api.url, revisions={"green": "marketing-api-green"})
    with pytest.raises(UnknownRevisionError, match="--update-tags green=marketing-api-green"):
        tm.revision_urls()


def test_bad_weights_never_reach_the_api(api: FakeCloudRun) -> None:
    with pytest.raises(InvalidWeightsError):
        manager(api.url).set_weights({"blue": 50, "green": 40})
    with pytest.raises(UnknownRevisionError):
        manager(api.url).set_weights({"purple": 100})
    assert api.requests == []


def _unchanged(api: FakeCloudRun, before: tuple) -> bool:
    s = api.service
    return (s.etag, api.in_force(), api.tags(), [vars(t) for t in s.traffic]) == before


def _snapshot(api: FakeCloudRun) -> tuple:
    s = api.service
    return (s.etag, api.in_force(), api.tags(), [vars(t) for t in s.traffic])


def test_a_403_on_the_shift_changes_nothing_and_names_the_role(api: FakeCloudRun) -> None:
    before = _snapshot(api)
    api.state.deny.add("run.services.update")
    with pytest.raises(TrafficAuthError) as info:
        manager(api.url).set_weights({"blue": 100})
    msg = str(info.value)
    assert "403" in msg and "run.services.update" in msg and "nothing changed" in msg and "roles/run.developer" in msg
    assert _unchanged(api, before)


def test_a_409_etag_mismatch_changes_nothing_and_says_why(api: FakeCloudRun) -> None:
    # an operator shifts traffic between ethos's read and ethos's write
    def operator(state: CloudRunState, s: object) -> None:
        state.set_traffic_now(api.service, [Target(50, "marketing-api-blue"), Target(50, "marketing-api-green"),
                                            Target(0, "marketing-api-blue", tag="blue"),
                                            Target(0, "marketing-api-green", tag="green")])

    api.state.before_write.append(operator)
    with pytest.raises(TrafficConflictError) as info:
        manager(api.url).set_weights({"blue": 100})
    msg = str(info.value)
    assert "409" in msg and "etag" in msg and "changed since it was read" in msg and "nothing changed" in msg
    assert not info.value.permanent
    assert api.in_force() == {"marketing-api-blue": 50, "marketing-api-green": 50}  # the operator's change stands
    assert api.service.pending is None  # no operation was started


def test_a_failed_operation_is_named_and_leaves_traffic_as_it_was(api: FakeCloudRun) -> None:
    api.state.set_ready("marketing-api-blue", False, "Container failed to start and listen on PORT=8080")
    tm = manager(api.url)
    with pytest.raises(TrafficOperationError) as info:
        tm.set_weights({"blue": 100})
    e = info.value
    assert e.operation == tm.last_operation and e.operation and e.operation.startswith(
        f"projects/proj/locations/{REGION}/operations/")
    assert e.details == {"operation": e.operation}
    assert "not ready" in str(e) and "PORT=8080" in str(e) and "unchanged" in str(e)
    assert api.in_force() == {"marketing-api-blue": 90, "marketing-api-green": 10}
    assert tm.get_weights() == {"blue": 90, "green": 10}
    # once blue is ready again, the same call goes through
    api.state.set_ready("marketing-api-blue", True)
    assert tm.set_weights({"blue": 100}) == {"blue": 100, "green": 0}


def test_an_operation_not_done_in_time_is_reported_with_its_name_and_can_finish_later(api: FakeCloudRun) -> None:
    api.state.polls_until_done = 10**6
    tm = manager(api.url, timeout=0.3)
    with pytest.raises(TrafficUnreachableError) as info:
        tm.set_weights({"blue": 100})
    assert tm.last_operation and tm.last_operation in str(info.value)
    assert info.value.details == {"operation": tm.last_operation}  # type: ignore[attr-defined]
    assert api.in_force() == {"marketing-api-blue": 90, "marketing-api-green": 10}  # not yet
    api.state.operations[tm.last_operation].polls_left = 1  # Cloud Run finishes it later
    assert tm.get_weights() == {"blue": 100, "green": 0}  # reconciled: what resume would see


def test_wrong_service_region_and_project_name_the_thing_not_found(api: FakeCloudRun) -> None:
    with pytest.raises(CloudRunNotFoundError) as info:
        manager(api.url, service="marketing-apii").get_weights()
    assert info.value.kind == "service" and info.value.name == "marketing-apii"
    assert "service 'marketing-apii' not found" in str(info.value) and "services there: marketing-api" in str(info.value)
    with pytest.raises(CloudRunNotFoundError) as info:
        manager(api.url, region="austalia-southeast1").get_weights()
    assert info.value.kind == "region" and "region 'austalia-southeast1'" in str(info.value)
    assert "did you mean australia-southeast1" in str(info.value)
    with pytest.raises(CloudRunNotFoundError) as info:
        manager(api.url, project="no-such-proj").get_weights()
    assert info.value.kind == "project" and "project 'no-such-proj' not found" in str(info.value)
    # a real region where the service is not deployed: the service is what is missing
    with pytest.raises(CloudRunNotFoundError) as info:
        manager(api.url, region="us-central1").set_weights({"blue": 100})
    assert info.value.kind == "service" and "services there: none" in str(info.value)
    assert patches(api) == []


def test_credentials_refused_name_application_default_credentials(api: FakeCloudRun) -> None:
    api.state.require_token = "a-token-the-client-does-not-have"
    with pytest.raises(TrafficAuthError) as info:
        manager(api.url).get_weights()
    # the client answers a 401 by refreshing its credentials; anonymous ones cannot be
    assert "Application Default Credentials" in str(info.value) and "gcloud auth application-default login" in str(info.value)
    assert "a-token" not in str(info.value)


def test_unreachable_api() -> None:
    tm = manager(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(TrafficUnreachableError) as info:
        tm.get_weights()
    assert not info.value.permanent and info.value.retry_delay > 0


@pytest.mark.parametrize(("status", "exc"), [("UNAVAILABLE", TrafficUnreachableError),
                                             ("INVALID_ARGUMENT", InvalidWeightsError)])
def test_other_answers_are_translated(api: FakeCloudRun, status: str, exc: type) -> None:
    api.fail_next(status, method="PATCH")
    with pytest.raises(exc, match="nothing changed"):
        manager(api.url).set_weights({"blue": 100})
    assert api.in_force() == {"marketing-api-blue": 90, "marketing-api-green": 10}
