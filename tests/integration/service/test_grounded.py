"""The knowledge-base answerer behind the service: grounded answers carry their sources; a
question the knowledge base does not answer gets the honest fallback, `grounded: false`,
no sources, and is never stored (so never served to another question)."""

from __future__ import annotations

import json

from tests.integration.service.service_helpers import ask


def test_grounded_answers_say_so(service):
    client, _ = service
    body = ask(client, "What are your pricing plans?").json()
    assert body["grounded"] is True and body["sources"] == ["plans-and-pricing.md"]
    hit = ask(client, "What are your pricing plans?")
    assert hit.headers["X-Cache"] == "HIT" and hit.json()["grounded"] is True


def test_an_unanswerable_question_gets_the_honest_fallback_and_is_never_stored(service):
    client, app = service
    q = "What's the weather in Melbourne today?"
    for _ in range(2):
        r = ask(client, q)
        body = r.json()
        assert r.headers["X-Cache"] == "MISS"
        assert body["grounded"] is False and body["sources"] == []
        assert body["reply"].startswith("I can't answer that from the EthosPrompt knowledge base")
        assert "sales@ethosprompt.com" in body["reply"] and "support@ethosprompt.com" in body["reply"]
    s = client.post("/api/ai/marketing-chat", json={"message": q, "stream": True})
    done = [json.loads(line[6:]) for line in s.text.splitlines()
            if line.startswith("data: ") and '"grounded"' in line][-1]
    assert done == {"cache": "miss", "revision": "blue", "sources": [], "grounded": False}
    assert app.state.ethos.cache.store.count() == 0
