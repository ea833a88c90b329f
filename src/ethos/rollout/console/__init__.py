"""The ops console: one page that shows the rollout live and lets an authorised person act.

``build_console`` wires the parts (:mod:`.sampler` reads, :mod:`.views` decides what to show,
:mod:`.actions` runs the procedures, :mod:`.app` serves); ``ethos console`` runs it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..guard.build import watch_sources
from ..guard.history import GuardHistory
from ..guard.policy import Policy, load_policy
from ..stack.state import admin_key_for, load_stack
from ..traffic.targets import resolve_targets
from .actions import ActionError, Operator
from .app import Console, create_app
from .sampler import Sampler
from .series import CHARTS, Sample, SeriesStore

if TYPE_CHECKING:
    from ..sources.cloudmonitoring import CloudRunService


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
    cloud_run: CloudRunService | None = None,
    cloudrun_api: Mapping[str, Any] | None = None,
    managed_prometheus: bool = False,
) -> Console:
    """A :class:`Console` for the stack of ``state_dir`` (or ``router`` and ``revisions``, NAME=URL),
    or for a Cloud Run service (``cloud_run``): signals from Cloud Monitoring, the split from
    the Admin API, health at the tag URLs, actions through Cloud Run's traffic.

    Raises :class:`~..targets.TargetError` when no router or revisions can be found.
    """
    env = os.environ if env is None else env
    sd = Path(state_dir)
    policy = policy or load_policy()
    traffic, cloud = "router", {}
    if cloud_run is not None:
        api = dict(cloudrun_api or {})
        traffic = "cloudrun"
        cloud = {"project": cloud_run.project, "region": cloud_run.region, "service": cloud_run.service,
                 "revisions": dict(cloud_run.revision_names), "monitoring": True,
                 **{k: v for k, v in api.items() if k in ("api_endpoint", "anonymous", "tags")}}
    targets = resolve_targets(router=router, revisions=revisions, state_dir=sd, blue=policy.baseline,
                              green=policy.candidate, env=env, traffic=traffic, cloudrun=dict(cloud))
    stack = load_stack(sd) if cloud_run is None else None
    watch = watch_sources(policy, router=targets.router if cloud_run is None else None,
                          revisions=targets.revisions if cloud_run is None else None,
                          pids=stack.pids if stack else None, cloud_run=cloud_run, cloudrun_api=cloudrun_api,
                          managed_prometheus=managed_prometheus)
    series = SeriesStore(path=sd / "console" / "history.jsonl" if persist else None)
    series.load(time.time())  # a restarted console still shows the hour before
    sampler = Sampler(policy, targets.router, targets.revisions, watch.sources, series, interval_s=interval_s,
                      weights=watch.weights if watch.traffic is not None else None)

    def admin_key() -> str | None:
        return admin_key_for(sd, env=env)

    operator = Operator(sd, router=router, revisions=revisions, env=env, wait_s=wait_s, traffic=traffic,
                        cloudrun=cloud)
    return Console(policy=policy, sampler=sampler, series=series, operator=operator, state_dir=sd,
                   admin_key=admin_key, guard_history=GuardHistory(sd))


__all__ = ["build_console", "create_app", "Console", "Operator", "ActionError", "Sampler",
           "SeriesStore", "Sample", "CHARTS"]
