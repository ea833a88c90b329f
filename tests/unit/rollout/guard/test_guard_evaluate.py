"""Policy evaluation with plain values and a fake clock: every status, edges and recoveries."""

from __future__ import annotations

import numpy as np
import pytest

from ethos.rollout.guard import GuardState, Measurement, Snapshot, evaluate, parse_policy, proportion
from ethos.rollout.guard.evaluate import Evaluation


def _policy(*triggers: dict, **kw) -> object:  # type: ignore[type-arg]
    return parse_policy({"triggers": list(triggers), "cooldown": kw.pop("cooldown", "10m"),
                         "clear_after": kw.pop("clear_after", "2m"), **kw})


ERR5 = {"name": "err5", "signal": "error_rate", "comparator": ">", "threshold": 0.05,
        "windows": [60], "min_samples": 50, "action": "emergency", "severity": "critical"}
ERR2 = {"name": "err2", "signal": "error_rate", "comparator": ">", "threshold": 0.02,
        "windows": [60], "min_samples": 100, "sustain": "5m", "action": "standard"}


def _snap(now: float, **sig: Measurement) -> Snapshot:
    return Snapshot(now, {("green", k, 60.0): v for k, v in sig.items()})


def _err(events: int, n: int) -> Measurement:
    return proportion(events, n, window_s=60.0)


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0
        self.state = GuardState()

    def step(self, policy, snap_fn, dt: float = 5.0) -> Evaluation:  # type: ignore[no-untyped-def]
        self.t += dt
        ev = evaluate(policy, snap_fn(self.t), self.state, self.t)
        self.state = ev.state
        return ev


def test_emergency_fires_at_once_and_names_the_trigger() -> None:
    p = _policy(ERR5)
    ev = evaluate(p, _snap(0, error_rate=_err(10, 100)), GuardState(), 0.0)
    r = ev.result("err5")
    assert r.status == "firing" and r.value == pytest.approx(0.1) and r.samples == 100
    assert ev.decision.action == "emergency" and ev.decision.trigger == "err5"
    assert ev.decision.acts
    assert "err5" in ev.decision.reason and "error rate 10% " in ev.decision.reason


@pytest.mark.parametrize(("events", "status"), [(5, "ok"), (6, "firing")])
def test_threshold_edge_is_strict(events: int, status: str) -> None:
    p = _policy(ERR5)
    ev = evaluate(p, _snap(0, error_rate=_err(events, 100)), GuardState(), 0.0)
    assert ev.result("err5").status == status


def test_few_samples_are_inconclusive_never_a_rollback() -> None:
    p = _policy(ERR5)
    ev = evaluate(p, _snap(0, error_rate=_err(1, 3)), GuardState(), 0.0)
    assert ev.result("err5").status == "inconclusive"
    assert "3 samples < 50" in ev.result("err5").reason
    assert ev.decision.action == "none"


def test_missing_signal_is_no_data_alerted_once() -> None:
    p = _policy(ERR5)
    c = Clock()
    actions = [c.step(p, lambda t: Snapshot(t, {}, unavailable={"router": "refused"})).decision for _ in range(10)]
    assert all(not d.acts for d in actions)
    assert [d.action for d in actions].count("notify") == 1
    assert "router" in actions[0].alerts[0] and "no rollback" in actions[0].alerts[0]
    # data comes back, then goes again: a new outage, a new alert
    c.step(p, lambda t: _snap(t, error_rate=_err(0, 100)))
    assert c.step(p, lambda t: Snapshot(t, {})).decision.action == "notify"


def test_sustain_4m59s_is_not_5m() -> None:
    p = _policy(ERR2)
    bad = lambda t: _snap(t, error_rate=_err(10, 100))  # noqa: E731
    s0 = GuardState()
    ev = evaluate(p, bad(0), s0, 0.0)
    assert ev.result("err2").status == "watching" and ev.result("err2").time_left_s == 300
    assert ev.decision.action == "watch"
    ev2 = evaluate(p, bad(299), ev.state, 299.0)
    assert ev2.result("err2").status == "watching"
    assert ev2.result("err2").time_left_s == pytest.approx(1.0)
    assert not ev2.decision.acts
    ev3 = evaluate(p, bad(300), ev2.state, 300.0)
    assert ev3.result("err2").status == "firing"
    assert ev3.decision.action == "standard"


def test_recovery_during_sustain_restarts_the_clock() -> None:
    p = _policy(ERR2)
    s = evaluate(p, _snap(0, error_rate=_err(10, 100)), GuardState(), 0).state
    s = evaluate(p, _snap(200, error_rate=_err(0, 100)), s, 200).state  # recovered
    ev = evaluate(p, _snap(310, error_rate=_err(10, 100)), s, 310)
    assert ev.result("err2").status == "watching"
    assert ev.result("err2").time_left_s == 300


def test_a_gap_in_the_data_restarts_the_sustain_clock() -> None:
    p = _policy(ERR2)
    s = evaluate(p, _snap(0, error_rate=_err(10, 100)), GuardState(), 0).state
    s = evaluate(p, Snapshot(100, {}), s, 100).state
    ev = evaluate(p, _snap(300, error_rate=_err(10, 100)), s, 300)
    assert ev.result("err2").status == "watching"


