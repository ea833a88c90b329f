"""Preemption across processes, as a user meets it: `ethos rollback` against fake revisions and a
fake router on 127.0.0.1, with the holder of control running, hung (SIGSTOP) or dead (SIGKILL)."""

from __future__ import annotations

import json
import signal

import pytest

from ethos.rollout.procedures.journal import Journal
from tests.integration.rollout.test_rollback_cli_http import _popen, _wait_for_step, ethos, history, puts, stack  # noqa: F401

pytestmark = pytest.mark.slow  # starts the ethos CLI as a process per test: left out of `make test-fast`


@pytest.mark.parametrize("how", ["running", "hung", "killed"])
def test_an_emergency_preempts_a_gradual_running_hung_or_killed(stack, how):  # noqa: F811
    stack.router.weights = {"blue": 0, "green": 100}
    p = _popen("rollback", "gradual", *stack.flags, "--yes", "--json", "--stages", "50:30s,25:30s",
               "--poll", "0.2", env=stack.env)
    try:
        _wait_for_step(stack.state, "monitor@50")
        if how == "hung":
            p.send_signal(signal.SIGSTOP)
        elif how == "killed":
            p.kill()
            p.wait(timeout=30)
        r = ethos("rollback", "emergency", *stack.flags, "--yes", "--json", env=stack.env)
        assert r.returncode == 0, r.stdout + r.stderr  # never "another rollback is running"
        emergency = json.loads(r.stdout)
        assert stack.router.weights == {"blue": 100, "green": 0}
        shifts = len(puts(stack.router))  # 50, then the emergency's 100
        assert shifts == 2
        if how == "hung":
            p.send_signal(signal.SIGCONT)
        out, _ = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    gradual = next(r for r in Journal(stack.state).runs() if r.procedure == "gradual")
    assert len(puts(stack.router)) == shifts, "the preempted gradual changed traffic after the emergency"
    assert stack.router.weights == {"blue": 100, "green": 0}
    if how == "killed":
        assert gradual.status == "incomplete" or gradual.status == "superseded"
        assert any(e["event"] == "note" and e["message"] in ("took over a stale lock",)
                   for e in history(stack, emergency["rollback_id"])["events"])
    else:
        assert p.returncode == 5, out
        body = json.loads(out)
        assert body["status"] == "superseded" and body["links"]["superseded_by"] == emergency["rollback_id"]
        assert gradual.status == "superseded" and gradual.superseded_by == emergency["rollback_id"]
        notes = [e for e in history(stack, emergency["rollback_id"])["events"]
                 if e["event"] == "note" and e["message"] == "preempted a lower-priority run"]
        assert notes and notes[0]["values"]["holder"]["rollback_id"] == gradual.rollback_id
    # resuming the gradual would undo the emergency: refused, nothing changes
    r = ethos("rollback", "resume", gradual.rollback_id, "--state-dir", stack.state, "--yes", env=stack.env)
    assert r.returncode == 5, r.stdout + r.stderr
    assert "--force" in r.stderr and len(puts(stack.router)) == shifts


def test_a_gradual_is_refused_while_an_emergency_holds_control_and_says_what_to_type(stack):  # noqa: F811
    stack.router.weights = {"blue": 0, "green": 100}
    from ethos.rollout.procedures.control import Control

    with Control(stack.state, "rb-emergency-held", "emergency"):
        r = ethos("rollback", "gradual", *stack.flags, "--yes", "--stages", "50:1s", env=stack.env)
    assert r.returncode == 5 and not puts(stack.router)
    assert "emergency rollback rb-emergency-held holds control" in r.stderr
    assert "ethos rollback history rb-emergency-held" in r.stderr


def test_a_gradual_dry_run_shows_the_stages_it_would_skip_and_changes_nothing(stack):  # noqa: F811
    stack.router.weights = {"blue": 70, "green": 30}
    r = ethos("rollback", "gradual", *stack.flags, "--dry-run", env=stack.env)
    assert r.returncode == 0, r.stderr
    line = next(ln for ln in r.stdout.splitlines() if "shift_traffic@50" in ln)
    assert "[skipped: green is at 30%" in line
    assert "[skipped" not in next(ln for ln in r.stdout.splitlines() if "shift_traffic@25" in ln)
    assert not puts(stack.router) and Journal(stack.state).ids() == []
