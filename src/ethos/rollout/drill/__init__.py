"""Rollback drills (the runbook's Rollback Testing): run, time, check, report, keep a history."""

from __future__ import annotations

from .history import DrillHistory
from .plan import SCENARIOS, DrillReport, drill_status, render_markdown
from .runner import DrillOptions, run_drill

__all__ = ["DrillHistory", "DrillOptions", "DrillReport", "SCENARIOS", "drill_status", "render_markdown",
           "run_drill"]
