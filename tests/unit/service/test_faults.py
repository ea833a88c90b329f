"""Fault injection: the spec parser and the ASGI middleware on a tiny Starlette app."""

from __future__ import annotations

import asyncio
import random

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from ethos.service.faults import FaultMiddleware, Faults, FaultSwitch


def test_parse_full_spec() -> None:
    f = Faults.parse("error_rate=0.1,latency_ms=2000,ttft_ms=800")
    assert f == Faults(error_rate=0.1, latency_ms=2000, ttft_ms=800)
    assert f.enabled
    assert f.describe() == {"error_rate": 0.1, "latency_ms": 2000, "ttft_ms": 800}
    assert Faults.parse(f.spec()) == f


@pytest.mark.parametrize("spec", ["", "   ", None, ",", "error_rate=0"])
def test_off_unless_set(spec: str | None) -> None:
    f = Faults.parse(spec)
    assert not f.enabled
    assert f.describe() == {}


def test_spaces_and_partial_spec() -> None:
    assert Faults.parse(" ttft_ms = 800 ") == Faults(ttft_ms=800)


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("error_rate", "NAME=VALUE"),
        ("=0.1", "NAME=VALUE"),
        ("error_rate=", "NAME=VALUE"),
        ("latency=5", "unknown fault 'latency'"),
        ("error_rate=1.5", "within 0..1"),
        ("error_rate=-0.1", "within 0..1"),
        ("error_rate=nan", "within 0..1"),
        ("error_rate=lots", "number 0..1"),
        ("latency_ms=2.5", "whole milliseconds"),
        ("ttft_ms=-1", "within 0.."),
        ("ttft_ms=999999999", "within 0.."),
        ("error_rate=0.1,error_rate=0.2", "given twice"),
    ],
)
def test_bad_specs_say_what_is_wrong(spec: str, words: str) -> None:
    with pytest.raises(ValueError, match="ETHOS_FAULTS") as info:
        Faults.parse(spec)
    assert words in str(info.value)


