"""Every admin route of the service, the router and the console, over real HTTP on 127.0.0.1.

Per route: the right key passes; no key 401; wrong key 403; after N refusals the next
request is 429 with Retry-After (even with the right key, which is then not compared);
refusals and the lockout move the process's Prometheus counters; ``hmac.compare_digest``
does the comparing (a spy, not a timing test); and neither the admin key nor a guessed key
appears in any response body or header, in the captured logs or in the access log.
"""

from __future__ import annotations

import hmac
import io
import logging
import re
from collections.abc import Iterator

import httpx
import pytest

from ethos.rollout.console import build_console
from ethos.rollout.console import create_app as console_app
from ethos.rollout.console.app import ACTIONS
from ethos.rollout.router import RouterConfig
from ethos.rollout.router.app import RouterApp
from ethos.security import LimitSettings
from ethos.service import create_app as service_app
from ethos.service.logs import access_log
from ethos.settings import Settings
from tests.servers import ServerThread

KEY = "adm-K3y-7f3a9c1e-SECRET"
GUESS = "guess-Wr0ng-55d2e8"
N = 3
# every request of these tests comes from 127.0.0.1: not exempt here, unlike by default
LIMITS = LimitSettings(max_failures=N, window_s=60, lockout_s=120, lockout_max_s=600, exempt=())
AUTH = (401, 403, 429, 503)


def _first_hop(srv: ServerThread) -> ServerThread:
    # as `ethos router` and `ethos console` serve: uvicorn does not rewrite the client address
    srv.server.config.proxy_headers = False
    return srv


@pytest.fixture(scope="module")
def servers(tmp_path_factory) -> Iterator[dict]:
    tmp = tmp_path_factory.mktemp("adminauth")
    svc = service_app(Settings(state_dir=tmp / "svc", admin_api_key=KEY, semantic_enabled=False),
                      auth_limits=LIMITS)
    s = ServerThread(svc).start()
    router = RouterApp(RouterConfig(revisions={"blue": s.url, "green": s.url}, admin_key=KEY,
                                    auth_limits=LIMITS))
    r = _first_hop(ServerThread(router)).start()
    c = build_console(tmp / "state", router=r.url, revisions=(f"blue={s.url}", f"green={s.url}"),
                      persist=False, env={"ETHOS_ADMIN_API_KEY": KEY}, wait_s=10)
    con = console_app(c, start_sampler=False, auth_limits=LIMITS)
    cs = _first_hop(ServerThread(con)).start()
    yield {"service": (s.url, svc, "/metrics", "ethos_admin_auth", {"revision": "blue"}),
           "router": (r.url, router, "/router/metrics", "ethos_router_admin_auth", {}),
           "console": (cs.url, con, "/metrics", "ethos_console_admin_auth", {})}
    for srv in (cs, r, s):
        srv.stop()
    c.sampler.stop()


def _service_routes(app) -> list[tuple[str, str, dict, dict | None]]:
    """Every admin route the service has (found in the app, so a new route is covered too)."""
    params = {"/api/admin/cache/invalidate": {"key_pattern": "marketing:*:nothing-here*"},
              "/api/admin/cache/invalidate-source": {"source": "pricing.md"}}
    # PUT /api/admin/faults replaces the faults in force: {} switches every fault off
    bodies = {("PUT", "/api/admin/faults"): {}}
    out = []
    for path, ops in app.openapi()["paths"].items():
        if path.startswith("/api/admin"):
            for method in sorted(ops):
                key = (method.upper(), path)
                out.append((*key, params.get(path, {}), bodies.get(key)))
    assert len(out) >= 5
    return out


def _routes(name: str, app) -> list[tuple[str, str, dict, dict | None]]:
    if name == "service":
        return _service_routes(app)
    if name == "router":
        return [("PUT", "/router/traffic", {}, {"blue": 100, "green": 0}),
                ("POST", "/router/traffic", {}, {"blue": 100, "green": 0})]
    dry = {"dry_run": True, "executed_by": "tester", "weights": {"blue": 100, "green": 0}}
    return [("GET", "/api/console/auth", {}, None),
            *[("POST", f"/api/console/actions/{a}", {}, dry) for a in ACTIONS]]


def _metric(text: str, name: str, labels: dict[str, str]) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        m = re.match(r"^(\w+)(?:\{(.*)\})? (\S+)$", line)
        if m and m.group(1) == name:
            got = ",".join(sorted((m.group(2) or "").split(","))) if m.group(2) else ""
            if got == want:
                return float(m.group(3))
    return 0.0


