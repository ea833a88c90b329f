"""The sequential test of rate triggers (issue 20): its statistic, its false-alarm bound checked
by simulation over many healthy streams (fixed seeds), its power on a clear fault, how the
guard decides and explains with it, and the loop's fast looks while evidence builds."""

from __future__ import annotations

import math
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy import stats as st

from ethos.rollout.guard import GuardState, Measurement, PolicyError, Snapshot, evaluate, load_policy, parse_policy, proportion
from ethos.rollout.guard import stats as gstats
from ethos.rollout.guard.actuator import Alerter, FakeActuator
from ethos.rollout.guard.loop import Guard
from ethos.rollout.guard.simulate import simulate, synthetic
from ethos.rollout.guard.stats import DAY_S, binomial_log_tail, rate_evidence, wilson_bounds
from ethos.rollout.notify import FakeNotifier
from ethos.rollout.sources import FakeSource

NORMAL = 0.005  # the default policy's normal error rate
THRESHOLD = 0.05  # error_rate_critical
WINDOWS = (10, 30, 60)
ALPHA = 0.01  # false alarms a day at the normal rate


def _critical_counts(null: float, n_max: int, *, alpha_per_day: float, look_s: float, windows: int) -> np.ndarray:
    """For each n, the smallest error count the sequential test finds significant (n + 1: none)."""
    out = np.full(n_max + 1, n_max + 1, dtype=np.int64)
    for n in range(1, n_max + 1):
        lo, hi = 0, n + 1  # significant(e) is monotone in e: binary search
        while lo < hi:
            mid = (lo + hi) // 2
            ev = rate_evidence(mid, n, 0.999, null, "greater", alpha_per_day=alpha_per_day, look_s=look_s,
                               windows=windows)
            if ev is not None and ev.significant:
                hi = mid
            else:
                lo = mid + 1
        out[n] = lo
    return out


# --------------------------------------------------------------------------- the statistic


@pytest.mark.parametrize("worse", ["greater", "less"])
def test_binomial_tail_matches_scipy(worse: str) -> None:
    rng = np.random.default_rng(20)
    for _ in range(500):
        n = int(rng.integers(1, 3000))
        p = float(rng.uniform(1e-4, 0.99))
        e = int(rng.integers(0, n + 1))
        ref = st.binom.logsf(e - 1, n, p) if worse == "greater" else st.binom.logcdf(e, n, p)
        if ref > -100:  # further out scipy's own tails lose digits (the exact sums below do not)
            assert binomial_log_tail(e, n, p, worse) == pytest.approx(ref, rel=1e-9, abs=1e-9)
    assert binomial_log_tail(0, 100, 0.01, "greater") == 0.0
    assert binomial_log_tail(100, 100, 0.01, "less") == 0.0
    # far tails against exact rational sums: 40 errors in 100 at 0.5%; 17 in 1,689 at 35%
    for e, n, p, w in ((40, 100, Fraction(1, 200), "greater"), (17, 1689, Fraction(35, 100), "less")):
        ks = range(e, n + 1) if w == "greater" else range(0, e + 1)
        exact = sum(math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in ks)
        assert binomial_log_tail(e, n, float(p), w) == pytest.approx(math.log(exact), rel=1e-12)


def test_the_guard_statistics_still_use_no_scipy() -> None:
    source = Path(gstats.__file__).read_text(encoding="utf-8")
    assert "from scipy" not in source and "import scipy" not in source


