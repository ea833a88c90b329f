"""SIGINT and SIGTERM stop `ethos rollback` the same way however it was started (issue 13).

A process started in the background of a non-interactive shell, or by a supervisor that
ignores SIGINT for its children, inherits SIGINT as ignored; the CLI installs its own handlers
so that ``kill -INT`` still stops the run: exit 130, the resume hint, the step journaled as
interrupted, the lock freed, and ``ethos rollback resume`` finishes the run.

Each run is held in a monitoring window by the fake router (``hold_stats``), so the signal
always lands while a step is in flight, however slow the machine.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.rollout.test_rollback_cli_http import _wait_for_step, ethos, history, puts, stack  # noqa: F401 - stack: fixture

pytestmark = pytest.mark.slow  # starts the ethos CLI as a process per test: left out of `make test-fast`

CLI = [sys.executable, "-c", "from ethos.cli import main; main()"]
#: a supervisor that starts its child with SIGINT ignored (the disposition survives exec)
IGNORING_SIGINT = [sys.executable, "-c",
                   "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
                   "os.execv(sys.argv[1], sys.argv[1:])"]
MODES = ["direct", "shell-background", "sigint-ignored"]


def _env(extra: dict[str, str]) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("ETHOS_")}
    e.update(extra)
    return e


def _launch(mode: str, argv: list[str], env: dict[str, str], tmp: Path) -> tuple[subprocess.Popen, int]:
    """Start ``argv`` as ``mode`` says; return the process to wait for and the pid to signal.

    ``direct``: as the test runner's child (SIGINT as the runner has it: default in a terminal).
    """
    kw = dict(stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, stdin=subprocess.DEVNULL)
    if mode == "direct":
        p = subprocess.Popen(argv, **kw)
        return p, p.pid
    if mode == "sigint-ignored":
        p = subprocess.Popen([*IGNORING_SIGINT, *argv], **kw)
        return p, p.pid  # exec: same pid
    assert mode == "shell-background"
    # `sh -c 'cmd &'`: without job control the shell starts cmd with SIGINT (and SIGQUIT) ignored;
    # the shell writes the child's pid, waits for it and exits with its status
    pidfile = tmp / "child.pid"
    p = subprocess.Popen(["sh", "-c", '"$@" & echo $! > "$PIDFILE.tmp" && mv "$PIDFILE.tmp" "$PIDFILE"; wait $!',
                          "sh", *argv], **{**kw, "env": {**env, "PIDFILE": str(pidfile)}})
    while not pidfile.exists():
        if p.poll() is not None:
            raise AssertionError(f"sh exited {p.returncode}: {p.stderr.read() if p.stderr else ''}")
        time.sleep(0.01)
    return p, int(pidfile.read_text())


@pytest.mark.parametrize("mode", ["shell-background", "sigint-ignored"])
def test_the_launch_modes_start_the_child_with_sigint_ignored(mode, tmp_path):
    """What the tests below rely on: these modes do hand SIGINT down ignored."""
    probe = [sys.executable, "-c", "import signal; print(signal.getsignal(signal.SIGINT) is signal.SIG_IGN)"]
    p, _ = _launch(mode, probe, _env({}), tmp_path)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0 and out.strip() == "True", out + err


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_a_signal_interrupts_the_run_and_resume_finishes_it(stack, tmp_path, mode, sig):
    hold = stack.router.hold_stats(green_percent=50)  # monitor@50 waits for us
    argv = [*CLI, "rollback", "gradual", *stack.flags, "--yes", "--stages", "50:0.3s,25:0.2s", "--poll", "0.1"]
    p, pid = _launch(mode, argv, _env(stack.env), tmp_path)
    try:
        assert hold.holding.wait(60), "monitor@50 never read the router's stats"
        _wait_for_step(stack.state, "monitor@50")
        os.kill(pid, getattr(signal, sig))
        out, err = p.communicate(timeout=60)
    finally:
        hold.release()
        if p.poll() is None:
            for victim in {pid, p.pid}:
                os.kill(victim, signal.SIGKILL)
            p.communicate()
    assert p.returncode == 130, out + err
    assert "continue with: ethos rollback resume rb-" in out, out
    assert "Traceback" not in err, err
    rec = history(stack)[0]
    assert rec["status"] == "interrupted"
    events = history(stack, rec["rollback_id"])["events"]
    ended = [e for e in events if e["event"] == "step_ended" and e["step"] == "monitor@50"]
    assert [(e["status"], e["message"]) for e in ended] == [("failed", "interrupted")]
    assert events[-1]["event"] == "run_ended" and events[-1]["status"] == "interrupted"
    assert not os.path.exists(os.path.join(stack.state, "journal", "rollback.lock"))
    assert stack.router.weights == {"blue": 50, "green": 50}

    r = ethos("rollback", "resume", "--state-dir", stack.state, "--yes", "--json", env=stack.env)
    assert r.returncode == 0, r.stdout + r.stderr
    done = json.loads(r.stdout)
    assert done["rollback_id"] == rec["rollback_id"] and done["status"] == "done"
    assert stack.router.weights == {"blue": 100, "green": 0}
    assert len(puts(stack.router)) == 3  # 50, 25, 100: nothing redone
