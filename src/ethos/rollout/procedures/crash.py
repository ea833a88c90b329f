"""A drill hook: kill the rollback process at a chosen point, to prove ``resume`` finishes the job.

``ETHOS_ROLLBACK_CRASH=<step>:<phase>`` makes the process running a plan SIGKILL itself (no
cleanup, no ``run_ended``, the lock left behind: what a crash or an OOM kill leaves):

- ``<step>:started``   after ``step_started`` is journaled, before the step acts;
- ``<step>:acted``     after the step acted, before ``step_ended`` is journaled (the worst
  case: the change is made and the journal does not know);
- ``<step>:ended``     after ``step_ended`` is journaled;
- ``run:ended``        after ``run_ended`` is journaled (before the incident is opened).

Unset (the normal case) it costs one dictionary lookup per run. Tests and drills only.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping

from ..settings import RolloutSettings

CRASH_ENV = "ETHOS_ROLLBACK_CRASH"
PHASES = frozenset({"started", "acted", "ended"})


def crash_point(value: str | None) -> tuple[str, str] | None:
    """``"shift_traffic:acted"`` -> ``("shift_traffic", "acted")``; None when unset or malformed. Pure.

    The step name may contain ``:`` (``invalidate_cache:blue``): the phase is after the last one.
    """
    if not value:
        return None
    step, sep, phase = value.strip().rpartition(":")
    if not sep or not step or phase not in PHASES:
        return None
    return step, phase


class CrashHook:
    """Kills this process at the configured point; a no-op when none is configured."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self.point = crash_point(RolloutSettings.from_env(env).rollback_crash)

    def at(self, step: str, phase: str) -> None:
        """Called by the runner at each point; SIGKILLs this process if it is the configured one."""
        if self.point is not None and self.point == (step, phase):
            os.kill(os.getpid(), signal.SIGKILL)


__all__ = ["CRASH_ENV", "CrashHook", "crash_point"]
