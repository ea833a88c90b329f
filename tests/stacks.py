"""Start and stop a real local stack (`ethos stack up` / `ethos stack down`) from tests.

Tests import this the way they import ``servers``: ``tests/`` on ``sys.path``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from ethos.rollout.stack.state import free_base_port

ETHOS = str(Path(sys.executable).parent / "ethos")


def clean_env() -> dict[str, str]:
    """This process's environment without the admin key and state dir, so the stack makes its own."""
    return {k: v for k, v in os.environ.items() if k not in ("ETHOS_ADMIN_API_KEY", "ETHOS_STATE_DIR")}


def stack_up(state_dir: Path, *extra_args: str, env: dict[str, str] | None = None,
             timeout: float = 180, tries: int = 3) -> subprocess.CompletedProcess[str]:
    """`ethos stack up` on free ports with ``--state-dir state_dir`` and ``extra_args``.

    Retried on fresh ports when a port is "in use": another test on this machine may take
    one between the pick and the start. Returns the last run; the caller checks it.
    """
    for _ in range(tries):
        r = subprocess.run([ETHOS, "stack", "up", "--base-port", str(free_base_port()), "--state-dir", str(state_dir),
                            *extra_args],
                           capture_output=True, text=True, env=clean_env() if env is None else env,
                           timeout=timeout, cwd=state_dir.parent, stdin=subprocess.DEVNULL)
        if r.returncode == 0 or "in use" not in r.stdout + r.stderr:
            break
    return r


def stack_down(state_dir: Path, env: dict[str, str] | None = None, timeout: float = 60) -> None:
    """`ethos stack down`, then SIGKILL the process group of every pid the stack file still records."""
    subprocess.run([ETHOS, "stack", "down", "--state-dir", str(state_dir)], capture_output=True,
                   env=clean_env() if env is None else env, timeout=timeout, cwd=state_dir.parent,
                   stdin=subprocess.DEVNULL)
    try:
        pids = json.loads((state_dir / "stack.json").read_text()).get("pids", {})
    except (OSError, ValueError):
        pids = {}
    for pid in pids.values():
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass


__all__ = ["ETHOS", "clean_env", "stack_up", "stack_down"]
