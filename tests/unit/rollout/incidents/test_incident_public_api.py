"""The public surface of the incident and drill packages is pinned."""

from __future__ import annotations

import ethos.rollout.drill as drill
import ethos.rollout.incidents as incidents


def test_all_is_pinned():
    assert sorted(incidents.__all__) == sorted([
        "CHECKLIST", "ITEM_IDS", "auto_ticks", "new_checklist", "tick", "CRITERIA", "HORIZONS", "due",
        "evaluate_horizon", "new_criteria", "IncidentStore", "after_rollback", "incident_from_run", "review",
        "load_template", "render_report"])
    assert sorted(drill.__all__) == sorted(["DrillHistory", "DrillOptions", "DrillReport", "SCENARIOS",
                                            "drill_status", "render_markdown", "run_drill"])
    for mod in (incidents, drill):
        for name in mod.__all__:
            assert getattr(mod, name) is not None