def test_level_is_the_daily_budget_shared_over_looks_and_windows() -> None:
    ev = rate_evidence(12, 101, THRESHOLD, NORMAL, "greater", alpha_per_day=ALPHA, look_s=1.0, windows=3)
    assert ev is not None and ev.significant
    assert math.exp(ev.log_level) == pytest.approx(ALPHA / (DAY_S * 3))
    assert ev.false_alarms_per_day == pytest.approx(math.exp(ev.log_p) * DAY_S * 3)
    assert ev.strength == pytest.approx(-math.log10(st.binom.sf(11, 101, NORMAL)), rel=1e-9)
    # a null on the bad side of the threshold: nothing to test
    assert rate_evidence(12, 101, THRESHOLD, 0.06, "greater", alpha_per_day=ALPHA, look_s=1.0, windows=3) is None
    # "less" (a hit rate below 50%, normal 70%): 20 hits in 100 is no chance
    low = rate_evidence(20, 100, 0.5, 0.7, "less", alpha_per_day=ALPHA, look_s=1.0, windows=1)
    assert low is not None and low.significant


# --------------------------------------------------------------------------- type-I error


@pytest.mark.parametrize("null", [0.005, 0.02])
def test_per_look_false_alarms_are_at_most_the_level(null: float) -> None:
    """Healthy windows at exactly the normal rate (the worst case of the null): the share the
    test finds significant is at most its per-look level, at every sample size."""
    rng = np.random.default_rng(7)
    alpha_per_day = 500.0  # an inflated budget, so that false alarms are frequent enough to count
    level = alpha_per_day / (DAY_S * 3)
    for n in (20, 50, 100, 300, 600):
        crit = _critical_counts(null, n, alpha_per_day=alpha_per_day, look_s=1.0, windows=3)[n]
        errors = rng.binomial(n, null, 200_000)
        share = float((errors >= crit).mean())
        exact = float(st.binom.sf(crit - 1, n, null))
        assert exact <= level, (n, exact, level)
        assert share <= level + 4 * math.sqrt(level / 200_000), (n, share, level)


def test_continuous_monitoring_of_healthy_streams_stays_within_the_daily_bound() -> None:
    """400 healthy green revisions watched for an hour each at 10 requests/s, a look every second
    on 10, 30 and 60 s windows (the guard's fastest cadence): the false alarms counted stay
    within the union bound's budget (checked with an inflated budget, where they happen at
    all), and with the default budget there are none."""
    rng = np.random.default_rng(2026)
    streams, seconds, rps = 400, 3600, 10.0
    for rate in (NORMAL, 0.003):  # at the null's edge, and a healthy 0.3%
        req = rng.poisson(rps, (streams, seconds))
        err = rng.binomial(req, rate)
        n_cum = np.concatenate([np.zeros((streams, 1), np.int64), np.cumsum(req, axis=1)], axis=1)
        e_cum = np.concatenate([np.zeros((streams, 1), np.int64), np.cumsum(err, axis=1)], axis=1)
        n_max = int(max(n_cum[:, w:] .max() for w in (60,)))
        for alpha_per_day, expect_some in ((500.0, rate == NORMAL), (ALPHA, False)):
            crit = _critical_counts(NORMAL, min(n_max, 1500), alpha_per_day=alpha_per_day, look_s=1.0, windows=3)
            alarms = np.zeros((streams, seconds - 60 + 1), dtype=bool)
            tests = 0
            for w in WINDOWS:
                n = n_cum[:, 60:] - n_cum[:, 60 - w: n_cum.shape[1] - w]
                e = e_cum[:, 60:] - e_cum[:, 60 - w: e_cum.shape[1] - w]
                hit = e >= crit[np.minimum(n, len(crit) - 1)]
                tests += hit.size
                alarms |= hit
            days = streams * alarms.shape[1] / DAY_S
            per_day = float(alarms.sum()) / days
            assert per_day <= alpha_per_day, (rate, alpha_per_day, per_day)
            # each (look, window) at most the per-look level: the bound is a sum of these
            assert float(alarms.sum()) / tests <= alpha_per_day / (DAY_S * 3)
            if expect_some:
                assert alarms.sum() > 0  # the check is not vacuous
            if alpha_per_day == ALPHA:
                assert alarms.sum() == 0


# --------------------------------------------------------------------------- power


