"""The runbook's Rollback Checklist as data, and which items a rollback's journal proves done.

:func:`auto_ticks` reads a run (:class:`~ethos.rollout.procedures.journal.RunRecord`) and returns, for
each item the system did itself, the time and the evidence (a journal step and its values).
Items nobody can prove from the record (post-mortem scheduled, root cause ...) are ticked by
people with ``ethos incident check ID ITEM --by NAME``. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..procedures.authority import recorded_approval
from ..procedures.journal import RunRecord

PHASES = ("pre", "during", "post", "follow-up")


@dataclass(frozen=True, slots=True)
class Item:
    """One checklist line: id (for ``incident check``), phase and the runbook's words."""

    id: str
    phase: str
    title: str


CHECKLIST: tuple[Item, ...] = (
    Item("verify_issue", "pre", "Verify issue is real (check metrics)"),
    Item("approval", "pre", "Get rollback authority approval (if time permits)"),
    Item("notify_impending", "pre", "Notify team of impending rollback"),
    Item("execute_rollback", "during", "Execute rollback command"),
    Item("clear_cache", "during", "Clear cache"),
    Item("monitor_error_rate", "during", "Monitor error rate"),
    Item("verify_traffic", "during", "Verify traffic shifted"),
    Item("export_evidence", "post", "Export logs and metrics"),
    Item("create_report", "post", "Create incident report"),
    Item("notify_stakeholders", "post", "Notify stakeholders"),
    Item("schedule_postmortem", "post", "Schedule post-mortem"),
    Item("no_customer_complaints", "post", "Confirm no customer complaints (success criterion, 1 h)"),
    Item("root_cause", "follow-up", "Root cause analysis"),
    Item("fix", "follow-up", "Fix implementation"),
    Item("update_procedures", "follow-up", "Update procedures"),
    Item("redeployment_plan", "follow-up", "Redeployment plan"),
)
ITEM_IDS = tuple(i.id for i in CHECKLIST)


def new_checklist() -> list[dict[str, Any]]:
    """Every item, unticked."""
    return [{"id": i.id, "phase": i.phase, "title": i.title, "done": False, "at": None,
             "by": None, "evidence": None} for i in CHECKLIST]


def _steps(run: RunRecord) -> list[tuple[str, str, dict[str, Any]]]:
    """(kind, ts, step_ended event) of every completed step, in order."""
    kinds = {str(s.get("name")): str(s.get("kind")) for s in run.plan}
    out = []
    for e in run.events:
        if e.get("event") == "step_ended" and e.get("status") in ("ok", "warn", "skipped"):
            out.append((kinds.get(str(e.get("step")), ""), str(e.get("ts")), e))
    return out


def auto_ticks(run: RunRecord) -> dict[str, tuple[str, str]]:
    """Item id -> (time, evidence) for what the run's journal shows was done. Pure."""
    ticks: dict[str, tuple[str, str]] = {}
    removed = 0
    cleared_at = None
    for kind, ts, e in _steps(run):
        values = e.get("values") or {}
        status, step, msg = e.get("status"), e.get("step"), e.get("message", "")
        if kind == "verify_issue" and status == "ok":
            ticks.setdefault("verify_issue", (ts, f"journal {step}: {msg}"))
        elif kind == "set_traffic" and status in ("ok", "skipped") and values.get("after"):
            after = values["after"]
            if not any(v for k, v in after.items() if k != run.targets.get("blue", "blue")):
                ticks["execute_rollback"] = (ts, f"journal {step}: {msg}")
        elif kind == "invalidate_cache" and status == "ok":
            removed += int(values.get("removed") or 0)
            cleared_at = ts
        elif kind in ("monitor", "verify_issue", "baseline", "snapshot") and values.get("signals"):
            blue = (values["signals"] or {}).get(run.targets.get("blue", "blue")) or {}
            rate = blue.get("error_rate")
            shown = f"{rate:.2%}" if isinstance(rate, (int, float)) else "n/a"
            ticks["monitor_error_rate"] = (ts, f"journal {step}: blue error rate {shown} "
                                               f"over {blue.get('count', '?')} requests")
        elif kind == "verify_traffic" and status == "ok":
            ticks["verify_traffic"] = (ts, f"journal {step}: {msg}")
        elif kind == "notify" and status == "ok":
            ok = [d.get("notifier") for d in values.get("deliveries") or [] if d.get("ok")]
            ticks["notify_stakeholders"] = (ts, f"journal {step}: delivered to {', '.join(ok) or '-'}")
    if cleared_at is not None:
        ticks["clear_cache"] = (cleared_at, f"journal invalidate_cache: {removed} entries removed")
    approval = recorded_approval(run.procedure, run.params or {})
    if approval.get("approved_by") or str(approval.get("authority", "")).startswith("policy trigger"):
        ticks["approval"] = (run.started, f"{approval.get('authority')}")
    return ticks


def apply_ticks(checklist: list[dict[str, Any]], ticks: dict[str, tuple[str, str]],
                by: str = "system") -> list[str]:
    """Tick the items in ``ticks`` not yet done; returns the ids ticked now."""
    done = []
    for item in checklist:
        if item["id"] in ticks and not item["done"]:
            at, evidence = ticks[item["id"]]
            item.update(done=True, at=at, by=by, evidence=evidence)
            done.append(item["id"])
    return done


def tick(checklist: list[dict[str, Any]], item_id: str, by: str, at: str,
         evidence: str | None = None) -> dict[str, Any]:
    """Tick one item by a person; raises KeyError naming the known ids when unknown."""
    for item in checklist:
        if item["id"] == item_id:
            item.update(done=True, at=at, by=by, evidence=evidence or f"ticked by {by}")
            return item
    raise KeyError(f"unknown checklist item {item_id!r}; known: {', '.join(ITEM_IDS)}")


def progress(checklist: list[dict[str, Any]]) -> dict[str, tuple[int, int]]:
    """Phase -> (done, total). Pure."""
    return {p: (sum(1 for i in checklist if i["phase"] == p and i["done"]),
                sum(1 for i in checklist if i["phase"] == p)) for p in PHASES}


__all__ = ["Item", "CHECKLIST", "ITEM_IDS", "PHASES", "new_checklist", "auto_ticks", "apply_ticks",
           "tick", "progress"]
