"""The admin-key check of the router's admin routes, in one place.

One function decides, so that a later rate limit on repeated wrong keys (issue 9) has one
place to go. The key is compared in constant time and never logged.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass


@dataclass(frozen=True)
class Denied:
    """Why an admin request is refused: HTTP status and the JSON error body."""

    status: int
    error: str
    detail: str


def check_admin_key(presented: str | None, configured: str | None) -> Denied | None:
    """None when ``presented`` matches ``configured``; else the refusal. Pure.

    503 when the router has no key (admin routes are closed, not open), 401 when none was
    presented, 403 when it is wrong.
    """
    if not configured:
        return Denied(503, "admin_key_not_configured",
                      "the router has no admin key: set ETHOS_ADMIN_API_KEY and restart it")
    if not presented:
        return Denied(401, "missing_admin_key", "send the admin key in the X-Admin-API-Key header")
    if not hmac.compare_digest(presented.encode("utf-8", "surrogatepass"), configured.encode("utf-8", "surrogatepass")):
        return Denied(403, "wrong_admin_key", "the X-Admin-API-Key header does not match the router's key")
    return None


__all__ = ["Denied", "check_admin_key"]
