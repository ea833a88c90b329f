"""Two real ``ethos serve`` processes on one Redis: answers are shared, and an invalidation
on one reaches the other's memory tier through Redis pub/sub before its next request.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx
import pytest

from tests.polling import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.redis, pytest.mark.slow]

Q = "What are your pricing plans?"


def ask(server, message: str = Q) -> str:
    r = httpx.post(f"{server.url}/api/ai/marketing-chat", json={"message": message}, timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["X-Cache"] == r.json()["cache"].upper().replace("_", "-")
    return r.json()["cache"]


@pytest.fixture
def two_instances(redis_url: str, serve_factory, tmp_path: Path):
    # redis_url first: its cleanup then runs after both servers have stopped
    """Revisions blue and green on the same Redis (this test's key prefix), one admin key."""
    key = secrets.token_urlsafe(16)
    servers = [
        serve_factory(
            {
                "ETHOS_CACHE_URL": redis_url,  # carries ?prefix=… of this test
                "ETHOS_ADMIN_API_KEY": key,
                "ETHOS_STATE_DIR": str(tmp_path / name),
            },
            revision=name,
        )
        for name in ("blue", "green")
    ]
    return servers[0], servers[1], key


def test_two_instances_share_answers_and_invalidations(two_instances) -> None:
    a, b, key = two_instances
    for s in (a, b):
        health = httpx.get(f"{s.url}/health", timeout=5).json()
        assert health["store"]["backend"] == "redis", health
        assert health["status"] == "ok", health

    assert ask(a) == "miss"
    assert ask(a) == "hit"
    assert ask(b) == "hit"  # stored by A, found by B
    assert ask(b) == "hit"  # now from B's memory tier

    r = httpx.post(
        f"{a.url}/api/admin/cache/invalidate",
        params={"key_pattern": "all"},
        headers={"X-Admin-API-Key": key},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    assert r.json()["removed"] == 1

    # B's very next request: its memory copy must already be gone
    assert ask(b) == "miss"
    assert ask(a) == "hit"  # B's answer was stored again and is shared



def test_a_paraphrase_hits_on_the_instance_that_did_not_store_the_answer(redis_url: str, serve_factory,
                                                                        tmp_path: Path) -> None:
    env = {"ETHOS_CACHE_URL": redis_url, "ETHOS_SEMANTIC_SYNC_INTERVAL_S": "0.5"}
    a, b = (serve_factory({**env, "ETHOS_STATE_DIR": str(tmp_path / n)}, revision=n, semantic=True)
            for n in ("blue", "green"))
    for s in (a, b):
        wait_until(lambda s=s: httpx.get(f"{s.url}/health", timeout=5).json()["semantic"] == "ready",
                   60, what="semantic tier ready")
    assert ask(b, "Where is my data stored?") == "miss"  # b's index is loaded, without a's question
    assert ask(a, "Do you support single sign-on?") == "miss"
    # b never saw that question; its sync brings a's entry into its index (the paraphrase is
    # asked with no_store, or its own answer would be stored and hit exactly)
    def paraphrase_on_b() -> str:
        r = httpx.post(f"{b.url}/api/ai/marketing-chat", timeout=30, json={
            "message": "Do you support single sign-on please?", "cache": {"no_store": True}})
        assert r.status_code == 200, r.text
        return r.json()["cache"]

    assert wait_until(lambda: paraphrase_on_b() == "semantic_hit", 20, interval=0.25,
                      what="a semantic hit on b for a's question")
    metrics = httpx.get(f"{b.url}/metrics", timeout=5).text
    assert 'ethos_semantic_synced_rows_total{revision="green"} 1.0' in metrics
