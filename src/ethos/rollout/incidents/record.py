"""An incident as a record: built from a rollback's journal, stored as JSON, rendered as Markdown.

Files under ``<state dir>/incident_reports/``: ``<id>.json`` (the record) and ``<id>.md`` (the
report). An incident opened by a rollback has the id ``inc-<rollback id without "rb-">``, so a
second call for the same rollback updates it instead of opening another.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import PermanentError
from ..evidence import log_files, read_logs, request_counts
from ..journal import Journal, JournalError, RunRecord
from ..notify import Notification, deliver
from .checklist import apply_ticks, auto_ticks, new_checklist
from .criteria import HORIZONS, due, evaluate_horizon, new_criteria
from .report import REPORTS_DIR, load_template, render_report
from .routing import load_routing, notifiers_for

#: how far before the rollback the impact window starts, seconds
LOOKBACK_S = 900.0


class IncidentError(PermanentError):
    """No such incident, or it cannot be read or written."""


def iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="seconds")


def incident_id_for(rollback_id: str) -> str:
    """``rb-20261128T160501Z-3fa2`` -> ``inc-20261128T160501Z-3fa2``. Pure."""
    return "inc-" + (rollback_id[3:] if rollback_id.startswith("rb-") else rollback_id)


def new_incident_id(t: float) -> str:
    import secrets

    return "inc-" + datetime.fromtimestamp(t, timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(2)


def _timeline(run: RunRecord) -> list[dict[str, Any]]:
    out = []
    for e in run.events:
        ev, ts = e.get("event"), str(e.get("ts", ""))
        if ev == "run_started":
            text = (f"{e.get('procedure')} rollback started by {e.get('executed_by')}"
                    + (f": {e.get('reason')}" if e.get("reason") else ""))
        elif ev == "step_ended":
            text = f"{e.get('step')}: {e.get('status')} — {e.get('message', '')} ({float(e.get('duration_s') or 0):.2f} s)"
        elif ev == "note":
            text = f"note: {e.get('message')}"
        elif ev == "run_resumed":
            text = "run resumed"
        elif ev == "run_ended":
            text = f"rollback {e.get('status')} in {float(e.get('duration_s') or 0):.2f} s — {e.get('message', '')}"
        else:
            continue
        out.append({"ts": ts, "t": e.get("t"), "event": ev, "text": text.replace("|", "/")})
    return out


def steps_of(run: RunRecord) -> dict[str, dict[str, Any]]:
    """Step name -> {kind, status, message, values} of the last end of each step. Pure."""
    kinds = {str(s.get("name")): str(s.get("kind")) for s in run.plan}
    out: dict[str, dict[str, Any]] = {}
    for e in run.events:
        if e.get("event") == "step_ended":
            name = str(e.get("step"))
            out[name] = {"kind": kinds.get(name, ""), "status": e.get("status"),
                         "message": e.get("message", ""), "values": e.get("values") or {}}
    return out


def _bounds(run: RunRecord) -> tuple[float, float, float | None]:
    ts = [float(e["t"]) for e in run.events if isinstance(e.get("t"), (int, float))]
    start, end = (min(ts), max(ts)) if ts else (time.time(), time.time())
    ended = next((e for e in reversed(run.events) if e.get("event") == "run_ended"), None)
    return start, end, (float(ended.get("duration_s") or 0) if ended else None)


def incident_from_run(run: RunRecord, *, requests: Mapping[str, Mapping[str, int]], now: float,
                      kind: str = "rollback", lookback_s: float = LOOKBACK_S) -> dict[str, Any]:
    """A new incident record for the rollback ``run``. Pure (the caller reads the logs)."""
    start, end, duration = _bounds(run)
    steps = steps_of(run)
    cleared = sum(int((s["values"] or {}).get("removed") or 0) for s in steps.values()
                  if s["kind"] == "invalidate_cache" and s["status"] == "ok")
    params = run.params or {}
    approval = dict(params.get("approval") or {})
    approval.setdefault("actor", params.get("executed_by") or "")
    trigger_values: dict[str, Any] = {}
    # the signals the run judged the issue on (standard's step 1), else what it saw first
    judged = [s for s in steps.values() if s["kind"] in ("verify_issue", "snapshot") and s["values"].get("signals")]
    judged.sort(key=lambda s: s["kind"] != "verify_issue")
    for s in judged[:1]:
        for rev, sig in s["values"]["signals"].items():
            if isinstance(sig, Mapping):
                rate, p95 = sig.get("error_rate"), sig.get("p95_ms")
                trigger_values[f"{rev} at {s['kind']}"] = (
                    f"{sig.get('count')} requests, error rate "
                    + (f"{rate:.2%}" if isinstance(rate, (int, float)) else "n/a")
                    + f", p95 {p95 if p95 is not None else 'n/a'} ms")
    actions = [{"ts": run.started, "what": f"{run.procedure} rollback {run.rollback_id} started",
                "by": params.get("executed_by") or "?"}]
    kinds = {str(s.get("name")): str(s.get("kind")) for s in run.plan}
    for e in run.events:
        if (e.get("event") == "step_ended" and e.get("status") == "ok"
                and kinds.get(str(e.get("step"))) in ("set_traffic", "invalidate_cache", "warm_cache", "notify")):
            actions.append({"ts": e.get("ts", ""), "what": f"{e.get('step')}: {e.get('message', '')}",
                            "by": params.get("executed_by") or "?"})
    inc = {
        "id": incident_id_for(run.rollback_id), "kind": kind, "status": "open",
        "title": f"{run.procedure} rollback: {params.get('reason') or 'no reason given'}",
        "opened_at": iso(now), "opened_t": now, "rollback_id": run.rollback_id,
        "procedure": run.procedure, "outcome": run.status, "blue": run.targets.get("blue", "blue"),
        "green": run.targets.get("green", "green"),
        "trigger": {"reason": params.get("reason") or "", "cause": (params.get("options") or {}).get("cause"),
                    "values": trigger_values},
        "authority": approval,
        "timeline": _timeline(run),
        "impact": {"window_since": iso(start - lookback_s), "window_until": iso(end),
                   "window_since_t": start - lookback_s, "window_until_t": end,
                   "rollback_duration_s": duration, "cache_entries_cleared": cleared,
                   "requests": {k: dict(v) for k, v in requests.items()}},
        "actions": actions, "checklist": new_checklist(), "criteria": new_criteria(end),
        "rollback_end_t": end, "notifications": [], "compliance": None, "evidence": [],
    }
    apply_ticks(inc["checklist"], auto_ticks(run))
    for c in inc["criteria"]:
        c["due_at"] = iso(c["due_t"])
    return inc


class IncidentStore:
    """Incident records and reports under ``<state dir>/incident_reports``."""

    def __init__(self, state_dir: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> None:
        self.state_dir = Path(state_dir)
        self.dir = self.state_dir / REPORTS_DIR
        self.env = env

    def _path(self, incident_id: str, suffix: str) -> Path:
        if not incident_id.startswith("inc-") or "/" in incident_id:
            raise IncidentError(f"bad incident id {incident_id!r} (ids look like inc-20261128T160501Z-3fa2)")
        return self.dir / f"{incident_id}{suffix}"

    def exists(self, incident_id: str) -> bool:
        return self._path(incident_id, ".json").exists()

    def load(self, incident_id: str) -> dict[str, Any]:
        try:
            return json.loads(self._path(incident_id, ".json").read_text())
        except FileNotFoundError:
            raise IncidentError(f"no incident {incident_id!r} in {self.dir}") from None
        except (OSError, ValueError) as e:
            raise IncidentError(f"cannot read incident {incident_id}: {e}") from e

    def ids(self) -> list[str]:
        """Incident ids, oldest first."""
        return sorted(p.stem for p in self.dir.glob("inc-*.json")) if self.dir.is_dir() else []

    def latest(self) -> dict[str, Any] | None:
        ids = self.ids()
        return self.load(ids[-1]) if ids else None

    def report_path(self, incident_id: str) -> Path:
        return self._path(incident_id, ".md")

    def save(self, inc: dict[str, Any]) -> Path:
        """Write the record and render the report (keeping what people wrote in it)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        md = self.report_path(inc["id"])
        first = not md.exists()
        previous = None if first else md.read_text(encoding="utf-8")
        if first:
            now_iso = iso(time.time())
            for item in inc["checklist"]:
                if item["id"] == "create_report" and not item["done"]:
                    item.update(done=True, at=now_iso, by="system", evidence=f"report written: {md.name}")
        template, tpath = load_template(self.state_dir, self.env)
        inc["template"] = str(tpath)
        text = render_report(inc, template, previous)
        tmp = self._path(inc["id"], ".json.tmp")
        tmp.write_text(json.dumps(inc, indent=1, default=str) + "\n")
        os.replace(tmp, self._path(inc["id"], ".json"))
        md.write_text(text, encoding="utf-8")
        return md


