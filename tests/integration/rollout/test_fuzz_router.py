"""Fuzz the router's own routes from ``GET /router/openapi.json`` (schemathesis), and feed its
JSON parsers bodies no generator sends.

The router is this test's own, in front of two fake revisions; after the weights were fuzzed
it must still hold one consistent split (in memory, in its state file and in its answers)
and route by it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ethos.rollout.router import RouterApp, RouterConfig
from ethos.rollout.router.weights_store import WEIGHTS_FILE
from ethos.security import LimitSettings
from tests.fuzzing import HOSTILE_BODIES, fuzz, hostile_problems, load, report, stray_problems
from tests.integration.rollout.rollout_servers import FakeRevision, ThreadedServer

pytestmark = pytest.mark.slow  # fuzzing: left out of `make test-fast`

KEY = "test-admin-key-0123456789"
EXAMPLES = 12
ROUTES = {"GET /router/health", "HEAD /router/health", "GET /router/stats", "GET /router/metrics",
          "GET /router/traffic", "PUT /router/traffic", "POST /router/traffic"}


@pytest.fixture(scope="module")
def revisions() -> Iterator[dict[str, str]]:
    started = {name: ThreadedServer(FakeRevision(name)).start() for name in ("blue", "green")}
    yield {name: srv.url for name, srv in started.items()}
    for srv in started.values():
        srv.stop()


def _router(revisions: dict[str, str], state: Path, **kw) -> tuple[RouterApp, ThreadedServer]:
    app = RouterApp(RouterConfig(revisions=revisions, admin_key=KEY, state_file=state / WEIGHTS_FILE, **kw))
    return app, ThreadedServer(app).start()


def _consistent(app: RouterApp, url: str, state: Path) -> dict[str, int]:
    """The split in force, checked to be the same everywhere the router keeps or shows it."""
    shown = httpx.get(f"{url}/router/traffic").json()["weights"]
    saved = json.loads((state / WEIGHTS_FILE).read_text())["weights"]
    assert shown == saved == app.weights and sum(shown.values()) == 100
    return shown


def test_fuzz_with_the_admin_key_leaves_one_consistent_split(revisions, tmp_path: Path) -> None:
    app, srv = _router(revisions, tmp_path, auth_limits=LimitSettings(max_failures=10**6))
    try:
        results = fuzz(load(f"{srv.url}/router/openapi.json"), srv.url, headers={"X-Admin-API-Key": KEY},
                       max_examples=EXAMPLES)
        assert {r.label for r in results} == ROUTES
        assert not report(results), report(results)
        _consistent(app, srv.url, tmp_path)
        # back to all-blue through the API, and the router routes by it
        r = httpx.put(f"{srv.url}/router/traffic", json={"blue": 100, "green": 0}, headers={"X-Admin-API-Key": KEY})
        assert r.status_code == 200
        assert _consistent(app, srv.url, tmp_path) == {"blue": 100, "green": 0}
        for _ in range(3):
            assert httpx.post(f"{srv.url}/api/ai/marketing-chat", json={"message": "hi"}).headers["x-routed-to"] == "blue"
    finally:
        srv.stop()


@pytest.mark.parametrize("headers", [{}, {"X-Admin-API-Key": "not-the-key"}], ids=["no-key", "wrong-key"])
def test_fuzz_without_the_key_changes_no_weight(revisions, tmp_path: Path, headers) -> None:
    app, srv = _router(revisions, tmp_path, initial_weights={"blue": 80, "green": 20})
    try:
        results = fuzz(load(f"{srv.url}/router/openapi.json"), srv.url, headers=headers,
                       max_examples=EXAMPLES // 2, only=lambda label: "traffic" in label)
        assert not report(results), report(results)
        assert _consistent(app, srv.url, tmp_path) == {"blue": 80, "green": 20}
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def sticky_router(revisions, tmp_path_factory) -> Iterator[str]:
    app, srv = _router(revisions, tmp_path_factory.mktemp("sticky"), sticky=True,
                       initial_weights={"blue": 50, "green": 50})
    yield srv.url
    srv.stop()


@pytest.mark.parametrize("name", sorted(HOSTILE_BODIES))
def test_hostile_weights_bodies_get_clear_errors(sticky_router: str, name: str) -> None:
    r = httpx.put(f"{sticky_router}/router/traffic", content=HOSTILE_BODIES[name],
                  headers={"X-Admin-API-Key": KEY, "Content-Type": "application/json"})
    assert r.status_code == 400 and hostile_problems(r.status_code, r.headers["content-type"], r.content) is None, r.text


@pytest.mark.parametrize("name", sorted(HOSTILE_BODIES))
def test_hostile_bodies_are_proxied_by_a_sticky_router(sticky_router: str, name: str) -> None:
    """The sticky router looks for a session id in every JSON body: a hostile one is still passed on."""
    body = HOSTILE_BODIES[name]
    # /status/200: the fake revision answers it without reading the body
    r = httpx.post(f"{sticky_router}/status/200", content=b'{"session_id": "s1", "x": ' + body,
                   headers={"Content-Type": "application/json"})
    assert r.status_code == 200 and r.headers["x-routed-to"] in ("blue", "green"), r.text[:300]


def test_stray_methods_and_paths_get_json_errors(sticky_router: str) -> None:
    missing = ["/router/nope", "/router", "/router/traffic/x", "/router/openapi.json/x"]
    problems = stray_problems(f"{sticky_router}/router/openapi.json", sticky_router, missing,
                              headers={"X-Admin-API-Key": KEY})
    assert problems == []
