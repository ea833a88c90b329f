"""Drill decisions: budgets, documentation check, status and the overdue monthly drill."""

from __future__ import annotations

from datetime import UTC, date, datetime

from ethos.rollout.drill.plan import (
    CHECKS,
    Check,
    DrillReport,
    StepTime,
    budget_for,
    documentation_check,
    drill_status,
    render_markdown,
    runbook_facts,
)

RUNBOOK_TAIL = "---\n\n**Version:** 1.0\n**Last Tested:** [Date of last drill]\n**Next Review:** Monthly\n"


def test_budgets_follow_the_runbook():
    assert budget_for("emergency") == 60 and budget_for("standard") == 300 and budget_for("pii-leak") == 60
    assert budget_for("gradual", "50:2s,25:2s,5:2s") == 66
    assert budget_for("gradual", "50:15m,25:15m,5:30m") == 3660


def test_runbook_facts_and_documentation_check():
    facts = runbook_facts("**Last Updated:** 2026-11-20\n" + RUNBOOK_TAIL)
    assert facts == {"version": "1.0", "last_updated": "2026-11-20", "last_tested": "[Date of last drill]",
                     "next_review": "Monthly"}
    ok = documentation_check(facts, "runbook", 20, date(2026, 11, 28))
    assert ok.status == "pass" and "next review 2026-12-29" in ok.evidence
    stale = documentation_check({**facts, "last_updated": "2025-11-29"}, "runbook", 20, date(2026, 11, 28))
    assert stale.status == "warn" and "364 days ago" in stale.evidence
    assert documentation_check(None, "runbook", 20, date(2026, 11, 28)).status == "fail"
    assert documentation_check(facts, "runbook", 0, date(2026, 11, 28)).status == "fail"


def _report(ok: bool = True, seconds: float = 1.0) -> DrillReport:
    r = DrillReport("emergency", "2026-11-28T16:00:00+00:00", "/tmp/x")
    r.steps = [StepTime("rollback", seconds, True, "done", 60.0)]
    r.checks = [Check(cid, title, "pass" if ok else "fail", "seen") for cid, title in CHECKS]
    return r


def test_a_drill_passes_only_with_every_check_and_within_budget():
    assert _report().passed
    assert not _report(ok=False).passed
    assert not _report(seconds=61).passed
    r = _report()
    r.checks = r.checks[:-1]
    assert not r.passed  # a check that did not run is not a pass
    md = render_markdown(_report(seconds=61))
    assert "FAILED" in md and "**EXCEEDED**" in md and "- [x] Rollback command works" in md


def test_status_says_when_the_monthly_drill_is_overdue():
    now = datetime(2026, 11, 28, tzinfo=UTC)
    assert drill_status([], now)["overdue"]
    h = [{"started": "2026-11-01T10:00:00+00:00", "scenario": "emergency", "passed": True, "report": "a"},
         {"started": "2026-11-20T10:00:00+00:00", "scenario": "standard", "passed": False, "report": "b"}]
    st = drill_status(h, now)
    assert st["last_drill"]["report"] == "b" and st["last_passed_drill"]["report"] == "a"
    assert st["next_due"] == "2026-12-02T10:00:00+00:00" and not st["overdue"]
    assert drill_status(h, datetime(2026, 12, 3, tzinfo=UTC))["overdue"]
    assert drill_status(h[1:], now)["overdue"]  # no drill has passed yet
