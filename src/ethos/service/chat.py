"""``POST /api/ai/marketing-chat``: the cache in front of the answerer, JSON or streamed."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from ..agent.base import Answer, AnswererError
from ..agent.kb_answerer import chunk_text
from ..cache import Exchange, Lookup
from ..pii import log_safe as redact
from .capacity import Overloaded
from .errors import error_response
from .schemas import ChatRequest, ChatResponse
from .sessions import session_hash

router = APIRouter()
log = logging.getLogger("ethos.chat")

CHAT_PATH = "/api/ai/marketing-chat"
LOGGED_MESSAGE_CHARS = 300
#: what a shed request is told to wait before trying again, seconds
RETRY_AFTER_S = "1"
X_CACHE = {"hit": "HIT", "semantic_hit": "SEMANTIC-HIT", "miss": "MISS", "bypass": "BYPASS"}


def hit_headers(lk: Lookup, revision: str) -> dict[str, str]:
    h = {"X-Cache": X_CACHE[lk.result], "X-Revision": revision}
    if lk.similarity is not None:
        h["X-Cache-Similarity"] = f"{lk.similarity:.3f}"
    return h


def hit_body(lk: Lookup, revision: str) -> dict:
    """The JSON answer for a lookup that found an entry."""
    assert lk.entry is not None
    return _body(lk.entry.reply, lk, revision, lk.entry.sources)


def _body(reply: str, lk: Lookup, revision: str, sources: list[str], grounded: bool = True) -> dict:
    # A cached reply is always grounded: an abstention is never stored (its finish reason is
    # "fallback", which the gates refuse).
    out: dict[str, Any] = {"reply": reply, "cache": lk.result, "revision": revision,
                           "sources": sources if grounded else [], "grounded": grounded}
    if lk.entry is not None:
        out["key"] = lk.entry.key
    if lk.similarity is not None:
        out["similarity"] = round(lk.similarity, 4)
    return out


async def _lookup_exact(st, req: ChatRequest, session_dependent: bool) -> Lookup:
    """The exact tier alone (cheap: no slot needed); :func:`_lookup_rest` finishes it."""
    cache = st.cache
    ns = req.cache.namespace
    no_cache = req.cache.no_cache or session_dependent
    if cache.store.remote:
        return await run_in_threadpool(cache.lookup_exact, req.message, ns, no_cache=no_cache)
    return cache.lookup_exact(req.message, ns, no_cache=no_cache)


async def _lookup_rest(st, lk: Lookup, session_dependent: bool) -> Lookup:
    """The semantic tier for an exact miss, then the lookup is counted."""
    cache = st.cache
    if lk.result == "miss" and cache.semantic_ready():
        lk = await run_in_threadpool(
            cache.lookup_semantic, lk, session_dependent=session_dependent
        )
    if session_dependent and lk.result == "bypass":
        lk.reason = "the question depends on earlier turns of the conversation"
    return cache.finish(lk)


def _overloaded(st, e: Overloaded) -> JSONResponse:
    st.metrics.shed.labels(st.revision, e.reason).inc()
    log.warning("request shed", extra={"reason": e.reason})
    return error_response(503, "overloaded", e.detail,
                          headers={"Retry-After": RETRY_AFTER_S, "X-Revision": st.revision})


async def _take_slot(st, request: Request) -> JSONResponse | None:
    """Take a slot of the slow path (:mod:`.capacity`); the 503 to give instead, if none.
    A request whose client left while it waited is dropped here, before any work."""
    try:
        await st.capacity.acquire()
    except Overloaded as e:
        return _overloaded(st, e)
    if await request.is_disconnected():
        st.capacity.release()
        return _overloaded(st, Overloaded("client_gone", "the client closed the connection"))
    return None


def _exchange(req: ChatRequest, ans: Answer, answerer_id: str, session_dependent: bool) -> Exchange:
    return Exchange(
        question=req.message,
        reply=ans.text,
        answerer=answerer_id,
        finish_reason=ans.finish_reason,
        sources=tuple(ans.sources),
        source_texts=tuple(ans.source_texts),
        retrieval_score=ans.retrieval_score,
        session_dependent=session_dependent,
    )


async def _admit(
    st, req: ChatRequest, lk: Lookup, ans: Answer, session_dependent: bool, request_id: str
) -> None:
    ex = _exchange(req, ans, st.answerer.id, session_dependent)
    rejection = await run_in_threadpool(
        st.cache.admit, lk, ex, ttl_s=req.cache.ttl, no_store=req.cache.no_store
    )
    if rejection is None:
        st.metrics.admissions.labels(st.revision, "stored").inc()
    # What is logged of a message is redacted; the reply is never logged.
    log.info(
        "answered",
        extra={
            "request_id": request_id,
            "user_message": redact(req.message)[:LOGGED_MESSAGE_CHARS],
            "stored": rejection is None,
            "gate": None if rejection is None else rejection.gate,
            "not_stored_because": None if rejection is None else rejection.reason,
            "sources": ans.sources,
        },
    )


#: the request body in the OpenAPI document; its nested models go to the components
CHAT_SCHEMA = ChatRequest.model_json_schema(ref_template="#/components/schemas/{model}")
CHAT_SCHEMA_DEFS = CHAT_SCHEMA.pop("$defs", {})


async def _parse(request: Request) -> ChatRequest:
    # pydantic-core parses and validates the bytes in one pass, several times cheaper than
    # the framework's json.loads + validate on the hot path of every cached answer.
    try:
        return ChatRequest.model_validate_json(await request.body())
    except ValidationError as e:
        raise RequestValidationError(
            [{**err, "loc": ("body", *err["loc"])} for err in e.errors(include_url=False)]
        ) from None


@router.post(
    CHAT_PATH,
    openapi_extra={"requestBody": {
        "required": True, "content": {"application/json": {"schema": CHAT_SCHEMA}},
    }},
    responses={200: {"model": ChatResponse, "description": "The answer (or an SSE stream)."}},
)
async def marketing_chat(request: Request):
    req = await _parse(request)
    st = request.app.state.ethos
    rstate = request.scope.setdefault("state", {})
    rstate["session_hash"] = session_hash(req.session_id)
    session_dependent = st.depends_on_history(req.session_id, req.message)
    lk = await _lookup_exact(st, req, session_dependent)
    if lk.entry is not None:  # an exact hit takes no slot
        return await _respond(st, request, req, st.cache.finish(lk), session_dependent)
    refused = await _take_slot(st, request)
    if refused is not None:
        return refused
    # The slot covers the work: the semantic lookup and the answer, an LLM call included (for
    # a stream, up to its first piece; the rest arrives at the provider's pace).
    try:
        lk = await _lookup_rest(st, lk, session_dependent)
        return await _respond(st, request, req, lk, session_dependent)
    finally:
        st.capacity.release()


async def _respond(st, request: Request, req: ChatRequest, lk: Lookup, session_dependent: bool):
    rstate = request.scope.setdefault("state", {})
    rstate["cache"] = lk.result
    st.sessions.record(req.session_id, lk.normalised)
    want_stream = req.stream or "text/event-stream" in request.headers.get("accept", "")
    headers = hit_headers(lk, st.revision)

    if want_stream:
        upstream = None
        first: str | Answer | None = None
        if lk.entry is None:
            # Wait for the first piece so that a provider that fails at once gets a real
            # 502/504 status rather than an error event inside a 200 stream.
            upstream = st.answerer.stream(req.message)
            try:
                first = await upstream.__anext__()
            except AnswererError as e:
                return _answerer_failed(st, e)
        return StreamingResponse(
            _stream(st, req, lk, session_dependent, upstream, first, rstate.get("request_id", "")),
            media_type="text/event-stream",
            headers={**headers, "Cache-Control": "no-cache"},
        )

    if lk.entry is not None:
        return JSONResponse(hit_body(lk, st.revision), headers=headers)
    try:
        ans = await st.answerer.answer(req.message)
    except AnswererError as e:
        return _answerer_failed(st, e)
    await _admit(st, req, lk, ans, session_dependent, rstate.get("request_id", ""))
    return JSONResponse(_body(ans.text, lk, st.revision, ans.sources, ans.grounded), headers=headers)


def _answerer_failed(st, e: AnswererError):
    st.metrics.llm_errors.labels(st.revision, str(e.status)).inc()
    log.warning("answerer failed", extra={"status": e.status, "error": str(e)})
    return error_response(
        e.status, "upstream_timeout" if e.status == 504 else "upstream_error", str(e),
        headers={"X-Revision": st.revision},
    )


def _sse(data: dict, event: str | None = None) -> str:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data, separators=(',', ':'))}\n\n"


async def _stream(
    st, req: ChatRequest, lk: Lookup, session_dependent: bool, upstream, first, request_id: str
) -> AsyncIterator[str]:
    if lk.entry is not None:
        for chunk in chunk_text(lk.entry.reply):
            yield _sse({"delta": chunk})
        sources, grounded = lk.entry.sources, True
    else:
        final: Answer | None = None

        async def items():
            yield first
            async for item in upstream:
                yield item

        try:
            async for item in items():
                if isinstance(item, Answer):
                    final = item
                else:
                    yield _sse({"delta": item})
        except AnswererError as e:
            st.metrics.llm_errors.labels(st.revision, str(e.status)).inc()
            log.warning("answerer failed mid-stream", extra={"status": e.status, "error": str(e)})
            yield _sse({"error": "upstream_error", "detail": str(e), "status": e.status}, "error")
            return
        assert final is not None
        await _admit(st, req, lk, final, session_dependent, request_id)
        sources, grounded = (final.sources, True) if final.grounded else ([], False)
    done = {"cache": lk.result, "revision": st.revision, "sources": sources, "grounded": grounded}
    if lk.similarity is not None:
        done["similarity"] = round(lk.similarity, 4)
    yield _sse(done, "done")
