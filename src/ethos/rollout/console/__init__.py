"""The ops console: one page that shows the rollout live and lets an authorised person act.

``build_console`` wires the parts (:mod:`.sampler` reads, :mod:`.views` decides what to show,
:mod:`.actions` runs the procedures, :mod:`.app` serves); ``ethos console`` runs it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..guard.history import GuardHistory
from ..guard.policy import Policy, load_policy
from ..sources import PriceTable, ProcessSource, RevisionMetricsSource, RouterSource
from ..sources.base import SignalSource
from ..stack.state import load_stack
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
    sources: list[SignalSource] = []
    if targets.router:
        sources.append(RouterSource(targets.router))
    sources.append(RevisionMetricsSource(
        targets.revisions, prices=PriceTable.from_policy(policy.cost),
        projected_usd_per_hour=(policy.cost or {}).get("projected_usd_per_hour"),
        baseline=policy.baseline))
    stack = load_stack(sd)
    pids = {k: v for k, v in (stack.pids if stack else {}).items() if k in targets.revisions}
    if pids:
        sources.append(ProcessSource(pids))
    series = SeriesStore(path=sd / "console" / "history.jsonl" if persist else None)
    series.load(time.time())  # a restarted console still shows the hour before
    sampler = Sampler(policy, targets.router, targets.revisions, sources, series, interval_s=interval_s)

    def admin_key() -> str | None:
        if env.get("ETHOS_ADMIN_API_KEY"):
            return env["ETHOS_ADMIN_API_KEY"]
        st = load_stack(sd)
        return st.admin_key() if st else None

    operator = Operator(sd, router=router, revisions=revisions, env=env, wait_s=wait_s)
    return Console(policy=policy, sampler=sampler, series=series, operator=operator, state_dir=sd,
                   admin_key=admin_key, guard_history=GuardHistory(sd))


__all__ = ["build_console", "create_app", "Console", "Operator", "ActionError", "Sampler",
           "SeriesStore", "Sample", "CHARTS"]
