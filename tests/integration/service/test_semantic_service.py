"""Maya's first hour, with the real embedding model: paraphrase hits, another question misses."""

from __future__ import annotations

import time

import httpx
import pytest

pytestmark = pytest.mark.slow


def test_paraphrase_is_a_semantic_hit_and_another_plan_is_not(make_service):
    url, app = make_service(semantic_enabled=True)
    deadline = time.monotonic() + 120
    with httpx.Client(base_url=url, timeout=30) as c:
        assert c.get("/health").json()["semantic"] in ("loading", "ready")
        # exact-only while the model loads: still answers
        assert c.post("/api/ai/marketing-chat", json={"message": "What are your pricing plans?"}).status_code == 200
        while c.get("/health").json()["semantic"] != "ready":
            assert time.monotonic() < deadline, "the model did not load"
            time.sleep(0.2)
        # re-store with a vector now that the model is ready
        c.post("/api/admin/cache/invalidate?key_pattern=all", headers={"X-Admin-API-Key": "test-admin-key-0123456789"})
        assert c.post("/api/ai/marketing-chat", json={"message": "What are your pricing plans?"}).headers["X-Cache"] == "MISS"
        r = c.post("/api/ai/marketing-chat", json={"message": "how much are your plans?"})
        assert r.headers["X-Cache"] == "SEMANTIC-HIT", r.json()
        sim = float(r.headers["X-Cache-Similarity"])
        assert 0 < sim <= 1 and r.json()["similarity"] == pytest.approx(sim, abs=1e-3)
        assert r.json()["key"].endswith(":what-are-your-pricing-plans:" + r.json()["key"].rsplit(":", 1)[1])
        assert c.post("/api/ai/marketing-chat", json={"message": "How much is the Team plan?"}).headers["X-Cache"] == "MISS"
        text = c.get("/metrics").text
        assert 'ethos_cache_lookups_total{result="semantic_hit",revision="blue"} 1.0' in text


def test_follow_up_in_a_conversation_is_never_shared(make_service):
    url, _ = make_service(semantic_enabled=True)
    with httpx.Client(base_url=url, timeout=30) as c:
        c.post("/api/ai/marketing-chat", json={"message": "How much is the Team plan?", "session_id": "s1"})
        r1 = c.post("/api/ai/marketing-chat", json={"message": "and the other one?", "session_id": "s1"})
        assert r1.headers["X-Cache"] == "BYPASS"
        r2 = c.post("/api/ai/marketing-chat", json={"message": "and the other one?", "session_id": "s2"})
        assert r2.headers["X-Cache"] in ("MISS", "BYPASS")
        c.post("/api/ai/marketing-chat", json={"message": "What is the Business plan?", "session_id": "s2"})
        r3 = c.post("/api/ai/marketing-chat", json={"message": "and the other one?", "session_id": "s2"})
        assert r3.headers["X-Cache"] == "BYPASS"


def test_the_semantic_settings_reach_the_tier_and_its_gauges(make_service):
    url, app = make_service(semantic_enabled=True, semantic_max_rows=7,
                            semantic_thresholds="marketing=0.95/0.8")
    tier = app.state.ethos.cache.semantic
    assert tier.max_rows == 7
    assert (tier.verifiers["marketing"].threshold, tier.verifiers["marketing"].threshold_same) == (0.95, 0.8)
    with httpx.Client(base_url=url, timeout=30) as c:
        text = c.get("/metrics").text
    assert 'ethos_semantic_index_rows{revision="blue"}' in text
    assert 'ethos_semantic_index_evicted{revision="blue"} 0.0' in text
