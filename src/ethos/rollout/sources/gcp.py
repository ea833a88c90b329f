"""What every reader of Google Cloud's own records shares: credentials, endpoints, errors.

The guard, the procedures and the evidence export read Cloud Monitoring (gRPC), Managed
Service for Prometheus and Cloud Logging (REST). They all:

- use **Application Default Credentials** (ADC); without them the message says how to get
  them (:data:`ADC_HELP`), never a stack trace;
- name the **IAM role** a refusal means is missing (``roles/monitoring.viewer`` to read
  metrics, ``roles/logging.viewer`` to read logs);
- treat **quota and deadline** errors (and the API being unavailable) as *no data* for that
  read: the caller waits (:class:`Backoff`) and says so, and only alerts when it lasts.

Test setting (never for production): ``ETHOS_GCP_MONITORING_ENDPOINT=HOST:PORT`` makes the
Cloud Monitoring readers talk plaintext gRPC to that address without credentials, e.g. to the
Metric Service fake of :mod:`.monitoring_fake`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import PermanentError
from .base import SourceError

#: plaintext gRPC HOST:PORT of a Cloud Monitoring stand-in, without credentials (tests only)
MONITORING_ENDPOINT_ENV = "ETHOS_GCP_MONITORING_ENDPOINT"
#: base URL of a Cloud Logging stand-in (``http://HOST:PORT``), without credentials (tests only)
LOGGING_ENDPOINT_ENV = "ETHOS_GCP_LOGGING_ENDPOINT"
#: base URL of a Managed Prometheus stand-in (``http://HOST:PORT``), without credentials (tests only)
PROMETHEUS_ENDPOINT_ENV = "ETHOS_GCP_PROMETHEUS_ENDPOINT"

MONITORING_ROLE = "roles/monitoring.viewer"
LOGGING_ROLE = "roles/logging.viewer"
#: the OAuth scope a read of monitoring, logging or Managed Prometheus needs
READ_SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)

ADC_HELP = ("ethos uses Application Default Credentials (ADC): on a workstation run "
            "`gcloud auth application-default login`; in CI set GOOGLE_APPLICATION_CREDENTIALS to a "
            "service-account key file (or use workload identity federation); on Cloud Run, GKE or "
            "Compute Engine the attached service account is used")


class GcpCredentialsError(PermanentError):
    """No usable Application Default Credentials (the message says how to get them)."""


def no_credentials(api: str) -> GcpCredentialsError:
    return GcpCredentialsError(f"no Google Cloud credentials for {api}: {ADC_HELP}")


def monitoring_endpoint(env: Mapping[str, str] | None = None) -> str | None:
    """``$ETHOS_GCP_MONITORING_ENDPOINT`` (``HOST:PORT``), or None for Google's endpoint."""
    value = (os.environ if env is None else env).get(MONITORING_ENDPOINT_ENV, "").strip()
    return value or None


class TokenSource:
    """OAuth bearer tokens from ADC for the REST readers (Managed Prometheus, Cloud Logging).

    ``headers()`` gives ``{"Authorization": "Bearer ..."}``, refreshing the token shortly
    before it expires; the token is never logged or put in a message. ``anonymous=True``
    (a local stand-in) gives no header.
    """

    def __init__(self, api: str, *, credentials: Any = None, anonymous: bool = False) -> None:
        self.api = api
        self.anonymous = anonymous
        self._credentials = credentials
        self._lock = threading.Lock()

    def headers(self) -> dict[str, str]:
        if self.anonymous:
            return {}
        with self._lock:
            creds = self._creds()
            if not getattr(creds, "valid", False) or _expires_soon(creds):
                try:
                    import google.auth.transport.requests

                    creds.refresh(google.auth.transport.requests.Request())
                except Exception as e:  # noqa: BLE001 - translated to one line
                    if type(e).__module__.startswith("google.auth"):
                        raise GcpCredentialsError(
                            f"the Application Default Credentials for {self.api} did not work "
                            f"({type(e).__name__}); {ADC_HELP}") from None
                    raise SourceError(f"cannot get a token for {self.api}: {type(e).__name__}") from None
            return {"Authorization": f"Bearer {creds.token}"}

    def _creds(self) -> Any:
        if self._credentials is None:
            try:
                import google.auth

                self._credentials, _ = google.auth.default(scopes=list(READ_SCOPES))
            except Exception as e:  # noqa: BLE001 - DefaultCredentialsError and kin
                if type(e).__module__.startswith("google.auth"):
                    raise no_credentials(self.api) from None
                raise
        return self._credentials


def _expires_soon(creds: Any) -> bool:
    expiry = getattr(creds, "expiry", None)
    if expiry is None:
        return False
    from datetime import UTC, datetime

    exp = expiry if expiry.tzinfo else expiry.replace(tzinfo=UTC)
    return (exp - datetime.now(UTC)).total_seconds() < 60


