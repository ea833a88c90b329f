"""Run the router app with uvicorn (uvloop + httptools when present: the fast path)."""

from __future__ import annotations

import importlib.util

import uvicorn

from .app import RouterApp, RouterConfig


def serve(config: RouterConfig, host: str, port: int, *, log_level: str = "warning") -> None:
    """Serve until SIGINT/SIGTERM; uvicorn closes connections and runs the app's shutdown."""
    app = RouterApp(config)
    uvicorn.run(
        app,
        host=host,
        port=port,
        loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        http="httptools" if importlib.util.find_spec("httptools") else "h11",
        lifespan="on",
        access_log=False,  # per-request records go to /router/stats and /router/metrics
        log_level=log_level,
        server_header=False,
        proxy_headers=False,  # the router is the first hop; it sets X-Forwarded-For itself
        date_header=False,
        timeout_keep_alive=30,
    )


__all__ = ["serve"]
