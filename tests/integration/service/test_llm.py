"""The OpenAI-compatible answerer against a fake provider on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from ethos.agent.base import FALLBACK_TEXT
from tests.integration.service.service_helpers import ask, sse
from tests.servers import ServerThread

REPLY = "EthosPrompt has five plans: Free, Starter, Team, Business and Enterprise."


class FakeProvider:
    """Behaviour switchable per test: ok | fail | slow | truncated."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.reply = REPLY
        #: how the streamed reply is cut into deltas (default: after each word)
        self.deltas: list[str] | None = None
        self.calls: list[dict] = []
        self.auth: list[str | None] = []
        self.app = Starlette(routes=[Route("/v1/chat/completions", self.chat, methods=["POST"])])

    async def chat(self, request: Request):
        body = await request.json()
        self.calls.append(body)
        self.auth.append(request.headers.get("authorization"))
        if self.mode == "fail":
            return JSONResponse({"error": {"message": "overloaded"}}, status_code=503)
        if self.mode == "slow":
            await asyncio.sleep(2)
        finish = "length" if self.mode == "truncated" else "stop"
        if body.get("stream"):
            async def gen():
                deltas = self.deltas or [w + " " for w in self.reply.split(" ")]
                for i, piece in enumerate(deltas):
                    if self.mode == "slow_mid" and i == 3:
                        await asyncio.sleep(2)  # longer than the client's read timeout
                    chunk = {"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
                    yield f"data: {json.dumps(chunk)}\n\n"
                    await asyncio.sleep(0.001)
                yield f"data: {json.dumps({'choices': [{'index': 0, 'delta': {}, 'finish_reason': finish}]})}\n\n"
                yield "data: [DONE]\n\n"

            return StreamingResponse(gen(), media_type="text/event-stream")
        return JSONResponse({
            "id": "x", "object": "chat.completion", "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": self.reply},
                         "finish_reason": finish}],
        })


@pytest.fixture
def provider():
    p = FakeProvider()
    with ServerThread(p.app) as srv:
        p.url = srv.url + "/v1"
        yield p


# A provider that answers at once gets a timeout it cannot hit on a loaded machine (CI once saw
# a 0.5 s one expire on a fast answer); the tests of a slow provider use SLOW_TIMEOUT_S, which
# is far below the provider's two-second sleep.
TIMEOUT_S = 10.0
SLOW_TIMEOUT_S = 0.5


def _service(make_service, provider, timeout_s: float):
    url, app = make_service(
        llm_base_url=provider.url, llm_api_key="sk-test-secret", llm_model="test-model",
        llm_timeout_s=timeout_s, llm_retries=1,
    )
    return httpx.Client(base_url=url, timeout=30), app


@pytest.fixture
def llm_service(make_service, provider):
    client, app = _service(make_service, provider, TIMEOUT_S)
    with client:
        yield client, app, provider


@pytest.fixture
def slow_llm_service(make_service, provider):
    client, app = _service(make_service, provider, SLOW_TIMEOUT_S)
    with client:
        yield client, app, provider


def test_llm_answer_is_grounded_and_cached(llm_service):
    client, app, provider = llm_service
    assert client.get("/health").json()["answerer"] == "llm:test-model"
    r = ask(client, "What are your pricing plans?")
    assert r.status_code == 200 and r.json()["reply"] == REPLY
    assert r.json()["sources"][0] == "plans-and-pricing.md"
    call = provider.calls[0]
    assert call["model"] == "test-model"
    assert "Pricing plans at a glance" in call["messages"][0]["content"]
    assert call["messages"][1] == {"role": "user", "content": "What are your pricing plans?"}
    assert provider.auth[0] == "Bearer sk-test-secret"
    assert ask(client, "What are your pricing plans?").headers["X-Cache"] == "HIT"
    assert len(provider.calls) == 1


def test_llm_stream_passes_deltas_and_is_cached(llm_service):
    client, _, provider = llm_service
    r = client.post("/api/ai/marketing-chat", json={"message": "What are your plans?", "stream": True})
    deltas = [json.loads(line[6:])["delta"] for line in r.text.splitlines()
              if line.startswith("data: ") and '"delta"' in line]
    assert len(deltas) == len(REPLY.split(" "))
    assert "".join(deltas).strip() == REPLY
    assert ask(client, "What are your plans?").headers["X-Cache"] == "HIT"


