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
        # the shipped pair model loaded after the embedding model and decided the hit
        assert c.get("/health").json()["pair_model"] == "ready"
        assert app.state.ethos.cache.semantic.verifier.uses_pair_model
        text = c.get("/metrics").text
        assert 'ethos_cache_lookups_total{result="semantic_hit",revision="blue"} 1.0' in text
        assert 'ethos_semantic_pair_model_ready{revision="blue"} 1.0' in text
        assert 'ethos_semantic_refusals{reason="names",revision="blue"}' in text  # Team vs no plan


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
                            semantic_thresholds="marketing=0.95/0.8",
                            semantic_pair_thresholds="marketing=0.9/0.35,support=0.7")
    tier = app.state.ethos.cache.semantic
    assert tier.max_rows == 7
    assert (tier.verifiers["marketing"].threshold, tier.verifiers["marketing"].threshold_same) == (0.95, 0.8)
    assert (tier.verifiers["marketing"].p_min, tier.verifiers["support"].p_min) == (0.9, 0.7)
    from ethos.cache.semantic.verify import DEFAULT_FLOOR

    assert (tier.verifiers["marketing"].floor, tier.verifiers["support"].floor) == (0.35, DEFAULT_FLOOR)
    from ethos.cache.semantic.pair_model import default_threshold

    assert tier.verifier.p_min == tier.pair_model.threshold == default_threshold()  # the card's
    assert tier.verifiers["support"].pair_model is tier.pair_model  # one model, loaded once
    with httpx.Client(base_url=url, timeout=30) as c:
        text = c.get("/metrics").text
    assert 'ethos_semantic_index_rows{revision="blue"}' in text
    assert 'ethos_semantic_index_evicted{revision="blue"} 0.0' in text


def test_with_the_pair_model_off_the_cosine_rules_decide(make_service):
    url, app = make_service(semantic_enabled=True, semantic_pair_model="off")
    assert app.state.ethos.cache.semantic.pair_model is None
    with httpx.Client(base_url=url, timeout=30) as c:
        assert c.get("/health").json()["pair_model"] == "off"
        assert 'ethos_semantic_pair_model_ready{revision="blue"} 0.0' in c.get("/metrics").text
