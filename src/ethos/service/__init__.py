"""The FastAPI service: routes, auth, metrics, wiring."""

from .app import create_app

__all__ = ["create_app"]
