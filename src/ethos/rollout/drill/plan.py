"""What a drill checks and against which budgets: the runbook's Rollback Testing, as data. Pure.

The runbook's test checklist (rollback command works, cache invalidation works, monitoring
alerts trigger, team receives notifications, documentation is current) becomes one
:class:`Check` each; every timed step is compared with its budget (emergency < 60 s,
standard 5 min, the PII leak's immediate actions < 1 min, gradual: its stages plus a minute).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

#: ``cloudrun``: the emergency rollback through Cloud Run's API, on a Cloud Run fake (drill/cloudrun.py)
SCENARIOS = ("emergency", "standard", "gradual", "pii-leak", "cloudrun")
#: seconds the runbook allows for the procedure of each scenario
BUDGETS_S: dict[str, float] = {"emergency": 60.0, "standard": 300.0, "pii-leak": 60.0, "cloudrun": 60.0}
#: the drill's short gradual stages (green percent, seconds)
DRILL_STAGES = "50:2s,25:2s,5:2s"
DRILL_INTERVAL_DAYS = 31  # "Monthly Drill"
CHECKS = (
    ("rollback_works", "Rollback command works"),
    ("cache_invalidation_works", "Cache invalidation works"),
    ("monitoring_alerts_trigger", "Monitoring alerts trigger"),
    ("team_receives_notifications", "Team receives notifications"),
    ("documentation_current", "Documentation is current"),
)


def budget_for(scenario: str, stages: str = DRILL_STAGES) -> float:
    """The procedure's time budget in seconds. Pure."""
    if scenario == "gradual":
        return sum(_seconds(s.split(":")[1]) for s in stages.split(",")) + 60.0
    return BUDGETS_S[scenario]


def _seconds(text: str) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)?", text.strip())
    if not m:
        raise ValueError(f"bad duration {text!r}")
    return float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]


@dataclass
class StepTime:
    """One timed step of the drill."""

    name: str
    duration_s: float
    ok: bool
    detail: str = ""
    budget_s: float | None = None

    @property
    def within_budget(self) -> bool | None:
        return None if self.budget_s is None else self.duration_s <= self.budget_s

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "within_budget": self.within_budget}


@dataclass
class Check:
    """One line of the runbook's test checklist: pass | warn | fail, and what showed it."""

    id: str
    title: str
    status: str
    evidence: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DrillReport:
    """Everything a drill measured and concluded."""

    scenario: str
    started: str
    sandbox: str
    steps: list[StepTime] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return (all(c.status != "fail" for c in self.checks) and len(self.checks) == len(CHECKS)
                and all(s.ok and s.within_budget is not False for s in self.steps))

    def to_dict(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "started": self.started, "sandbox": self.sandbox,
                "passed": self.passed, "steps": [s.to_dict() for s in self.steps],
                "checks": [c.to_dict() for c in self.checks], "facts": self.facts}


def runbook_facts(text: str) -> dict[str, Any]:
    """Version, Last Updated, Last Tested and Next Review lines of the runbook. Pure."""
    def field_(name: str) -> str | None:
        m = re.search(rf"\*\*{name}:\*\*\s*(.+)", text)
        return m.group(1).strip() if m else None

    return {"version": field_("Version"), "last_updated": field_("Last Updated"),
            "last_tested": field_("Last Tested"), "next_review": field_("Next Review")}


def documentation_check(facts: dict[str, Any] | None, policy_name: str | None, policy_triggers: int,
                        drill_day: date) -> Check:
    """Is the documentation current? Fails without a runbook or a policy; warns when stale. Pure.

    The drill is the runbook's monthly review ("Update documentation"), so the next review is
    due a month after it. A runbook whose "Last Updated" is older than its review period is
    reported (warn) with the date it should have been reviewed by.
    """
    title = dict(CHECKS)["documentation_current"]
    if not facts or not facts.get("version"):
        return Check("documentation_current", title, "fail", "runbook not found or has no **Version:** line")
    if not policy_name or policy_triggers == 0:
        return Check("documentation_current", title, "fail", "the guard policy has no triggers")
    next_review = drill_day + timedelta(days=DRILL_INTERVAL_DAYS)
    ev = (f"runbook v{facts['version']} (last updated {facts.get('last_updated')}), guard policy "
          f"{policy_name!r} with {policy_triggers} triggers; next review {next_review.isoformat()}")
    try:
        updated = datetime.strptime(str(facts.get("last_updated")), "%Y-%m-%d").date()
    except ValueError:
        return Check("documentation_current", title, "warn", ev + "; 'Last Updated' is not a date")
    if (drill_day - updated).days > DRILL_INTERVAL_DAYS:
        return Check("documentation_current", title, "warn",
                     ev + f"; the runbook was last updated {(drill_day - updated).days} days ago, "
                     f"more than its monthly review: review it (due {(updated + timedelta(days=DRILL_INTERVAL_DAYS)).isoformat()})")
    return Check("documentation_current", title, "pass", ev)


def drill_status(history: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    """Last drill, whether the monthly drill is overdue, when the next is due. Pure."""
    if not history:
        return {"last_drill": None, "last_passed_drill": None, "overdue": True, "next_due": None,
                "drills": 0, "message": "no drill has ever run: run `ethos drill`"}
    last = max(history, key=lambda h: h["started"])
    passed = [h for h in history if h.get("passed")]
    last_ok = max(passed, key=lambda h: h["started"]) if passed else None
    ref = datetime.fromisoformat((last_ok or last)["started"])
    if ref.tzinfo is None:
        ref = ref.replace(tzinfo=UTC)
    due = ref + timedelta(days=DRILL_INTERVAL_DAYS)
    overdue = last_ok is None or now > due
    return {"last_drill": last, "last_passed_drill": last_ok, "overdue": overdue,
            "next_due": due.isoformat(timespec="seconds"), "drills": len(history),
            "message": ("monthly drill OVERDUE" if overdue else "monthly drill up to date")
            + f" (next due {due.date().isoformat()})"}


def render_markdown(r: DrillReport) -> str:
    """The drill report in Markdown. Pure."""
    lines = [f"# Rollback drill: {r.scenario} — {'PASSED' if r.passed else 'FAILED'}", "",
             f"Started {r.started}; sandbox `{r.sandbox}`.", "", "## Steps", "",
             "| step | time (s) | budget (s) | ok | detail |", "|---|---|---|---|---|"]
    for s in r.steps:
        budget = "" if s.budget_s is None else f"{s.budget_s:g}" + ("" if s.within_budget else " **EXCEEDED**")
        lines.append(f"| {s.name} | {s.duration_s:.2f} | {budget} | {'yes' if s.ok else 'NO'} | "
                     f"{s.detail.replace('|', '/')} |")
    lines += ["", "## Test checklist (runbook)", ""]
    for c in r.checks:
        mark = {"pass": "x", "warn": "~", "fail": " "}[c.status]
        lines.append(f"- [{mark}] {c.title} — **{c.status}**: {c.evidence}")
    if r.facts:
        lines += ["", "## Facts", ""]
        lines += [f"- {k}: {v}" for k, v in r.facts.items()]
    return "\n".join(lines) + "\n"


__all__ = ["SCENARIOS", "BUDGETS_S", "DRILL_STAGES", "CHECKS", "StepTime", "Check", "DrillReport",
           "budget_for", "runbook_facts", "documentation_check", "drill_status", "render_markdown",
           "DRILL_INTERVAL_DAYS"]
