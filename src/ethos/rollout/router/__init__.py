"""The local router: a weighted, streaming reverse proxy with per-revision stats.

``RouterApp`` is the ASGI app, ``RouterConfig`` its settings, ``serve`` runs it with uvicorn.
The pure parts (route choice, windows, the admin-key check) live in their own modules.
"""

from __future__ import annotations

from .app import RouterApp, RouterConfig
from .server import serve

__all__ = ["RouterApp", "RouterConfig", "serve"]
