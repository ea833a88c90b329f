"""The open incident and the last drill, read through their own packages.

Incidents (``ethos.rollout.incidents``) and drills (``ethos.rollout.drill``) are other parts;
the console only reads their records and shapes them for the page. When a package is missing
or its record cannot be read, the page shows *not available* with the reason instead of
failing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def _safe(fn: Callable[[], dict[str, Any]], what: str) -> dict[str, Any]:
    try:
        return fn()
    except Exception as e:  # noqa: BLE001 - another part's failure never breaks the page
        return {"available": False, "detail": f"cannot read the {what}: {type(e).__name__}: {e}"}


def incident_view(inc: Mapping[str, Any]) -> dict[str, Any]:
    """What the page shows of an incident record: title, checklist, deadlines. Pure."""
    deadlines = []
    comp = inc.get("compliance")
    if isinstance(comp, Mapping) and comp.get("gdpr_deadline"):
        deadlines.append({"title": "GDPR 72-hour notification deadline", "due": comp["gdpr_deadline"]})
    for c in inc.get("criteria") or []:
        if isinstance(c, Mapping) and c.get("status") == "pending" and c.get("due_at"):
            deadlines.append({"title": f"success criterion {c.get('id')} checked", "due": c["due_at"]})
    return {
        "id": inc.get("id"), "status": inc.get("status"), "title": inc.get("title"),
        "opened_at": inc.get("opened_at"), "rollback_id": inc.get("rollback_id"),
        "checklist": [{"id": i.get("id"), "title": i.get("title"), "phase": i.get("phase"),
                       "done": bool(i.get("done")), "by": i.get("by")}
                      for i in inc.get("checklist") or [] if isinstance(i, Mapping)],
        "deadlines": deadlines[:4],
    }


def open_incident(state_dir: Path) -> dict[str, Any]:
    """``{"available": True, "incident": view | None}`` (the newest open one), or not available."""
    def read() -> dict[str, Any]:
        from ..incidents import IncidentStore

        store = IncidentStore(state_dir)
        for iid in reversed(store.ids()):
            inc = store.load(iid)
            if inc.get("status") == "open":
                return {"available": True, "incident": incident_view(inc)}
        return {"available": True, "incident": None}
    return _safe(read, "incidents")


def drill_view(status: Mapping[str, Any]) -> dict[str, Any]:
    """What the page shows of ``drill_status``: last drill, its result, overdue, next due. Pure."""
    last = status.get("last_drill") or {}
    return {
        "last_at": last.get("started"), "scenario": last.get("scenario"),
        "result": None if not last else ("passed" if last.get("passed") else "failed"),
        "report": last.get("report"), "overdue": bool(status.get("overdue")),
        "next_due": status.get("next_due"), "message": status.get("message"), "drills": status.get("drills", 0),
    }


def last_drill(state_dir: Path, now: datetime | None = None) -> dict[str, Any]:
    """``{"available": True, "drill": view}``, or not available."""
    def read() -> dict[str, Any]:
        from ..drill import DrillHistory, drill_status

        st = drill_status(DrillHistory(state_dir).read(), now or datetime.now(UTC))
        return {"available": True, "drill": drill_view(st)}
    return _safe(read, "drills")


def drill_command(state_dir: Path) -> list[str] | None:
    """The ``ethos`` arguments that start a drill (``ethos drill``)."""
    return ["drill", "--yes", "--json", "--state-dir", str(state_dir)]


__all__ = ["open_incident", "incident_view", "last_drill", "drill_view", "drill_command"]