def test_provider_error_is_502_retried_and_not_cached(llm_service):
    client, app, provider = llm_service
    provider.mode = "fail"
    r = ask(client, "What are your pricing plans?")
    assert r.status_code == 502 and r.json()["error"] == "upstream_error"
    assert "503" in r.json()["detail"]
    assert len(provider.calls) == 2  # one retry
    assert app.state.ethos.cache.store.count() == 0
    assert "sk-test-secret" not in r.text


def test_provider_timeout_is_504(slow_llm_service):
    client, app, provider = slow_llm_service
    provider.mode = "slow"
    r = ask(client, "What are your pricing plans?")
    assert r.status_code == 504 and r.json()["error"] == "upstream_timeout"
    assert app.state.ethos.cache.store.count() == 0


def test_truncated_answers_are_not_cached(llm_service):
    client, app, provider = llm_service
    provider.mode = "truncated"
    assert ask(client, "What are your pricing plans?").status_code == 200
    assert ask(client, "What are your pricing plans?").headers["X-Cache"] == "MISS"
    text = client.get("/metrics").text
    assert 'ethos_cache_quality_rejections_total{reason="truncated",revision="blue"} 2.0' in text


def test_stream_that_fails_at_once_is_502(llm_service):
    client, app, provider = llm_service
    provider.mode = "fail"
    r = client.post("/api/ai/marketing-chat", json={"message": "What are your plans?", "stream": True})
    assert r.status_code == 502 and r.json()["error"] == "upstream_error"
    assert app.state.ethos.cache.store.count() == 0


def test_stream_cut_mid_way_ends_with_an_error_event(slow_llm_service):
    client, app, provider = slow_llm_service
    provider.mode = "slow_mid"
    r = client.post("/api/ai/marketing-chat", json={"message": "What are your plans?", "stream": True})
    assert r.status_code == 200
    assert '"delta"' in r.text and "event: error" in r.text
    assert app.state.ethos.cache.store.count() == 0


def test_unreachable_provider_is_502(make_service):
    from tests.servers import free_port

    url, _ = make_service(llm_base_url=f"http://127.0.0.1:{free_port()}/v1", llm_retries=0)
    r = httpx.post(f"{url}/api/ai/marketing-chat", json={"message": "What are your plans?"})
    assert r.status_code == 502 and "cannot reach" in r.json()["detail"]


def test_an_abstaining_llm_gives_the_fallback_ungrounded_and_never_cached(llm_service):
    client, app, provider = llm_service
    provider.reply = "NO_ANSWER"
    for _ in range(2):
        r = ask(client, "Is there an Android app?")
        body = r.json()
        assert r.status_code == 200 and body["cache"] == "miss"  # the second time too
        assert body["grounded"] is False and body["sources"] == []
        assert body["reply"] == FALLBACK_TEXT and "NO_ANSWER" not in body["reply"]
    assert "reply with exactly NO_ANSWER" in provider.calls[0]["messages"][0]["content"]


@pytest.mark.parametrize("deltas", [["NO_", "ANS", "WER"], [" NO_ANSWER", "."], ["NO_ANSWER"]])
def test_a_streamed_abstention_never_shows_the_marker(llm_service, deltas):
    client, app, provider = llm_service
    provider.reply, provider.deltas = "NO_ANSWER", deltas
    events = sse(client, "Can I self-host EthosPrompt on Kubernetes?")
    text = "".join(d["delta"] for e, d in events if e == "message")
    assert text == FALLBACK_TEXT
    assert events[-1][0] == "done" and events[-1][1]["grounded"] is False
    assert events[-1][1]["sources"] == []


def test_a_reply_that_starts_like_the_marker_streams_whole(llm_service):
    client, app, provider = llm_service
    provider.reply = "NO, the API is on the Business and Enterprise plans only."
    provider.deltas = ["NO", ", the API", " is on the Business and Enterprise plans only."]
    events = sse(client, "Does the Team plan include the API?")
    assert "".join(d["delta"] for e, d in events if e == "message") == provider.reply
    assert events[-1][1]["grounded"] is True and events[-1][1]["sources"]
