"""Traffic: who gets how much, on which target.

- :mod:`.base`: the :class:`TrafficManager` contract, weights and fences (pure), the fake;
- :mod:`.local`: ``ethos router``'s admin API; :mod:`.cloudrun`: Cloud Run traffic targets;
- :mod:`.targets`: which router, revisions and key a command acts on.
"""

from __future__ import annotations

from .base import (
    FENCE_HEADER,
    MAX_FENCE,
    FakeTrafficManager,
    TrafficManager,
    Weights,
    check_fence,
    parse_weights,
    validate_weights,
)
from .local import LocalRouterTraffic

__all__ = [
    "FENCE_HEADER",
    "MAX_FENCE",
    "FakeTrafficManager",
    "LocalRouterTraffic",
    "TrafficManager",
    "Weights",
    "check_fence",
    "parse_weights",
    "validate_weights",
]
