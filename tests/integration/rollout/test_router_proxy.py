"""The router against real upstream servers on 127.0.0.1."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from ethos.rollout.errors import InvalidWeightsError, TrafficAuthError, UnknownRevisionError
from ethos.rollout.router import RouterApp, RouterConfig
from ethos.rollout.router.weights_store import WEIGHTS_FILE
from ethos.rollout.traffic import LocalRouterTraffic
from tests.integration.rollout.rollout_servers import FakeRevision, ThreadedServer, free_port

KEY = "test-admin-key"


@pytest.fixture
def revisions() -> Iterator[dict[str, tuple[FakeRevision, ThreadedServer]]]:
    out = {}
    try:
        for name in ("blue", "green"):
            rev = FakeRevision(name)
            out[name] = (rev, ThreadedServer(rev).start())
        yield out
    finally:
        for rev, srv in out.values():
            rev.gate.set()
            srv.stop()


def start_router(revisions: dict, tmp_path: Path, **kw: object) -> tuple[RouterApp, ThreadedServer]:
    kw.setdefault("admin_key", KEY)
    config = RouterConfig(revisions={n: s.url for n, (_, s) in revisions.items()},
                          state_file=tmp_path / WEIGHTS_FILE, **kw)  # type: ignore[arg-type]
    app = RouterApp(config)
    return app, ThreadedServer(app).start()


@pytest.fixture
def router(revisions: dict, tmp_path: Path) -> Iterator[tuple[RouterApp, ThreadedServer]]:
    app, srv = start_router(revisions, tmp_path)
    try:
        yield app, srv
    finally:
        srv.stop()


def test_proxies_body_headers_query_and_status(router, revisions) -> None:
    app, srv = router
    r = httpx.post(f"{srv.url}/api/ai/marketing-chat?x=1&y=%2F", json={"message": "hi"}, headers={"X-Request-ID": "abc"})
    assert r.status_code == 200 and r.json()["revision"] == "blue"
    assert r.headers["x-revision"] == "blue" and r.headers["x-routed-to"] == "blue"
    seen = revisions["blue"][0].requests[-1]
    assert seen["query"] == "x=1&y=%2F" and seen["headers"]["x-request-id"] == "abc"
    assert seen["headers"]["x-forwarded-for"] == "127.0.0.1"
    assert httpx.get(f"{srv.url}/status/404").status_code == 404
    assert httpx.get(f"{srv.url}/status/503").status_code == 503
    assert revisions["green"][0].requests == []  # weight 0


def test_streaming_passes_through_as_it_arrives(router, revisions) -> None:
    app, srv = router
    with httpx.Client(timeout=10) as client:
        with client.stream("POST", f"{srv.url}/api/ai/marketing-chat", json={"message": "hi", "stream": True}) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            chunks = r.iter_bytes()
            first = next(chunks)
            # The revision is still holding the rest back: the first event came through alone.
            assert b"first" in first and b"second" not in first
            revisions["blue"][0].gate.set()
            rest = b"".join(chunks)
    assert b"second" in rest and b"event: done" in rest
    s = httpx.get(f"{srv.url}/router/stats").json()["revisions"]["blue"]["60s"]
    assert s["count"] == 1 and s["p50_ttft_ms"] < s["p50_latency_ms"]


def test_stats_and_metrics(router) -> None:
    app, srv = router
    for _ in range(8):
        httpx.post(f"{srv.url}/api/ai/marketing-chat", json={"message": "hi"})
    httpx.get(f"{srv.url}/status/500")
    httpx.get(f"{srv.url}/status/404")
    stats = httpx.get(f"{srv.url}/router/stats").json()
    assert stats["weights"] == {"blue": 100, "green": 0} and stats["windows_s"] == [60, 300]
    blue = stats["revisions"]["blue"]["60s"]
    assert blue["count"] == 10 and blue["errors"] == 1 and blue["error_rate"] == pytest.approx(0.1)
    assert blue["status"]["2xx"] == 8 and blue["status"]["4xx"] == 1 and blue["status"]["5xx"] == 1
    assert blue["p50_latency_ms"] > 0 and blue["p95_ttft_ms"] is not None
    assert stats["revisions"]["green"]["300s"]["count"] == 0
    text = httpx.get(f"{srv.url}/router/metrics").text
    assert 'ethos_router_requests_total{revision="blue",status_class="2xx"} 8.0' in text
    assert 'ethos_router_weight_percent{revision="blue"} 100.0' in text
    assert httpx.get(f"{srv.url}/router/health").json()["status"] == "ok"
    assert httpx.get(f"{srv.url}/router/nope").status_code == 404
    assert httpx.delete(f"{srv.url}/router/traffic").status_code == 405


def test_admin_auth_and_validation(router) -> None:
    app, srv = router
    url = f"{srv.url}/router/traffic"
    assert httpx.put(url, json={"blue": 0, "green": 100}).status_code == 401
    r = httpx.put(url, json={"blue": 0, "green": 100}, headers={"X-Admin-API-Key": "wrong"})
    assert r.status_code == 403 and r.json()["error"] == "wrong_admin_key"
    ok = {"X-Admin-API-Key": KEY}
    r = httpx.put(url, json={"blue": 50, "green": 40}, headers=ok)
    assert r.status_code == 400 and r.json()["error"] == "invalid_weights" and "sum to 100" in r.json()["detail"]
    r = httpx.put(url, json={"purple": 100}, headers=ok)
    assert r.status_code == 400 and r.json()["error"] == "unknown_revision"
    r = httpx.put(url, content=b"{nope", headers=ok)
    assert r.status_code == 400 and r.json()["error"] == "invalid_json"
    r = httpx.put(url, json={"blue": 50.5, "green": 49.5}, headers=ok)
    assert r.status_code == 400
    assert httpx.get(url).json()["weights"] == {"blue": 100, "green": 0}  # nothing half-done
    r = httpx.put(url, json={"blue": 0, "green": 100}, headers=ok)
    assert r.status_code == 200 and r.json()["weights"] == {"blue": 0, "green": 100}
    assert httpx.post(f"{srv.url}/api/ai/marketing-chat", json={"message": "x"}).json()["revision"] == "green"


def test_router_without_key_refuses_admin(revisions, tmp_path) -> None:
    app, srv = start_router(revisions, tmp_path, admin_key=None)
    try:
        r = httpx.put(f"{srv.url}/router/traffic", json={"blue": 100}, headers={"X-Admin-API-Key": "x"})
        assert r.status_code == 503 and r.json()["error"] == "admin_key_not_configured"
        with pytest.raises(TrafficAuthError, match="no admin key"):
            LocalRouterTraffic(srv.url, "x").set_weights({"blue": 100})
    finally:
        srv.stop()


def test_traffic_manager_client_and_persistence_across_restart(revisions, tmp_path) -> None:
    app, srv = start_router(revisions, tmp_path)
    try:
        tm = LocalRouterTraffic(srv.url, KEY)
        assert tm.get_weights() == {"blue": 100, "green": 0}
        assert tm.set_weights({"blue": 30, "green": 70}) == {"blue": 30, "green": 70}
        with pytest.raises(UnknownRevisionError):
            tm.set_weights({"red": 100})
        with pytest.raises(InvalidWeightsError):
            tm.set_weights({"blue": 30, "green": 30})
        with pytest.raises(TrafficAuthError):
            LocalRouterTraffic(srv.url, "bad").set_weights({"blue": 100})
    finally:
        srv.stop()
    # A new router over the same state dir, given other initial weights: the saved ones win.
    app2, srv2 = start_router(revisions, tmp_path, initial_weights={"blue": 100, "green": 0})
    try:
        assert LocalRouterTraffic(srv2.url, KEY).get_weights() == {"blue": 30, "green": 70}
    finally:
        srv2.stop()


def test_weight_changes_under_concurrent_load_fail_nothing(router, revisions) -> None:
    app, srv = router
    tm = LocalRouterTraffic(srv.url, KEY)
    stop = threading.Event()
    results: list[int | str] = []

    def client() -> None:
        with httpx.Client(timeout=10) as c:
            while not stop.is_set():
                try:
                    results.append(c.get(f"{srv.url}/slow?s=0.02").status_code)
                except httpx.HTTPError as e:  # counted as a failure below
                    results.append(repr(e))

    with ThreadPoolExecutor(8) as pool:
        for _ in range(8):
            pool.submit(client)
        for w in [{"green": 100}, {"blue": 50, "green": 50}, {"blue": 100}, {"green": 100}, {"blue": 100}] * 3:
            time.sleep(0.05)
            tm.set_weights(w)
        time.sleep(0.1)
        stop.set()
    assert len(results) > 50
    assert all(r == 200 for r in results), [r for r in results if r != 200][:5]
    assert revisions["blue"][0].requests and revisions["green"][0].requests


def test_connection_refused_is_retried_once_on_the_other_revision(revisions, tmp_path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    config = RouterConfig(revisions={"blue": revisions["blue"][1].url, "green": dead},
                          admin_key=KEY, initial_weights={"blue": 0, "green": 100})
    app = RouterApp(config)
    with ThreadedServer(app) as srv:
        r = httpx.post(f"{srv.url}/api/ai/marketing-chat", json={"message": "x"})
        assert r.status_code == 200 and r.json()["revision"] == "blue"
        stats = httpx.get(f"{srv.url}/router/stats").json()["revisions"]
        assert stats["green"]["60s"]["connect_failures"] == 1 and stats["green"]["60s"]["errors"] == 1
        assert stats["blue"]["60s"]["retried"] == 1 and stats["blue"]["60s"]["count"] == 1
        assert 'ethos_router_retries_total{from_revision="green",to_revision="blue"} 1.0' in httpx.get(
            f"{srv.url}/router/metrics").text


def test_both_refusing_gives_502(tmp_path) -> None:
    config = RouterConfig(revisions={"blue": f"http://127.0.0.1:{free_port()}", "green": f"http://127.0.0.1:{free_port()}"})
    with ThreadedServer(RouterApp(config)) as srv:
        r = httpx.post(f"{srv.url}/api/ai/marketing-chat", json={"message": "x"})
        assert r.status_code == 502 and r.json()["error"] == "upstream_unreachable"


def test_sticky_sessions_stay_on_one_revision(revisions, tmp_path) -> None:
    app, srv = start_router(revisions, tmp_path, sticky=True, initial_weights={"blue": 50, "green": 50})
    try:
        with httpx.Client() as c:
            for sid in ("alpha", "beta", "gamma", "delta"):
                seen = {c.post(f"{srv.url}/api/ai/marketing-chat", json={"message": "x", "session_id": sid}).json()["revision"]
                        for _ in range(6)}
                assert len(seen) == 1
                by_header = {c.post(f"{srv.url}/api/ai/marketing-chat", json={"message": "x"},
                                    headers={"X-Session-ID": sid}).json()["revision"] for _ in range(4)}
                assert by_header == seen
    finally:
        srv.stop()


def test_a_stream_in_flight_finishes_on_its_revision_after_a_shift(router, revisions) -> None:
    app, srv = router
    tm = LocalRouterTraffic(srv.url, KEY)
    try:
        with httpx.Client(timeout=10) as client:
            with client.stream("POST", f"{srv.url}/api/ai/marketing-chat", json={"message": "x", "stream": True}) as r:
                chunks = r.iter_bytes()
                assert b"first" in next(chunks)
                assert tm.set_weights({"green": 100}) == {"blue": 0, "green": 100}
                assert client.post(f"{srv.url}/api/ai/marketing-chat", json={"message": "y"}).json()["revision"] == "green"
                revisions["blue"][0].gate.set()
                rest = b"".join(chunks)
            assert r.headers["x-routed-to"] == "blue" and b"event: done" in rest
    finally:
        tm.close()
