"""The journal: append-only records, read back; the lock, stale locks."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ethos.rollout.procedures.control import Control
from ethos.rollout.procedures.journal import Journal, JournalError, LockHeld, new_rollback_id


def start(j: Journal, **kw):
    return j.start("emergency", [{"name": "a", "kind": "snapshot"}, {"name": "b", "kind": "notify"}],
                   params={"x": 1}, targets={"router": "http://r"}, executed_by="dev", reason="test", **kw)


def test_records_are_json_lines_and_fold_into_a_run(tmp_path):
    j = Journal(tmp_path, durable=False)
    run = start(j)
    run.step_started("a", "snapshot", {})
    run.step_ended("a", "ok", "fine", {"weights": {"blue": 0}}, 0.01)
    run.note("hello", k=1)
    run.ended("done", "all")
    lines = (tmp_path / "journal" / f"{run.rollback_id}.jsonl").read_text().splitlines()
    events = [json.loads(line)["event"] for line in lines]
    assert events == ["run_started", "step_started", "step_ended", "note", "run_ended"]
    rec = j.load(run.rollback_id)
    assert rec.status == "done" and rec.procedure == "emergency"
    assert rec.completed == {"a": {"weights": {"blue": 0}}}
    assert rec.targets == {"router": "http://r"} and not rec.resumable


def test_unfinished_run_is_resumable_and_failed_steps_are_not_completed(tmp_path):
    j = Journal(tmp_path, durable=False)
    run = start(j)
    run.step_ended("a", "ok", "", {}, 0.0)
    run.step_ended("b", "failed", "boom", {}, 0.0)
    rec = j.load(run.rollback_id)
    assert rec.status == "incomplete" and rec.resumable and set(rec.completed) == {"a"}
    # a torn last line (killed mid-write) is ignored
    with open(j.path(run.rollback_id), "a") as f:
        f.write('{"event": "step_end')
    assert j.load(run.rollback_id).completed.keys() == {"a"}
    assert j.latest(resumable=True).rollback_id == run.rollback_id


def test_reopen_appends_and_resets_status(tmp_path):
    j = Journal(tmp_path, durable=False)
    run = start(j)
    run.ended("failed", "x")
    assert j.load(run.rollback_id).status == "failed"
    j.reopen(run.rollback_id).ended("done")
    assert j.load(run.rollback_id).status == "done"


def test_unknown_and_bad_ids(tmp_path):
    j = Journal(tmp_path)
    with pytest.raises(JournalError):
        j.load("rb-nope")
    with pytest.raises(JournalError):
        j.path("../etc/passwd")
    assert j.latest() is None and j.ids() == []


def test_ids_sort_by_time():
    assert new_rollback_id(1_000_000) < new_rollback_id(2_000_000)


def test_lock_excludes_a_second_run_of_equal_priority(tmp_path):
    with Control(tmp_path, "rb-1", "standard"):
        with pytest.raises(LockHeld) as e:
            Control(tmp_path, "rb-2", "standard").acquire()
        assert "rb-1" in str(e.value)
    with Control(tmp_path, "rb-3", "standard"):  # released: free again
        pass
    assert not (tmp_path / "journal" / "rollback.lock").exists()


def test_stale_lock_of_a_dead_pid_is_taken_over(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    pid = int(dead.stdout)
    lock_path = tmp_path / "journal" / "rollback.lock"
    lock_path.parent.mkdir(parents=True)
    lock_path.write_text(json.dumps({"pid": pid, "rollback_id": "rb-old", "host": os.uname().nodename}))
    lock = Control(tmp_path, "rb-new", "standard").acquire()
    assert lock.took_over and lock.took_over["rollback_id"] == "rb-old"
    assert json.loads(lock_path.read_text())["pid"] == os.getpid()
    lock.release()


def test_empty_lock_file_is_stale(tmp_path):
    lock_path = tmp_path / "journal" / "rollback.lock"
    lock_path.parent.mkdir(parents=True)
    lock_path.write_text("")
    with Control(tmp_path, "rb-new", "standard") as lock:
        assert lock.took_over is not None
