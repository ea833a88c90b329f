"""Admin routes behind ``X-Admin-API-Key``: invalidation, stats, most-asked questions, and the
faults in force (switched on a running revision for drills)."""

from __future__ import annotations

import heapq
import logging
import re

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from ..cache import InvalidPattern, StoreUnavailable, parse_pattern
from ..cache.keys import KEY_PATTERN_REGEX, PATTERN_MAX_CHARS
from ..cache.scan.leaks import scan_store
from ..pii import log_safe as redact
from .auth import check_admin
from .errors import ApiError
from .faults import Faults
from .schemas import FaultsRequest


def known_query_only(request: Request) -> None:
    """Refuse query parameters the route does not take (a misspelt one is not silently
    ignored) and parameters given twice."""
    dependant = getattr(request.scope.get("route"), "dependant", None)
    known = {p.alias for p in getattr(dependant, "query_params", ())}
    if not set(request.query_params) <= known:
        # the names are not echoed: whatever a client sends may hold personal data
        takes = ", ".join(sorted(known)) or "none"
        raise ApiError(400, "unknown_parameter", f"unknown query parameter; this route takes: {takes}")
    if len(request.query_params.multi_items()) > len(request.query_params):
        # which one would count? (the framework would silently take the last)
        raise ApiError(400, "repeated_parameter", "a query parameter is given more than once")


router = APIRouter(prefix="/api/admin", dependencies=[Depends(check_admin), Depends(known_query_only)])
log = logging.getLogger("ethos.admin")

SOURCE_MAX_CHARS = 200
#: a document file name: no path, no control character
SOURCE_REGEX = r"^[^/\\\x00-\x1f\x7f]+$"
TOP_MAX = 10000


def _unavailable(e: StoreUnavailable) -> ApiError:
    return ApiError(503, "store_unavailable", f"the cache store cannot be reached: {e}")


@router.post("/cache/invalidate")
async def invalidate(
    request: Request,
    key_pattern: str = Query(
        ..., max_length=PATTERN_MAX_CHARS, json_schema_extra={"pattern": KEY_PATTERN_REGEX},
        description="'all', or a glob over keys (see docs/api.md): * ? and [...] classes.",
    ),
):
    st = request.app.state.ethos
    try:
        glob = parse_pattern(key_pattern)
    except InvalidPattern as e:
        raise ApiError(400, "invalid_key_pattern", str(e)) from None
    try:
        removed = await run_in_threadpool(st.cache.invalidate, glob)
    except StoreUnavailable as e:
        raise _unavailable(e) from None
    # A pattern or a source name may hold personal data (an operator purging someone's
    # entries): masked in the log and in the answer.
    log.info("cache invalidated", extra={"key_pattern": redact(glob), "removed": removed})
    return {"removed": removed, "key_pattern": redact(key_pattern)}


@router.post("/cache/invalidate-source")
async def invalidate_source(
    request: Request,
    source: str = Query(
        ..., min_length=1, json_schema_extra={"maxLength": SOURCE_MAX_CHARS, "pattern": SOURCE_REGEX},
        description="A knowledge-base document file name, e.g. plans-and-pricing.md.",
    ),
):
    st = request.app.state.ethos
    if not re.fullmatch(SOURCE_REGEX[1:-1], source) or len(source) > SOURCE_MAX_CHARS:
        raise ApiError(400, "invalid_source", "source is a document file name such as pricing.md")
    try:
        removed = await run_in_threadpool(st.cache.invalidate_source, source)
    except StoreUnavailable as e:
        raise _unavailable(e) from None
    log.info("cache invalidated by source", extra={"source": redact(source), "removed": removed})
    return {"removed": removed, "source": redact(source)}


@router.get("/cache/stats")
async def stats(request: Request):
    st = request.app.state.ethos
    c = st.cache.counters
    try:
        s = await run_in_threadpool(st.cache.store.stats)
    except StoreUnavailable as e:
        raise _unavailable(e) from None
    return {
        "entries": s.entries,
        "size_bytes": s.size_bytes,
        "backend": s.backend,
        "hits": c.hits,
        "semantic_hits": c.semantic_hits,
        "misses": c.misses,
        "bypasses": c.bypasses,
        "hit_rate": c.hit_rate,
    }


def top_questions(store, n: int, namespace: str) -> list[dict]:
    """The n most asked stored questions of a namespace, by hit count."""
    best: list[tuple[int, str]] = []
    for batch in store.scan(f"{namespace}:*"):
        for e in batch:
            item = (e.hit_count or 0, e.question)
            if len(best) < n:
                heapq.heappush(best, item)
            elif item > best[0]:
                heapq.heapreplace(best, item)
    return [{"question": q, "hits": h} for h, q in sorted(best, reverse=True)]


@router.get("/cache/pii-scan")
async def pii_scan(request: Request, purge: bool = Query(False)):
    """Scan every stored entry for PII: keys, entity types and counts, never the values."""
    st = request.app.state.ethos
    await run_in_threadpool(st.cache.flush_hits)
    try:
        report = await run_in_threadpool(scan_store, st.cache.store, purge=purge)
    except StoreUnavailable as e:
        st.metrics.cache_pii_scan_failures.labels(st.revision, "request", "store").inc()
        raise _unavailable(e) from None
    if report.complete:  # a scan by a broken detector never lowers the gauge
        st.metrics.cache_pii_leaks.labels(st.revision).set(len(report.leaks) - report.purged)
    else:
        st.metrics.cache_pii_scan_failures.labels(st.revision, "request", "detector").inc()
    (log.warning if report.leaks else log.info)(
        "cache PII scan", extra={"scanned": report.scanned, "leaking": len(report.leaks)}
    )
    return report.to_dict()


@router.get("/cache/top")
async def top(request: Request, n: int = Query(20, ge=1, le=TOP_MAX)):
    """Most asked questions, for pre-warming another revision after a cache clear."""
    st = request.app.state.ethos
    await run_in_threadpool(st.cache.flush_hits)
    try:
        items = await run_in_threadpool(
            top_questions, st.cache.store, n, st.cache.scope.namespace
        )
    except StoreUnavailable as e:
        raise _unavailable(e) from None
    return {"questions": [i["question"] for i in items], "items": items}


def _faults_body(st, previous: Faults | None = None) -> dict:
    """The faults in force on this revision (and, after a switch, the ones before)."""
    f = st.faults.faults
    out = {"revision": st.revision, "enabled": f.enabled, "faults": f.describe(), "spec": f.spec()}
    if previous is not None:
        out["previous"] = previous.describe()
    return out


def _switch(st, faults: Faults) -> dict:
    previous = st.faults.set(faults)
    # a drill's own doing, logged loudly so the evidence of the window shows it
    log.warning("fault injection switched",
                extra={"faults": faults.spec() or "off", "previous": previous.spec() or "off"})
    return _faults_body(st, previous)


@router.get("/faults")
async def get_faults(request: Request):
    """The faults in force on this revision (``ETHOS_FAULTS`` at start, or as last switched)."""
    return _faults_body(request.app.state.ethos)


@router.put("/faults")
async def put_faults(request: Request, body: FaultsRequest):
    """Put exactly these faults in force now (a field left out is off), without a restart."""
    faults = Faults(error_rate=body.error_rate, latency_ms=body.latency_ms, ttft_ms=body.ttft_ms)
    return _switch(request.app.state.ethos, faults)


@router.delete("/faults")
async def clear_faults(request: Request):
    """Switch every fault off (also one given by ``ETHOS_FAULTS`` at start)."""
    return _switch(request.app.state.ethos, Faults())
