"""Where a guard's measurements come from, and the guard itself: built in one place.

``ethos guard``, the console's charts and the drills watch the same policy through the same
sources, configured the same way (prices, cost projection, baseline revision), so the three
never measure a trigger differently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..sources.base import SignalSource
    from ..sources.router import RouterSource
    from .actuator import Actuator, Alerter
    from .history import GuardHistory
    from .loop import Guard
    from .policy import Policy


@dataclass
class Watch:
    """The sources that watch a policy; ``router`` is the router's own (it also knows the weights)."""

    sources: list[SignalSource] = field(default_factory=list)
    router: RouterSource | None = None

    def weights(self) -> dict[str, int] | None:
        """The weights the router last reported, or None without a router."""
        return self.router.weights if self.router is not None else None


def watch_sources(
    policy: Policy,
    *,
    router: str | None = None,
    revisions: Mapping[str, str] | None = None,
    prometheus: str | None = None,
    pids: Mapping[str, int] | None = None,
) -> Watch:
    """The sources for ``policy``: Prometheus (when given) first, then the router, the
    revisions' ``/metrics`` (with the policy's prices and cost projection) and the local
    processes of those revisions. The first source to report a signal wins."""
    from ..sources import (
        PriceTable,
        ProcessSource,
        PrometheusSource,
        RevisionMetricsSource,
        RouterSource,
        queries_for,
    )

    cost = policy.cost or {}
    prices = PriceTable.from_policy(policy.cost)
    projected = cost.get("projected_usd_per_hour")
    w = Watch()
    if prometheus:
        w.sources.append(PrometheusSource(prometheus, queries_for(policy), prices=prices,
                                          projected_usd_per_hour=projected, baseline=policy.baseline))
    if router:
        w.router = RouterSource(router)
        w.sources.append(w.router)
    revisions = dict(revisions or {})
    if revisions:
        w.sources.append(RevisionMetricsSource(revisions, prices=prices, projected_usd_per_hour=projected,
                                               baseline=policy.baseline))
    local = {k: v for k, v in (pids or {}).items() if k in revisions}
    if local:
        w.sources.append(ProcessSource(local))
    return w


def build_guard(
    policy: Policy,
    watch: Watch,
    actuator: Actuator,
    alerter: Alerter,
    history: GuardHistory,
    *,
    dry_run: bool = False,
    **kw: Any,
) -> Guard:
    """The guard over ``watch``'s sources, reading the weights in force from its router."""
    from .loop import Guard

    return Guard(policy, watch.sources, actuator, alerter, history,
                 weights=watch.weights if watch.router is not None else None, dry_run=dry_run, **kw)


__all__ = ["Watch", "build_guard", "watch_sources"]