def test_a_clear_fault_is_decided_within_a_few_looks() -> None:
    """10% errors on green against 0.3% (blue, and green before), 10 requests/s: looking every
    second on the windows since the onset, the sequential test decides within 13 looks in 90%
    of 2,000 streams and within 20 in all but 1%; a 90% Wilson bound on the same windows,
    looked at every 5 s (the guard before), needs longer."""
    rng = np.random.default_rng(10)
    streams, seconds = 2000, 60
    req = rng.poisson(10.0, (streams, seconds))
    err = rng.binomial(req, 0.10)
    n_cum, e_cum = np.cumsum(req, axis=1), np.cumsum(err, axis=1)
    seq_at, wilson_at = [], []
    for s in range(streams):
        seq = wil = None
        for t in range(1, seconds + 1):
            for w in WINDOWS:
                lo_i = t - w - 1
                n = int(n_cum[s, t - 1] - (n_cum[s, lo_i] if lo_i >= 0 else 0))
                e = int(e_cum[s, t - 1] - (e_cum[s, lo_i] if lo_i >= 0 else 0))
                if n < 50:  # the trigger's min_samples
                    continue
                if seq is None and e / n > THRESHOLD and wilson_bounds(e, n, 0.75)[0] > THRESHOLD:
                    ev = rate_evidence(e, n, THRESHOLD, NORMAL, "greater", alpha_per_day=ALPHA, look_s=1.0, windows=3)
                    if ev is not None and ev.significant:
                        seq = t
                if wil is None and t % 5 == 0 and wilson_bounds(e, n, 0.9)[0] > THRESHOLD:
                    wil = t
            if seq is not None and wil is not None:
                break
        seq_at.append(seq or 10**6)
        wilson_at.append(wil or 10**6)
    seq_a, wil_a = np.array(seq_at), np.array(wilson_at)
    # measured: median 8, p90 13, p99 19 looks; the Wilson bound every 5 s: 10, 15, 30 s
    assert np.percentile(seq_a, 90) <= 13, np.percentile(seq_a, 90)
    assert (seq_a > 20).mean() < 0.01
    assert np.percentile(seq_a, 90) < np.percentile(wil_a, 90)
    assert np.median(seq_a) < np.median(wil_a)
    assert (seq_a > 20).mean() < (wil_a > 20).mean() / 2


def test_the_guard_decides_a_clear_fault_sooner_and_never_later_than_on_windows_alone() -> None:
    """The guard itself (evaluate + the fast looks, as the loop runs them) on 60 onsets of 10%
    errors at 10 requests/s, green taking its traffic at the onset (as bench/guard_e2e.py):
    the default policy is never later than the same policy on its windows alone, and its p90
    onset -> decision is under 15 s."""
    policy = load_policy()
    old = policy.without_sequential()
    assert all(t.sequential is None for t in old.triggers) and old.look_s == old.interval_s
    rng = np.random.default_rng(44)
    new_t, old_t = [], []
    for i, phase in enumerate(rng.uniform(0.0, 5.0, 60)):
        onset = 1000.0 + float(phase)
        end = onset + 90.0
        times = []
        for pol in (policy, old):
            r = np.random.default_rng(900 + i)
            tr = {"blue": synthetic(r, 0, end, 10.0),
                  "green": synthetic(r, onset, end, 10.0, error_rate=0.1)}
            res = simulate(pol, tr, onset - 30.0, end, stop_on_action=True)
            assert res.actions and res.actions[0][1:] == ("emergency", "error_rate_critical")
            times.append(res.actions[0][0] - onset)
        assert times[0] <= times[1] + 1e-9, (i, times)
        new_t.append(times[0])
        old_t.append(times[1])
    assert sorted(new_t)[53] <= 15.0  # the 54th of 60: p90
    assert sum(new_t) < sum(old_t)


