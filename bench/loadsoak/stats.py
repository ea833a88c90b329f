"""Figures of a load run, as pure functions: percentiles, per-phase summaries, RSS trend and
the "flat memory" verdict.

"Flat" (per process), over the samples after warm-up (the first ``warmup_s`` seconds are
left out: imports finish, pools and caches fill):

- the least-squares slope of RSS over time is below ``max_slope_mib_min`` (default 1 MiB/min), and
- the last minute's median RSS is within ``rel_tol`` (10 %) + ``abs_tol_mib`` (4 MiB) of the
  median of the first minute after warm-up.

Both must hold; a run shorter than warm-up + 2 minutes gets the verdict ``too short``.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

MIB = 1024 * 1024


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None when empty."""
    if not values:
        return None
    s = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(s)))
    return s[min(rank, len(s)) - 1]


@dataclass
class Outcome:
    """One request as the client saw it. Times in seconds from the run's start."""

    i: int
    kind: str
    stream: bool
    pii: bool
    phase: str
    scheduled_s: float
    lag_s: float  # actual send - scheduled send (the generator's own delay)
    latency_s: float | None  # send -> last byte (None: never completed)
    status: int | None
    ok: bool
    reason: str | None = None  # why it failed
    cache: str | None = None  # X-Cache
    revision: str | None = None  # X-Revision


def summarise(outcomes: Sequence[Outcome], duration_s: float) -> dict[str, Any]:
    """Requests, ok, failed (by reason), throughput, p50/p99 latency (ms)."""
    lat = [o.latency_s for o in outcomes if o.ok and o.latency_s is not None]

    def ms(v: float | None) -> float | None:
        return None if v is None else round(v * 1000, 1)

    return {
        "requests": len(outcomes),
        "ok": sum(o.ok for o in outcomes),
        "failed": sum(not o.ok for o in outcomes),
        "failed_by_reason": dict(Counter(o.reason for o in outcomes if not o.ok)),
        "throughput_rps": round(sum(o.ok for o in outcomes) / duration_s, 2) if duration_s > 0 else None,
        "p50_ms": ms(percentile(lat, 50)),
        "p99_ms": ms(percentile(lat, 99)),
        "max_ms": ms(max(lat) if lat else None),
    }


def by_phase(outcomes: Sequence[Outcome], spans: dict[str, float]) -> dict[str, dict[str, Any]]:
    """:func:`summarise` per phase (in first-seen order); ``spans``: phase -> seconds it lasted."""
    phases: dict[str, list[Outcome]] = {}
    for o in outcomes:
        phases.setdefault(o.phase, []).append(o)
    return {p: {"seconds": round(spans.get(p, 0.0), 1), **summarise(v, spans.get(p, 0.0))} for p, v in phases.items()}


def slope_per_min(points: Sequence[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, value) points, in value per minute; None if < 2 points."""
    if len(points) < 2:
        return None
    n = len(points)
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    sxx = sum((t - mx) ** 2 for t, _ in points)
    if sxx == 0:
        return None
    return 60.0 * sum((t - mx) * (v - my) for t, v in points) / sxx


def rss_trend(
    samples: Iterable[tuple[float, float]],
    *,
    warmup_s: float,
    max_slope_mib_min: float = 1.0,
    rel_tol: float = 0.10,
    abs_tol_mib: float = 4.0,
) -> dict[str, Any]:
    """The RSS figures of one process from (seconds, bytes) samples, and the verdict."""
    pts = sorted((t, b / MIB) for t, b in samples)
    if not pts:
        return {"verdict": "no samples"}
    end = pts[-1][0]

    def med(a: float, b: float) -> float | None:
        vals = [v for t, v in pts if a <= t < b]
        return round(statistics.median(vals), 1) if vals else None

    out: dict[str, Any] = {
        "samples": len(pts),
        "first_min_median_mib": med(0, 60),
        "last_min_median_mib": med(end - 60, end + 1),
        "max_mib": round(max(v for _, v in pts), 1),
    }
    after = [(t, v) for t, v in pts if t >= warmup_s]
    slope = slope_per_min(after)
    out["slope_mib_per_min"] = None if slope is None else round(slope, 3)
    base = med(warmup_s, warmup_s + 60)
    out["post_warmup_median_mib"] = base
    if end - warmup_s < 120 or slope is None or base is None:
        out["verdict"] = "too short"
        return out
    last = out["last_min_median_mib"]
    flat = slope < max_slope_mib_min and last <= base * (1 + rel_tol) + abs_tol_mib
    out["verdict"] = "flat" if flat else "growing"
    return out


#: issue 20: RSS per process is flat when the least-squares slope over the last 30 minutes
#: of the run is at most this (MiB/min)
TAIL_WINDOW_S = 1800.0
TAIL_MAX_SLOPE_MIB_MIN = 0.1


def tail_slope(samples: Iterable[tuple[float, float]], *, window_s: float = TAIL_WINDOW_S,
               max_slope_mib_min: float = TAIL_MAX_SLOPE_MIB_MIN, warmup_s: float = 0.0) -> dict[str, Any]:
    """Least-squares RSS slope (MiB/min) over the last ``window_s`` seconds of (seconds, bytes)
    samples, and pass/fail against ``max_slope_mib_min``. The window never reaches into warm-up;
    when the samples after warm-up span less than ``window_s`` the verdict is ``too short``
    (the slope is still given, over what there is)."""
    pts = sorted((t, b / MIB) for t, b in samples)
    if not pts:
        return {"verdict": "no samples"}
    end = pts[-1][0]
    start = max(end - window_s, warmup_s)
    win = [(t, v) for t, v in pts if t >= start]
    slope = slope_per_min(win)
    out: dict[str, Any] = {
        "window_s": round(end - start, 1), "samples": len(win),
        "start_mib": round(win[0][1], 1) if win else None, "end_mib": round(win[-1][1], 1) if win else None,
        "slope_mib_per_min": None if slope is None else round(slope, 4),
        "max_slope_mib_per_min": max_slope_mib_min,
    }
    if slope is None:
        out["verdict"] = "too short"
    elif end - start < window_s - 1.0:
        out["verdict"] = "too short"
    else:
        out["verdict"] = "pass" if slope <= max_slope_mib_min else "fail"
    return out


FLAT_DEFINITION = (
    "flat = after warm-up, least-squares RSS slope < {s} MiB/min AND last-minute median <= "
    "first-post-warm-up-minute median x {r} + {a} MiB"
)

__all__ = ["Outcome", "percentile", "summarise", "by_phase", "slope_per_min", "rss_trend", "tail_slope", "TAIL_WINDOW_S",
           "TAIL_MAX_SLOPE_MIB_MIN", "FLAT_DEFINITION", "MIB"]
