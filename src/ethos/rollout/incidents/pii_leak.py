"""The runbook's PII Leak Response: compliance tasks, the GDPR clock, the technical questions.

GDPR Art. 33 asks a controller to notify the supervisory authority of a personal-data breach
"without undue delay and, where feasible, not later than 72 hours after having become aware
of it"; the deadline shown is the detection time plus 72 hours. Pure.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

GDPR_HOURS = 72
TASKS = (
    ("document", "Document incident"),
    ("notify_dpo", "Notify data protection officer"),
    ("user_notification", "Prepare user notification"),
    ("gdpr_review", "Review GDPR requirements (72-hour notification to the supervisory authority)"),
)


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


def compliance_record(detected_t: float, leaks: list[dict[str, Any]] | None, *, rescan_clean: bool | None,
                      evidence_clean: bool | None, dpo_notified: list[str] | None = None,
                      evidence_quarantine: dict[str, Any] | None = None) -> dict[str, Any]:
    """The compliance part of a PII-leak incident.

    ``leaks``: ``{"key", "entities", "served"}`` per entry found before clearing (``served``: the
    entry's hit count, i.e. answers given from it to someone else than its author).
    ``evidence_quarantine``: ``{"dir", "files": {name: {"path", "sha256", ...}}, "redacted",
    "redacted_clean"}`` when the evidence export held PII and its raw files were moved aside.
    """
    from ...cache.scan.leaks import served_total

    known = leaks is not None
    leaks = leaks or []
    served = served_total(leaks)  # "unknown" when the store could not tell for some entry
    entities: dict[str, int] = {}
    for x in leaks:
        for k, v in (x.get("entities") or {}).items():
            entities[k] = entities.get(k, 0) + int(v)
    tasks = [{"id": tid, "title": title, "done": False, "at": None, "by": None} for tid, title in TASKS]
    if dpo_notified:
        tasks[1].update(done=True, at=_iso(detected_t), by="system",
                        title=f"{TASKS[1][1]} (notified: {', '.join(dpo_notified)})")
    questions = [
        {"id": "gate_bypass", "question": "How did PII bypass detection?",
         "answer": ("Entity types found: " + ", ".join(f"{k} x{v}" for k, v in sorted(entities.items()))
                    + ". Compare with the PII gate's rules (to be completed).") if leaks
         else ("No stored entry held PII at the time of the scan (to be completed)." if known
               else "(to be completed)")},
        {"id": "served", "question": "Was PII served to users?",
         "answer": ((f"{len(leaks)} leaking entries, served {served} times in total from the cache "
                     "(their hit counts before clearing)" + (": no other user saw them." if served == 0 else "."))
                    if served != "unknown" else
                    f"{len(leaks)} leaking entries; how often they were served is unknown (the store "
                    "keeps no hit count for some of them): assume other users saw them.")
         if known else "Unknown: the store was not scanned before it was cleared (use `ethos incident "
                       "pii-leak`, which scans first)."},
        {"id": "fix", "question": "Fix PII detection logic", "answer": "(to be completed)"},
    ]
    if evidence_quarantine:
        q = evidence_quarantine
        raw = ", ".join(str(m.get("path")) for m in (q.get("files") or {}).values())
        questions.append({
            "id": "evidence_pii", "question": "Did the exported evidence hold PII?",
            "answer": (f"Yes: the raw files were quarantined in {q.get('dir')} ({raw}; owner-only, 0600) and "
                       f"redacted copies kept in the export ({', '.join(q.get('redacted') or [])}"
                       + ("" if q.get("redacted_clean") else "; they still hold PII: do not share them")
                       + "). How did PII reach the logs? (to be completed)")})
    return {"detected_at": _iso(detected_t), "gdpr_deadline": _iso(detected_t + GDPR_HOURS * 3600),
            "gdpr_deadline_t": detected_t + GDPR_HOURS * 3600, "tasks": tasks, "questions": questions,
            "leaks": leaks, "served_total": served, "rescan_clean": rescan_clean,
            "evidence_clean": evidence_clean, "evidence_quarantine": evidence_quarantine}


def tick_task(compliance: dict[str, Any], task_id: str, by: str, at: str) -> bool:
    """Tick a compliance task; False when there is no such task."""
    for t in compliance.get("tasks") or []:
        if t["id"] == task_id:
            t.update(done=True, by=by, at=at)
            return True
    return False


__all__ = ["compliance_record", "tick_task", "GDPR_HOURS", "TASKS"]
