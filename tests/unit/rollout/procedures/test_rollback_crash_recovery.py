"""Crash recovery of the rollback procedures: the drill hook, the pending-run decision,
notifications sent once across a resume, a stale resume that finds the run finished, and the
guard finishing a half-done rollback before it evaluates."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import pytest

from ethos.rollout.guard.actuator import ActionOutcome, Alerter, FakeActuator
from ethos.rollout.notify import FakeNotifier
from ethos.rollout.procedures import PlanOptions, plan_emergency
from ethos.rollout.procedures.actions import DELIVERED_NOTE, delivered_before
from ethos.rollout.procedures.control import Control
from ethos.rollout.procedures.crash import CrashHook, crash_point
from ethos.rollout.procedures.journal import Journal, RunRecord
from ethos.rollout.procedures.pending import find_pending, pending_run
from ethos.rollout.procedures.revisions import RevisionClient
from ethos.rollout.procedures.session import Clients, resume_procedure
from ethos.rollout.traffic import FakeTrafficManager
from ethos.rollout.traffic.targets import Targets
from tests.unit.rollout.procedures.test_procedures_runner import Revisions  # the fake revisions of the runner tests


class Named(FakeNotifier):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def describe(self) -> str:
        return f"fake ({self.name})"


@pytest.mark.parametrize("value,expected", [
    ("shift_traffic:acted", ("shift_traffic", "acted")),
    ("invalidate_cache:blue:started", ("invalidate_cache:blue", "started")),
    ("run:ended", ("run", "ended")),
    ("notify:ended ", ("notify", "ended")),
    (None, None), ("", None), ("notify", None), ("notify:later", None), (":acted", None),
])
def test_crash_point(value, expected) -> None:
    assert crash_point(value) == expected


def test_crash_hook_kills_only_at_its_point() -> None:
    code = ("from ethos.rollout.procedures.crash import CrashHook\n"
            "h = CrashHook()\n"
            "h.at('snapshot', 'acted'); h.at('notify', 'started'); print('alive', flush=True)\n"
            "h.at('notify', 'acted'); print('not reached')\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "ETHOS_ROLLBACK_CRASH": "notify:acted"})
    assert p.returncode == -9 and p.stdout == "alive\n"
    CrashHook({}).at("notify", "acted")  # unset: nothing happens


def record(status: str, t: float, rid: str = "rb-1") -> RunRecord:
    return RunRecord(rollback_id=rid, procedure="standard", plan=[], params={}, targets={},
                     events=[{"event": "run_started", "t": t}], status=status)


@pytest.mark.parametrize("status,holder,alive,age,pending", [
    ("incomplete", None, False, 10, True),                          # killed, lock gone
    ("incomplete", {"rollback_id": "rb-1", "pid": 1}, False, 10, True),   # killed, stale lock
    ("incomplete", {"rollback_id": "rb-1", "pid": 1}, True, 10, False),   # running now
    ("incomplete", {"rollback_id": "rb-0", "pid": 1}, True, 10, True),    # another run's lock
    ("incomplete", None, False, 7200, False),                      # too old: a person decides
    ("interrupted", None, False, 10, False),                        # stopped on purpose
    ("failed", None, False, 10, False), ("held", None, False, 10, False), ("done", None, False, 10, False),
])
def test_pending_run(status, holder, alive, age, pending) -> None:
    rec = record(status, 1000.0)
    got = pending_run(rec, lock_holder=holder, holder_alive=alive, now=1000.0 + age)
    assert (got is rec) if pending else got is None
    assert pending_run(None, lock_holder=None, holder_alive=False, now=0) is None


def test_delivered_before_reads_the_final_notifications_only() -> None:
    events = [
        {"event": "note", "message": DELIVERED_NOTE, "values": {"notifier": "webhook (a)", "outcome": "done"}},
        {"event": "note", "message": DELIVERED_NOTE, "values": {"notifier": "slack (b)", "outcome": "failed"}},
        {"event": "note", "message": "notification attempt failed", "values": {"notifier": "slack (c)"}},
        {"event": "step_ended", "step": "notify"},
    ]
    assert delivered_before(events) == {"webhook (a)"}


TARGETS = Targets(router="http://router.test", revisions={"blue": "http://blue.test", "green": "http://green.test"},
                  admin_key="k")


def clients(revs: Revisions, traffic: FakeTrafficManager) -> Clients:
    return Clients(traffic, RevisionClient(TARGETS.revisions, "k", transport=httpx.MockTransport(revs.handler)), None)


def killed_during_notify(tmp_path, delivered_to: list[str]) -> RunRecord:
    """A journal as a process SIGKILLed inside `notify` leaves it: every earlier step done."""
    plan = plan_emergency(PlanOptions())
    run = Journal(tmp_path, durable=False).start("emergency", [s.to_dict() for s in plan], params={"reason": "x"},
                                                 targets=TARGETS.public(), executed_by="dev", reason="x")
    for s in plan[:-1]:
        run.step_started(s.name, s.kind, s.params)
        values = {"action": "clear", "reason": "r"} if s.name == "decide_cache" else {}
        run.step_ended(s.name, "ok", "", values, 0.0)
    run.step_started("notify", "notify", {})
    for who in delivered_to:
        run.note(DELIVERED_NOTE, notifier=who, outcome="done")
    return Journal(tmp_path).load(run.rollback_id)


def test_resume_does_not_notify_again_whoever_took_it(tmp_path) -> None:
    first, second = Named("first"), Named("second")
    rec = killed_during_notify(tmp_path, [first.describe()])
    traffic = FakeTrafficManager({"blue": 100, "green": 0})
    out = resume_procedure(rec, TARGETS, state_dir=tmp_path, notifiers=[first, second],
                           clients=clients(Revisions(), traffic))
    assert out.status == "done"
    assert len(first.sent) == 0 and len(second.sent) == 1, "each notifier took the notification once"
    assert [c for c in traffic.calls if c[0] == "set"] == [], "completed steps are not run again (resume only reads the split)"
    # and a second resume of the finished run is a no-op: no step, no notification, no journal line
    lines = len(Journal(tmp_path).path(rec.rollback_id).read_text().splitlines())
    again = resume_procedure(rec, TARGETS, state_dir=tmp_path, notifiers=[first, second],
                             clients=clients(Revisions(), traffic))
    assert again.status == "done" and again.steps == [] and "nothing to resume" in again.message
    assert len(second.sent) == 1 and len(Journal(tmp_path).path(rec.rollback_id).read_text().splitlines()) == lines


def test_find_pending_reads_journal_and_lock(tmp_path) -> None:
    assert find_pending(tmp_path) is None
    rec = killed_during_notify(tmp_path, [])
    assert find_pending(tmp_path).rollback_id == rec.rollback_id
    with Control(tmp_path, rec.rollback_id, rec.procedure):  # this live process holds it: running, not pending
        assert find_pending(tmp_path) is None
    lock = tmp_path / "journal" / "rollback.lock"
    lock.write_text(json.dumps({"pid": 2**22 + 12345, "rollback_id": rec.rollback_id}))  # a dead pid
    assert find_pending(tmp_path).rollback_id == rec.rollback_id


class RecoveringActuator(FakeActuator):
    def __init__(self, pending: list[ActionOutcome]) -> None:
        super().__init__()
        self.pending = pending
        self.resumes = 0

    def resume_pending(self) -> ActionOutcome | None:
        self.resumes += 1
        return self.pending.pop(0) if self.pending else None


def test_guard_finishes_a_half_done_rollback_before_anything_else(tmp_path) -> None:
    from ethos.rollout.guard.history import GuardHistory
    from ethos.rollout.guard.loop import Guard
    from ethos.rollout.guard.policy import load_policy

    failed = ActionOutcome("standard", False, 1, "rb-1", 0.1, "resumed standard rollback rb-1: blue down")
    done = ActionOutcome("standard", True, 0, "rb-1", 0.1, "resumed standard rollback rb-1 (incomplete)")
    actuator = RecoveringActuator([failed, done])
    alerter = Alerter(notifiers=[])
    t = [1000.0]
    guard = Guard(load_policy(None), [], actuator, alerter, GuardHistory(tmp_path), clock=lambda: t[0])
    r1 = guard.step()
    t[0] += 5
    r2 = guard.step()
    t[0] += 5
    r3 = guard.step()
    assert r1.outcome is failed and r2.outcome is done and r3.outcome is None
    assert actuator.resumes == 2 and actuator.runs == [], "tried until done, then never again; no new rollback"
    assert any("NOT done" in a for a in alerter.sent) and any(a.endswith("rollback rb-1 done") for a in alerter.sent)
    hist = [json.loads(x) for x in (tmp_path / "guard" / "history.jsonl").read_text().splitlines()]
    assert [h.get("outcome", {}).get("ok") for h in hist] == [False, True, None]


def test_command_actuator_resumes_the_pending_run_instead_of_starting_one(tmp_path) -> None:
    from ethos.rollout.guard.actuator import CommandActuator
    from ethos.rollout.guard.evaluate import Decision

    rec = killed_during_notify(tmp_path, [])
    script = ("import json, sys; print(json.dumps({'argv': sys.argv[1:], 'rollback_id': sys.argv[3], "
              "'status': 'done', 'message': 'all steps completed'}))")
    a = CommandActuator(["--state-dir", str(tmp_path)], command=[sys.executable, "-c", script], state_dir=tmp_path)
    out = a.run(Decision("emergency", "service_down", "down"), None)  # type: ignore[arg-type]
    assert out.ok and out.rollback_id == rec.rollback_id and out.action == "emergency"
    assert out.result["argv"][:4] == ["rollback", "resume", rec.rollback_id, "--yes"]
    assert "resumed emergency rollback" in out.detail
    assert CommandActuator([], state_dir=tmp_path, dry_run=True).resume_pending() is None


def test_the_guard_saves_its_incident_before_it_acts(tmp_path) -> None:
    from ethos.rollout.guard.history import GuardHistory
    from ethos.rollout.guard.loop import Guard
    from ethos.rollout.guard.policy import parse_policy
    from ethos.rollout.sources import FakeSource
    from ethos.rollout.sources.measurements import proportion

    policy = parse_policy({"interval": "5s", "triggers": [{
        "name": "err5", "signal": "error_rate", "comparator": ">", "threshold": 0.05, "windows": [60],
        "min_samples": 50, "action": "emergency"}]})
    seen = []

    def act(decision):
        seen.append(json.loads((tmp_path / "guard" / "state.json").read_text())["state"]["incident"])
        return ActionOutcome("emergency", True, 0, "rb-x")

    def measure(needs, revisions, now):
        return {(rev, "error_rate", 60.0): proportion(100 if rev == "green" else 0, 200, window_s=60.0)
                for rev in revisions}

    guard = Guard(policy, [FakeSource(measure)],
                  FakeActuator(act), Alerter(notifiers=[]), GuardHistory(tmp_path), clock=lambda: 1000.0)
    assert guard.step().outcome.ok
    assert seen and seen[0]["action"] == "emergency" and seen[0]["trigger"] == "err5"


class Killed(BaseException):
    """Stands for SIGKILL in-process: nothing after it runs (no run_ended, no step_ended)."""


def kill_points(plan) -> list[str]:
    return [f"{s.name}:{phase}" for s in plan for phase in ("started", "acted", "ended")] + ["run:ended"]


STANDARD = __import__("ethos.rollout.procedures", fromlist=["plan_standard"]).plan_standard(
    PlanOptions(force=True))


@pytest.mark.parametrize("point", kill_points(STANDARD))
def test_killed_anywhere_then_resumed_does_nothing_twice_that_matters(tmp_path, monkeypatch, point) -> None:
    """Every step x (started, acted, ended) of a standard rollback: killed there, then resumed."""
    from ethos.rollout.procedures import crash
    from ethos.rollout.procedures.session import run_procedure

    def die(pid, sig):
        raise Killed

    monkeypatch.setattr(crash.os, "kill", die)
    monkeypatch.setenv(crash.CRASH_ENV, point)
    revs, notifier = Revisions(), Named("hook")
    traffic = FakeTrafficManager({"blue": 50, "green": 50})
    with pytest.raises(Killed):
        run_procedure("standard", STANDARD, TARGETS, state_dir=tmp_path, params={"reason": "drill", "executed_by": "t"},
                      notifiers=[notifier], clients=clients(revs, traffic))
    monkeypatch.delenv(crash.CRASH_ENV)
    rec = Journal(tmp_path).latest()
    out = resume_procedure(rec, TARGETS, state_dir=tmp_path, notifiers=[notifier], clients=clients(revs, traffic))
    assert out.status == "done", out.message

    assert traffic.weights == {"blue": 100, "green": 0}
    assert [c for c in traffic.calls if c[0] == "set"] == [("set", {"blue": 100, "green": 0})], "shifted once"
    invalidations = [c for c in revs.calls if c == ("blue", "/api/admin/cache/invalidate")]
    assert revs.entries["blue"] == 0 and 1 <= len(invalidations) <= (2 if point.startswith("invalidate_cache:blue") else 1)
    assert [n.outcome for n in notifier.sent] == ["done"], "notified once"
    events = Journal(tmp_path).load(rec.rollback_id).events
    done = [e["step"] for e in events if e["event"] == "step_ended" and e["status"] in ("ok", "skipped", "warn")]
    assert sorted(done) == sorted(s.name for s in STANDARD), "every step completed exactly once"
    decided = [e for e in events if e["event"] == "step_ended" and e["step"] == "decide_cache"]
    assert len(decided) == 1
    assert [e["event"] for e in events].count("run_ended") == 1 and events[-1]["status"] == "done"
    if point == "run:ended":  # it had finished: the resume found nothing to do
        assert out.steps == [] and "nothing to resume" in out.message
