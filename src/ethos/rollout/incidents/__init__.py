"""Incidents: the report, checklist, success criteria and compliance tasks after a rollback.

- :mod:`.checklist` and :mod:`.criteria`: the runbook's checklist and success criteria (pure);
- :mod:`.record`: building an incident from a rollback's journal (pure) and storing it;
- :mod:`.episode`: which incident a finished rollback belongs to, one per trigger episode (pure);
- :mod:`.report`: Markdown from a Jinja2 template users can replace;
- :mod:`.pii_leak`: the PII Leak Response's compliance tasks and questions;
- :mod:`.routing`: who is told of what.
"""

from __future__ import annotations

from .checklist import CHECKLIST, ITEM_IDS, auto_ticks, new_checklist, tick
from .criteria import CRITERIA, HORIZONS, due, evaluate_horizon, new_criteria
from .record import IncidentStore, after_rollback, incident_from_run, review
from .report import load_template, render_report

__all__ = [
    "CHECKLIST", "ITEM_IDS", "auto_ticks", "new_checklist", "tick",
    "CRITERIA", "HORIZONS", "due", "evaluate_horizon", "new_criteria",
    "IncidentStore", "after_rollback", "incident_from_run", "review",
    "load_template", "render_report",
]
