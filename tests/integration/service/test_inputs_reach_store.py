"""Over HTTP, every input that reaches the store is taken literally, on SQLite and on Redis:
``key_pattern``, ``source``, the cache namespace, session ids and ``top``'s ``n``.
(The stores' own contract with hostile patterns: tests/integration/cache/test_store_inputs.py.)
"""

from __future__ import annotations

import httpx
import pytest

from tests.integration.service.service_helpers import ADMIN_KEY, ask

H = {"X-Admin-API-Key": ADMIN_KEY}
QUESTION = "What are your pricing plans?"


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def client(request, make_service):
    overrides = {"cache_url": request.getfixturevalue("redis_url")} if request.param == "redis" else {}
    url, app = make_service(**overrides)
    with httpx.Client(base_url=url, timeout=30, headers=H) as c:
        yield c, app.state.ethos.cache.store


def _invalidate(c: httpx.Client, pattern: str) -> httpx.Response:
    return c.post("/api/admin/cache/invalidate", params={"key_pattern": pattern})


def test_inputs_that_reach_the_store_are_data(client) -> None:
    c, store = client
    # the same question in namespaces that LIKE ('_') or a glob ('?') would confuse
    for ns in (None, "a_b", "axb", "a-b"):
        body = {"cache": {"namespace": ns}} if ns else {}
        assert ask(c, QUESTION, **body).status_code == 200
    keys = {e.key.split(":")[0] for batch in store.scan() for e in batch}
    assert keys == {"marketing", "a_b", "axb", "a-b"}
    source = next(e.sources[0] for batch in store.scan() for e in batch)

    # a namespace with store syntax never reaches the store
    for bad in ("a%", "a*", "a[b]", "' OR 1=1 --", "a\nb", "A"):
        r = ask(c, QUESTION, cache={"namespace": bad})
        assert r.status_code == 422 and r.json()["error"] == "invalid_request", bad

    # session ids are hashed, never a pattern or a query
    for sid in ("*", "%", "_", "' OR '1'='1", "[a]", "\\", "x" * 128):
        assert ask(c, QUESTION, session_id=sid).status_code == 200, sid

    # document names: wildcards of SQL and of globs match nothing
    for probe in ("%", "*", "_", "?", source[:-1] + "_", source[:-1] + "?", source[:3] + "%",
                  source[:3] + "*", f"{source}' OR '1'='1", f"[{source[0]}]{source[1:]}"):
        r = c.post("/api/admin/cache/invalidate-source", params={"source": probe})
        assert r.status_code == 200 and r.json()["removed"] == 0, (probe, r.text)
    assert store.count() == 4

    # top: this revision's namespace only, n within bounds
    top = c.get("/api/admin/cache/top", params={"n": 10}).json()
    assert len(top["items"]) == 1 and top["questions"] == ["what are your pricing plans"]
    for n in ("0", "-1", "10001", "1e3", "%", "*"):
        assert c.get("/api/admin/cache/top", params={"n": n}).status_code == 422, n

    # key patterns: '%' and '_' are plain characters; store syntax is refused
    assert _invalidate(c, "a%b:*").json()["removed"] == 0
    for bad in ("' OR 1=1 --", "a;b", "a\\*", "a^b", "a b", "a[b", "a]b", "*\x00", "x" * 257):
        r = _invalidate(c, bad)
        assert r.status_code in (400, 422) and r.json()["error"] in ("invalid_key_pattern", "invalid_request"), bad
    assert store.count() == 4
    assert _invalidate(c, "a_b:*").json()["removed"] == 1  # not axb, not a-b
    assert _invalidate(c, "a[!x]b:*").json()["removed"] == 1  # a-b
    assert _invalidate(c, "a?b:*").json()["removed"] == 1  # axb, the one left
    r = c.post("/api/admin/cache/invalidate-source", params={"source": source})
    assert r.json()["removed"] == 1
    assert store.count() == 0