def test_confidence_bound_keeps_low_traffic_noise_quiet() -> None:
    trig = dict(ERR2, sustain=0, min_samples=50, confidence=0.9)
    p = _policy(trig)
    # 2 errors in 60: 3.3% raw, but the 90% lower bound is under 2%
    ev = evaluate(p, _snap(0, error_rate=_err(2, 60)), GuardState(), 0)
    r = ev.result("err2")
    assert r.status == "ok" and r.value == pytest.approx(2 / 60) and r.bound is not None and r.bound < 0.02
    # 10 errors in 100: the bound is above 2%
    assert evaluate(p, _snap(0, error_rate=_err(10, 100)), GuardState(), 0).result("err2").status == "firing"


def test_shortest_window_with_enough_samples_is_used() -> None:
    trig = dict(ERR5, windows=[10, 60])
    p = _policy(trig)
    snap = Snapshot(0, {
        ("green", "error_rate", 10.0): _err(3, 20),
        ("green", "error_rate", 60.0): _err(9, 100),
    })
    r = evaluate(p, snap, GuardState(), 0).result("err5")
    assert r.window_s == 60.0 and r.samples == 100 and r.status == "firing"
    # the short window looks fine, the long one proves the fault: it fires, showing the long one
    snap2 = Snapshot(0, {
        ("green", "error_rate", 10.0): _err(1, 60),
        ("green", "error_rate", 60.0): _err(30, 300),
    })
    r2 = evaluate(p, snap2, GuardState(), 0).result("err5")
    assert r2.status == "firing" and r2.window_s == 60.0
    snap3 = Snapshot(0, {
        ("green", "error_rate", 10.0): _err(1, 60),
        ("green", "error_rate", 60.0): _err(3, 300),
    })
    r3 = evaluate(p, snap3, GuardState(), 0).result("err5")
    assert r3.status == "ok" and r3.samples == 60  # the shortest usable window is shown


def test_one_incident_one_rollback_and_cooldown() -> None:
    p = _policy(ERR5, cooldown="10m", clear_after="2m")
    c = Clock()
    bad = lambda t: _snap(t, error_rate=_err(20, 100))  # noqa: E731
    acts = [c.step(p, bad).decision for _ in range(30)]
    assert sum(d.acts for d in acts) == 1
    # after the rollback green gets no traffic: inconclusive
    quiet = lambda t: _snap(t, error_rate=_err(0, 0))  # noqa: E731
    for _ in range(200):
        assert not c.step(p, quiet).decision.acts
    assert c.state.incident is None  # closed after the cooldown
    # a new release, bad again: a new incident, a new rollback
    assert c.step(p, bad).decision.acts


def test_flapping_around_the_threshold_fires_once() -> None:
    p = _policy(ERR5, clear_after="2m", cooldown="1m")
    c = Clock()
    acts = 0
    for i in range(100):  # 6% / 5% alternating every 5 s
        ev = c.step(p, lambda t: _snap(t, error_rate=_err(6 if i % 2 == 0 else 4, 100)))
        acts += ev.decision.acts
    assert acts == 1


def test_escalation_goes_through_during_an_open_incident() -> None:
    p = _policy(dict(ERR2, sustain=0), dict(ERR5, name="err5", threshold=0.1, min_samples=50))
    s = evaluate(p, _snap(0, error_rate=_err(5, 100)), GuardState(), 0)
    assert s.decision.action == "standard"
    ev = evaluate(p, _snap(5, error_rate=_err(5, 100)), s.state, 5)
    assert not ev.decision.acts and ev.decision.action == "watch"
    ev2 = evaluate(p, _snap(10, error_rate=_err(20, 100)), ev.state, 10)
    assert ev2.decision.action == "emergency" and ev2.decision.acts


def test_weaker_action_is_held_during_incident() -> None:
    p = _policy(dict(ERR5, name="e", threshold=0.1), dict(ERR2, name="s", sustain=0, min_samples=50))
    ev = evaluate(p, _snap(0, error_rate=_err(20, 100)), GuardState(), 0)
    assert ev.decision.action == "emergency"
    ev2 = evaluate(p, _snap(5, error_rate=_err(20, 100)), ev.state, 5)
    assert not ev2.decision.acts and ev2.decision.held is None or "one incident" in (ev2.decision.held or "")


def test_gradual_needs_approval_and_alerts_with_the_command() -> None:
    trig = dict(ERR2, name="g", action="gradual", sustain=0)
    p = _policy(trig)
    ev = evaluate(p, _snap(0, error_rate=_err(10, 100)), GuardState(), 0)
    assert ev.decision.action == "gradual" and ev.decision.needs_approval and not ev.decision.acts
    assert any("ethos rollback gradual" in a for a in ev.decision.alerts)
    ev2 = evaluate(p, _snap(5, error_rate=_err(10, 100)), ev.state, 5)
    assert ev2.decision.action == "watch"  # recommended once, not every 5 s


