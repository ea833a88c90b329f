"""A dry run of the guard changes nothing that any other command reads (issue 13, item 3).

It reads the saved state but never writes it, nor the history; it sends no alert (it echoes
``would alert: ...``), resumes no half-done rollback and runs none. A real guard started
afterwards on the same state dir acts as if the dry run had never happened.
"""

from __future__ import annotations

from pathlib import Path

from ethos.rollout.guard import Measurement, parse_policy, proportion
from ethos.rollout.guard.actuator import ActionOutcome, Alerter, FakeActuator, ProcedureActuator
from ethos.rollout.guard.evaluate import Decision, Evaluation
from ethos.rollout.guard.history import GuardHistory
from ethos.rollout.guard.loop import Guard
from ethos.rollout.notify import FakeNotifier
from ethos.rollout.sources import FakeSource

POLICY = parse_policy({
    "interval": "5s", "cooldown": "10m", "clear_after": "1m",
    "triggers": [
        {"name": "err5", "signal": "error_rate", "comparator": ">", "threshold": 0.05, "windows": [60],
         "min_samples": 50, "action": "emergency", "severity": "critical"},
        {"name": "p50", "signal": "latency_p50", "comparator": ">", "threshold": 5, "windows": [60],
         "min_samples": 20, "sustain": "1m", "action": "standard"},
    ],
})


class World:
    """A fake clock and green failing half its requests (or not)."""

    def __init__(self) -> None:
        self.t = 1_800_000_000.0
        self.errors = 100  # of 200: green fails half its requests
        self.p50 = 1.0

    def clock(self) -> float:
        return self.t

    def source(self) -> FakeSource:
        def fn(needs, revisions, now):  # type: ignore[no-untyped-def]
            out = {}
            for rev in revisions:
                e = self.errors if rev == "green" else 0
                out[(rev, "error_rate", 60.0)] = proportion(e, 200, window_s=60.0)
                out[(rev, "latency_p50", 60.0)] = Measurement(self.p50 if rev == "green" else 1.0, 200)
            return out

        return FakeSource(fn, "router")


class RecordingActuator(FakeActuator):
    """A FakeActuator that also counts ``resume_pending`` calls."""

    def __init__(self) -> None:
        super().__init__()
        self.resumes = 0

    def resume_pending(self) -> ActionOutcome | None:
        self.resumes += 1
        return None


def _files(tmp: Path) -> dict[str, bytes | None]:
    h = GuardHistory(tmp)
    return {p.name: (p.read_bytes() if p.exists() else None)
            for p in (h.state_path, h.path, h.path.with_name(h.path.name + ".1"))}


def _dry_guard(w: World, tmp: Path) -> tuple[Guard, RecordingActuator, FakeNotifier, list[str]]:
    act, notifier, echoed = RecordingActuator(), FakeNotifier(), []
    g = Guard(POLICY, [w.source()], act, Alerter([notifier], echo=echoed.append), GuardHistory(tmp),
              clock=w.clock, dry_run=True)
    return g, act, notifier, echoed


def test_a_dry_run_writes_nothing_sends_nothing_and_the_real_guard_then_acts(tmp_path: Path) -> None:
    w = World()
    g, act, notifier, echoed = _dry_guard(w, tmp_path)
    r = g.step()
    assert r.evaluation.decision.action == "emergency" and r.evaluation.decision.acts
    assert r.dry_run and r.would_run and r.would_run.startswith("ethos rollback emergency --yes")
    assert "err5" in r.would_run and "--cause errors" in r.would_run
    assert r.outcome is not None and r.outcome.result["dry_run"] is True
    assert act.runs == [] and act.resumes == 0  # the FakeActuator is never asked to act or resume
    assert notifier.sent == [] and g.alerter.sent == []  # no alert sent...
    assert echoed and all(m.startswith("would alert: ") for m in echoed)  # ...only echoed
    assert _files(tmp_path) == {"state.json": None, "history.jsonl": None, "history.jsonl.1": None}
    assert not (tmp_path / "guard").exists()

    real_act, real_notifier = FakeActuator(), FakeNotifier()
    real = Guard(POLICY, [w.source()], real_act, Alerter([real_notifier]), GuardHistory(tmp_path), clock=w.clock)
    r = real.step()
    assert r.evaluation.decision.action == "emergency", r.evaluation.decision  # not "watch ... held"
    assert r.evaluation.decision.held is None
    assert [d.action for d in real_act.runs] == ["emergency"]
    assert r.outcome is not None and r.outcome.ok and real_notifier.sent


