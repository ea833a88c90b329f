"""Replaying synthetic traffic through the policy on a fake clock (tests, benches, drills).

:class:`Traffic` holds per-request arrays for each revision; :func:`simulate` evaluates the
policy every ``interval_s`` from ``start`` to ``end`` exactly as the guard's loop would (same
:func:`~.evaluate.evaluate`, same state), with optional outages during which no source
answers, and counts what the guard would have done.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypedDict, cast

import numpy as np

from ..sources.base import SignalSource, collect_snapshot
from ..sources.measurements import Key, Measurement, Snapshot, proportion
from .evaluate import Evaluation, GuardState, evaluate
from .policy import Policy

if TYPE_CHECKING:
    from ..sources.monitoring_fake import FakeMetricService


@dataclass
class RevisionTraffic:
    """Requests of one revision, sorted by time ``t`` (seconds)."""

    t: np.ndarray
    status: np.ndarray  # int; 0 means no response
    latency: np.ndarray  # seconds
    ttft: np.ndarray  # seconds
    cache_hit: np.ndarray  # bool
    pii: np.ndarray  # bool

    def window(self, now: float, window_s: float) -> slice:
        lo = int(np.searchsorted(self.t, now - window_s, side="right"))
        hi = int(np.searchsorted(self.t, now, side="right"))
        return slice(lo, hi)


def synthetic(
    rng: np.random.Generator,
    start: float,
    end: float,
    rps: float,
    *,
    latency_median_s: float = 1.2,
    latency_sigma: float = 0.8,
    ttft_median_s: float = 0.4,
    ttft_sigma: float = 0.8,
    tail_share: float = 0.01,
    tail_scale_s: float = 8.0,
    error_rate: float = 0.003,
    hit_rate: float = 0.7,
    pii_rate: float = 0.02,
    ttft_factor: Callable[[np.ndarray], np.ndarray] | None = None,
    error_rate_at: Callable[[np.ndarray], np.ndarray] | None = None,
) -> RevisionTraffic:
    """Poisson arrivals at ``rps``; lognormal latency and TTFT with a Pareto tail (heavy-tailed);
    independent single errors at ``error_rate``. ``ttft_factor(t)`` / ``error_rate_at(t)``
    change behaviour over time (a regression starting at some instant)."""
    n = rng.poisson(rps * (end - start))
    t = np.sort(rng.uniform(start, end, n))
    lat = rng.lognormal(np.log(latency_median_s), latency_sigma, n)
    tail = rng.random(n) < tail_share
    lat[tail] += (rng.pareto(1.5, int(tail.sum())) + 1) * tail_scale_s
    ttft = np.minimum(rng.lognormal(np.log(ttft_median_s), ttft_sigma, n), lat)
    if ttft_factor is not None:
        f = ttft_factor(t)
        ttft = ttft * f
        lat = lat + ttft * (f - 1) / np.maximum(f, 1e-9)
    rate = error_rate_at(t) if error_rate_at is not None else np.full(n, error_rate)
    status = np.where(rng.random(n) < rate, 500, 200)
    return RevisionTraffic(t, status, lat, ttft, rng.random(n) < hit_rate, rng.random(n) < pii_rate)


class _MeasurementKw(TypedDict):
    window_s: float
    source: str


def _measure(tr: RevisionTraffic, s: slice, w: float, wanted: set[str]) -> dict[str, Measurement]:
    st = tr.status[s]
    n = int(st.size)
    lat, ttft = tr.latency[s], tr.ttft[s]
    errors = int(((st == 0) | (st >= 500)).sum())
    http_errors = int(((st == 0) | (st >= 400)).sum())
    kw: _MeasurementKw = {"window_s": w, "source": "simulated"}
    # Measurement takes a numpy array as its distribution (it only needs len() and to be
    # read as an array); ndarray is not typed as a Sequence
    lat_dist = cast(Sequence[float], lat)
    ttft_dist = cast(Sequence[float], ttft)

    def q(a: np.ndarray, p: float) -> float | None:
        if not a.size:
            return None
        k = max(0, min(a.size - 1, int(np.ceil(p / 100.0 * a.size)) - 1))  # nearest rank
        return float(np.partition(a, k)[k])

    out = {
        "requests": lambda: Measurement(float(n), n, **kw),
        "error_rate": lambda: proportion(errors, n, **kw),
        "http_error_rate": lambda: proportion(http_errors, n, **kw),
        "latency": lambda: Measurement(q(lat, 50), n, distribution=lat_dist, **kw),
        "ttft": lambda: Measurement(q(ttft, 50), n, distribution=ttft_dist, **kw),
        "latency_p50": lambda: Measurement(q(lat, 50), n, **kw),
        "latency_p95": lambda: Measurement(q(lat, 95), n, **kw),
        "ttft_p50": lambda: Measurement(q(ttft, 50), n, **kw),
        "ttft_p95": lambda: Measurement(q(ttft, 95), n, **kw),
        "cache_hit_rate": lambda: proportion(int(tr.cache_hit[s].sum()), n, **kw),
        "pii_detection_rate": lambda: proportion(int(tr.pii[s].sum()), n, **kw),
        "quality_rejection_rate": lambda: proportion(0, n, **kw),
        "store_cost_ratio": lambda: Measurement(1.0, n, **kw),
    }
    return {k: f() for k, f in out.items() if k in wanted}


#: Gauges of a healthy revision.
HEALTHY_GAUGES: dict[str, float] = {
    "up": 1.0, "pii_leaks": 0.0, "pii_selftest": 1.0, "store_up": 1.0,
    "cpu_utilisation": 0.2, "memory_utilisation": 0.3,
}


def snapshot_at(
    policy: Policy,
    traffic: Mapping[str, RevisionTraffic],
    now: float,
    gauges: Mapping[str, Mapping[str, float]] | None = None,
) -> Snapshot:
    """What a source would report at ``now``: every window of the policy, every revision."""
    out: dict[Key, Measurement] = {}
    by_window: dict[float, set[str]] = {}
    for sig, ws in policy.needs().items():
        for w in ws:
            by_window.setdefault(w, set()).add(sig)
    for rev, tr in traffic.items():
        g = HEALTHY_GAUGES if gauges is None else gauges.get(rev, HEALTHY_GAUGES)
        for w, wanted in by_window.items():
            for sig, m in _measure(tr, tr.window(now, w), w, wanted).items():
                out[(rev, sig, w)] = m
            for sig, v in g.items():
                if sig in wanted:
                    out[(rev, sig, w)] = Measurement(float(v), 1, window_s=w, source="gauge")
    return Snapshot(now, out)


@dataclass
class SimResult:
    """What the guard would have done over the run."""

    evaluations: int = 0
    actions: list[tuple[float, str, str]] = field(default_factory=list)  # (t, action, trigger)
    alerts: list[tuple[float, str]] = field(default_factory=list)
    notifies: int = 0
    last: Evaluation | None = None

    @property
    def rollbacks(self) -> int:
        return sum(1 for _, a, _ in self.actions if a in ("emergency", "standard", "gradual"))


def publish_minutes(
    fake: FakeMetricService,
    traffic: Mapping[str, RevisionTraffic],
    names: Mapping[str, str],
    start: float,
    end: float,
    *,
    delay: Callable[[], float] | None = None,
) -> int:
    """Write ``traffic`` as Cloud Run would record it in Cloud Monitoring: per revision and
    sampled minute ending in ``(start, end]``, ``request_count`` per response code and
    ``request_latencies`` (ms) per class; each minute visible ``delay()`` seconds after it ends
    (default: at once). ``names``: ours -> Cloud Run revision. Returns the points written."""
    n = 0
    first = math.floor(start / 60.0) * 60.0 + 60.0
    for ours, tr in traffic.items():
        rev = names[ours]
        t_end = first
        while t_end <= end:
            s = tr.window(t_end, 60.0)
            st = tr.status[s]
            if st.size:
                lat = tr.latency[s] * 1000.0
                codes: dict[int | str, int] = {}
                by_code: dict[int | str, Sequence[float]] = {}
                for code in np.unique(st):
                    c = int(code) if code else 503  # no response: the front end answers 503
                    mask = st == code
                    codes[c] = codes.get(c, 0) + int(mask.sum())
                    by_code[c] = [*by_code.get(c, ()), *(float(x) for x in lat[mask])]
                visible = t_end + (delay() if delay is not None else 0.0)
                fake.record_requests(rev, t_end, codes, by_code, visible_at=visible)
                n += len(codes)
            t_end += 60.0
    return n


def simulate(
    policy: Policy,
    traffic: Mapping[str, RevisionTraffic],
    start: float,
    end: float,
    *,
    interval_s: float | None = None,
    outages: tuple[tuple[float, float], ...] = (),
    stop_on_action: bool = False,
    sources: Sequence[SignalSource] = (),
    from_sources: frozenset[str] = frozenset(),
    before_step: Callable[[float], None] | None = None,
) -> SimResult:
    """Evaluate every ``interval_s`` (default: the policy's) over ``[start, end]``, and every
    ``policy.fast_interval_s`` in between while a sequential test is building evidence, as the
    loop does.

    With ``sources`` (e.g. a :class:`~..sources.cloudmonitoring.CloudMonitoringSource` over the
    Metric Service fake fed by :func:`publish_minutes`), the signals in ``from_sources`` come
    from them only, the others from the simulated traffic; ``before_step(now)`` moves the
    sources' clocks.
    """
    step = interval_s or policy.interval_s
    fast = min(step, policy.look_s)
    state = GuardState()
    res = SimResult()
    now = tick = start
    while now <= end:
        if now >= tick:
            tick = now + step  # a regular evaluation: the next one is due an interval later
        if any(a <= now < b for a, b in outages):
            snap = Snapshot(now, {}, unavailable={"router": "connection refused (simulated outage)"})
        else:
            snap = snapshot_at(policy, traffic, now)
            if sources:
                if before_step is not None:
                    before_step(now)
                got = collect_snapshot(sources, policy.needs(), list(traffic), now)
                kept = {k: m for k, m in snap.measurements.items() if k[1] not in from_sources}
                snap = Snapshot(now, {**kept, **got.measurements}, got.unavailable, quiet=got.quiet)
        ev = evaluate(policy, snap, state, now)
        state = ev.state
        res.evaluations += 1
        res.last = ev
        d = ev.decision
        if d.action in ("emergency", "standard", "gradual") and (d.acts or d.needs_approval):
            res.actions.append((now, d.action, d.trigger or ""))
        if d.action == "notify":
            res.notifies += 1
        res.alerts.extend((now, a) for a in d.alerts)
        if stop_on_action and res.actions:
            break
        now = min(tick, now + fast) if ev.building else tick
    return res


__all__ = ["RevisionTraffic", "SimResult", "simulate", "snapshot_at", "synthetic", "publish_minutes",
           "HEALTHY_GAUGES"]
