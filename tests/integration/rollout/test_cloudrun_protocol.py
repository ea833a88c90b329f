"""CloudRunTraffic through the real google-cloud-run client (REST) against a local fake API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cloudrun_fake import FakeCloudRun
from google.auth.credentials import AnonymousCredentials
from rollout_servers import free_port

from ethos.rollout.traffic.cloudrun import CloudRunTraffic, weights_from_traffic
from ethos.rollout.errors import (
    InvalidWeightsError,
    TrafficAuthError,
    TrafficUnreachableError,
    UnknownRevisionError,
)


@pytest.fixture
def api() -> Iterator[FakeCloudRun]:
    with FakeCloudRun() as fake:
        yield fake


def manager(url: str, **kw: object) -> CloudRunTraffic:
    return CloudRunTraffic("marketing-api", "australia-southeast1", "proj", transport="rest",
                           credentials=AnonymousCredentials(), api_endpoint=url, **kw)  # type: ignore[arg-type]


def test_get_weights_reads_traffic_statuses(api: FakeCloudRun) -> None:
    assert manager(api.url).get_weights() == {"blue": 90, "green": 10}
    method, path, _ = api.requests[0]
    assert method == "GET" and path.startswith("/v2/projects/proj/locations/australia-southeast1/services/marketing-api")


def test_set_weights_sends_revision_targets_and_waits_for_the_operation(api: FakeCloudRun) -> None:
    api.polls_until_done = 2  # the client must poll the operation, not trust the first answer
    tm = manager(api.url)
    assert tm.set_weights({"blue": 100}) == {"blue": 100, "green": 0}
    patch = [r for r in api.requests if r[0] == "PATCH"]
    assert len(patch) == 1
    body = patch[0][2]
    # As `gcloud run services update-traffic --to-revisions=marketing-api-blue=100`.
    assert body["traffic"] == [{"type": 2, "revision": "marketing-api-blue", "percent": 100}]
    assert patch[0][1].startswith(f"/v2/{api.name}?")  # the name travels in the path
    assert body["etag"] == '"e1"' and body["uid"] == "u-1"  # read-modify-write of the service
    polls = [r for r in api.requests if r[0] == "GET" and "/operations/" in r[1]]
    assert len(polls) >= 2
    assert tm.get_weights() == {"blue": 100, "green": 0}


def test_gradual_stage_and_custom_revision_names(api: FakeCloudRun) -> None:
    tm = manager(api.url, revisions={"blue": "marketing-api-blue", "green": "marketing-api-green"})
    assert tm.set_weights({"blue": 75, "green": 25}) == {"blue": 75, "green": 25}
    body = [r for r in api.requests if r[0] == "PATCH"][0][2]
    assert {t["revision"]: t["percent"] for t in body["traffic"]} == {"marketing-api-blue": 75, "marketing-api-green": 25}


def test_bad_weights_never_reach_the_api(api: FakeCloudRun) -> None:
    with pytest.raises(InvalidWeightsError):
        manager(api.url).set_weights({"blue": 50, "green": 40})
    with pytest.raises(UnknownRevisionError):
        manager(api.url).set_weights({"purple": 100})
    assert api.requests == []


@pytest.mark.parametrize(
    ("status", "code", "exc"),
    [(403, "PERMISSION_DENIED", TrafficAuthError), (401, "UNAUTHENTICATED", TrafficAuthError),
     (404, "NOT_FOUND", UnknownRevisionError), (400, "INVALID_ARGUMENT", InvalidWeightsError)],
)
def test_api_errors_are_translated(api: FakeCloudRun, status: int, code: str, exc: type) -> None:
    api.fail_with = (status, code)
    with pytest.raises(exc):
        manager(api.url).get_weights()


def test_unreachable_api() -> None:
    tm = manager(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(TrafficUnreachableError) as info:
        tm.get_weights()
    assert not info.value.permanent and info.value.retry_delay > 0


def test_weights_from_traffic_is_pure() -> None:
    names = {"blue": "svc-blue", "green": "svc-green"}
    assert weights_from_traffic([("svc-blue", 60), ("svc-green", 40)], names) == {"blue": 60, "green": 40}
    assert weights_from_traffic([("svc-old", 100)], names) == {"blue": 0, "green": 0, "svc-old": 100}
