"""``RouterClient`` against a real ``ethos router`` on 127.0.0.1: every route, and every refusal
mapped to the ``ethos.rollout.errors`` tree."""

from __future__ import annotations

import gc
import subprocess
import sys
import warnings
from pathlib import Path

import httpx
import pytest

from ethos.rollout.errors import (
    FencedError,
    InvalidWeightsError,
    RouterReadError,
    TrafficAuthError,
    TrafficUnreachableError,
    UnknownRevisionError,
)
from ethos.rollout.router.client import RouterClient, TrafficView
from ethos.rollout.router.windows import RouterStats, WindowStats
from ethos.rollout.sources.signals import RouterSignals
from ethos.rollout.traffic import LocalRouterTraffic
from tests.integration.rollout.rollout_servers import free_port
from tests.integration.rollout.test_router_proxy import KEY, revisions, start_router  # noqa: F401  (the `revisions` fixture)


@pytest.fixture
def router(revisions, tmp_path: Path):  # noqa: F811
    app, srv = start_router(revisions, tmp_path)
    try:
        yield app, srv
    finally:
        srv.stop()


def test_reads_health_stats_metrics_and_traffic(router) -> None:
    app, srv = router
    assert httpx.post(f"{srv.url}/api/ai/marketing-chat", json={"message": "hi"}).status_code == 200
    assert httpx.get(f"{srv.url}/status/503").status_code == 503
    with RouterClient(srv.url) as client:
        health = client.health()
        assert health["status"] == "ok" and health["weights"] == {"blue": 100, "green": 0}
        stats = client.stats()
        assert isinstance(stats, RouterStats) and stats.windows_s == (60, 300) and stats.sticky is False
        blue = stats.window("blue")
        assert isinstance(blue, WindowStats) and blue.window_s == 60
        assert (blue.count, blue.errors, blue.status["2xx"], blue.status["5xx"]) == (2, 1, 1, 1)
        assert stats.window("green").count == 0
        # the typed answer is the router's answer, to the key
        assert stats.to_json() == httpx.get(f"{srv.url}/router/stats").json()
        assert 'ethos_router_requests_total{revision="blue",status_class="5xx"} 1.0' in client.metrics_text()
        view = client.traffic()
        assert view == TrafficView(weights={"blue": 100, "green": 0}, revisions=dict(app._upstreams), sticky=False,
                                   fence=None)


def test_set_traffic_with_and_without_a_fence(router) -> None:
    app, srv = router
    with RouterClient(srv.url, KEY) as client:
        view = client.set_traffic({"blue": 90, "green": 10}, fence=7)
        assert view.weights == {"blue": 90, "green": 10} and view.fence == 7
        assert client.set_traffic({"green": 100}).weights == {"blue": 0, "green": 100}  # unnamed get 0
        assert client.traffic().fence == 7 and app.weights == {"blue": 0, "green": 100}


def test_a_lower_fence_is_fenced_error_and_nothing_changes(router) -> None:
    app, srv = router
    with RouterClient(srv.url, KEY) as client:
        client.set_traffic({"blue": 50, "green": 50}, fence=10)
        with pytest.raises(FencedError) as e:
            client.set_traffic({"blue": 0, "green": 100}, fence=9)
        assert (e.value.fence, e.value.current) == (9, 10)
        assert client.traffic().weights == {"blue": 50, "green": 50}


def test_unknown_revision_and_bad_weights(router) -> None:
    app, srv = router
    with RouterClient(srv.url, KEY) as client:
        with pytest.raises(UnknownRevisionError, match="known revisions: blue, green"):
            client.set_traffic({"red": 100})  # the router's 400 unknown_revision
        with pytest.raises(InvalidWeightsError, match="sum to 100"):
            client.set_traffic({"blue": 30, "green": 30})  # the router's 400 invalid_weights
        assert app.weights == {"blue": 100, "green": 0}


class _DropKeyTransport(httpx.HTTPTransport):
    """A proxy in between that drops the admin header: the router sees no key at all."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        del request.headers["X-Admin-API-Key"]
        return super().handle_request(request)


def test_refused_keys_are_traffic_auth_errors(router, revisions, tmp_path: Path) -> None:  # noqa: F811
    app, srv = router
    with RouterClient(srv.url, "wrong-key") as client, pytest.raises(TrafficAuthError, match=r"\(403\)"):
        client.set_traffic({"blue": 100})
    with RouterClient(srv.url, KEY, transport=_DropKeyTransport()) as client:
        with pytest.raises(TrafficAuthError, match=r"\(401\)"):
            client.set_traffic({"blue": 100})
    with pytest.raises(TrafficAuthError, match="no admin key to change router weights"):
        RouterClient(srv.url).set_traffic({"blue": 100})  # none to send: refused before any call
    _, keyless = start_router(revisions, tmp_path / "keyless", admin_key=None)
    try:
        with RouterClient(keyless.url, KEY) as client, pytest.raises(TrafficAuthError, match="no admin key configured"):
            client.set_traffic({"blue": 100})  # the router's 503 admin_key_not_configured
    finally:
        keyless.stop()
    assert app.weights == {"blue": 100, "green": 0}


def test_an_unreachable_router() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with RouterClient(url, KEY, timeout=2.0) as client:
        with pytest.raises(TrafficUnreachableError, match=f"router {url} unreachable"):
            client.traffic()
        with pytest.raises(TrafficUnreachableError):
            client.set_traffic({"blue": 100})
        for read in (client.health, client.stats, client.metrics_text):
            with pytest.raises(RouterReadError, match=f"cannot read {url}/router/.*ConnectError") as e:
                read()
            assert e.value.status is None and not e.value.permanent


def test_an_unknown_route_is_a_read_error_with_its_status(router) -> None:
    app, srv = router
    with RouterClient(f"{srv.url}/router/nope") as client, pytest.raises(RouterReadError, match="answered 404") as e:
        client.health()  # GET /router/nope/router/health: the router's 404
    assert e.value.status == 404


def test_one_client_serves_traffic_and_signals_and_reopens_after_close(router) -> None:
    app, srv = router
    client = RouterClient(srv.url, KEY)
    traffic, signals = LocalRouterTraffic(client), RouterSignals(client, window_s=300)
    assert traffic.set_weights({"blue": 80, "green": 20}) == {"blue": 80, "green": 20}
    assert signals.read()["blue"].window_s == 300.0
    traffic.close()
    signals.close()  # neither owns the shared client: it stays open
    assert traffic.get_weights() == {"blue": 80, "green": 20}
    client.close()
    assert client.traffic().weights == {"blue": 80, "green": 20}  # a closed client reopens when used
    client.close()


def test_a_client_dropped_without_close_leaks_no_socket(router) -> None:
    app, srv = router
    gc.collect()  # what earlier tests left for the collector is theirs, not this client's
    port = srv.url.rsplit(":", 1)[1].rstrip("/")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always", ResourceWarning)
        client = RouterClient(srv.url)
        assert client.traffic().weights == {"blue": 100, "green": 0}  # a pooled connection is open now
        del client
        gc.collect()
    # a leaked socket's warning names its peer: this router's port
    leaks = [str(w.message) for w in seen if issubclass(w.category, ResourceWarning)]
    assert not [m for m in leaks if f", {port})" in m or "socket" not in m], leaks


def test_importing_the_client_loads_neither_the_server_nor_numpy() -> None:
    code = ("import sys; import ethos.rollout.router.client, ethos.rollout.traffic; "
            "print(sorted(m for m in ('uvicorn', 'numpy', 'ethos.rollout.router.app') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"