def notify_incident(inc: dict[str, Any], event: str, state_dir: str | os.PathLike[str],
                    *, env: Mapping[str, str] | None = None, sleep: Callable[[float], None] = time.sleep) -> list[dict[str, Any]]:
    """Tell the audiences routed for ``event`` (PagerDuty, email ...); records and returns deliveries."""
    notifiers = notifiers_for(event, load_routing(state_dir, env), env)
    # chat (Slack/webhook) already heard from the procedure's own notify step
    notifiers = [n for n in notifiers if getattr(n, "kind", "") in ("pagerduty", "email")]
    if not notifiers:
        return []
    n = Notification(title=f"Incident {inc['id']}: {inc['title']}", reason=inc["trigger"]["reason"],
                     time=inc["opened_at"], executed_by=str(inc["authority"].get("actor") or ""),
                     procedure=inc.get("procedure") or "", rollback_id=inc.get("rollback_id") or "",
                     outcome=inc.get("outcome") or "",
                     details={"incident_id": inc["id"], "kind": inc["kind"]})
    out = [d.to_dict() for d in deliver(notifiers, n, attempts=2, backoff_s=0.2, sleep=sleep)]
    inc["notifications"].extend({"event": event, "at": iso(time.time()), **d} for d in out)
    ok = [d["notifier"] for d in out if d["ok"]]
    if ok:
        apply_ticks(inc["checklist"], {"notify_stakeholders": (iso(time.time()) or "", "incident notification: " + ", ".join(ok))})
    return out


