"""The control model's decisions (pure) and its lock file: who gets control of traffic."""

from __future__ import annotations

import json
import os

import pytest

from ethos.rollout.procedures.control import (
    AlreadyDone,
    Control,
    ControlRefused,
    Superseded,
    arbitrate,
    priority_of,
    refusal_message,
)
from ethos.rollout.procedures.journal import Journal
from ethos.rollout.procedures.session import NothingToResume, ResumeRefused, check_resumable, left_splits, select_for_resume


def holder(procedure: str, rid: str = "rb-old", **kw):
    return {"rollback_id": rid, "procedure": procedure, "priority": priority_of(procedure), "pid": 1, **kw}


@pytest.mark.parametrize("held,alive,new,verdict", [
    (None, False, "gradual", "take"),
    ("emergency", False, "set_weights", "take"),       # a dead holder never blocks
    ("gradual", True, "emergency", "preempt"),
    ("gradual", True, "standard", "preempt"),
    ("standard", True, "emergency", "preempt"),
    ("set_weights", True, "gradual", "preempt"),       # operator actions are the lowest
    ("emergency", True, "emergency", "wait"),
    ("standard", True, "standard", "refuse"),
    ("gradual", True, "gradual", "refuse"),
    ("emergency", True, "standard", "refuse"),
    ("gradual", True, "set_weights", "refuse"),
])
def test_arbitrate(held, alive, new, verdict) -> None:
    h = holder(held) if held else None
    assert arbitrate(h, holder_alive=alive, rollback_id="rb-new", procedure=new).action == verdict


def test_an_emergency_waits_for_an_emergency_then_takes_a_hung_one_over() -> None:
    h = holder("emergency")
    assert arbitrate(h, holder_alive=True, rollback_id="rb-new", procedure="emergency", waited_s=29.9).action == "wait"
    v = arbitrate(h, holder_alive=True, rollback_id="rb-new", procedure="emergency", waited_s=30.0)
    assert v.action == "preempt" and "hung" in v.reason


def test_the_same_run_alive_is_running_right_now() -> None:
    v = arbitrate(holder("gradual", "rb-1"), holder_alive=True, rollback_id="rb-1", procedure="gradual")
    assert v.action == "refuse" and "running right now" in v.reason


def test_a_refusal_says_what_holds_control_and_what_to_type() -> None:
    msg = refusal_message(holder("standard", "rb-7"), "gradual")
    assert "standard rollback rb-7 holds control" in msg and "ethos rollback history rb-7" in msg
    assert "ethos rollback emergency --yes" in msg
    assert "emergency --yes" not in refusal_message(holder("emergency", "rb-8"), "standard")


class Clock:
    def __init__(self) -> None:
        self.t = 1_000.0

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s


def test_preemption_marks_the_holder_superseded_and_it_can_no_longer_act(tmp_path) -> None:
    j = Journal(tmp_path)
    run = j.start("gradual", [], params={}, targets={}, executed_by="a", reason="r", rollback_id="rb-g")
    gradual = Control(tmp_path, "rb-g", "gradual").acquire()
    run.note("working")
    emergency = Control(tmp_path, "rb-e", "emergency").acquire()
    assert emergency.preempted["rollback_id"] == "rb-g" and emergency.epoch > gradual.epoch
    rec = j.load("rb-g")
    assert rec.status == "superseded" and rec.superseded_by == "rb-e"
    with pytest.raises(Superseded) as e:
        gradual.check()
    assert e.value.holder["rollback_id"] == "rb-e"
    with pytest.raises(Superseded):
        with gradual.acting():
            pytest.fail("a superseded run acted")
    gradual.release()  # gives back nothing it does not hold
    assert emergency.holds()
    emergency.release()
    with pytest.raises(Superseded) as e:  # the emergency ended: the journal still names it
        gradual.check()
    assert e.value.holder["rollback_id"] == "rb-e"


