"""The errors of ``ethos.rollout``, one hierarchy for the whole part.

::

    RolloutError                      anything rollout-related went wrong
    ├── PermanentError                retrying the same call will not help
    │   ├── InvalidWeightsError       (also a TrafficError) not integers / not summing to 100
    │   ├── UnknownRevisionError      (also a TrafficError) a name the target does not know
    │   │   └── CloudRunNotFoundError the Cloud Run project, region or service does not exist
    │   ├── TrafficAuthError          (also a TrafficError) missing/wrong/unset admin key or credentials
    │   │                             (Cloud Run: no Application Default Credentials, 401, 403)
    │   ├── FencedError               (also a TrafficError) a later holder of control changed traffic
    │   └── StackError                the local stack could not be started / read / stopped
    └── TemporaryError                may succeed later; carries ``retry_delay`` seconds
        ├── TrafficUnreachableError   (also a TrafficError) router / Cloud Run not reachable
        ├── TrafficConflictError      (also a TrafficError) Cloud Run: the service changed since it
        │                             was read (409, etag mismatch); nothing changed
        ├── TrafficOperationError     (also a TrafficError) Cloud Run: the update's long-running
        │                             operation failed; the traffic in force is unchanged
        └── RouterReadError           the router's health / stats / metrics could not be read

``TrafficError`` is the base of every error a :class:`~ethos.rollout.traffic.base.TrafficManager`
raises, so a caller may catch that alone, or sort by permanent / temporary. Errors from
libraries (httpx, google-api-core) are translated at the boundary with ``raise ... from``.
"""

from __future__ import annotations


class RolloutError(Exception):
    """Base of every error raised by ``ethos.rollout``; ``str(e)`` is a readable message."""

    #: False for errors that may go away if the same call is made again later.
    permanent: bool = True
    #: Seconds to wait before a retry makes sense (0 for permanent errors).
    retry_delay: float = 0.0


class PermanentError(RolloutError):
    """Retrying the same call will not help: fix the input or the configuration first."""

    permanent = True


class TemporaryError(RolloutError):
    """The call may succeed later; ``retry_delay`` says after how many seconds."""

    permanent = False

    def __init__(self, message: str, retry_delay: float = 1.0) -> None:
        super().__init__(message)
        self.retry_delay = retry_delay


class TrafficError(RolloutError):
    """Base of the errors of a traffic manager (get / set weights)."""


class InvalidWeightsError(TrafficError, PermanentError):
    """Weights that are not integers 0-100 summing to 100, or an empty set."""


class UnknownRevisionError(TrafficError, PermanentError):
    """A revision name the traffic target does not know."""


class TrafficAuthError(TrafficError, PermanentError):
    """The admin key is missing or wrong, or the router has none configured; on Cloud Run: no
    Application Default Credentials, or the API refused them (401) or the action (403)."""


class CloudRunNotFoundError(UnknownRevisionError):
    """The Cloud Run ``kind`` (``project`` | ``region`` | ``service``) named ``name`` was not found."""

    def __init__(self, kind: str, name: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.name = name

    def __reduce__(self) -> tuple[type[CloudRunNotFoundError], tuple[str, str, str]]:
        return (type(self), (self.kind, self.name, str(self)))


class FencedError(TrafficError, PermanentError):
    """The traffic target refused a change: a later holder of control has changed traffic since.

    ``fence`` is the fence this change carried (the epoch of the procedure that sent it);
    ``current`` is the target's high-water mark, the highest fence it has accepted. A
    procedure that gets this error has been preempted and must not change traffic again.
    """

    def __init__(self, fence: int, current: int | None) -> None:
        super().__init__(
            f"traffic was changed by a later holder of control (fence {current} > {fence}): "
            "this procedure no longer controls traffic"
        )
        self.fence = fence
        self.current = current

    def __reduce__(self) -> tuple[type[FencedError], tuple[int, int | None]]:
        # Picklable and copyable despite the custom __init__ (the default passes the message).
        return (type(self), (self.fence, self.current))


class TrafficUnreachableError(TrafficError, TemporaryError):
    """The router or the Cloud Run API did not answer (connection refused, timeout, 5xx)."""


class TrafficConflictError(TrafficError, TemporaryError):
    """Cloud Run refused an update made on a stale read of the service (409, etag mismatch).

    Nothing changed; reading the service again and deciding again may succeed.
    """


class TrafficOperationError(TrafficError, TemporaryError):
    """The long-running operation of a Cloud Run update ended with an error (e.g. a revision
    not ready to serve); the traffic in force is unchanged. ``operation``: its name."""

    def __init__(self, message: str, operation: str | None = None, retry_delay: float = 10.0) -> None:
        super().__init__(message, retry_delay)
        self.operation = operation

    @property
    def details(self) -> dict[str, str | None]:
        """What the journal records with the failed step."""
        return {"operation": self.operation}

    def __reduce__(self) -> tuple[type[TrafficOperationError], tuple[str, str | None, float]]:
        return (type(self), (str(self), self.operation, self.retry_delay))


class RouterReadError(TemporaryError):
    """``GET /router/health``, ``/router/stats`` or ``/router/metrics`` could not be read.

    Refused, timed out, not 200 (``status`` then holds the code, else None), or not the
    router's shape (not JSON, a malformed stats answer). The reader that wraps the router
    (signals, guard sources) turns it into its own unavailable error.
    """

    def __init__(self, message: str, status: int | None = None, retry_delay: float = 1.0) -> None:
        super().__init__(message, retry_delay)
        self.status = status

    def __reduce__(self) -> tuple[type[RouterReadError], tuple[str, int | None, float]]:
        return (type(self), (str(self), self.status, self.retry_delay))


class StackError(PermanentError):
    """The local stack (router + revisions) could not be started, read or stopped."""


__all__ = [
    "RolloutError",
    "PermanentError",
    "TemporaryError",
    "TrafficError",
    "InvalidWeightsError",
    "UnknownRevisionError",
    "TrafficAuthError",
    "FencedError",
    "TrafficUnreachableError",
    "TrafficConflictError",
    "TrafficOperationError",
    "CloudRunNotFoundError",
    "RouterReadError",
    "StackError",
]
