"""Shared by the service's integration tests."""

from __future__ import annotations

import json

import httpx

ADMIN_KEY = "test-admin-key-0123456789"


def ask(client: httpx.Client, message: str, **kw) -> httpx.Response:
    return client.post("/api/ai/marketing-chat", json={"message": message, **kw})


def sse_events(text: str) -> list[tuple[str, dict]]:
    """A text/event-stream body as ``(event, data)`` pairs (``message`` when unnamed)."""
    out = []
    for block in text.strip().split("\n\n"):
        event, data = "message", None
        for line in block.splitlines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
        out.append((event, data))
    return out


def sse(client: httpx.Client, message: str, **kw) -> list[tuple[str, dict]]:
    """Ask for a streamed answer and read it whole."""
    r = client.post("/api/ai/marketing-chat", json={"message": message, "stream": True, **kw})
    assert r.status_code == 200, r.text
    return sse_events(r.text)
