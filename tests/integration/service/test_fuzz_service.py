"""Fuzz every route of a real service from its own OpenAPI document (schemathesis).

Bounded for CI: a fixed number of schema-valid and schema-violating cases per route, the
same cases every run (derandomized). ``bench/fuzz.py`` runs the same with many more.
Each service owns a temporary SQLite store, so the admin routes' removals touch nothing else.
"""

from __future__ import annotations

import httpx
import pytest

from ethos.service.observe import KNOWN_ROUTES  # noqa: E402
from tests.fuzzing import HOSTILE_BODIES, fuzz, hostile_problems, load, report, stray_problems
from tests.integration.service.service_helpers import ADMIN_KEY, ask

pytestmark = pytest.mark.slow  # fuzzing: left out of `make test-fast`

EXAMPLES = 12  # per route and mode (valid, invalid)
KEY = {"X-Admin-API-Key": ADMIN_KEY}
ROUTES = {
    "POST /api/ai/marketing-chat", "GET /health", "GET /metrics",
    "POST /api/admin/cache/invalidate", "POST /api/admin/cache/invalidate-source",
    "GET /api/admin/cache/stats", "GET /api/admin/cache/top", "GET /api/admin/cache/pii-scan",
    "GET /api/admin/faults", "PUT /api/admin/faults", "DELETE /api/admin/faults",
}
FAULTS = "/api/admin/faults"


def test_the_document_describes_every_route(make_service) -> None:
    url, _ = make_service()
    doc = httpx.get(f"{url}/openapi.json").json()
    documented = {f"{m.upper()} {p}" for p, item in doc["paths"].items() for m in item}
    assert documented == ROUTES
    assert {label.split()[1] for label in ROUTES} == KNOWN_ROUTES  # every route the service counts
    for path, item in doc["paths"].items():
        for op in item.values():
            assert (op.get("security") == [{"AdminApiKey": []}]) == path.startswith("/api/admin/")
    assert doc["components"]["securitySchemes"]["AdminApiKey"]["name"] == "X-Admin-API-Key"


def test_fuzz_every_route_with_the_admin_key(make_service, monkeypatch) -> None:
    # the fuzzer's own auth probes (a case without the key) are no attack to lock out
    monkeypatch.setenv("ETHOS_ADMIN_AUTH_MAX_FAILURES", "1000000")
    url, app = make_service()
    with httpx.Client(base_url=url, timeout=30) as c:
        assert ask(c, "What are your pricing plans?").status_code == 200
    schema = load(f"{url}/openapi.json")
    # the fault switch last: a schema-valid PUT switches faults on, and a chat request answered
    # 500 injected_fault on purpose would read as a server error
    results = fuzz(schema, url, headers=KEY, max_examples=EXAMPLES, only=lambda label: FAULTS not in label)
    results += fuzz(schema, url, headers=KEY, max_examples=EXAMPLES, only=lambda label: FAULTS in label)
    assert {r.label for r in results} == ROUTES
    assert not report(results), report(results)
    assert sum(r.cases for r in results) >= 6 * EXAMPLES
    h = httpx.get(f"{url}/health").json()
    assert h["status"] == "ok" and h["store"]["reachable"]
    assert app.state.ethos.cache.store.ping()
    assert httpx.delete(f"{url}{FAULTS}", headers=KEY).json()["enabled"] is False
    with httpx.Client(base_url=url, timeout=30) as c:
        assert ask(c, "What are your pricing plans?").status_code == 200


@pytest.mark.parametrize("headers", [{}, {"X-Admin-API-Key": "not-the-key"}], ids=["no-key", "wrong-key"])
def test_fuzz_admin_routes_without_the_key_changes_nothing(make_service, headers) -> None:
    url, app = make_service()
    with httpx.Client(base_url=url, timeout=30) as c:
        assert ask(c, "What are your pricing plans?").headers["X-Cache"] == "MISS"
    store = app.state.ethos.cache.store
    before = store.count()
    assert before >= 1
    results = fuzz(load(f"{url}/openapi.json"), url, headers=headers, max_examples=EXAMPLES // 2,
                   only=lambda label: "/api/admin/" in label)
    assert len(results) == 8
    assert not report(results), report(results)
    assert store.count() == before  # nothing was invalidated or purged without the key
    assert not app.state.ethos.faults.faults.enabled  # no fault switched on without the key


@pytest.mark.parametrize("name", sorted(HOSTILE_BODIES))
def test_hostile_chat_bodies_get_clear_errors(service, name: str) -> None:
    client, _ = service
    r = client.post("/api/ai/marketing-chat", content=HOSTILE_BODIES[name],
                    headers={"Content-Type": "application/json"})
    assert hostile_problems(r.status_code, r.headers.get("content-type", ""), r.content) is None, r.text[:300]


def test_stray_methods_and_paths_get_json_errors(make_service) -> None:
    url, _ = make_service()
    missing = ["/nope", "/api/admin/nope", "/api/admin/cache/stats/x", "/api/ai/marketing-chat/x"]
    assert stray_problems(f"{url}/openapi.json", url, missing, headers=KEY) == []


def test_admin_query_parameters_are_known_and_single(service) -> None:
    client, app = service
    for query in ("n=5&m=1", "n=5&n=6", "n=5&N=6"):
        r = client.get(f"/api/admin/cache/top?{query}", headers=KEY)
        assert r.status_code == 400 and r.json()["error"] in ("unknown_parameter", "repeated_parameter"), query
        assert "m=1" not in r.text and "N" not in r.json()["detail"]  # the names sent are not echoed
    r = client.post("/api/admin/cache/invalidate?key_pattern=nothing:*&key_pattern=all", headers=KEY)
    assert r.json()["error"] == "repeated_parameter"
    assert client.get("/api/admin/cache/top?n=5", headers=KEY).status_code == 200


def test_the_harness_fails_on_what_it_must() -> None:
    """A 500, and a 400 in plain text, are each reported (the checks are not silently off)."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, PlainTextResponse
    from starlette.routing import Route

    from tests.servers import ServerThread

    ok = {"description": "ok", "content": {"application/json": {"schema": {"type": "object"}}}}
    bad = {"description": "bad", "content": {"text/plain": {"schema": {"type": "string"}}}}
    doc = {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": {
        "/boom": {"get": {"responses": {"200": ok, "500": bad}}},
        "/text": {"get": {"responses": {"200": ok, "400": bad}}},
    }}
    app = Starlette(routes=[
        Route("/openapi.json", lambda r: JSONResponse(doc)),
        Route("/boom", lambda r: PlainTextResponse("boom", status_code=500)),
        Route("/text", lambda r: PlainTextResponse("no", status_code=400)),
    ])
    with ServerThread(app) as srv:
        results = {r.label: r for r in fuzz(load(f"{srv.url}/openapi.json"), srv.url, max_examples=2)}
    assert any("Server error" in t for t in results["GET /boom"].failures), results["GET /boom"].failures
    assert any("not a JSON error" in t for t in results["GET /text"].failures), results["GET /text"].failures
