"""The ops console: one page that shows the rollout live and lets an authorised person act.

``build_console`` wires the parts (:mod:`.sampler` reads, :mod:`.views` decides what to show,
:mod:`.actions` runs the procedures, :mod:`.app` serves); ``ethos console`` runs it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..guard.build import watch_sources
from ..guard.history import GuardHistory
from ..guard.policy import Policy, load_policy
from ..stack.state import admin_key_for, load_stack
from ..traffic.targets import resolve_targets
from .actions import ActionError, Operator
from .app import Console, create_app
from .sampler import Sampler
from .series import CHARTS, Sample, SeriesStore


def build_console(
    state_dir: str | os.PathLike[str],
    *,
    router: str | None = None,
    revisions: Sequence[str] = (),
    policy: Policy | None = None,
    interval_s: float = 5.0,
    persist: bool = True,
    env: Mapping[str, str] | None = None,
    wait_s: float = 30.0,
) -> Console:
    """A :class:`Console` for the stack of ``state_dir`` (or ``router`` and ``revisions``, NAME=URL).

    Raises :class:`~..targets.TargetError` when no router or revisions can be found.
    """
    env = os.environ if env is None else env
    sd = Path(state_dir)
    policy = policy or load_policy()
    targets = resolve_targets(router=router, revisions=revisions, state_dir=sd, blue=policy.baseline,
                              green=policy.candidate, env=env)
    stack = load_stack(sd)
    sources = watch_sources(policy, router=targets.router, revisions=targets.revisions,
                            pids=stack.pids if stack else None).sources
    series = SeriesStore(path=sd / "console" / "history.jsonl" if persist else None)
    series.load(time.time())  # a restarted console still shows the hour before
    sampler = Sampler(policy, targets.router, targets.revisions, sources, series, interval_s=interval_s)

    def admin_key() -> str | None:
        return admin_key_for(sd, env=env)

    operator = Operator(sd, router=router, revisions=revisions, env=env, wait_s=wait_s)
    return Console(policy=policy, sampler=sampler, series=series, operator=operator, state_dir=sd,
                   admin_key=admin_key, guard_history=GuardHistory(sd))


__all__ = ["build_console", "create_app", "Console", "Operator", "ActionError", "Sampler",
           "SeriesStore", "Sample", "CHARTS"]
