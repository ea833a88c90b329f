"""The FastAPI application: wiring only."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from .. import __version__
from ..security import AdminGate, AuthCounters, LimitSettings
from ..settings import Settings, get_settings
from . import admin, chat, errors, health, openapi, sessions
from .fastlane import FastLane
from .faults import FaultMiddleware, Faults, FaultSwitch
from .observe import ObserveMiddleware
from .state import AppState


def _add_schema_components(app: FastAPI, defs: dict[str, Any]) -> None:
    """Models referenced by hand-written request schemas, added to the OpenAPI document."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = build()  # FastAPI.openapi: builds app.openapi_schema and returns it
            doc.setdefault("components", {}).setdefault("schemas", {}).update(defs)
            return doc
        return app.openapi_schema

    # FastAPI's documented way to customise the document is to replace ``app.openapi``
    # ("Extending OpenAPI"); its class declares a plain method
    app.openapi = openapi  # type: ignore[method-assign]


def create_app(settings: Settings | None = None, *, access_log: bool = True,
               auth_limits: LimitSettings | None = None) -> FastAPI:
    """Build one revision of the service. Its state is built now and closed at shutdown.

    ``auth_limits``: the wrong-admin-key lockout (default: ``ETHOS_ADMIN_AUTH_*``); raises
    ValueError when those variables are invalid.
    """
    settings = settings or get_settings()
    auth_limits = auth_limits or LimitSettings.from_env()
    faults = Faults.parse(settings.faults)  # a bad ETHOS_FAULTS stops the start, naming the part
    state = AppState.build(settings)
    gauge = state.metrics.faults_on.labels(settings.revision)
    state.faults = FaultSwitch(faults, on_change=lambda f: gauge.set(1 if f.enabled else 0))

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await state.start()
        try:
            yield
        finally:
            await state.stop()

    app = FastAPI(
        title="ethos: EthosPrompt Marketing Agent",
        version=__version__,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.ethos = state
    if settings.admin_api_key.get_secret_value():
        sessions.set_log_salt(settings.admin_api_key.get_secret_value().encode())
    app.state.admin_gate = AdminGate(auth_limits, AuthCounters(
        state.metrics.admin_auth_failures, state.metrics.admin_auth_lockouts, settings.revision))
    _add_schema_components(app, chat.CHAT_SCHEMA_DEFS)
    openapi.install(app)
    errors.install(app)
    app.include_router(chat.router)
    app.include_router(health.router)
    app.include_router(admin.router)
    # innermost first: the fast lane runs inside fault injection and observation. Fault
    # injection is always installed (one attribute read per request while no fault is on), so
    # PUT /api/admin/faults can switch faults on a running revision.
    app.add_middleware(FastLane, state=state)
    app.add_middleware(FaultMiddleware, faults=state.faults)
    app.add_middleware(ObserveMiddleware, metrics=state.metrics, access_log=access_log)
    return app