@pytest.mark.parametrize("rate", [0.003, NORMAL])
def test_a_healthy_green_at_ten_requests_a_second_is_never_rolled_back(rate: float) -> None:
    """Half an hour at 10 requests/s each (18,000 of green's requests), green at 0.3% and at the
    normal 0.5% itself: the default policy, fast looks included, takes no action."""
    policy = load_policy()
    rng = np.random.default_rng(31)
    end = 900.0 + 1800.0
    tr = {"blue": synthetic(rng, 0, end, 10.0), "green": synthetic(rng, 0, end, 10.0, error_rate=rate)}
    res = simulate(policy, tr, 900.0, end)
    assert res.rollbacks == 0 and res.alerts == [], res.actions
    assert res.evaluations == 1800 // 5 + 1  # no evidence built: no fast look either


# --------------------------------------------------------------------------- the guard's decisions


ERR5 = {"name": "err5", "signal": "error_rate", "comparator": ">", "threshold": 0.05, "windows": [60],
        "min_samples": 50, "confidence": 0.9, "action": "emergency", "severity": "critical",
        "sequential": {"normal": 0.005, "alpha": 0.01}}


def _snap(green: tuple[int, int], blue: tuple[int, int] | None = None) -> Snapshot:
    m = {("green", "error_rate", 60.0): proportion(*green, window_s=60.0)}
    if blue is not None:
        m[("blue", "error_rate", 60.0)] = proportion(*blue, window_s=60.0)
    return Snapshot(0, m)


def test_strong_evidence_decides_where_the_wilson_bound_does_not_yet() -> None:
    p = parse_policy({"triggers": [ERR5]})
    # 10 errors in 150 (6.7%): 90%-sure only of 4.5%, but 10 errors are no chance at 0.5%
    assert wilson_bounds(10, 150, 0.9)[0] < 0.05
    ev = evaluate(p, _snap((10, 150), (0, 150)), GuardState(), 0.0)
    r = ev.result("err5")
    assert r.status == "firing" and ev.decision.action == "emergency"
    assert "error rate 6.67% > 5% on green" in r.reason and "sequential: p " in r.reason
    assert "false alarms/day <= 0.01" in r.reason
    assert r.evidence is not None and r.evidence_needed is not None and r.evidence >= r.evidence_needed
    assert r.to_dict()["evidence"] == r.evidence  # recorded in the history
    # the same window on the windows alone: not yet
    old = evaluate(p.without_sequential(), _snap((10, 150), (0, 150)), GuardState(), 0.0).result("err5")
    assert old.status == "ok" and old.evidence is None and "sequential" not in old.reason


def test_a_significant_count_needs_the_effect_too() -> None:
    """16 errors in 300 (5.3%): certainly not 0.5%, but not 75%-sure above 5%: no breach."""
    p = parse_policy({"triggers": [ERR5]})
    r = evaluate(p, _snap((16, 300)), GuardState(), 0.0).result("err5")
    assert r.status == "ok"
    assert "but the rate is not 75%-sure past 5%" in r.reason
    # below the threshold: no sequential test at all
    r = evaluate(p, _snap((12, 300)), GuardState(), 0.0).result("err5")
    assert r.status == "ok" and r.evidence is None and "sequential" not in r.reason


def test_blue_failing_as_much_raises_the_null_the_traffic_not_the_release() -> None:
    p = parse_policy({"triggers": [ERR5]})
    # blue surely past 5% on the same window: no sequential test; the Wilson bound alone decides
    r = evaluate(p, _snap((10, 150), (20, 150)), GuardState(), 0.0).result("err5")
    assert r.status == "ok" and "no sequential test: blue is 99%-sure at" in r.reason
    # blue at 6% (99%-sure of 2.8%): the null is blue's bound, and 10 in 150 no longer decides
    r = evaluate(p, _snap((10, 150), (9, 150)), GuardState(), 0.0).result("err5")
    assert r.status == "ok" and "at blue's rate (99%-sure at least 2.84%)" in r.reason
    weak = evaluate(p, _snap((10, 150), (6, 300)), GuardState(), 0.0).result("err5")
    strong = evaluate(p, _snap((10, 150), (0, 300)), GuardState(), 0.0).result("err5")
    assert weak.evidence is not None and strong.evidence is not None and weak.evidence < strong.evidence
    assert strong.status == "firing" and "at a normal 0.5%" in strong.reason


