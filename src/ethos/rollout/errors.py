"""The errors of ``ethos.rollout``, one hierarchy for the whole part.

::

    RolloutError                      anything rollout-related went wrong
    ├── PermanentError                retrying the same call will not help
    │   ├── InvalidWeightsError       (also a TrafficError) not integers / not summing to 100
    │   ├── UnknownRevisionError      (also a TrafficError) a name the target does not know
    │   ├── TrafficAuthError          (also a TrafficError) missing/wrong/unset admin key
    │   ├── FencedError               (also a TrafficError) a later holder of control changed traffic
    │   └── StackError                the local stack could not be started / read / stopped
    └── TemporaryError                may succeed later; carries ``retry_delay`` seconds
        └── TrafficUnreachableError   (also a TrafficError) router / Cloud Run not reachable

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
    """The admin key is missing or wrong, or the router has none configured."""


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
    "StackError",
]
