"""The statistics behind honest decisions: confidence bounds, rank tests, effect sizes. Pure.

- :func:`wilson_bounds`: a proportion's confidence interval, so 3 errors in 60 requests is
  not read as "5% for sure";
- :func:`compare_samples`: green against blue on the same window, Mann-Whitney U (one-sided)
  for "is green slower", and the ratio of medians for "by how much";
- :func:`compare_proportions`: Fisher's exact test (one-sided) and the ratio of rates;
- :func:`rate_evidence`: the sequential test of a rate trigger: the exact binomial tail of a
  window's count against the normal rate, at a per-look level that keeps the expected false
  alarms a day under a budget however often the guard looks (an always-valid p-value).

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


# --------------------------------------------------------------------------- sequential test

#: Seconds in the day over which :func:`rate_evidence` spreads its false-alarm budget.
DAY_S = 86400.0


def binomial_log_tail(events: int, n: int, p: float, worse: str) -> float:
    """Natural log of P(X >= events) ("greater") or P(X <= events) ("less") for X ~ Bin(n, p),
    summed exactly in log space (the pmf from its first term by the ratio of successive terms:
    O(n), three lgamma calls), equal to ``scipy.stats.binom.logsf(events - 1, n, p)`` /
    ``logcdf`` (and more accurate than they are far into the tail)."""
    if n <= 0:
        return 0.0
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be within 0..1 (exclusive), got {p}")
    if worse == "greater" and events <= 0 or worse == "less" and events >= n:
        return 0.0
    events = min(max(events, 0), n)
    log_odds = math.log(p) - math.log1p(-p)
    first = (math.lgamma(n + 1) - math.lgamma(events + 1) - math.lgamma(n - events + 1)
             + events * math.log(p) + (n - events) * math.log1p(-p))
    if worse == "greater":
        k = np.arange(events, n, dtype=float)  # pmf(k + 1) / pmf(k) = (n - k) / (k + 1) * odds
        steps = np.log(n - k) - np.log(k + 1) + log_odds
    else:
        k = np.arange(events, 0, -1, dtype=float)  # pmf(k - 1) / pmf(k) = k / (n - k + 1) / odds
        steps = np.log(k) - np.log(n - k + 1) - log_odds
    logs = first + np.concatenate(([0.0], np.cumsum(steps)))
    top = float(logs.max())
    return min(0.0, top + math.log(float(np.exp(logs - top).sum())))


@dataclass(frozen=True, slots=True)
class Evidence:
    """The sequential test of a rate trigger on one window at one look.

    ``log_p`` is the natural log of the exact one-sided p-value of the window's count against
    the normal rate (the chance that a revision at the normal rate shows this many events or
    more); it is significant when at most ``log_level``, the per-look share of the false-alarm
    budget: ``alpha`` false alarms a day split over every look the guard can make in a day (one
    per ``look_s`` at most) and every window it reads. A union bound: the guarantee holds at
    any cadence down to ``look_s`` and whatever the window holds, with nothing to accumulate
    first and no horizon to wait for.
    """

    log_p: float
    log_level: float
    null: float  # the rate of the null hypothesis ("normal", or the baseline's when higher)
    events: int
    n: int
    tests_per_day: float  # looks a day x windows: the union bound's count

    @property
    def significant(self) -> bool:
        """True when the p-value is at most the per-look level."""
        return self.log_p <= self.log_level

    @property
    def strength(self) -> float:
        """-log10 of the per-look p-value (9.5: p = 3e-10)."""
        return -self.log_p / math.log(10.0)

    @property
    def needed(self) -> float:
        """-log10 of the per-look level the p-value must reach."""
        return -self.log_level / math.log(10.0)

    @property
    def false_alarms_per_day(self) -> float:
        """Expected false alarms a day of a test that fired on evidence this strong, at the
        normal rate: the always-valid p-value (compared with ``alpha``)."""
        return math.exp(self.log_p) * self.tests_per_day


def rate_evidence(
    events: int, n: int, threshold: float, null: float, worse: str, *, alpha_per_day: float,
    look_s: float, windows: int,
) -> Evidence | None:
    """The sequential test of a rate trigger on ``events`` in ``n``: against a revision at the
    ``null`` rate, with ``alpha_per_day`` false alarms a day at most when the guard looks every
    ``look_s`` over ``windows`` windows. None when ``null`` is not on the good side of the
    ``threshold`` (nothing to test)."""
    good = null < threshold if worse == "greater" else null > threshold
    if not good or not 0.0 < null < 1.0 or n <= 0:
        return None
    tests = DAY_S / look_s * max(1, windows)
    log_p = binomial_log_tail(events, n, null, worse)
    return Evidence(log_p, math.log(alpha_per_day / tests), null, events, n, tests)


__all__ = [
    "DAY_S",
    "Evidence",
    "binomial_log_tail",
    "rate_evidence",
    "wilson_bounds",
    "Comparison",
    "compare_samples",
    "mann_whitney_p",
    "fisher_p",
    "compare_proportions",
]
