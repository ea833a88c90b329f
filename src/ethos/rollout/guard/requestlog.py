"""Per-request records -> measurements over trailing windows, on an injected clock.

The guard's simulations and fake sources use it to turn a stream of requests (status,
latency, TTFT, cache result, PII seen) into the :class:`~.measurements.Snapshot` a real
source would report. Records older than the longest window asked for are dropped.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from .measurements import Key, Measurement, Snapshot, proportion


@dataclass(frozen=True, slots=True)
class Request:
    """One request as a router and its revision would see it."""

    t: float
    revision: str
    status: int | None  # None: no response
    latency_s: float
    ttft_s: float | None = None
    cache: str | None = None  # hit | semantic_hit | miss | bypass
    pii: bool = False


class RequestLog:
    """Requests per revision, kept for ``horizon_s`` seconds."""

    def __init__(self, horizon_s: float = 3600.0) -> None:
        self.horizon_s = horizon_s
        self._by_rev: dict[str, deque[Request]] = {}

    def add(self, r: Request) -> None:
        """Record one request (in time order per revision)."""
        dq = self._by_rev.setdefault(r.revision, deque())
        dq.append(r)
        while dq and dq[0].t < r.t - self.horizon_s:
            dq.popleft()

    def extend(self, rs: Iterable[Request]) -> None:
        for r in rs:
            self.add(r)

    def window(self, revision: str, now: float, window_s: float) -> list[Request]:
        """Requests of ``revision`` with ``now - window_s < t <= now``."""
        dq = self._by_rev.get(revision)
        if not dq:
            return []
        ts = [r.t for r in dq]
        lo = bisect_left(ts, now - window_s)
        while lo < len(ts) and ts[lo] <= now - window_s:
            lo += 1
        hi = bisect_left(ts, now)
        while hi < len(ts) and ts[hi] <= now:
            hi += 1
        return list(dq)[lo:hi]

    def snapshot(
        self,
        now: float,
        windows: Iterable[float],
        revisions: Iterable[str] | None = None,
        gauges: Mapping[str, Mapping[str, float]] | None = None,
        weights: Mapping[str, int] | None = None,
    ) -> Snapshot:
        """Measurements of every request signal for each revision and window, plus ``gauges``
        (``{revision: {signal: value}}``, reported under every window)."""
        names = list(revisions) if revisions is not None else list(self._by_rev)
        ws = sorted({float(w) for w in windows})
        out: dict[Key, Measurement] = {}
        for rev in names:
            for w in ws:
                for sig, m in measure(self.window(rev, now, w), w).items():
                    out[(rev, sig, w)] = m
                for sig, v in (gauges or {}).get(rev, {}).items():
                    out[(rev, sig, w)] = Measurement(float(v), 1, window_s=w, source="gauge")
        return Snapshot(now, out, weights=weights)


def measure(reqs: list[Request], window_s: float) -> dict[str, Measurement]:
    """Every request-based signal over ``reqs``."""
    n = len(reqs)
    errors = sum(1 for r in reqs if r.status is None or r.status >= 500)
    http_errors = sum(1 for r in reqs if r.status is None or r.status >= 400)
    lat = np.array([r.latency_s for r in reqs], dtype=float)
    ttft = np.array([r.ttft_s for r in reqs if r.ttft_s is not None], dtype=float)
    looked = [r for r in reqs if r.cache in ("hit", "semantic_hit", "miss")]
    hits = sum(1 for r in looked if r.cache != "miss")
    kw = {"window_s": window_s, "source": "requests"}

    def q(a: np.ndarray, p: float) -> float | None:
        return float(np.percentile(a, p, method="inverted_cdf")) if a.size else None

    return {
        "requests": Measurement(float(n), n, **kw),
        "error_rate": proportion(errors, n, **kw),
        "http_error_rate": proportion(http_errors, n, **kw),
        "latency": Measurement(q(lat, 50), n, distribution=tuple(lat.tolist()), **kw),
        "ttft": Measurement(q(ttft, 50), int(ttft.size), distribution=tuple(ttft.tolist()), **kw),
        "latency_p50": Measurement(q(lat, 50), n, **kw),
        "latency_p95": Measurement(q(lat, 95), n, **kw),
        "ttft_p50": Measurement(q(ttft, 50), int(ttft.size), **kw),
        "ttft_p95": Measurement(q(ttft, 95), int(ttft.size), **kw),
        "cache_hit_rate": proportion(hits, len(looked), **kw),
        "pii_detection_rate": proportion(sum(1 for r in reqs if r.pii), n, **kw),
    }


__all__ = ["Request", "RequestLog", "measure"]