@pytest.fixture
def spy(monkeypatch) -> list[int]:
    calls: list[int] = []
    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: calls.append(1) or real(a, b))
    return calls


@pytest.mark.parametrize("name", ["service", "router", "console"])
def test_every_admin_route(servers, name, spy, caplog) -> None:
    url, app, metrics_path, prefix, labels = servers[name]
    gate = app.gate if name == "router" else app.state.admin_gate
    caplog.set_level(logging.DEBUG)
    alog = io.StringIO()
    access_log.streams, saved = [alog], access_log.streams
    seen: list[str] = []
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            def call(method, path, params, body, key, xff=None):
                headers = {} if key is None else {"X-Admin-API-Key": key}
                r = client.request(method, path, params=params, json=body, headers=headers)
                seen.append(r.text + repr(dict(r.headers)))
                return r

            def metric(what: str, reason: str | None = None) -> float:
                text = client.get(metrics_path).text
                lab = {**labels, **({"reason": reason} if reason else {})}
                return _metric(text, f"{prefix}_{what}_total", lab)

            for method, path, params, body in _routes(name, app):
                gate.limiter.success("127.0.0.1")  # each route starts with a clean record
                before = {r: metric("failures", r) for r in ("missing", "wrong", "locked_out")}
                locks = metric("lockouts")

                n = len(spy)
                ok = call(method, path, params, body, KEY)
                assert ok.status_code not in AUTH, (path, ok.status_code, ok.text)
                assert ok.status_code < 400 or (path.endswith("/drill") and ok.status_code == 501), ok.text
                assert len(spy) > n  # the key went through hmac.compare_digest

                r = call(method, path, params, body, None)
                assert r.status_code == 401 and r.json()["error"] in ("missing_admin_key", "unauthorized")
                for _ in range(N - 1):
                    n = len(spy)
                    r = call(method, path, params, body, GUESS)
                    assert r.status_code == 403 and r.json()["error"] in ("wrong_admin_key", "forbidden")
                    assert len(spy) > n

                n = len(spy)
                for key in (GUESS, KEY):  # locked out: even the right key is refused, uncompared
                    r = call(method, path, params, body, key)
                    assert r.status_code == 429, (path, r.status_code, r.text)
                    assert r.headers["content-type"].startswith("application/json")
                    assert r.json()["error"] == "too_many_auth_failures"
                    assert 0 < int(r.headers["Retry-After"]) <= 120
                    # every surface says it in the body too (the service's body lacked it)
                    assert r.json()["retry_after_s"] == int(r.headers["Retry-After"]), (path, r.text)
                assert len(spy) == n

                assert metric("failures", "missing") == before["missing"] + 1
                assert metric("failures", "wrong") == before["wrong"] + N - 1
                assert metric("failures", "locked_out") == before["locked_out"] + 2
                assert metric("lockouts") == locks + 1
            metrics_text = client.get(metrics_path).text
    finally:
        access_log.streams = saved
    outputs = "\n".join([*seen, metrics_text, caplog.text, alog.getvalue()])
    for secret in (KEY, GUESS, KEY.lower(), GUESS.lower()):
        assert secret not in outputs.lower() if secret.islower() else secret not in outputs
    assert "127.0.0.1" not in metrics_text  # no address in a label


def test_the_router_does_not_believe_a_clients_forwarded_for(servers) -> None:
    url, router, *_ = servers["router"]
    router.gate.limiter.success("127.0.0.1")
    with httpx.Client(base_url=url, timeout=10) as client:
        codes = [client.put("/router/traffic", json={"blue": 100, "green": 0},
                            headers={"X-Admin-API-Key": GUESS, "X-Forwarded-For": f"198.51.100.{i}"}).status_code
                 for i in range(N + 1)]
    assert codes == [403] * N + [429]
    router.gate.limiter.success("127.0.0.1")


def test_the_service_counts_per_client_behind_the_router(servers) -> None:
    """Through the router (which appends X-Forwarded-For) one locked-out client locks out only itself."""
    url, svc, *_ = servers["service"]
    gate = svc.state.admin_gate
    with httpx.Client(base_url=url, timeout=10) as client:
        def stats(xff: str, key: str):
            return client.get("/api/admin/cache/stats",
                              headers={"X-Admin-API-Key": key, "X-Forwarded-For": xff}).status_code
        assert [stats("198.51.100.7", GUESS) for _ in range(N + 1)] == [403] * N + [429]
        assert stats("198.51.100.8", KEY) == 200
        # a client-sent item before the proxy's own one does not buy a fresh record
        assert stats("203.0.113.1, 198.51.100.7", KEY) == 429
    gate.limiter.success("198.51.100.7")