def test_notify_only_trigger_alerts_once_per_breach() -> None:
    trig = dict(ERR2, name="n", action="notify", sustain=0)
    p = _policy(trig, clear_after="1m")
    c = Clock()
    d = [c.step(p, lambda t: _snap(t, error_rate=_err(10, 100))).decision for _ in range(20)]
    assert [x.action for x in d].count("notify") == 1
    assert not any(x.acts for x in d)


def test_gauge_any_revision() -> None:
    p = _policy({"name": "pii", "signal": "pii_leaks", "revision": "any", "comparator": ">",
                 "threshold": 0, "windows": [0], "action": "emergency"})
    snap = Snapshot(0, {("blue", "pii_leaks", 0.0): Measurement(3, 1), ("green", "pii_leaks", 0.0): Measurement(0, 1)})
    ev = evaluate(p, snap, GuardState(), 0)
    assert ev.decision.action == "emergency" and ev.result("pii").revision == "blue"


# ------------------------------------------------------------------ baseline comparisons

TTFT = {"name": "ttft", "signal": "ttft", "comparator": ">", "threshold": 1.5,
        "baseline": {"test": "mann_whitney", "alpha": 0.01}, "windows": [300],
        "min_samples": 30, "action": "standard"}


def _dist(rev: str, values: np.ndarray) -> tuple:  # type: ignore[type-arg]
    return (rev, "ttft", 300.0), Measurement(float(np.median(values)), len(values), distribution=tuple(values.tolist()))


def test_baseline_noise_does_not_trigger_and_2x_does() -> None:
    rng = np.random.default_rng(3)
    p = _policy(TTFT)
    blue = rng.lognormal(np.log(0.4), 0.8, 300)
    same = rng.lognormal(np.log(0.4), 0.8, 300)
    slow = rng.lognormal(np.log(0.8), 0.8, 300)
    ok = evaluate(p, Snapshot(0, dict([_dist("blue", blue), _dist("green", same)])), GuardState(), 0)
    assert ok.result("ttft").status == "ok"
    bad = evaluate(p, Snapshot(0, dict([_dist("blue", blue), _dist("green", slow)])), GuardState(), 0)
    r = bad.result("ttft")
    assert r.status == "firing" and r.value is not None and r.value > 1.5 and r.p_value is not None and r.p_value < 0.01


def test_significant_but_small_effect_does_not_trigger() -> None:
    rng = np.random.default_rng(4)
    p = _policy(dict(TTFT, min_samples=1000))
    blue = rng.lognormal(np.log(0.4), 0.3, 20000)
    green = rng.lognormal(np.log(0.44), 0.3, 20000)  # 10% slower: significant, too small
    r = evaluate(p, Snapshot(0, {("blue", "ttft", 300.0): Measurement(0.4, 20000, distribution=tuple(blue)),
                                 ("green", "ttft", 300.0): Measurement(0.44, 20000, distribution=tuple(green))}),
                 GuardState(), 0).result("ttft")
    assert r.p_value is not None and r.p_value < 0.01 and r.status == "ok"


def test_baseline_with_few_samples_is_inconclusive() -> None:
    p = _policy(TTFT)
    snap = Snapshot(0, {("blue", "ttft", 300.0): Measurement(0.4, 10, distribution=(0.4,) * 10),
                        ("green", "ttft", 300.0): Measurement(4.0, 100, distribution=(4.0,) * 100)})
    assert evaluate(p, snap, GuardState(), 0).result("ttft").status == "inconclusive"


def test_pii_detection_zero_against_blue() -> None:
    trig = {"name": "pii0", "signal": "pii_detection_rate", "comparator": "<=", "threshold": 0,
            "baseline": {"test": "fisher", "alpha": 0.01}, "windows": [300], "min_samples": 200,
            "action": "standard"}
    p = _policy(trig)

    def snap(g: int, b: int) -> Snapshot:
        return Snapshot(0, {("green", "pii_detection_rate", 300.0): proportion(g, 500),
                            ("blue", "pii_detection_rate", 300.0): proportion(b, 500)})

    assert evaluate(p, snap(0, 20), GuardState(), 0).result("pii0").status == "firing"
    assert evaluate(p, snap(0, 1), GuardState(), 0).result("pii0").status == "ok"  # could be chance
    assert evaluate(p, snap(0, 0), GuardState(), 0).result("pii0").status == "ok"  # no PII in traffic
    assert evaluate(p, snap(15, 20), GuardState(), 0).result("pii0").status == "ok"


def test_unless_baseline_too() -> None:
    trig = {"name": "hit", "signal": "cache_hit_rate", "comparator": "<", "threshold": 0.5,
            "unless_baseline_too": True, "windows": [300], "min_samples": 100, "action": "standard"}
    p = _policy(trig)

    def snap(g: int, b: int) -> Snapshot:
        return Snapshot(0, {("green", "cache_hit_rate", 300.0): proportion(g, 200),
                            ("blue", "cache_hit_rate", 300.0): proportion(b, 200)})

    assert evaluate(p, snap(40, 150), GuardState(), 0).result("hit").status == "firing"
    r = evaluate(p, snap(40, 50), GuardState(), 0).result("hit")
    assert r.status == "ok" and "the traffic, not the release" in r.reason
