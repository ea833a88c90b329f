"""The local router: a weighted, streaming reverse proxy with per-revision stats.

``RouterApp`` is the ASGI app, ``RouterConfig`` its settings, ``serve`` runs it with uvicorn;
``RouterClient`` is the one client of its admin API, ``RouterStats`` / ``WindowStats`` the
schema of ``GET /router/stats``. The pure parts (route choice, windows, the admin-key check)
live in their own modules.

Every name is imported on first use: a command that only reads the router (``ethos
rollback``, ``ethos guard``) does not load the server, uvicorn or numpy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import RouterApp, RouterConfig
    from .client import RouterClient, TrafficView
    from .server import serve
    from .windows import RouterStats, StatsFormatError, WindowStats

_WHERE = {
    "RouterApp": ".app",
    "RouterConfig": ".app",
    "serve": ".server",
    "RouterClient": ".client",
    "TrafficView": ".client",
    "RouterStats": ".windows",
    "WindowStats": ".windows",
    "StatsFormatError": ".windows",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


__all__ = ["RouterApp", "RouterConfig", "serve", "RouterClient", "TrafficView", "RouterStats", "WindowStats",
           "StatsFormatError"]
