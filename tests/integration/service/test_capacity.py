"""Load shedding behind a real service (``ethos.service.capacity``): a slow LLM provider holds
the slots, the next requests wait or get a clear 503 with Retry-After, exact hits still answer,
and a request whose client left while it waited costs no LLM call."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from . import test_llm_faults
from .test_llm_faults import API_KEY, REPLY, FaultyProvider

CHAT = "/api/ai/marketing-chat"


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch):
    # "slow" holds each call until released (at most 60 s, not 3: a loaded machine must not
    # see the slot come free on its own before the test has looked)
    monkeypatch.setattr(test_llm_faults, "SLOW_S", 60.0)
    with FaultyProvider() as p:
        yield p


def start(make_service, provider: FaultyProvider, **capacity) -> tuple[httpx.Client, object]:
    url, app = make_service(llm_base_url=provider.url, llm_api_key=API_KEY, llm_model="m",
                            llm_timeout_s=30, llm_retries=0, **capacity)
    return httpx.Client(base_url=url, timeout=30), app


def in_background(client: httpx.Client, message: str, out: list, timeout: float = 30) -> threading.Thread:
    def go() -> None:
        try:
            out.append(client.post(CHAT, json={"message": message}, timeout=timeout))
        except httpx.TimeoutException as e:
            out.append(e)

    t = threading.Thread(target=go, daemon=True)
    t.start()
    return t


def wait_for(cond, what: str, timeout: float = 20) -> None:  # noqa: ANN001
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def shed(client: httpx.Client, reason: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("ethos_requests_shed_total{") and f'reason="{reason}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_full_queue_is_a_clear_503_and_exact_hits_still_answer(make_service, provider) -> None:
    client, app = start(make_service, provider, max_concurrent=1, max_queued=1)
    cap = app.state.ethos.capacity
    with client:
        assert client.post(CHAT, json={"message": "Is there a free plan?"}).status_code == 200
        provider.mode = "slow"  # holds each call until released
        out: list = []
        threads = [in_background(client, "What does the Team plan cost?", out)]
        wait_for(lambda: cap.active == 1, "the first request to hold the slot")
        threads.append(in_background(client, "Do you integrate with HubSpot?", out))
        wait_for(lambda: cap.queued == 1, "the second request to queue")

        r = client.post(CHAT, json={"message": "Can I cancel at any time?"})
        assert r.status_code == 503 and r.headers["Retry-After"] == "1"
        assert r.headers["X-Revision"] == "blue"
        assert r.json()["error"] == "overloaded" and "at capacity" in r.json()["detail"]
        hit = client.post(CHAT, json={"message": "Is there a free plan?"})  # no slot needed
        assert hit.status_code == 200 and hit.headers["X-Cache"] == "HIT"

        provider.mode = "ok"
        provider.release.set()
        for t in threads:
            t.join(30)
        assert [r.status_code for r in out] == [200, 200] and out[0].json()["reply"] == REPLY
        assert cap.active == 0 and cap.queued == 0
        assert shed(client, "queue_full") == 1.0
        metrics = client.get("/metrics").text
    assert 'ethos_requests_total{revision="blue",route="/api/ai/marketing-chat",status="503"} 1.0' in metrics
    assert 'ethos_capacity_active{revision="blue"} 0.0' in metrics


def test_a_wait_that_runs_out_is_a_503(make_service, provider) -> None:
    client, app = start(make_service, provider, max_concurrent=1, max_queued=4, queue_timeout_s=0.3)
    with client:
        provider.mode = "slow"
        out: list = []
        t = in_background(client, "What does the Team plan cost?", out)
        wait_for(lambda: app.state.ethos.capacity.active == 1, "the first request to hold the slot")
        r = client.post(CHAT, json={"message": "Do you integrate with HubSpot?"})
        assert r.status_code == 503 and "within 0.3 s" in r.json()["detail"]
        assert shed(client, "queue_timeout") == 1.0
        provider.release.set()
        t.join(30)
        assert out[0].status_code == 200


def test_a_request_whose_client_left_while_it_waited_costs_nothing(make_service, provider) -> None:
    client, app = start(make_service, provider, max_concurrent=1, max_queued=4, queue_timeout_s=30)
    cap = app.state.ethos.capacity
    with client:
        provider.mode = "slow"
        first: list = []
        t1 = in_background(client, "What does the Team plan cost?", first)
        wait_for(lambda: cap.active == 1 and provider.calls == 1, "the first request to reach the LLM")
        gone: list = []
        t2 = in_background(client, "Do you integrate with HubSpot?", gone, timeout=0.5)
        t2.join(10)
        assert isinstance(gone[0], httpx.TimeoutException)  # the client gave up and closed
        assert cap.queued == 1  # its request still waits for the slot
        provider.release.set()
        t1.join(30)
        wait_for(lambda: shed(client, "client_gone") == 1.0, "the waiting request to be dropped")
        assert provider.calls == 1  # the request nobody waited for never reached the LLM
        assert cap.active == 0 and cap.queued == 0
