"""The guard: the runbook's triggers watched and acted on by themselves.

``policy`` (triggers as data) -> ``evaluate`` (pure: signal windows + clock -> decision) ->
``loop`` (reads sources, records every evaluation, runs the rollback procedure, alerts).
"""

from __future__ import annotations

from ..sources.measurements import SIGNALS, Measurement, Snapshot, proportion
from .evaluate import Decision, Evaluation, GuardState, Incident, TriggerResult, evaluate
from .policy import Baseline, Policy, PolicyError, Trigger, load_policy, parse_policy

__all__ = [
    "Baseline",
    "Decision",
    "Evaluation",
    "GuardState",
    "Incident",
    "Measurement",
    "Policy",
    "PolicyError",
    "SIGNALS",
    "Snapshot",
    "Trigger",
    "TriggerResult",
    "evaluate",
    "load_policy",
    "parse_policy",
    "proportion",
]