class _Sleeps:
    """Records the delays asked for instead of waiting."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def _app(events: list[str]) -> Starlette:
    async def chat(request: Request) -> JSONResponse:
        events.append("app")
        return JSONResponse({"reply": "hello"})

    async def stream(request: Request) -> StreamingResponse:
        async def gen():  # type: ignore[no-untyped-def]
            yield b""
            yield b"data: one\n\n"
            yield b"data: two\n\n"

        return StreamingResponse(gen(), media_type="text/event-stream")

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/api/ai/marketing-chat", chat, methods=["POST", "GET"]),
            Route("/stream", stream, methods=["POST"]),
            Route("/health", health),
        ]
    )


def test_error_rate_one_fails_every_chat_request_with_json() -> None:
    events: list[str] = []
    app = FaultMiddleware(_app(events), Faults(error_rate=1.0), rng=random.Random(1))
    with TestClient(app) as client:
        r = client.post("/api/ai/marketing-chat", json={"message": "hi"})
    assert r.status_code == 500
    assert r.json()["error"] == "injected_fault"
    assert "ETHOS_FAULTS" in r.json()["detail"]
    assert events == []  # the app never saw it


def test_error_rate_share_follows_the_rng() -> None:
    events: list[str] = []
    app = FaultMiddleware(_app(events), Faults(error_rate=0.1), rng=random.Random(7))
    with TestClient(app) as client:
        codes = [client.post("/api/ai/marketing-chat", json={}).status_code for _ in range(1000)]
    failed = codes.count(500)
    # Binomial(1000, 0.1): 100 +- 3 sigma (about 28).
    assert 70 <= failed <= 130
    assert codes.count(200) == 1000 - failed


def test_only_post_chat_is_touched() -> None:
    events: list[str] = []
    app = FaultMiddleware(_app(events), Faults(error_rate=1.0), rng=random.Random(1))
    with TestClient(app) as client:
        assert client.get("/health").status_code == 200
        assert client.get("/api/ai/marketing-chat").status_code == 200
        assert client.post("/stream").status_code == 200


def test_latency_and_ttft_are_waited_in_order() -> None:
    events: list[str] = []
    sleeps = _Sleeps()
    app = FaultMiddleware(
        _app(events), Faults(latency_ms=2000, ttft_ms=800), sleep=sleeps
    )
    with TestClient(app) as client:
        r = client.post("/api/ai/marketing-chat", json={})
    assert r.status_code == 200 and r.json() == {"reply": "hello"}
    assert sleeps.calls == [2.0, 0.8]


def test_ttft_waits_for_the_first_real_byte_of_a_stream() -> None:
    """An empty first chunk carries no token; the delay goes before the first byte, once."""
    order: list[str] = []

    async def inner(scope, receive, send):  # type: ignore[no-untyped-def]
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for chunk, more in ((b"", True), (b"a", True), (b"b", False)):
            order.append(f"app:{chunk.decode() or '-'}")
            await send({"type": "http.response.body", "body": chunk, "more_body": more})

    async def sleep(s: float) -> None:
        order.append(f"sleep:{s}")

    async def send(message):  # type: ignore[no-untyped-def]
        if message["type"] == "http.response.body":
            order.append(f"out:{message['body'].decode() or '-'}")

    async def receive():  # type: ignore[no-untyped-def]
        return {"type": "http.request", "body": b"", "more_body": False}

    mw = FaultMiddleware(inner, Faults(ttft_ms=800), sleep=sleep)
    scope = {"type": "http", "method": "POST", "path": "/api/ai/marketing-chat"}
    asyncio.run(mw(scope, receive, send))
    assert order == ["app:-", "out:-", "app:a", "sleep:0.8", "out:a", "app:b", "out:b"]


def test_real_delay_is_applied_without_injected_sleep() -> None:
    events: list[str] = []
    app = FaultMiddleware(_app(events), Faults(latency_ms=1))
    with TestClient(app) as client:
        assert client.post("/api/ai/marketing-chat", json={}).status_code == 200
    assert events == ["app"]


# --- switched at runtime (issue 20): the grammar from a command, the switch, the route's body ----


def test_parse_names_where_the_spec_came_from() -> None:
    # `ethos stack fault green error_rate=0.2 latency_ms=500` joins its arguments with commas
    assert Faults.parse("error_rate=0.2,latency_ms=500", source="fault settings") == Faults(0.2, 500, 0)
    with pytest.raises(ValueError) as info:
        Faults.parse("latency=5", source="fault settings")
    assert str(info.value) == "fault settings: unknown fault 'latency'; known: error_rate, latency_ms, ttft_ms"
    with pytest.raises(ValueError, match=r"^ETHOS_FAULTS: error_rate must be within 0\.\.1, got 2$"):
        Faults.parse("error_rate=2")


def test_switch_reports_each_change_and_returns_the_previous_faults() -> None:
    seen: list[bool] = []
    switch = FaultSwitch(Faults(ttft_ms=5), on_change=lambda f: seen.append(f.enabled))
    assert seen == [True]  # at start: the gauge is right before the first switch
    assert switch.set(Faults(error_rate=0.5)) == Faults(ttft_ms=5)
    assert switch.faults == Faults(error_rate=0.5)
    assert switch.clear() == Faults(error_rate=0.5)
    assert switch.faults == Faults() and not switch.faults.enabled
    assert seen == [True, True, False]


def test_middleware_follows_the_switch_at_runtime() -> None:
    events: list[str] = []
    switch = FaultSwitch(rng=random.Random(3))
    app = FaultMiddleware(_app(events), switch)
    with TestClient(app) as client:
        assert client.post("/api/ai/marketing-chat", json={}).status_code == 200  # off: passes through
        switch.set(Faults(error_rate=1.0))
        r = client.post("/api/ai/marketing-chat", json={})
        assert r.status_code == 500 and r.headers["x-ethos-fault"] == "error"
        assert "error_rate=1.0" in r.json()["detail"] and "DELETE /api/admin/faults" in r.json()["detail"]
        switch.set(Faults(error_rate=0.25))
        codes = [client.post("/api/ai/marketing-chat", json={}).status_code for _ in range(400)]
        switch.clear()
        assert client.post("/api/ai/marketing-chat", json={}).status_code == 200
    # Binomial(400, 0.25): 100 +- 3 sigma (about 26); the switch's seeded RNG draws
    assert 74 <= codes.count(500) <= 126
    assert events.count("app") == 2 + codes.count(200)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("{}", Faults()),
        ('{"error_rate": 1}', Faults(error_rate=1.0)),
        ('{"error_rate": 0.2, "latency_ms": 2000.0, "ttft_ms": 800}', Faults(0.2, 2000, 800)),
    ],
)
def test_the_routes_body_takes_the_faults_as_json_numbers(body: str, expected: Faults) -> None:
    from ethos.service.schemas import FaultsRequest

    req = FaultsRequest.model_validate_json(body)
    assert Faults(req.error_rate, req.latency_ms, req.ttft_ms) == expected


@pytest.mark.parametrize(
    "body",
    ['{"error_rate": 1.5}', '{"error_rate": -0.1}', '{"error_rate": "0.2"}', '{"error_rate": true}',
     '{"error_rate": NaN}', '{"latency_ms": 2.5}', '{"latency_ms": "5"}', '{"ttft_ms": 600001}',
     '{"ttft_ms": -1}', '{"latency": 5}'],
)
def test_the_routes_body_refuses_what_the_grammar_refuses(body: str) -> None:
    from pydantic import ValidationError

    from ethos.service.schemas import FaultsRequest

    with pytest.raises(ValidationError):
        FaultsRequest.model_validate_json(body)
