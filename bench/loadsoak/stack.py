"""A real local stack for the load test, started and stopped with the CLI as a user would.

``ethos stack up --base-port N --state-dir D --json`` on free ports (retried on fresh ports
when one was taken in between), and ``ethos stack down`` at the end, always: the caller
uses it as a context manager, and SIGTERM is turned into KeyboardInterrupt so a killed run
still goes through ``__exit__``. After ``stack down``, any recorded pid still alive whose
command line is an ethos one is SIGKILLed (its process group).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from ethos.rollout.stack.state import StackState, free_base_port, load_stack

ETHOS = str(Path(sys.executable).parent / "ethos")
#: variables that would point the stack or its rollback somewhere else, or notify someone
_DROP_ENV = ("ETHOS_ADMIN_API_KEY", "ETHOS_STATE_DIR", "ETHOS_ROUTER_URL", "ETHOS_SLACK_WEBHOOK_URL",
             "ETHOS_NOTIFY_WEBHOOK_URL")


def stack_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This environment without stray ethos targets; no auto incident (as the benches run)."""
    env = {k: v for k, v in os.environ.items() if k not in _DROP_ENV}
    env["ETHOS_NO_AUTO_INCIDENT"] = "1"
    return {**env, **(extra or {})}


def _sigterm_to_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


class LocalStack:
    """``with LocalStack(state_dir) as st:`` -> ``st.state`` (router, revisions, pids, key file)."""

    def __init__(self, state_dir: Path, *up_args: str, timeout_s: float = 180.0, tries: int = 3) -> None:
        self.state_dir = Path(state_dir)
        self.up_args = list(up_args)
        self.timeout_s = timeout_s
        self.tries = tries
        self.state: StackState | None = None
        self.up_s: float | None = None

    def __enter__(self) -> LocalStack:
        if threading_main():
            signal.signal(signal.SIGTERM, _sigterm_to_interrupt)
        try:
            self.up()
        except BaseException:
            self.down()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()

    def up(self) -> StackState:
        import time

        t0 = time.monotonic()
        for _ in range(self.tries):
            r = subprocess.run(
                [ETHOS, "stack", "up", "--base-port", str(free_base_port()), "--state-dir", str(self.state_dir),
                 "--timeout", str(self.timeout_s), "--json", *self.up_args],
                capture_output=True, text=True, env=stack_env(), timeout=self.timeout_s + 60,
                cwd=self.state_dir.parent, stdin=subprocess.DEVNULL)
            if r.returncode == 0 or "in use" not in r.stdout + r.stderr:
                break
        if r.returncode != 0:
            raise RuntimeError(f"ethos stack up failed ({r.returncode}): {(r.stdout + r.stderr)[-3000:]}")
        self.up_s = time.monotonic() - t0
        self.state = load_stack(self.state_dir)
        if self.state is None:
            raise RuntimeError(f"ethos stack up wrote no stack file in {self.state_dir}")
        return self.state

    def down(self) -> None:
        """`ethos stack down`, then SIGKILL what it left (never raises; safe to call twice)."""
        pids = dict(self.state.pids) if self.state else {}
        try:
            st = load_stack(self.state_dir)
            pids.update(st.pids if st else {})
        except Exception:  # noqa: BLE001 - an unreadable stack file: still try the command
            pass
        try:
            subprocess.run([ETHOS, "stack", "down", "--state-dir", str(self.state_dir)], capture_output=True,
                           env=stack_env(), timeout=90, cwd=self.state_dir.parent, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.SubprocessError):
            pass
        for pid in pids.values():
            try:
                if b"ethos" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass

    def admin_key(self) -> str | None:
        """The stack's admin key (its key file), for the traffic API."""
        return self.state.admin_key() if self.state else None


def threading_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


__all__ = ["ETHOS", "LocalStack", "stack_env"]
