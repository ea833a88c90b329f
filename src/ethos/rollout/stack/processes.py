"""Processes of ethos started by ethos: the command line of a child, and whether a pid lives.

Every part that starts ``ethos`` as a child process (the stack, the guard's rollbacks, the
drills, the console's actions, the PII-leak response) uses :func:`ethos_argv`, so the child
runs this very code with the same interpreter, installed or not.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def ethos_argv() -> list[str]:
    """The command that runs ``ethos`` with this interpreter: append the CLI's arguments."""
    return [sys.executable, "-c", "from ethos.cli import main; main()"]


def pid_alive(pid: int) -> bool:
    """True when a process with this pid exists and has not exited (a zombie is not alive;
    permission denied counts as alive)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        # the state follows the command name in parentheses, which may hold spaces
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return True


def is_ethos_process(pid: int) -> bool:
    """Guard against pid reuse: only a process whose command line is an ethos one."""
    try:
        return b"ethos" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


__all__ = ["ethos_argv", "is_ethos_process", "pid_alive"]
