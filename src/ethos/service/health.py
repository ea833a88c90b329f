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
    pair_model = cache.semantic.pair_model_state() if cache.semantic is not None else "off"
    degraded = cache.enabled and not (store_ok and cache.writable)
    if not store_ok:
        detail = f"cache bypassed: {cache.store_error}"
    elif not cache.writable:
        # reads are still served; answers are not stored until a write succeeds again
        detail = f"cache writes bypassed ({cache.write_error_kind}): {cache.write_error}"
    else:
        detail = None
    return {
        "status": "degraded" if degraded else "ok",
        "revision": st.revision,
        "cache_format_version": cache.scope.format_version,
        "store": {
            "backend": cache.store.backend,
            "reachable": store_ok,
            "detail": detail,
        },
        "cache_enabled": cache.enabled,
        "answerer": st.answerer.id,
        "kb_version": st.answerer.kb_version,
        "semantic": semantic,
        "pair_model": pair_model,
        "faults": st.faults.faults.describe() or None,
    }


@router.get("/health")
async def health(request: Request):
    return health_body(request.app.state.ethos)


@router.get("/metrics")
async def metrics(request: Request):
    st = request.app.state.ethos
    await run_in_threadpool(st.refresh_gauges)
    return Response(st.metrics.render(), media_type=CONTENT_TYPE_LATEST)
