"""The admin key check: configured, present, and equal in constant time."""

from __future__ import annotations

import hmac

from fastapi import Request

from .errors import ApiError

ADMIN_HEADER = "X-Admin-API-Key"


def check_admin(request: Request) -> None:
    """Raise ApiError 503 (no key configured), 401 (missing) or 403 (wrong)."""
    state = request.app.state.ethos
    expected = state.settings.admin_api_key.get_secret_value()
    if not expected:
        state.metrics.admin_auth_failures.labels(state.revision, "not_configured").inc()
        raise ApiError(
            503, "admin_disabled",
            "the admin API is off because no key is configured; set ETHOS_ADMIN_API_KEY"
            " in the service's environment and restart it",
        )
    given = request.headers.get(ADMIN_HEADER)
    if not given:
        state.metrics.admin_auth_failures.labels(state.revision, "missing").inc()
        raise ApiError(401, "unauthorized", f"send the admin key in the {ADMIN_HEADER} header")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        state.metrics.admin_auth_failures.labels(state.revision, "wrong").inc()
        raise ApiError(403, "forbidden", "the admin key is not valid")
