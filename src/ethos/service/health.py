"""``GET /health`` and ``GET /metrics``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool

router = APIRouter()


def health_body(st) -> dict:
    cache = st.cache
    store_ok = cache.store_up
    semantic = cache.semantic.state if cache.semantic is not None else "off"
    degraded = cache.enabled and not store_ok
    return {
        "status": "degraded" if degraded else "ok",
        "revision": st.revision,
        "cache_format_version": cache.scope.format_version,
        "store": {
            "backend": cache.store.backend,
            "reachable": store_ok,
            "detail": None if store_ok else f"cache bypassed: {cache.store_error}",
        },
        "cache_enabled": cache.enabled,
        "answerer": st.answerer.id,
        "kb_version": st.answerer.kb_version,
        "semantic": semantic,
        "faults": st.faults.describe() if st.faults is not None else None,
    }


@router.get("/health")
async def health(request: Request):
    return health_body(request.app.state.ethos)


@router.get("/metrics")
async def metrics(request: Request):
    st = request.app.state.ethos
    await run_in_threadpool(st.refresh_gauges)
    return Response(st.metrics.render(), media_type=CONTENT_TYPE_LATEST)
