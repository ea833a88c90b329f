"""The runbook's rollback procedures: plans of idempotent steps, run by one journaling loop.

- :mod:`.plans`: ``plan_emergency`` / ``plan_standard`` / ``plan_gradual`` (pure);
- :mod:`.cache_decision`: ``decide_cache`` (pure); :mod:`.assess`: signal verdicts (pure);
- :mod:`.actions`: the I/O of each step kind; :mod:`.runner`: ``execute``.
"""

from __future__ import annotations

from .assess import Criterion, Thresholds, blue_degraded, confirm_issue, success_criteria
from .cache_decision import CacheDecision, decide_cache, infer_cause
from .context import Context, StepResult
from .plans import (
    PLANS,
    PlanOptions,
    Step,
    describe_plan,
    parse_stages,
    plan_emergency,
    plan_gradual,
    plan_standard,
)
from .runner import Outcome, StepReport, execute

__all__ = [
    "CacheDecision", "decide_cache", "infer_cause",
    "Thresholds", "Criterion", "confirm_issue", "blue_degraded", "success_criteria",
    "Step", "PlanOptions", "PLANS", "plan_emergency", "plan_standard", "plan_gradual",
    "parse_stages", "describe_plan",
    "Context", "StepResult", "execute", "Outcome", "StepReport",
]
