"""Rollout: the local router, traffic managers, the local stack, and the rollback procedures.

Talks to revisions over HTTP only. The public names of the traffic part are re-exported here;
submodules (``router``, ``cloudrun``, ``stack``) are imported where used.
"""

from __future__ import annotations

from .errors import (
    FencedError,
    InvalidWeightsError,
    PermanentError,
    RolloutError,
    StackError,
    TemporaryError,
    TrafficAuthError,
    TrafficError,
    TrafficUnreachableError,
    UnknownRevisionError,
)
from .traffic import (
    FakeTrafficManager,
    LocalRouterTraffic,
    TrafficManager,
    parse_weights,
    validate_weights,
)

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
    "TrafficManager",
    "FakeTrafficManager",
    "LocalRouterTraffic",
    "validate_weights",
    "parse_weights",
]