def test_evaluation_is_building_between_half_the_evidence_and_the_decision() -> None:
    p = parse_policy({"triggers": [ERR5]})
    assert not evaluate(p, _snap((0, 60)), GuardState(), 0.0).building
    mid = evaluate(p, _snap((5, 60)), GuardState(), 0.0)  # 8.3%: not 90%-sure of 5%, p 1.5e-5
    r = mid.result("err5")
    assert r.status == "ok" and r.evidence is not None and r.evidence_needed is not None
    assert r.evidence_needed / 2 <= r.evidence < r.evidence_needed
    assert mid.building
    fired = evaluate(p, _snap((12, 100)), GuardState(), 0.0)
    assert fired.result("err5").status == "firing" and not fired.building


def test_policy_sequential_round_trips_and_bad_ones_name_the_field(tmp_path: Path) -> None:
    p = load_policy()
    t = {x.name: x for x in p.triggers}["error_rate_critical"]
    assert t.sequential is not None and (t.sequential.normal, t.sequential.alpha) == (0.005, 0.01)
    assert p.fast_interval_s == 1.0 and p.look_s == 1.0
    f = tmp_path / "p.yaml"
    f.write_text(yaml.safe_dump(p.to_dict()))
    q = load_policy(f)
    assert q.triggers == p.triggers and q.fast_interval_s == p.fast_interval_s
    assert replace(p, fast_interval_s=0.0).look_s == p.interval_s
    for change, words in [
        ({"sequential": {"normal": 0.06}}, "normal must be within 0..1 and below the threshold"),
        ({"sequential": {"alpha": 0}}, "sequential.alpha"),
        ({"sequential": {"confidence": 0.3}}, "sequential.confidence"),
        ({"sequential": {"nromal": 0.01}}, "unknown field(s) nromal"),
        ({"sequential": [0.01]}, "sequential must be a mapping"),
        ({"signal": "latency_p95", "confidence": None, "threshold": 30}, "sequential applies to rates only"),
        ({"comparator": "!="}, "one-sided comparator"),
        ({"baseline": {"test": "fisher"}}, "not to comparisons with a baseline"),
    ]:
        with pytest.raises(PolicyError) as info:
            parse_policy({"triggers": [{**ERR5, **change}]})
        assert words in str(info.value) and "trigger err5" in str(info.value)


# --------------------------------------------------------------------------- the loop


def test_the_loop_looks_every_second_while_evidence_builds_and_keeps_its_ticks() -> None:
    policy = parse_policy({"interval": "5s", "fast_interval": "1s", "triggers": [ERR5]})
    clock = [1_800_000_000.0]
    errors = [5]  # 5 in 60: building, not deciding

    def fn(needs, revisions, now):  # type: ignore[no-untyped-def]
        return {("green", "error_rate", 60.0): proportion(errors[0], 60, window_s=60.0),
                ("blue", "error_rate", 60.0): Measurement(0.0, 60, 0, window_s=60.0)}

    looks: list[float] = []

    def sleep(s: float) -> None:
        clock[0] += s

    g = Guard(policy, [FakeSource(fn, "router")], FakeActuator(), Alerter([FakeNotifier()]), clock=lambda: clock[0])
    start = clock[0]
    g.run(max_steps=7, sleep=sleep, on_step=lambda r: looks.append(r.evaluation.at - start))
    assert looks == pytest.approx([0, 1, 2, 3, 4, 5, 6])
    errors[0] = 0  # healthy: back to the interval, on the same ticks
    looks.clear()
    start = clock[0]
    g.run(max_steps=3, sleep=sleep, on_step=lambda r: looks.append(r.evaluation.at - start))
    assert looks == pytest.approx([0, 5, 10])
