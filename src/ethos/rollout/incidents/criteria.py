"""The runbook's Success Criteria After Rollback, evaluated when each horizon is due.

Three horizons, counted from the end of the rollback: immediate (< 5 min), short-term (1 h),
follow-up (24 h). :func:`due` says which horizons are due and not yet recorded (pure, on any
clock); :func:`evaluate_horizon` computes the results of one horizon from what the incident
holds (the journal's verify steps, the checklist) and, for "all metrics stable", a live reading
passed in by the caller. Results are recorded once, with the time they were evaluated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

HORIZONS: dict[str, float] = {"immediate": 300.0, "short-term": 3600.0, "follow-up": 86400.0}


@dataclass(frozen=True, slots=True)
class Criterion:
    """One success criterion: its horizon and where its verdict comes from."""

    id: str
    horizon: str
    title: str
    source: str  # journal:<step kind> | live | checklist:<item>


CRITERIA: tuple[Criterion, ...] = (
    Criterion("traffic_on_blue", "immediate", "Traffic 100% on blue (stable) revision", "journal:verify_traffic"),
    Criterion("error_rate_below_1pct", "immediate", "Error rate < 1%", "journal:error_rate"),
    Criterion("latency_at_baseline", "immediate", "Latency back to baseline", "journal:latency"),
    Criterion("no_user_facing_errors", "immediate", "No user-facing errors", "journal:probe"),
    Criterion("metrics_stable", "short-term", "All metrics stable", "live"),
    Criterion("no_customer_complaints", "short-term", "No customer complaints", "checklist:no_customer_complaints"),
    Criterion("incident_report_created", "short-term", "Incident report created", "checklist:create_report"),
    Criterion("team_notified", "short-term", "Team notified", "checklist:notify_stakeholders"),
    Criterion("root_cause_identified", "follow-up", "Root cause identified", "checklist:root_cause"),
    Criterion("fix_implemented", "follow-up", "Fix implemented and tested", "checklist:fix"),
    Criterion("redeployment_plan_created", "follow-up", "Redeployment plan created", "checklist:redeployment_plan"),
)


def new_criteria(end_t: float) -> list[dict[str, Any]]:
    """Every criterion, pending, with the unix time its horizon is due."""
    return [{"id": c.id, "horizon": c.horizon, "title": c.title, "source": c.source,
             "due_t": end_t + (0.0 if c.horizon == "immediate" else HORIZONS[c.horizon]),
             "deadline_t": end_t + HORIZONS[c.horizon], "status": "pending", "value": None,
             "evaluated_t": None} for c in CRITERIA]


def due(criteria: list[dict[str, Any]], now: float) -> list[str]:
    """Horizons with a pending criterion whose time has come, in order. Pure.

    Immediate criteria are due at once (their evidence is the rollback's own verify steps,
    taken within the 5 minutes); the others when their horizon has passed.
    """
    out = []
    for h in HORIZONS:
        if any(c["horizon"] == h and c["status"] == "pending" and now >= c["due_t"] for c in criteria):
            out.append(h)
    return out


def _journal_verdict(kind: str, steps: dict[str, dict[str, Any]], blue: str) -> tuple[str, str]:
    if kind == "verify_traffic":
        s = steps.get("verify_traffic")
        if s is None:
            return "fail", "no verify_traffic step completed"
        return ("pass" if s.get("status") == "ok" else "fail"), str(s.get("message"))
    if kind == "probe":
        s = steps.get("probe")
        if s is None:
            h = steps.get("verify_health")
            if h is None:
                return "unknown", "no probe or health check in the run"
            return ("pass" if h.get("status") == "ok" else "fail"), f"health: {h.get('message')}"
        return ("pass" if s.get("status") == "ok" else "fail"), str(s.get("message"))
    # error_rate / latency: the last signals of blue the run read
    sig = None
    for name in ("monitor", "verify_issue", "baseline", "snapshot"):
        for step in steps.values():
            if step.get("kind") == name and (step.get("values") or {}).get("signals", {}).get(blue):
                sig = step["values"]["signals"][blue]
        if sig:
            break
    if not sig:
        return "unknown", "no signals of blue were recorded by the run"
    if kind == "error_rate":
        rate = sig.get("error_rate")
        if rate is None:
            return "unknown", "no error rate recorded"
        return ("pass" if rate < 0.01 else "fail"), f"blue error rate {rate:.2%} over {sig.get('count')} requests"
    p95 = sig.get("p95_ms")
    if p95 is None:
        return "unknown", "no latency recorded"
    return ("pass" if p95 < 10_000 else "fail"), f"blue p95 {p95:.0f} ms (runbook: < 10 s)"


def evaluate_horizon(
    criteria: list[dict[str, Any]],
    horizon: str,
    now: float,
    *,
    steps: dict[str, dict[str, Any]],
    checklist: list[dict[str, Any]],
    blue: str = "blue",
    live: Callable[[], tuple[str, str]] | None = None,
) -> list[dict[str, Any]]:
    """Record the verdict of each pending criterion of ``horizon``; returns those recorded.

    ``steps``: step name -> {"kind", "status", "message", "values"} of the run.
    ``live()``: (verdict, value) of "all metrics stable" read now; None: unknown.
    """
    ticked = {i["id"]: i for i in checklist if i.get("done")}
    out = []
    for c in criteria:
        if c["horizon"] != horizon or c["status"] != "pending":
            continue
        kind, _, arg = c["source"].partition(":")
        if kind == "journal":
            verdict, value = _journal_verdict(arg, steps, blue)
        elif kind == "live":
            verdict, value = live() if live is not None else ("unknown", "no live signals reachable")
        else:
            item = ticked.get(arg)
            if item is not None:
                verdict, value = "pass", f"{item.get('by')} at {item.get('at')}: {item.get('evidence')}"
            else:
                verdict, value = "fail", f"checklist item {arg} not ticked by the deadline"
        late = now > c["deadline_t"]
        c.update(status=verdict, value=value + (" (evaluated after the deadline)" if late and kind == "live" else ""),
                 evaluated_t=now)
        out.append(c)
    return out


__all__ = ["HORIZONS", "CRITERIA", "Criterion", "new_criteria", "due", "evaluate_horizon"]