# --------------------------------------------------------------------------- errors

#: google-api-core exception class names of failures that pass: quota, deadline, unavailable
TRANSIENT = frozenset({"ResourceExhausted", "TooManyRequests", "DeadlineExceeded", "ServiceUnavailable",
                       "InternalServerError", "GatewayTimeout", "RetryError", "Aborted"})


class GcpReadError(SourceError):
    """A read of Cloud Monitoring / Logging failed: ``transient`` (quota, deadline,
    unavailable: no data now, retried with backoff) or not (permission, bad request)."""

    def __init__(self, message: str, *, transient: bool = False, code: str = "") -> None:
        super().__init__(message)
        self.transient = transient
        self.code = code
        #: signals whose no-data should not be alerted on yet (a short transient failure)
        self.quiet_signals: frozenset[str] = frozenset()


def translate(e: BaseException, api: str, what: str, role: str) -> Exception:
    """A google-api-core / google-auth / gRPC error -> one line naming what to do.

    ``api``: ``Cloud Monitoring``; ``what``: the resource read (``projects/P``); ``role``: the
    IAM role a 403 means is missing. Returns :class:`GcpCredentialsError` (no ADC) or
    :class:`GcpReadError`.
    """
    name = type(e).__name__
    mod = type(e).__module__
    msg = str(getattr(e, "message", "") or e).splitlines()[0][:300] if str(e) else name
    if mod.startswith("google.auth"):
        if name == "DefaultCredentialsError":
            return no_credentials(api)
        return GcpCredentialsError(f"the Application Default Credentials for {api} did not work ({name}); {ADC_HELP}")
    if name in ("PermissionDenied", "Forbidden"):
        return GcpReadError(f"{api} refused to read {what} (403 permission denied: {msg}); the caller needs "
                            f"{role} on the project", code="PERMISSION_DENIED")
    if name in ("Unauthenticated", "Unauthorized"):
        return GcpReadError(f"{api} did not accept the credentials for {what} (401: {msg}); {ADC_HELP}",
                            code="UNAUTHENTICATED")
    if name in TRANSIENT:
        kind = {"ResourceExhausted": "quota exceeded", "TooManyRequests": "quota exceeded",
                "DeadlineExceeded": "deadline exceeded", "GatewayTimeout": "deadline exceeded"}.get(
                    name, "unavailable")
        return GcpReadError(f"{api}: {kind} reading {what} ({msg})", transient=True, code=name)
    if name in ("NotFound",):
        return GcpReadError(f"{api}: {what} not found ({msg}); check the project id", code="NOT_FOUND")
    if name in ("InvalidArgument", "BadRequest"):
        return GcpReadError(f"{api} rejected the request for {what} (400: {msg})", code="INVALID_ARGUMENT")
    if mod.startswith("google.api_core"):
        return GcpReadError(f"{api} error reading {what}: {name}: {msg}", code=name)
    if isinstance(e, (ConnectionError, OSError, TimeoutError)):
        return GcpReadError(f"{api} unreachable reading {what}: {name}", transient=True, code=name)
    return GcpReadError(f"{api} error reading {what}: {name}: {msg}", code=name)


@dataclass
class Backoff:
    """Waits after transient failures: ``base_s``, doubling per failure in a row, up to ``max_s``.

    ``blocked(now)`` is the seconds still to wait (0: try now); ``failed(now)`` records a
    failure, ``ok()`` resets. ``failing_for(now)``: how long the failures have lasted, so a
    caller alerts only once they last (``alert_after_s``).
    """

    base_s: float = 10.0
    max_s: float = 160.0
    alert_after_s: float = 120.0
    failures: int = 0
    first_failure: float | None = None
    next_try: float = 0.0
    last_error: str = ""

    def blocked(self, now: float) -> float:
        return max(0.0, self.next_try - now) if self.failures else 0.0

    def failed(self, now: float, error: str) -> float:
        self.failures += 1
        if self.first_failure is None:
            self.first_failure = now
        delay = min(self.max_s, self.base_s * 2 ** (self.failures - 1))
        self.next_try = now + delay
        self.last_error = error
        return delay

    def ok(self) -> None:
        self.failures, self.first_failure, self.next_try, self.last_error = 0, None, 0.0, ""

    def failing_for(self, now: float) -> float:
        return 0.0 if self.first_failure is None else max(0.0, now - self.first_failure)

    def lasting(self, now: float) -> bool:
        return self.failures > 0 and self.failing_for(now) >= self.alert_after_s


__all__ = [
    "ADC_HELP", "LOGGING_ENDPOINT_ENV", "LOGGING_ROLE", "MONITORING_ENDPOINT_ENV", "MONITORING_ROLE",
    "PROMETHEUS_ENDPOINT_ENV", "Backoff", "GcpCredentialsError", "GcpReadError", "TokenSource",
    "monitoring_endpoint", "no_credentials", "translate",
]
