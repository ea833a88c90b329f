"""The steps that make rollbacks compose: a rollback never raises green, a gradual watches green
too and holds when it cannot tell, the standard's step 1 reads the 5-minute window."""

from __future__ import annotations

from ethos.rollout.procedures import PlanOptions, plan_gradual
from ethos.rollout.procedures.actions import monitor, set_traffic, verify_issue
from ethos.rollout.procedures.plans import Step
from ethos.rollout.procedures.runner import execute
from ethos.rollout.sources.signals import FakeSignals, RevisionSignals
from tests.unit.rollout.procedures.test_procedures_runner import Revisions, make_ctx


def sig(blue: int, green: int, green_err: float = 0.0) -> dict[str, RevisionSignals]:
    return {"blue": RevisionSignals(count=blue, error_rate=0.0, p50_ms=40, p95_ms=90, window_s=60),
            "green": RevisionSignals(count=green, error_rate=green_err, p50_ms=40, p95_ms=90, window_s=60)}


def shift(pct: int) -> Step:
    return Step(f"shift_traffic@{pct}", "set_traffic", {"weights": {"blue": 100 - pct, "green": pct}})


def test_a_rollback_step_never_raises_green(tmp_path) -> None:
    ctx = make_ctx(tmp_path, Revisions(), weights={"blue": 70, "green": 30}, procedure="gradual")
    r = set_traffic(ctx, shift(50))
    assert r.status == "skipped" and r.values["not_raised"] and "never raises" in r.message
    assert ctx.traffic.weights == {"blue": 70, "green": 30}
    assert set_traffic(ctx, shift(25)).status == "ok" and ctx.traffic.weights == {"blue": 75, "green": 25}


def test_an_operator_step_may_raise_green(tmp_path) -> None:
    ctx = make_ctx(tmp_path, Revisions(), weights={"blue": 100, "green": 0}, procedure="set_weights")
    assert set_traffic(ctx, shift(50)).status == "ok" and ctx.traffic.weights == {"blue": 50, "green": 50}


def test_a_gradual_from_green_30_skips_the_50_stage_and_its_window(tmp_path) -> None:
    ctx = make_ctx(tmp_path, Revisions(), weights={"blue": 70, "green": 30}, procedure="gradual",
                   signals=FakeSignals(sig(100, 100)))
    ctx.clock = lambda: 0.0
    out = execute(ctx, plan_gradual(PlanOptions(stages=((50, 0.0), (25, 0.0)), probe=False)))
    st = {s.name: s.status for s in out.steps}
    assert out.status == "done" and st["shift_traffic@50"] == "skipped" and st["monitor@50"] == "skipped"
    assert [c[1] for c in ctx.traffic.calls if c[0] == "set"] == [{"blue": 75, "green": 25}, {"blue": 100, "green": 0}]


def _monitor(tmp_path, signals, weights=None):
    ctx = make_ctx(tmp_path, Revisions(), weights=weights or {"blue": 50, "green": 50}, procedure="gradual",
                   signals=FakeSignals(signals))
    t = [0.0]
    ctx.clock = lambda: t[0]
    ctx.sleep = lambda s: t.__setitem__(0, t[0] + s)
    return ctx, monitor(ctx, Step("monitor@50", "monitor", {"green_percent": 50, "seconds": 10}))


def test_green_with_an_emergency_trigger_escalates(tmp_path) -> None:
    _, r = _monitor(tmp_path, sig(100, 100, green_err=0.3))
    assert r.status == "escalate" and "error rate 30.0% > 5% on green" in r.message


def test_too_few_requests_on_blue_is_inconclusive_not_healthy(tmp_path) -> None:
    _, r = _monitor(tmp_path, sig(3, 3))
    assert r.status == "inconclusive" and "3 requests on blue" in r.message and "needs 20" in r.message


def test_a_stage_green_has_already_left_is_not_watched(tmp_path) -> None:
    ctx, r = _monitor(tmp_path, sig(100, 0), weights={"blue": 100, "green": 0})
    assert r.status == "skipped" and "green is at 0% now" in r.message and ctx.signals.reads == 0


def test_the_standard_confirms_on_the_sustained_window(tmp_path) -> None:
    ctx = make_ctx(tmp_path, Revisions(), procedure="standard", signals=FakeSignals(sig(100, 100, 0.0)))
    ctx.sustained_signals = FakeSignals(sig(500, 500, 0.03))  # > 2 % over 5 minutes
    r = verify_issue(ctx, Step("verify_issue", "verify_issue", {}))
    assert r.status == "ok" and "3.0%" in r.message and ctx.signals.reads == 0