def test_an_emergency_that_waited_for_a_done_emergency_has_nothing_to_do(tmp_path) -> None:
    clock = Clock()
    j = Journal(tmp_path)
    first = Control(tmp_path, "rb-1", "emergency").acquire()
    run = j.start("emergency", [], params={}, targets={}, executed_by="a", reason="r", rollback_id="rb-1")

    def sleep(s: float) -> None:  # the first one ends while the second waits
        clock.sleep(s)
        if clock.t > 1_002.0 and first.holds():
            run.ended("done")
            first.release()

    second = Control(tmp_path, "rb-2", "emergency", clock=clock, sleep=sleep)
    with pytest.raises(AlreadyDone) as e:
        second.acquire()
    assert "rb-1" in str(e.value) and "nothing more to do" in str(e.value)


def test_a_stale_or_unreadable_lock_is_taken_over(tmp_path) -> None:
    (tmp_path / "journal").mkdir()
    lock = tmp_path / "journal" / "rollback.lock"
    lock.write_text(json.dumps({"pid": 2**22 + 7, "rollback_id": "rb-dead", "procedure": "emergency",
                                "priority": 3, "host": os.uname().nodename}))
    with Control(tmp_path, "rb-new", "set_weights") as c:
        assert c.took_over["rollback_id"] == "rb-dead"
    lock.write_text("")
    with Control(tmp_path, "rb-new2", "gradual") as c:
        assert c.took_over == {"stale": "unreadable lock file"}


def test_equal_priority_is_refused_with_the_holder(tmp_path) -> None:
    with Control(tmp_path, "rb-1", "standard"):
        with pytest.raises(ControlRefused) as e:
            Control(tmp_path, "rb-2", "standard").acquire()
    assert e.value.holder["rollback_id"] == "rb-1" and "token" in e.value.holder


def _rec(tmp_path, events_after_start):
    j = Journal(tmp_path, durable=False)
    plan = [{"name": "snapshot", "kind": "snapshot"}, {"name": "shift_traffic@50", "kind": "set_traffic"},
            {"name": "shift_traffic@0", "kind": "set_traffic"}]
    run = j.start("gradual", plan, params={}, targets={}, executed_by="a", reason="r")
    for ev in events_after_start:
        run.append(ev.pop("event"), **ev)
    return j.load(run.rollback_id)


def test_left_splits_are_the_last_seen_or_set_and_a_change_cut_off(tmp_path) -> None:
    rec = _rec(tmp_path, [
        {"event": "step_ended", "step": "snapshot", "status": "ok", "values": {"weights": {"blue": 0, "green": 100}}},
        {"event": "step_started", "step": "shift_traffic@50", "params": {"weights": {"blue": 50, "green": 50}}},
    ])
    assert left_splits(rec) == [{"blue": 0, "green": 100}, {"blue": 50, "green": 50}]
    check_resumable(rec, {"blue": 50, "green": 50})  # killed after the change, before its end
    with pytest.raises(ResumeRefused) as e:
        check_resumable(rec, {"blue": 100, "green": 0})
    assert "traffic is blue=100, green=0" in str(e.value) and "--force" in str(e.value)


def test_resume_without_an_id_takes_only_the_latest_run(tmp_path) -> None:
    j = Journal(tmp_path, durable=False)
    held = j.start("gradual", [], params={}, targets={}, executed_by="a", reason="r")
    held.ended("held")
    assert select_for_resume(j).rollback_id == held.rollback_id
    later = j.start("emergency", [], params={}, targets={}, executed_by="a", reason="r")
    later.ended("done")
    with pytest.raises(NothingToResume) as e:
        select_for_resume(j)
    assert later.rollback_id in str(e.value) and held.rollback_id in str(e.value)
    assert select_for_resume(j, held.rollback_id).rollback_id == held.rollback_id  # named: checked later


def test_a_superseded_run_is_refused_unless_forced(tmp_path) -> None:
    j = Journal(tmp_path, durable=False)
    run = j.start("gradual", [], params={}, targets={}, executed_by="a", reason="r")
    run.append("run_superseded", by="rb-e", procedure="emergency", priority=3)
    run.ended("superseded")
    with pytest.raises(ResumeRefused) as e:
        select_for_resume(j, run.rollback_id)
    assert "superseded by rb-e" in str(e.value)
    assert select_for_resume(j, run.rollback_id, force=True).status == "superseded"
