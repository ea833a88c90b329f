"""The admin-key check of every process (service, router, console), rate limit included.

:func:`check_admin_key` decides one request from the key alone (constant-time compare, via
``hmac.compare_digest``); :class:`AdminGate` puts the per-address limiter of
:mod:`.ratelimit` in front of it and counts refusals. The key is never logged, echoed or put
in a metric label; neither is the client's address (labels are the refusal reason only).
"""

from __future__ import annotations

import hmac
import ipaddress
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .ratelimit import AuthLimiter, LimitSettings

ADMIN_HEADER = "X-Admin-API-Key"
#: refusal reasons, the only values of the metrics' ``reason`` label
REASONS = ("missing", "wrong", "not_configured", "locked_out")


@dataclass(frozen=True)
class Denied:
    """Why an admin request is refused: HTTP status, the JSON error body, the metrics reason."""

    status: int
    error: str
    detail: str
    reason: str = "wrong"
    retry_after: int | None = None  # seconds, for the Retry-After header of a 429

    def headers(self) -> dict[str, str]:
        """Response headers the refusal needs (Retry-After on a 429)."""
        return {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}

    def body(self) -> dict[str, object]:
        """The JSON error body."""
        out: dict[str, object] = {"error": self.error, "detail": self.detail}
        if self.retry_after is not None:
            out["retry_after_s"] = self.retry_after
        return out


def check_admin_key(presented: str | None, configured: str | None) -> Denied | None:
    """None when ``presented`` matches ``configured``; else the refusal. Pure.

    503 when no key is configured (admin routes are closed, not open), 401 when none was
    presented, 403 when it is wrong.
    """
    if not configured:
        return Denied(503, "admin_key_not_configured",
                      "no admin key is configured: set ETHOS_ADMIN_API_KEY and restart", "not_configured")
    if not presented:
        return Denied(401, "missing_admin_key", f"send the admin key in the {ADMIN_HEADER} header", "missing")
    if not hmac.compare_digest(presented.encode("utf-8", "surrogatepass"),
                               configured.encode("utf-8", "surrogatepass")):
        return Denied(403, "wrong_admin_key", f"the {ADMIN_HEADER} header does not match the admin key", "wrong")
    return None


def client_address(peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[str]) -> str:
    """Whom to count a failure against. Pure.

    The TCP peer, unless it is a trusted proxy (the local router by default) that said whom it
    forwards for: then the last ``X-Forwarded-For`` item, the one that proxy appended (earlier
    items came from the client and are not believed).
    """
    peer = peer or "unknown"
    if peer in trusted and forwarded_for:
        last = forwarded_for[-1].split(",")[-1].strip()
        try:
            return str(ipaddress.ip_address(last))
        except ValueError:
            return peer
    return peer


class AuthCounters:
    """The two Prometheus counters of refusals: failures by reason, and lockouts started.

    ``labels`` are the fixed leading label values (e.g. the revision) of both counters.
    """

    def __init__(self, failures, lockouts, *labels: str) -> None:
        self._failures = {r: failures.labels(*labels, r) for r in REASONS}
        self._lockouts = lockouts.labels(*labels) if labels else lockouts

    def failure(self, reason: str) -> None:
        """Count one refused request."""
        self._failures[reason].inc()

    def lockout(self) -> None:
        """Count one lockout started."""
        self._lockouts.inc()


class AdminGate:
    """Limiter + key check for one process; safe to call from several threads."""

    def __init__(self, settings: LimitSettings | None = None, counters: AuthCounters | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings or LimitSettings()
        self.limiter = AuthLimiter(self.settings)
        self.counters = counters
        self._clock = clock
        self._lock = threading.Lock()

    def address(self, peer: str | None, forwarded_for: Sequence[str]) -> str:
        """The address a request is counted against (see :func:`client_address`)."""
        return client_address(peer, forwarded_for, self.settings.trusted_proxies)

    def check(self, address: str, presented: str | None, configured: str | None) -> Denied | None:
        """None to let the request in; else the refusal (429 while the address is locked out)."""
        denied: Denied | None
        if address in self.settings.exempt:
            denied = check_admin_key(presented, configured)
            if denied is not None and self.counters:
                self.counters.failure(denied.reason)
            return denied
        with self._lock:
            now = self._clock()
            wait = self.limiter.locked_for(address, now)
            if wait > 0:
                denied = _locked(wait)
            else:
                denied = check_admin_key(presented, configured)
                if denied is None:
                    self.limiter.success(address)
                    return None
                if denied.reason != "not_configured" and self.limiter.failure(address, now) > 0:
                    if self.counters:
                        self.counters.lockout()
        assert denied is not None
        if self.counters:
            self.counters.failure(denied.reason)
        return denied


def _locked(wait: float) -> Denied:
    secs = max(1, math.ceil(wait))
    return Denied(429, "too_many_auth_failures",
                  f"too many missing or wrong admin keys from this address; try again in {secs} s",
                  "locked_out", secs)


__all__ = ["ADMIN_HEADER", "REASONS", "AdminGate", "AuthCounters", "Denied", "check_admin_key",
           "client_address"]
