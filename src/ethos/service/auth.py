"""The admin key check: configured, present, equal in constant time, and rate limited.

The decision is :class:`ethos.security.AdminGate`'s (shared with the router and the console);
this module maps it onto the service's error codes.
"""

from __future__ import annotations

from fastapi import Request

from ..security.admin_auth import ADMIN_HEADER, Denied
from .errors import ApiError

#: the service's own error codes and details, by refusal reason (the 429 is the gate's)
_ERRORS = {
    "not_configured": (
        "admin_disabled",
        "the admin API is off because no key is configured; set ETHOS_ADMIN_API_KEY"
        " in the service's environment and restart it",
    ),
    "missing": ("unauthorized", f"send the admin key in the {ADMIN_HEADER} header"),
    "wrong": ("forbidden", "the admin key is not valid"),
}


def check_admin(request: Request) -> None:
    """Raise ApiError 503 (no key configured), 401 (missing), 403 (wrong) or 429 (locked out)."""
    gate = request.app.state.admin_gate
    expected = request.app.state.ethos.settings.admin_api_key.get_secret_value()
    peer = request.client.host if request.client else None
    address = gate.address(peer, request.headers.getlist("x-forwarded-for"))
    denied: Denied | None = gate.check(address, request.headers.get(ADMIN_HEADER), expected)
    if denied is None:
        return
    error, detail = _ERRORS.get(denied.reason, (denied.error, denied.detail))
    extra = {"retry_after_s": denied.retry_after} if denied.retry_after is not None else None
    raise ApiError(denied.status, error, detail, headers=denied.headers() or None, extra=extra)
