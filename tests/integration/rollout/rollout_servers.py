"""Real HTTP servers on 127.0.0.1 for the rollout tests: a fake revision and a thread runner."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

from ethos.rollout.stack.state import free_port  # noqa: E402,F401  (re-exported for importers)
from tests.servers import ServerThread as ThreadedServer  # noqa: F401  (one thread runner for all tests)
from tests.servers import request_body


class FakeRevision:
    """A revision in miniature: chat (JSON or a gated SSE stream), /health, /slow, /status/N."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.gate = threading.Event()  # a streamed answer waits here after its first event
        self.requests: list[dict[str, Any]] = []

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        body = await request_body(scope, receive, send)
        if body is None:
            return
        path = scope["path"]
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        self.requests.append({"path": path, "query": scope["query_string"].decode(), "headers": headers, "body": body})
        if path == "/health":
            await _json(send, 200, {"status": "ok", "revision": self.name, "cache_format_version": 1})
        elif path.startswith("/status/"):
            await _json(send, int(path.rsplit("/", 1)[1]), {"error": "as asked"})
        elif path == "/slow":
            await asyncio.sleep(float(scope["query_string"].decode().partition("=")[2] or 0.02))
            await _json(send, 200, {"revision": self.name})
        elif path == "/api/ai/marketing-chat":
            data = json.loads(body or b"{}")
            if data.get("stream"):
                await send({"type": "http.response.start", "status": 200,
                            "headers": [(b"content-type", b"text/event-stream"), (b"x-revision", self.name.encode())]})
                await send({"type": "http.response.body", "body": b'data: {"delta": "first"}\n\n', "more_body": True})
                while not self.gate.is_set():
                    await asyncio.sleep(0.01)
                await send({"type": "http.response.body", "body": b'data: {"delta": "second"}\n\n', "more_body": True})
                await send({"type": "http.response.body", "body": b"event: done\ndata: {}\n\n"})
            else:
                await _json(send, 200, {"reply": "hi", "revision": self.name, "cache": "miss"},
                            extra=[(b"x-revision", self.name.encode())])
        else:
            await _json(send, 404, {"error": "not_found"})


async def _json(send: Any, status: int, payload: Any, extra: list | None = None) -> None:
    body = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *(extra or [])]})
    await send({"type": "http.response.body", "body": body})
