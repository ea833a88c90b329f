"""Per-request samples and quantiles recovered from Prometheus histogram buckets. Pure.

A source that has only a histogram (the router's ``/router/metrics``, Prometheus) gives the
guard's rank tests pseudo-samples and its thresholds the quantiles Prometheus would compute.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def histogram_samples(
    buckets: Sequence[tuple[float, float]], max_samples: int = 5000
) -> tuple[float, ...]:
    """Pseudo-samples from cumulative buckets ``[(le, count), ...]`` (``le`` may be inf).

    Each observation is placed at the middle of its bucket (the last finite bound for the
    +Inf bucket), so rank tests see the order of magnitudes the histogram keeps. Counts are
    scaled down proportionally above ``max_samples`` (the p-value stays honest for the
    number of samples kept, which only makes it more cautious).
    """
    pairs = sorted((float(le), float(c)) for le, c in buckets)
    counts: list[tuple[float, int]] = []
    prev_le, prev_c = 0.0, 0.0
    last_finite = 0.0
    for le, c in pairs:
        n = max(0.0, c - prev_c)
        point = (prev_le + le) / 2 if math.isfinite(le) else last_finite
        if n > 0:
            counts.append((point, int(round(n))))
        if math.isfinite(le):
            last_finite = le
            prev_le = le
        prev_c = max(prev_c, c)
    total = sum(n for _, n in counts)
    if total == 0:
        return ()
    scale = min(1.0, max_samples / total)
    out: list[float] = []
    for point, n in counts:
        out.extend([point] * int(round(n * scale)))
    return tuple(out)


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float | None:
    """Prometheus' ``histogram_quantile``: linear interpolation inside the bucket (q in 0..1)."""
    pairs = sorted((float(le), float(c)) for le, c in buckets)
    if not pairs or pairs[-1][1] <= 0:
        return None
    total = pairs[-1][1]
    rank = q * total
    prev_le, prev_c = 0.0, 0.0
    for le, c in pairs:
        if c >= rank:
            if not math.isfinite(le):
                return prev_le  # above the highest finite bound: the bound is all we know
            if c == prev_c:
                return le
            return prev_le + (le - prev_le) * (rank - prev_c) / (c - prev_c)
        prev_le, prev_c = (le if math.isfinite(le) else prev_le), c
    return prev_le


__all__ = ["histogram_quantile", "histogram_samples"]
