"""A running revision purges expired entries by itself: an answer whose TTL has passed leaves
the store, the memory tier and the vector index, and /metrics counts it; a live one stays.
SQLite and Redis; the cache's clock is injected (moved past the TTL, not waited for), and the
semantic tier embeds with the model-free hashing embedder so that its index is real and fast."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from ethos.cache.keys import make_key
from ethos.cache.semantic import HashingEmbedder
from ethos.service import create_app
from ethos.settings import Settings
from tests.integration.service.service_helpers import ADMIN_KEY, ask
from tests.polling import wait_until
from tests.servers import ServerThread


class Clock:
    def __init__(self) -> None:
        self.t = time.time()

    def __call__(self) -> float:
        return self.t


def metric(text: str, name: str, **labels: str) -> float | None:
    want = {"revision": "blue", **labels}
    for m in re.finditer(rf"^{name}\{{([^}}]*)\}} (\S+)$", text, re.M):
        got = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        if got == want:
            return float(m.group(2))
    return None




@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def cache_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cache.sqlite3'}"
    return request.getfixturevalue("redis_url")


@pytest.fixture
def revision(tmp_path, cache_url):
    settings = Settings(state_dir=tmp_path, admin_api_key=ADMIN_KEY, cache_url=cache_url,
                        semantic_enabled=True, cache_purge_interval_s=0.2, pii_scan_interval_s=0)
    app = create_app(settings, access_log=False)
    st = app.state.ethos
    clock = Clock()
    st.cache.clock = clock
    st.cache.semantic.embedder = HashingEmbedder()
    st.cache.semantic.clock = clock
    srv = ServerThread(app).start()
    try:
        with httpx.Client(base_url=srv.url, timeout=10) as client:
            wait_until(lambda: client.get("/health").json()["semantic"] == "ready", 30, what="semantic tier")
            yield client, st, clock
    finally:
        srv.stop()


def test_an_expired_answer_leaves_the_store_the_memory_tier_and_the_vector_index(revision) -> None:
    client, st, clock = revision
    short = ask(client, "What are your pricing plans?", cache={"ttl": 60})
    long = ask(client, "Do you offer single sign-on?", cache={"ttl": 3600})
    assert short.headers["X-Cache"] == long.headers["X-Cache"] == "MISS"
    short_key = make_key(st.cache.scope, "What are your pricing plans?")[0]
    long_key = make_key(st.cache.scope, "Do you offer single sign-on?")[0]
    tier, store = st.cache.semantic, st.cache.store
    index = next(iter(tier._indexes.values()))  # noqa: SLF001 - the scope's vector index
    assert {k for k in (short_key, long_key) if k in index._pos} == {short_key, long_key}  # noqa: SLF001
    assert store.count() == 2 and len(st.cache.memory) == 2
    # passes have run meanwhile (nothing expired yet): nothing purged
    text = client.get("/metrics").text
    assert metric(text, "ethos_cache_purged_entries_total", tier="store") == 0.0
    assert metric(text, "ethos_cache_purge_passes_total", result="failed") == 0.0

    clock.t += 120  # the short answer has expired, the long one has not

    def purged() -> str | None:
        text = client.get("/metrics").text
        return text if metric(text, "ethos_cache_purged_entries_total", tier="store") == 1.0 else None

    text = wait_until(purged, 10, what="purge of the expired entry")
    assert metric(text, "ethos_cache_purged_entries_total", tier="memory") == 1.0
    assert metric(text, "ethos_cache_purged_entries_total", tier="semantic") == 1.0
    assert metric(text, "ethos_cache_purge_passes_total", result="complete") >= 1
    assert metric(text, "ethos_cache_purge_store_operations_total", op="delete", store=store.backend) == 1.0
    assert metric(text, "ethos_store_operations_total", op="delete", store=store.backend) == 0.0
    assert [e.key for batch in store.scan() for e in batch] == [long_key]
    assert short_key not in index._pos and long_key in index._pos  # noqa: SLF001
    assert len(st.cache.memory) == 1
    # the live answer is still served from every tier; the expired one is answered afresh
    assert ask(client, "Do you offer single sign-on?").headers["X-Cache"] == "HIT"
    assert ask(client, "What are your pricing plans?").headers["X-Cache"] == "MISS"


def test_a_store_that_is_down_is_counted_and_the_revision_keeps_answering(tmp_path, redis_server_factory) -> None:
    """Redis stops: passes fail (counted, logged), requests are answered with the cache
    bypassed; Redis comes back: the next pass purges."""
    server = redis_server_factory().start()
    settings = Settings(state_dir=tmp_path, admin_api_key=ADMIN_KEY, cache_url=server.url,
                        semantic_enabled=False, cache_purge_interval_s=0.2, pii_scan_interval_s=0)
    app = create_app(settings, access_log=False)
    st = app.state.ethos
    clock = Clock()
    st.cache.clock = clock
    with ServerThread(app) as srv, httpx.Client(base_url=srv.url, timeout=10) as client:
        assert ask(client, "What are your pricing plans?", cache={"ttl": 60}).headers["X-Cache"] == "MISS"
        server.stop()
        wait_until(lambda: (metric(client.get("/metrics").text, "ethos_cache_purge_passes_total",
                                 result="failed") or 0) >= 2, 10, what="failed purge passes")
        assert ask(client, "Do you offer single sign-on?").status_code == 200
        assert client.get("/health").status_code == 200
        server.start()  # empty: Redis ran without persistence
        wait_until(lambda: client.get("/health").json()["status"] == "ok"
                 and ask(client, "Do you offer single sign-on?", cache={"ttl": 60}).headers["X-Cache"] == "MISS",
                 15, what="the cache storing again")
        assert st.cache.store.count() == 1
        clock.t += 120
        wait_until(lambda: metric(client.get("/metrics").text, "ethos_cache_purged_entries_total",
                                tier="store") == 1.0, 15, what="purge once Redis is back")
