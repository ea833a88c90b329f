"""Pure ASGI middleware: request id, metrics (latency, time to first byte) and access log."""

from __future__ import annotations

import time
import uuid

from .logs import access_log as default_access_log
from .metrics import ServiceMetrics

#: routes labelled by their path; anything else is "other" (bounded label cardinality)
KNOWN_ROUTES = frozenset({
    "/api/ai/marketing-chat", "/health", "/metrics", "/api/admin/cache/invalidate",
    "/api/admin/cache/invalidate-source", "/api/admin/cache/stats", "/api/admin/cache/top",
    "/api/admin/cache/pii-scan", "/api/admin/faults",
})


class ObserveMiddleware:
    def __init__(self, app, metrics: ServiceMetrics, access_log: bool = True) -> None:
        self.app = app
        self.metrics = metrics
        self.log = default_access_log if access_log else None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        path = scope["path"]
        route = path if path in KNOWN_ROUTES else "other"
        request_id = uuid.uuid4().hex[:16]
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = 500
        first: float | None = None
        rid_header = (b"x-request-id", request_id.encode())

        async def send_wrapper(message):
            nonlocal status, first
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), rid_header]
            elif message["type"] == "http.response.body" and first is None:
                first = time.perf_counter() - start
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            latency = time.perf_counter() - start
            self.metrics.observe_request(route, status, latency, first)
            if self.log is not None and self.log.enabled and route != "/metrics":
                self.log.write({
                    "request_id": request_id,
                    "method": scope["method"],
                    "route": route,
                    "status": status,
                    "latency_ms": round(latency * 1000, 3),
                    "ttft_ms": round(first * 1000, 3) if first is not None else None,
                    "cache": state.get("cache"),
                    "session": state.get("session_hash"),
                })
