"""The fast lane: a plain cache hit answered before the framework's routing.

Most traffic of a warm cache is the same questions again. For those, FastAPI's routing and
dependency solving cost more than the lookup itself, so this ASGI middleware answers a
non-streamed, session-less ``POST /api/ai/marketing-chat`` whose exact key is stored, with
the very body and headers the route would give. Everything else (a miss, a stream, a
session, invalid input, a remote store, anything unexpected) goes on to the route
untouched, with the body replayed.
"""

from __future__ import annotations

import json

from pydantic import ValidationError

from .chat import CHAT_PATH, hit_body, hit_headers
from .schemas import ChatRequest

_JSON = (b"content-type", b"application/json")


class FastLane:
    def __init__(self, app, state) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] != CHAT_PATH or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # disconnected
                return await self.app(scope, _replay(b"".join(chunks), receive), send)
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if await self._answer_hit(scope, body, send):
            return None
        return await self.app(scope, _replay(body, receive), send)

    async def _answer_hit(self, scope, body: bytes, send) -> bool:
        st = self.state
        cache = st.cache
        if cache.store.remote:
            return False
        for name, value in scope["headers"]:
            if name == b"accept" and b"text/event-stream" in value:
                return False
        try:
            req = ChatRequest.model_validate_json(body)
        except ValidationError:
            return False  # the route gives the proper error
        if req.stream or req.session_id or req.cache.no_cache:
            return False
        lk = cache.lookup_exact(req.message, req.cache.namespace)
        if lk.result != "hit":
            return False  # the route looks again and counts the lookup once
        cache.finish(lk)
        scope.setdefault("state", {})["cache"] = lk.result
        payload = json.dumps(hit_body(lk, st.revision), separators=(",", ":")).encode()
        headers = [_JSON, (b"content-length", str(len(payload)).encode())]
        headers += [(k.lower().encode(), v.encode()) for k, v in hit_headers(lk, st.revision).items()]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
        return True


def _replay(body: bytes, receive):
    """The body once, then the client's own messages (a stream waits for its disconnect)."""
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
