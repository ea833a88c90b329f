from __future__ import annotations

from tests.integration.service.service_helpers import ADMIN_KEY, ask, sse_events


def test_miss_then_hit(service):
    client, _ = service
    r1 = ask(client, "What are your pricing plans?")
    assert r1.status_code == 200
    assert r1.headers["X-Cache"] == "MISS" and r1.headers["X-Revision"] == "blue"
    body = r1.json()
    assert body["cache"] == "miss" and body["revision"] == "blue"
    assert "Team ($49 per user per month)" in body["reply"]
    assert body["sources"] == ["plans-and-pricing.md"]
    r2 = ask(client, "what are your   PRICING plans")
    assert r2.headers["X-Cache"] == "HIT"
    assert r2.json()["reply"] == body["reply"]
    assert r2.json()["key"].startswith("marketing:v1:")


def test_different_question_is_a_miss(service):
    client, _ = service
    ask(client, "What are your pricing plans?")
    assert ask(client, "How much is the Team plan?").headers["X-Cache"] == "MISS"


def test_fallback_answers_are_not_cached(service):
    client, _ = service
    assert ask(client, "hello there").headers["X-Cache"] == "MISS"
    assert ask(client, "hello there").headers["X-Cache"] == "MISS"


def test_cache_control_per_request(service):
    client, _ = service
    q = "Do you offer a free trial?"
    assert ask(client, q, cache={"no_store": True}).headers["X-Cache"] == "MISS"
    assert ask(client, q).headers["X-Cache"] == "MISS"
    assert ask(client, q).headers["X-Cache"] == "HIT"
    assert ask(client, q, cache={"no_cache": True}).headers["X-Cache"] == "BYPASS"
    # another namespace is another cache
    assert ask(client, q, cache={"namespace": "campaign-a"}).headers["X-Cache"] == "MISS"
    assert ask(client, q, cache={"namespace": "campaign-a"}).headers["X-Cache"] == "HIT"


def test_ttl_is_recorded(service):
    client, app = service
    ask(client, "Can I cancel at any time?", cache={"ttl": 60})
    entries = [e for b in app.state.ethos.cache.store.scan() for e in b]
    assert [e.ttl_s for e in entries] == [60]


_events = sse_events


def test_stream_then_hit_replayed_as_stream(service):
    client, _ = service
    q = "Where is my data stored?"
    r1 = client.post("/api/ai/marketing-chat", json={"message": q, "stream": True})
    assert r1.headers["content-type"].startswith("text/event-stream")
    assert r1.headers["X-Cache"] == "MISS"
    ev1 = _events(r1.text)
    assert len(ev1) > 2 and ev1[-1][0] == "done"
    text1 = "".join(d["delta"] for e, d in ev1 if e == "message")
    assert "Sydney" in text1
    assert ev1[-1][1]["sources"] == ["security-and-privacy.md"]
    r2 = client.post(
        "/api/ai/marketing-chat", json={"message": q}, headers={"Accept": "text/event-stream"}
    )
    assert r2.headers["X-Cache"] == "HIT"
    ev2 = _events(r2.text)
    assert "".join(d["delta"] for e, d in ev2 if e == "message") == text1
    assert ev2[-1] == ("done", {"cache": "hit", "revision": "blue", "sources": ["security-and-privacy.md"], "grounded": True})


def test_stats_count_hits_and_misses(service):
    client, _ = service
    ask(client, "What are your pricing plans?")
    ask(client, "What are your pricing plans?")
    s = client.get("/api/admin/cache/stats", headers={"X-Admin-API-Key": ADMIN_KEY}).json()
    assert s["entries"] == 1 and s["hits"] == 1 and s["misses"] == 1
    assert s["hit_rate"] == 0.5 and s["backend"] == "sqlite" and s["size_bytes"] > 0


def test_top_questions_by_hits(service):
    client, _ = service
    for _ in range(3):
        ask(client, "Do you integrate with HubSpot?")
    ask(client, "What are your pricing plans?")
    top = client.get("/api/admin/cache/top?n=1", headers={"X-Admin-API-Key": ADMIN_KEY}).json()
    assert top["questions"] == ["do you integrate with hubspot"]
    assert top["items"][0]["hits"] == 2


def test_fast_lane_and_route_give_the_same_hit(service):
    client, _ = service
    q = "What are your pricing plans?"
    ask(client, q)
    fast = ask(client, q)  # served before the framework's routing
    routed = ask(client, q, session_id="s-1")  # sessions take the route
    assert fast.json() == routed.json()
    for h in ("X-Cache", "X-Revision", "content-type"):
        assert fast.headers[h] == routed.headers[h]
    assert fast.headers["X-Request-ID"] != routed.headers["X-Request-ID"]
    text = client.get("/metrics").text
    assert 'ethos_cache_lookups_total{result="hit",revision="blue"} 2.0' in text
    assert 'ethos_cache_lookups_total{result="miss",revision="blue"} 1.0' in text
    assert 'ethos_requests_total{revision="blue",route="/api/ai/marketing-chat",status="200"} 3.0' in text


def test_a_question_the_knowledge_base_does_not_answer_gets_the_ungrounded_fallback_never_cached(service):
    client, _ = service
    q = "Can I self-host EthosPrompt on my own Kubernetes cluster?"
    for _ in range(2):
        body = ask(client, q).json()
        assert body["cache"] == "miss" and body["grounded"] is False and body["sources"] == []
        assert "sales@ethosprompt.com" in body["reply"]
    done = sse_events(client.post("/api/ai/marketing-chat", json={"message": q, "stream": True}).text)[-1]
    assert done[0] == "done" and done[1]["grounded"] is False and done[1]["sources"] == []
    answered = ask(client, "Where is my data stored?").json()
    assert answered["grounded"] is True and answered["sources"] == ["security-and-privacy.md"]
