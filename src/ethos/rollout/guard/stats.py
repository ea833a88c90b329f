"""The statistics behind honest decisions: confidence bounds, rank tests, effect sizes. Pure.

- :func:`wilson_bounds`: a proportion's confidence interval, so 3 errors in 60 requests is
  not read as "5% for sure";
- :func:`compare_samples`: green against blue on the same window, Mann-Whitney U (one-sided)
  for "is green slower", and the ratio of medians for "by how much";
- :func:`compare_proportions`: Fisher's exact test (one-sided) and the ratio of rates.

(Samples and quantiles recovered from Prometheus histogram buckets are the sources' part:
:mod:`ethos.rollout.sources.histograms`.)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist

import numpy as np

# The standard library and numpy only: the container image keeps no more of scipy than the
# knowledge base's BM25 needs (scipy.sparse), and `ethos guard` runs from that image too.
_NORMAL = NormalDist()
_lgamma = np.vectorize(math.lgamma, otypes=[float])


@lru_cache(maxsize=64)
def _z(confidence: float) -> float:
    """One-sided normal quantile for ``confidence`` (0.9 -> 1.28)."""
    return _NORMAL.inv_cdf(confidence)


def _ndtr(z: float) -> float:
    """The standard normal CDF, accurate far into both tails (erfc, not 1 - erf)."""
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def _gammaln(x: np.ndarray | float) -> np.ndarray:
    return _lgamma(np.asarray(x, dtype=float))


def wilson_bounds(events: int, n: int, confidence: float) -> tuple[float, float]:
    """One-sided Wilson score bounds (lower, upper) of ``events / n`` at ``confidence``."""
    if n <= 0:
        return 0.0, 1.0
    p = events / n
    z = _z(confidence)
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True, slots=True)
class Comparison:
    """Candidate against baseline: the p-value of the one-sided test and the effect size."""

    p_value: float
    effect: float  # candidate / baseline: ratio of medians, or of rates
    candidate: float  # candidate's median or rate
    baseline: float  # baseline's median or rate
    test: str


def _ratio(a: float, b: float) -> float:
    if b > 0:
        return a / b
    return 1.0 if a <= 0 else math.inf


def mann_whitney_p(candidate: np.ndarray, baseline: np.ndarray, worse: str) -> float:
    """One-sided p-value of the Mann-Whitney U test (normal approximation, tie and continuity
    corrections), equal to ``scipy.stats.mannwhitneyu(..., method="asymptotic")`` at a
    fraction of its cost (the guard runs it for every evaluation)."""
    n1, n2 = candidate.size, baseline.size
    n = n1 + n2
    values, inverse, counts = np.unique(
        np.concatenate([candidate, baseline]), return_inverse=True, return_counts=True
    )
    starts = np.cumsum(counts) - counts
    ranks = (starts + (counts + 1) / 2.0)[inverse]
    u1 = float(ranks[:n1].sum()) - n1 * (n1 + 1) / 2.0
    ties = float(((counts.astype(float) ** 3) - counts).sum())
    var = n1 * n2 / 12.0 * ((n + 1) - ties / (n * (n - 1)))
    if var <= 0:
        return 1.0
    mu = n1 * n2 / 2.0
    if worse == "greater":
        z = (u1 - mu - 0.5) / math.sqrt(var)
        return float(_ndtr(-z))
    z = (u1 - mu + 0.5) / math.sqrt(var)
    return float(_ndtr(z))


def compare_samples(candidate: Sequence[float], baseline: Sequence[float], worse: str) -> Comparison:
    """Mann-Whitney U, one-sided: is the candidate ``worse`` ("greater" or "less")?

    The effect is the ratio of medians (candidate / baseline).
    """
    c = np.asarray(candidate, dtype=float)
    b = np.asarray(baseline, dtype=float)
    if c.size == 0 or b.size == 0:
        return Comparison(1.0, 1.0, math.nan, math.nan, "mann_whitney")
    mc, mb = float(np.median(c)), float(np.median(b))
    return Comparison(mann_whitney_p(c, b, worse), _ratio(mc, mb), mc, mb, "mann_whitney")


def compare_proportions(
    c_events: int, c_n: int, b_events: int, b_n: int, worse: str
) -> Comparison:
    """Fisher's exact test, one-sided: is the candidate's rate ``worse`` ("greater"/"less")?

    The effect is the ratio of rates (candidate / baseline); 1.0 when both are 0.
    """
    rc = c_events / c_n if c_n else 0.0
    rb = b_events / b_n if b_n else 0.0
    if c_n <= 0 or b_n <= 0:
        return Comparison(1.0, 1.0, rc, rb, "fisher")
    return Comparison(fisher_p(c_events, c_n, b_events, b_n, worse), _ratio(rc, rb), rc, rb, "fisher")


def fisher_p(c_events: int, c_n: int, b_events: int, b_n: int, worse: str) -> float:
    """One-sided p-value of Fisher's exact test on ``[[c_events, c_n - c_events], [b_events,
    b_n - b_events]]``, equal to ``scipy.stats.fisher_exact(..., alternative=worse)``: the
    hypergeometric tail summed in log space (the guard runs it for every evaluation)."""
    total, events = c_n + b_n, c_events + b_events
    lo, hi = max(0, c_n - (total - events)), min(events, c_n)
    k = np.arange(lo, hi + 1, dtype=float)
    log_pmf = (_lchoose(events, k) + _lchoose(total - events, c_n - k) - _lchoose(total, c_n))
    pmf = np.exp(log_pmf)
    tail = pmf[k >= c_events] if worse == "greater" else pmf[k <= c_events]
    return float(min(1.0, tail.sum()))


def _lchoose(n: float, k: np.ndarray | float) -> np.ndarray:
    return _gammaln(n + 1) - _gammaln(np.asarray(k) + 1) - _gammaln(n - np.asarray(k) + 1)


__all__ = [
    "wilson_bounds",
    "Comparison",
    "compare_samples",
    "mann_whitney_p",
    "fisher_p",
    "compare_proportions",
]
