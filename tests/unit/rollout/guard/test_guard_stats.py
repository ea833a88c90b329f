"""The guard's statistics agree with scipy's reference implementations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special as sp
from scipy import stats as st

from ethos.rollout.guard import stats as gstats
from ethos.rollout.guard.stats import (
    compare_proportions,
    compare_samples,
    fisher_p,
    mann_whitney_p,
    wilson_bounds,
)
from ethos.rollout.sources.histograms import histogram_quantile, histogram_samples


@pytest.mark.parametrize("worse", ["greater", "less"])
def test_mann_whitney_matches_scipy_with_ties(worse: str) -> None:
    rng = np.random.default_rng(0)
    for shift in (0.0, 0.1, 0.5):
        a = np.round(rng.lognormal(shift, 1, 200), 1)
        b = np.round(rng.lognormal(0, 1, 150), 1)
        ref = st.mannwhitneyu(a, b, alternative=worse, method="asymptotic").pvalue
        assert mann_whitney_p(a, b, worse) == pytest.approx(ref, rel=1e-9)


@pytest.mark.parametrize("worse", ["greater", "less"])
def test_fisher_matches_scipy(worse: str) -> None:
    rng = np.random.default_rng(1)
    for _ in range(100):
        cn, bn = (int(x) for x in rng.integers(1, 600, 2))
        ce, be = int(rng.integers(0, cn + 1)), int(rng.integers(0, bn + 1))
        ref = st.fisher_exact([[ce, cn - ce], [be, bn - be]], alternative=worse)[1]
        assert fisher_p(ce, cn, be, bn, worse) == pytest.approx(ref, rel=1e-8, abs=1e-300)


def test_normal_quantile_and_tails_match_scipy_without_importing_it() -> None:
    # the guard's own module uses the standard library (the image keeps only scipy.sparse)
    source = open(gstats.__file__, encoding="utf-8").read()
    assert "from scipy" not in source and "import scipy" not in source
    for confidence in (0.5, 0.8, 0.9, 0.95, 0.99, 0.999, 1 - 1e-9):
        assert gstats._z(confidence) == pytest.approx(st.norm.ppf(confidence), rel=1e-12)
    for z in np.linspace(-37, 8, 181):
        assert gstats._ndtr(float(z)) == pytest.approx(sp.ndtr(z), rel=1e-12, abs=1e-300)
    x = np.array([0.5, 1.0, 7.0, 600.5, 1e6])
    assert gstats._gammaln(x) == pytest.approx(sp.gammaln(x), rel=1e-13)


def test_fisher_matches_scipy_on_large_windows() -> None:
    for ce, cn, be, bn in ((140, 9000, 95, 11000), (0, 20000, 3, 20000), (900, 1000, 850, 1000)):
        for worse in ("greater", "less"):
            ref = st.fisher_exact([[ce, cn - ce], [be, bn - be]], alternative=worse)[1]
            assert fisher_p(ce, cn, be, bn, worse) == pytest.approx(ref, rel=1e-7, abs=1e-300)


def test_wilson_bounds() -> None:
    lo, hi = wilson_bounds(10, 100, 0.9)
    assert lo < 0.1 < hi and lo == pytest.approx(0.0678, abs=1e-3)
    assert wilson_bounds(0, 0, 0.9) == (0.0, 1.0)
    assert wilson_bounds(0, 50, 0.9)[0] == pytest.approx(0.0, abs=1e-12)


def test_compare_effects() -> None:
    c = compare_samples([2.0] * 50, [1.0] * 50, "greater")
    assert c.effect == 2.0 and c.p_value < 1e-6
    p = compare_proportions(0, 500, 20, 500, "less")
    assert p.effect == 0.0 and p.p_value < 0.01
    assert compare_proportions(0, 500, 0, 500, "less").effect == 1.0
    assert math.isinf(compare_proportions(5, 500, 0, 500, "greater").effect)


def test_histogram_helpers() -> None:
    buckets = [(0.5, 10.0), (1.0, 60.0), (2.5, 100.0), (math.inf, 100.0)]
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.5 + 0.5 * 40 / 50)
    assert histogram_quantile(0.5, [(1.0, 0.0), (math.inf, 0.0)]) is None
    s = histogram_samples(buckets)
    assert len(s) == 100 and s.count(0.25) == 10 and s.count(0.75) == 50 and s.count(1.75) == 40
    assert len(histogram_samples(buckets, max_samples=10)) == 10