def after_rollback(state_dir: str | os.PathLike[str], rollback_id: str, *, now: float | None = None,
                   kind: str = "rollback", notify: bool = True, extra_logs: Sequence[str] = (),
                   env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Open (or refresh) the incident of a rollback: record, ticks, immediate criteria, report."""
    now = time.time() if now is None else now
    try:
        run = Journal(state_dir).load(rollback_id)
    except JournalError as e:
        raise IncidentError(str(e)) from e
    store = IncidentStore(state_dir, env)
    start, end, _ = _bounds(run)
    records = read_logs(log_files(Path(state_dir), extra_logs), start - LOOKBACK_S, end)
    if kind == "rollback" and (run.params.get("options") or {}).get("cause") == "pii":
        kind = "pii-leak"  # e.g. the guard's PII trigger: the compliance tasks apply
    fresh = incident_from_run(run, requests=request_counts(records), now=now, kind=kind)
    if kind == "pii-leak":
        from .pii_leak import compliance_record

        fresh["compliance"] = compliance_record(start, None, rescan_clean=None, evidence_clean=None)
    if store.exists(fresh["id"]):
        inc = store.load(fresh["id"])
        apply_ticks(inc["checklist"], auto_ticks(run))
        for k in ("timeline", "impact", "outcome", "trigger"):
            inc[k] = fresh[k]
        if inc.get("compliance") is None:
            inc["compliance"] = fresh["compliance"]
    else:
        inc = fresh
        if notify:
            notify_incident(inc, "pii-leak" if inc["kind"] == "pii-leak" else "rollback", state_dir, env=env)
    review(inc, now, run=run)
    store.save(inc)
    return inc


def review(inc: dict[str, Any], now: float, *, run: RunRecord | None = None,
           live: Callable[[], tuple[str, str]] | None = None, state_dir: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """Evaluate every success-criteria horizon that is due; returns the criteria recorded now."""
    horizons = due(inc["criteria"], now)
    if not horizons:
        return []
    if run is None and inc.get("rollback_id") and state_dir is not None:
        try:
            run = Journal(state_dir).load(inc["rollback_id"])
        except JournalError:
            run = None
    steps = steps_of(run) if run is not None else {}
    out = []
    for h in horizons:
        assert h in HORIZONS
        out.extend(evaluate_horizon(inc["criteria"], h, now, steps=steps, checklist=inc["checklist"],
                                    blue=inc.get("blue", "blue"), live=live))
    for c in inc["criteria"]:
        c["evaluated_at"] = iso(c.get("evaluated_t"))
    return out


__all__ = ["IncidentStore", "IncidentError", "incident_from_run", "after_rollback", "review",
           "incident_id_for", "new_incident_id", "notify_incident", "steps_of", "LOOKBACK_S"]
