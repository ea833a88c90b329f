"""Who gets how much traffic: the :class:`TrafficManager` interface, weights and fences.

A traffic manager has two calls, both synchronous:

- ``get_weights()`` -> ``{"blue": 100, "green": 0}``: the split now in force;
- ``set_weights({"blue": 90, "green": 10})`` -> the split now in force after the change
  (the call returns only once the change is in effect).

**Fencing.** ``set_weights(..., fence=EPOCH)`` carries the epoch of the procedure that holds
control of traffic (an integer that only rises over time). A target that checks fences
remembers the highest one it has accepted (its high-water mark) and refuses a change with a
lower one with :class:`~ethos.rollout.errors.FencedError`, without changing anything: a
procedure preempted by a later one (its process hung in the middle of a call, say) can then
never apply a stale change. An equal or higher fence is accepted and raises the mark;
``fence=None`` (an operator's plain change) is always accepted and leaves the mark as it is.
The router (:class:`~ethos.rollout.traffic.local.LocalRouterTraffic`) and
:class:`FakeTrafficManager` check fences;
Cloud Run cannot (there the control check under the control mutex is the protection).

Implementations: :class:`~ethos.rollout.traffic.local.LocalRouterTraffic` (the admin API of
``ethos router``),
:class:`ethos.rollout.traffic.cloudrun.CloudRunTraffic` (Cloud Run service traffic targets) and
:class:`FakeTrafficManager` for unit tests. Every error is a
:class:`~ethos.rollout.errors.TrafficError`.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping

from ..errors import (
    FencedError,
)
from ..weights import (
    FENCE_HEADER,
    MAX_FENCE,
    Weights,
    check_fence,
    parse_weights,
    validate_weights,
)


class TrafficManager(abc.ABC):
    """Reads and sets the traffic split between revisions of one service."""

    @abc.abstractmethod
    def get_weights(self) -> Weights:
        """Return the split now in force, e.g. ``{"blue": 100, "green": 0}``."""

    @abc.abstractmethod
    def set_weights(self, weights: Mapping[str, int], *, fence: int | None = None) -> Weights:
        """Put ``weights`` in force (integers summing to 100) and return the split now in force.

        ``fence``: the epoch of the procedure holding control of traffic (see the module
        docstring); a target that checks fences raises :class:`FencedError` when a higher
        one was already accepted. ``None``: an unfenced change (an operator's).
        """

    def describe(self) -> str:
        """A short human description of the target (for logs and journals; no secrets)."""
        return type(self).__name__


#: ``handler(action, weights)``: ``action`` is "get" or "set"; return the weights to report
#: (None: default behaviour) or raise a TrafficError to simulate a failure.
FakeHandler = Callable[[str, Weights | None], Weights | None]


class FakeTrafficManager(TrafficManager):
    """In-memory traffic manager for unit tests; ``calls`` records every call made.

    Checks fences as the router does: ``fence`` is the high-water mark (``None`` until a
    fenced change was accepted; settable by a test); ``set_fences`` records the fence of
    every ``set`` call, refused ones included.
    """

    def __init__(
        self,
        weights: Mapping[str, int] | None = None,
        *,
        handler: FakeHandler | None = None,
    ) -> None:
        self.weights: Weights = dict(weights) if weights is not None else {"blue": 100, "green": 0}
        self.handler = handler
        self.calls: list[tuple[str, Weights | None]] = []
        self.fence: int | None = None
        self.set_fences: list[int | None] = []

    def get_weights(self) -> Weights:
        self.calls.append(("get", None))
        if self.handler is not None:
            out = self.handler("get", None)
            if out is not None:
                return dict(out)
        return dict(self.weights)

    def set_weights(self, weights: Mapping[str, int], *, fence: int | None = None) -> Weights:
        requested = dict(weights)
        self.calls.append(("set", requested))
        self.set_fences.append(fence)
        fence = check_fence(fence)
        checked = validate_weights(requested, self.weights.keys())
        if fence is not None and self.fence is not None and fence < self.fence:
            raise FencedError(fence, self.fence)
        if self.handler is not None:
            out = self.handler("set", checked)
            if out is not None:
                self._accept(fence)
                self.weights = dict(out)
                return dict(out)
        self._accept(fence)
        self.weights = checked
        return dict(checked)

    def _accept(self, fence: int | None) -> None:
        if fence is not None:
            self.fence = fence if self.fence is None else max(self.fence, fence)

    def describe(self) -> str:
        return "fake"


__all__ = [
    "Weights",
    "FENCE_HEADER",
    "MAX_FENCE",
    "check_fence",
    "validate_weights",
    "parse_weights",
    "TrafficManager",
    "FakeTrafficManager",
    "FakeHandler",
]
