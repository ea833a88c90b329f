"""The console's one background loop: read traffic, health and signals, evaluate, keep.

Every ``interval_s`` it reads the router's weights, each revision's ``/health``, and the
guard's signal sources (the same :class:`~..sources.base.SignalSource` objects ``ethos
guard`` uses), evaluates the policy with :func:`~..guard.evaluate.evaluate` (so the page shows
*watching* with the time left in a sustain window even when no guard runs), and appends the
charted values to the :class:`~.series.SeriesStore`. Nothing here decides anything: the
decisions are :mod:`..guard.evaluate` and :mod:`.views`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from ..errors import TrafficError
from ..guard.evaluate import GuardState, evaluate
from ..guard.policy import Policy
from ..router.client import RouterClient
from ..sources.base import SignalSource, collect_snapshot
from .series import SeriesStore
from .views import chart_needs, merge_needs, sample_of

log = logging.getLogger("ethos.console")


@dataclass
class Reading:
    """The latest of everything the loop read (what ``/api/console/state`` shows)."""

    at: float | None = None
    weights: dict[str, int] | None = None
    traffic_error: str | None = None
    health: dict[str, Any] = field(default_factory=dict)  # name -> /health dict, or an error text
    evaluation: dict[str, Any] | None = None
    unavailable: dict[str, str] = field(default_factory=dict)
    last_call: dict[str, Any] | None = None  # the last decision that called for an action, and when


class Sampler:
    """Reads every ``interval_s`` on a named daemon thread; :meth:`tick` does one round."""

    def __init__(
        self,
        policy: Policy,
        router: str | None,
        revisions: Mapping[str, str],
        sources: Sequence[SignalSource],
        series: SeriesStore,
        *,
        interval_s: float = 5.0,
        clock: Callable[[], float] = time.time,
        transport: httpx.BaseTransport | None = None,
        weights: Callable[[], dict[str, int] | None] | None = None,
    ) -> None:
        self.policy = policy
        #: without a router (Cloud Run): the split in force from the traffic manager
        self._weights_fn = weights
        self.router = router.rstrip("/") if router else None
        self.revisions = dict(revisions)
        self.sources = list(sources)
        self.series = series
        self.interval_s = interval_s
        self.clock = clock
        self.reading = Reading()
        self._state = GuardState()
        self._needs = merge_needs(policy.needs(), chart_needs())
        self._client = httpx.Client(timeout=2.0, transport=transport)
        self._router = RouterClient(self.router, timeout=2.0, transport=transport) if self.router else None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ one round

    def _weights(self) -> tuple[dict[str, int] | None, str | None]:
        if self._router is None and self._weights_fn is not None:
            got = self._weights_fn()
            return (got, None) if got is not None else (None, "cannot read the traffic in force")
        if self._router is None:
            return None, "no router configured"
        try:
            return self._router.traffic().weights, None
        except TrafficError as e:
            return None, f"cannot read {self.router}/router/traffic: {type(e).__name__}: {e}"

    def _health(self, url: str) -> dict[str, Any] | str:
        try:
            r = self._client.get(f"{url.rstrip('/')}/health")
            data = r.json()
            return data if isinstance(data, dict) else f"/health answered {r.status_code}"
        except (httpx.HTTPError, ValueError) as e:
            return f"unreachable: {type(e).__name__}"

    def tick(self) -> Reading:
        """One round: read, evaluate, keep. Never raises for an unreachable part."""
        now = self.clock()
        weights, traffic_error = self._weights()
        health = {name: self._health(url) for name, url in self.revisions.items()}
        revs = list(dict.fromkeys([*self.revisions, self.policy.candidate, self.policy.baseline]))
        snap = collect_snapshot(self.sources, self._needs, revs, now, weights)
        ev = evaluate(self.policy, snap, self._state, now)
        self._state = ev.state
        self.series.add(sample_of(snap, self.revisions))
        last_call = self.reading.last_call
        if ev.decision.action in ("emergency", "standard", "gradual"):
            # a rollback decision fires once, then its incident holds it: keep it for the page
            last_call = {"at": now, **ev.decision.to_dict()}
        reading = Reading(now, weights, traffic_error, health, ev.to_dict(), dict(snap.unavailable), last_call)
        with self._lock:
            self.reading = reading
        return reading

    def latest(self) -> Reading:
        with self._lock:
            return self.reading

    # ------------------------------------------------------------------ the loop

    def start(self) -> None:
        """Run :meth:`tick` now and then every ``interval_s`` until :meth:`stop`."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="console-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - the page must keep refreshing; logged
                log.exception("console sample failed")
            self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - started)))

    def stop(self) -> None:
        """Stop the loop, wait for it, close connections."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self._client.close()
        if self._router is not None:
            self._router.close()
        for s in self.sources:
            s.close()


__all__ = ["Reading", "Sampler"]