def test_a_dry_run_leaves_an_existing_state_and_history_byte_identical(tmp_path: Path) -> None:
    """Saved sustain clocks and history from real runs: read by the dry run, never rewritten."""
    w = World()
    w.errors, w.p50 = 0, 9.0  # the standard trigger starts its 1-minute sustain clock
    real = Guard(POLICY, [w.source()], FakeActuator(), Alerter([FakeNotifier()]), GuardHistory(tmp_path),
                 clock=w.clock)
    for _ in range(3):
        real.step()
        w.t += 5
    assert real.state.breach_since
    before = _files(tmp_path)
    assert before["state.json"] and before["history.jsonl"]

    w.errors = 100  # green now fails half its requests: the dry run would roll back
    g, act, notifier, echoed = _dry_guard(w, tmp_path)
    assert g.state.breach_since == real.state.breach_since  # it reads the saved state
    for _ in range(4):  # looping: its own sustain clocks, in memory only
        g.step()
        w.t += 5
    assert g.state.incident is not None  # in memory
    assert _files(tmp_path) == before
    assert act.runs == [] and act.resumes == 0 and notifier.sent == []
    assert any("would alert: emergency rollback by the guard" in m for m in echoed)

    real2_act = FakeActuator()
    real2 = Guard(POLICY, [w.source()], real2_act, Alerter([FakeNotifier()]), GuardHistory(tmp_path), clock=w.clock)
    assert real2.state.incident is None
    r = real2.step()
    assert r.evaluation.decision.action == "emergency" and [d.action for d in real2_act.runs] == ["emergency"]


def test_an_actuator_in_dry_run_mode_is_asked_for_its_plan_and_runs_nothing(tmp_path: Path) -> None:
    w = World()
    act = ProcedureActuator(router="http://127.0.0.1:9", revisions=["blue=http://127.0.0.1:9",
                                                                    "green=http://127.0.0.1:9"],
                            state_dir=tmp_path, dry_run=True)
    g = Guard(POLICY, [w.source()], act, Alerter([]), GuardHistory(tmp_path), clock=w.clock, dry_run=True)
    r = g.step()
    assert r.outcome is not None and r.outcome.ok and "shift_traffic" in r.outcome.detail
    assert r.outcome.rollback_id is None and r.outcome.result["would_run"] == r.would_run
    assert not (tmp_path / "guard").exists() and not (tmp_path / "journal").exists()


def test_a_non_dry_actuator_is_never_called_by_a_dry_guard(tmp_path: Path) -> None:
    """The guard's dry run does not rely on the actuator: a real one is not asked at all."""

    class Exploding(ProcedureActuator):
        def run(self, decision: Decision, evaluation: Evaluation) -> ActionOutcome:
            raise AssertionError("a dry run ran a rollback")

        def resume_pending(self) -> ActionOutcome | None:
            raise AssertionError("a dry run resumed a rollback")

    w = World()
    g = Guard(POLICY, [w.source()], Exploding(state_dir=tmp_path), Alerter([]), GuardHistory(tmp_path),
              clock=w.clock, dry_run=True)
    r = g.step()
    assert r.outcome is not None and r.outcome.ok and r.outcome.detail == "dry run"
    assert not (tmp_path / "guard").exists()
