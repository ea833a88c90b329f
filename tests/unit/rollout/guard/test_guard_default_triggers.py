"""Every trigger of the default (runbook) policy, alone, driven with plain values and a fake
clock: it breaches on the bad side, fires exactly at its sustain (not one second before), is
inconclusive below its minimum samples, and recovers."""

from __future__ import annotations

import numpy as np
import pytest

from ethos.rollout.guard import GuardState, Measurement, Snapshot, evaluate, load_policy, parse_policy
from ethos.rollout.guard.policy import Trigger
from ethos.rollout.sources.measurements import DISTRIBUTIONS, PROPORTIONS

DEFAULT = load_policy()
N = 2000  # plenty of samples: the statistics are not what these tests are about


def _rate(t: Trigger, bad: bool) -> float:
    thr = t.threshold
    if t.worse == "greater":
        return min(1.0, thr + 0.3) if bad else max(0.0, thr - 0.3) if thr >= 0.3 else 0.0
    return max(0.0, thr - 0.3) if bad else min(1.0, thr + 0.3)


def _value(t: Trigger, bad: bool) -> float:
    thr = t.threshold
    if t.worse == "greater":
        return thr * 2 + 1 if bad else (thr / 2 if thr > 0 else 0.0)
    return thr - 1 if bad else thr + 1 if thr > 0 else thr


def _measurements(t: Trigger, bad: bool, samples: int) -> dict:  # type: ignore[type-arg]
    out = {}
    green = DEFAULT.candidate
    blue = DEFAULT.baseline
    rng = np.random.default_rng(0)
    for w in t.windows:
        if t.baseline is not None and t.signal in DISTRIBUTIONS:
            base = rng.lognormal(np.log(0.5), 0.3, samples)
            factor = t.threshold * 2 if bad else 1.0
            cand = rng.lognormal(np.log(0.5 * factor), 0.3, samples)
            out[(green, t.signal, w)] = Measurement(float(np.median(cand)), samples, distribution=cand)
            out[(blue, t.signal, w)] = Measurement(float(np.median(base)), samples, distribution=base)
        elif t.baseline is not None:  # rates against blue
            if t.worse == "less":  # green detects/hits none while blue does
                g, b = (0.0, 0.3) if bad else (0.3, 0.3)
            else:
                g, b = (0.3, 0.02) if bad else (0.02, 0.02)
            out[(green, t.signal, w)] = Measurement(g, samples, round(g * samples))
            out[(blue, t.signal, w)] = Measurement(b, samples, round(b * samples))
        elif t.signal in PROPORTIONS:
            r = _rate(t, bad)
            out[(green, t.signal, w)] = Measurement(r, samples, round(r * samples))
            if t.unless_baseline_too:  # blue healthy
                out[(blue, t.signal, w)] = Measurement(0.9, samples, round(0.9 * samples))
        else:
            out[(green, t.signal, w)] = Measurement(_value(t, bad), samples)
    return out


@pytest.mark.parametrize("t", DEFAULT.triggers, ids=lambda t: t.name)
def test_trigger_fires_at_its_sustain_and_recovers(t: Trigger) -> None:
    policy = parse_policy({"triggers": [t.to_dict()], "cooldown": "10m", "clear_after": "2m"})
    samples = max(N, t.min_samples) if t.min_samples > 1 else 1
    bad = Snapshot(0, _measurements(t, True, samples))
    good = Snapshot(0, _measurements(t, False, samples))
    t0 = 1000.0
    ev = evaluate(policy, bad, GuardState(), t0)
    r = ev.result(t.name)
    if t.sustain_s > 0:
        assert r.status == "watching" and r.time_left_s == pytest.approx(t.sustain_s), r.reason
        before = evaluate(policy, bad, ev.state, t0 + t.sustain_s - 1)
        assert before.result(t.name).status == "watching"
        assert not before.decision.acts and before.decision.action == "watch"
        ev = evaluate(policy, bad, before.state, t0 + t.sustain_s)
    r = ev.result(t.name)
    assert r.status == "firing", r.reason
    assert ev.decision.trigger == t.name and ev.decision.action == t.action
    assert ev.decision.acts == (t.action in ("emergency", "standard"))
    # recovery: the condition clears
    after = evaluate(policy, good, ev.state, t0 + t.sustain_s + 5)
    assert after.result(t.name).status == "ok", after.result(t.name).reason


@pytest.mark.parametrize("t", [t for t in DEFAULT.triggers if t.min_samples > 1], ids=lambda t: t.name)
def test_trigger_is_inconclusive_below_its_minimum(t: Trigger) -> None:
    policy = parse_policy({"triggers": [t.to_dict()]})
    bad = Snapshot(0, _measurements(t, True, t.min_samples - 1))
    ev = evaluate(policy, bad, GuardState(), 0.0)
    assert ev.result(t.name).status == "inconclusive"
    assert ev.decision.action == "none"


@pytest.mark.parametrize("t", DEFAULT.triggers, ids=lambda t: t.name)
def test_trigger_without_data_holds(t: Trigger) -> None:
    policy = parse_policy({"triggers": [t.to_dict()]})
    ev = evaluate(policy, Snapshot(0, {}, unavailable={"router": "refused"}), GuardState(), 0.0)
    assert ev.result(t.name).status == "no-data"
    assert not ev.decision.acts and ev.decision.action == "notify"
