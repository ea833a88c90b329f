"""An incident as a record: built from rollbacks' journals, stored as JSON, rendered as Markdown.

Files under ``<state dir>/incident_reports/``: ``<id>.json`` (the record) and ``<id>.md`` (the
report). One incident per trigger episode (:mod:`.episode`): the rollback that opens it gives
it its id, ``inc-<rollback id without "rb-">``; the later rollbacks of the same episode attach
to it (``rollbacks``, ``runs``, one timeline entry each), and a second call for a rollback
already recorded refreshes its part instead of adding anything. :func:`after_rollback` holds
``incident_reports/.episode.lock`` (``fcntl.flock``) while it decides and writes, so two
rollbacks ending at once in two processes cannot open two incidents.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import PermanentError
from ..notify import Notification, deliver
from ..procedures.authority import recorded_approval
from ..procedures.journal import Journal, JournalError, RunRecord
from .checklist import apply_ticks, auto_ticks, new_checklist
from .criteria import HORIZONS, due, evaluate_horizon, new_criteria
from .episode import (
    episode_run,
    episode_window_s,
    higher_cause,
    higher_severity,
    judged_rollback,
    links_of,
    match_episode,
    members,
    run_bounds,
    run_severity,
)
from .evidence import log_files, read_logs, request_counts
from .report import REPORTS_DIR, load_template, render_report
from .routing import load_routing, notifiers_for

#: how far before the rollback the impact window starts, seconds
LOOKBACK_S = 900.0
#: the lock file serialising :func:`after_rollback` (in the reports dir)
LOCK_NAME = ".episode.lock"
#: how long :func:`after_rollback` waits for another process's lock, seconds
LOCK_WAIT_S = 120.0


class IncidentError(PermanentError):
    """No such incident, or it cannot be read or written."""


def iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


def incident_id_for(rollback_id: str) -> str:
    """``rb-20261128T160501Z-3fa2`` -> ``inc-20261128T160501Z-3fa2``. Pure."""
    return "inc-" + (rollback_id[3:] if rollback_id.startswith("rb-") else rollback_id)


def new_incident_id(t: float) -> str:
    import secrets

    return "inc-" + datetime.fromtimestamp(t, UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(2)


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
        elif ev == "run_superseded":
            text = f"superseded by {e.get('procedure') or 'another'} rollback {e.get('by')}"
        else:
            continue
        out.append({"ts": ts, "t": e.get("t"), "event": ev, "rollback_id": run.rollback_id,
                    "text": text.replace("|", "/")})
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


def _trigger(run: RunRecord) -> dict[str, Any]:
    """The reason, the cause and the signals the run judged the issue on. Pure."""
    params = run.params or {}
    steps = steps_of(run)
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
    return {"reason": params.get("reason") or "", "cause": (params.get("options") or {}).get("cause"),
            "values": trigger_values}


def _cleared(run: RunRecord) -> int:
    return sum(int((s["values"] or {}).get("removed") or 0) for s in steps_of(run).values()
               if s["kind"] == "invalidate_cache" and s["status"] == "ok")


def _actions(run: RunRecord) -> list[dict[str, Any]]:
    """What the run did and who did it, each tagged with the rollback id. Pure."""
    by = (run.params or {}).get("executed_by") or "?"
    actions = [{"ts": run.started, "what": f"{run.procedure} rollback {run.rollback_id} started", "by": by,
                "rollback_id": run.rollback_id}]
    kinds = {str(s.get("name")): str(s.get("kind")) for s in run.plan}
    for e in run.events:
        if (e.get("event") == "step_ended" and e.get("status") == "ok"
                and kinds.get(str(e.get("step"))) in ("set_traffic", "invalidate_cache", "warm_cache", "notify")):
            actions.append({"ts": e.get("ts", ""), "what": f"{e.get('step')}: {e.get('message', '')}", "by": by,
                            "rollback_id": run.rollback_id})
    return actions


def run_entry(run: RunRecord, why: str) -> dict[str, Any]:
    """One rollback of an incident (``runs``): what the episode rule and the report need. Pure."""
    start, end = run_bounds(run)
    _, _, duration = _bounds(run)
    cause = (run.params.get("options") or {}).get("cause")
    return {"rollback_id": run.rollback_id, "procedure": run.procedure, "status": run.status,
            "green": str(run.targets.get("green") or "green"), "blue": str(run.targets.get("blue") or "blue"),
            "started": run.started, "start_t": start, "end_t": end, "ended_at": iso(end),
            "duration_s": duration, "cause": cause, "severity": run_severity(run.procedure, cause),
            "cache_entries_cleared": _cleared(run), "links": links_of(run), "why": why}


def _entry_text(entry: Mapping[str, Any], opener: bool) -> str:
    head = f"rollback {entry['rollback_id']} ({entry.get('procedure')}, {entry.get('status')})"
    text = head + (" opened the incident" if opener else f" attached: {entry.get('why')}")
    if entry.get("escalation"):
        text += f"; escalated: {entry['escalation']}"
    return text.replace("|", "/")


def _run_timeline(run: RunRecord, entry: Mapping[str, Any], opener: bool) -> list[dict[str, Any]]:
    """The run's journal as timeline entries, then its own entry in the incident. Pure."""
    end = float(entry.get("end_t") or 0.0)
    ts = datetime.fromtimestamp(end, UTC).isoformat(timespec="milliseconds")
    return _timeline(run) + [{"ts": ts, "t": end, "event": "rollback_attached",
                              "rollback_id": run.rollback_id, "text": _entry_text(entry, opener)}]


def _ts_key(ts: Any) -> float:
    try:
        return datetime.fromisoformat(str(ts)).timestamp()
    except ValueError:
        return float("inf")


def incident_from_run(run: RunRecord, *, requests: Mapping[str, Mapping[str, int]], now: float,
                      kind: str = "rollback", lookback_s: float = LOOKBACK_S) -> dict[str, Any]:
    """A new incident record for the rollback ``run`` (the first of its episode). Pure (the caller reads the logs)."""
    start, end, duration = _bounds(run)
    params = run.params or {}
    approval = recorded_approval(run.procedure, params)  # who acted, on whose authority
    entry = run_entry(run, "opened the incident")
    inc = {
        "id": incident_id_for(run.rollback_id), "kind": kind, "status": "open",
        "title": f"{run.procedure} rollback: {params.get('reason') or 'no reason given'}",
        "opened_at": iso(now), "opened_t": now, "rollback_id": run.rollback_id,
        "rollbacks": [run.rollback_id], "runs": [entry], "severity": entry["severity"],
        "procedure": run.procedure, "outcome": run.status, "blue": run.targets.get("blue", "blue"),
        "green": run.targets.get("green", "green"),
        "trigger": _trigger(run),
        "authority": approval,
        "timeline": _run_timeline(run, entry, True),
        "impact": {"window_since": iso(start - lookback_s), "window_until": iso(end),
                   "window_since_t": start - lookback_s, "window_until_t": end,
                   "rollback_duration_s": duration, "cache_entries_cleared": entry["cache_entries_cleared"],
                   "requests": {k: dict(v) for k, v in requests.items()}},
        "actions": _actions(run), "checklist": new_checklist(), "criteria": new_criteria(end),
        "rollback_end_t": end, "criteria_rollback_id": run.rollback_id, "notifications": [], "compliance": None,
        "evidence": [],
    }
    apply_ticks(inc["checklist"], auto_ticks(run))
    for c in inc["criteria"]:
        c["due_at"] = iso(c["due_t"])
    return inc


def episode_bounds(inc: Mapping[str, Any], run: RunRecord | None = None) -> tuple[float, float]:
    """(first start, last end) over the incident's rollbacks and ``run``. Pure."""
    spans = [(float(m.get("start_t") or m.get("end_t") or 0.0), float(m.get("end_t") or 0.0)) for m in members(inc)]
    if run is not None:
        spans.append(run_bounds(run))
    spans = [s for s in spans if s[1]] or [(0.0, 0.0)]
    return min(s[0] for s in spans), max(s[1] for s in spans)


def _rebase_criteria(criteria: list[dict[str, Any]], end: float) -> None:
    """A later rollback ended: the journal's criteria are judged again on it, pending ones count from it."""
    for c in criteria:
        h = HORIZONS.get(c["horizon"], 0.0)
        if str(c.get("source", "")).startswith("journal:"):
            c.update(status="pending", value=None, evaluated_t=None, evaluated_at=None, due_t=end,
                     deadline_t=end + h)
        elif c["status"] == "pending":
            c.update(due_t=end + (0.0 if c["horizon"] == "immediate" else h), deadline_t=end + h)
        c["due_at"] = iso(c["due_t"])


def attach_run(inc: dict[str, Any], run: RunRecord, why: str, *, requests: Mapping[str, Mapping[str, int]],
               now: float, kind: str = "rollback", lookback_s: float = LOOKBACK_S) -> dict[str, Any]:
    """Add ``run`` to the incident of its episode, or refresh its part when it is there already.

    Idempotent: the run's timeline entries and actions replace the ones it had; severity, cause,
    kind and the end of the episode are recomputed from the rollbacks. Returns ``{"new": bool,
    "escalation": text or None, "kind_escalated": bool}``. Pure (mutates ``inc``; no I/O).
    """
    rid = run.rollback_id
    runs = members(inc)
    opener = str(inc.get("rollback_id") or (runs[0]["rollback_id"] if runs else rid))
    old = next((m for m in runs if m["rollback_id"] == rid), None)
    entry = run_entry(run, str(old.get("why") or why) if old else why)
    escalation = None
    if old is not None:
        for k in ("escalation", "attached_at"):
            if old.get(k):
                entry[k] = old[k]
        runs[runs.index(old)] = entry
    else:
        sev_before = inc.get("severity") or _fold_severity(runs)
        cause_before = (inc.get("trigger") or {}).get("cause")
        sev_after = higher_severity(sev_before, entry["severity"])
        cause_after = higher_cause(cause_before, entry["cause"])
        changed = ([f"severity {sev_before} → {sev_after}"] if sev_after != sev_before else []) + (
            [f"cause {cause_before or 'unspecified'} → {cause_after}"] if cause_after != cause_before else [])
        escalation = ", ".join(changed) or None
        if escalation:
            entry["escalation"] = escalation
        entry["attached_at"] = iso(now)
        runs.append(entry)
    inc["runs"] = runs
    inc["rollbacks"] = [m["rollback_id"] for m in runs]
    inc.setdefault("rollback_id", opener)
    is_opener = rid == opener
    # the run's own timeline entries and actions (untagged ones: written before episodes, the opener's)
    def mine(e: Mapping[str, Any]) -> bool:
        return e.get("rollback_id", opener) == rid
    order = {r: i for i, r in enumerate(inc["rollbacks"])}  # equal times: the older rollback first
    kept = [e for e in inc.get("timeline") or [] if not mine(e)]
    inc["timeline"] = sorted(kept + _run_timeline(run, entry, is_opener),
                             key=lambda e: (float(e.get("t") or 0.0), order.get(e.get("rollback_id", opener), 0)))
    actions = list(inc.get("actions") or [])
    if not is_opener or any(a.get("rollback_id") == rid for a in actions):
        actions = [a for a in actions if a.get("rollback_id") != rid] + _actions(run)
        actions.sort(key=lambda a: (_ts_key(a.get("ts")), order.get(a.get("rollback_id"), len(order))))
    inc["actions"] = actions
    apply_ticks(inc["checklist"], auto_ticks(run))
    # what the episode adds up to
    inc["severity"] = _fold_severity(runs, inc.get("severity"))
    trigger = dict(inc.get("trigger") or {})
    if is_opener:
        trigger = _trigger(run)
        inc["outcome"] = run.status
    for m in runs:
        trigger["cause"] = higher_cause(trigger.get("cause"), m.get("cause"))
    inc["trigger"] = trigger
    kind_escalated = False
    if inc.get("kind") != "pii-leak" and (kind == "pii-leak" or trigger.get("cause") == "pii"):
        inc["kind"], kind_escalated = "pii-leak", True
    start, end = episode_bounds(inc)
    judged = judged_rollback(runs) or entry
    judged_end = float(judged.get("end_t") or end)
    if (judged["rollback_id"], judged_end) != (inc.get("criteria_rollback_id", opener),
                                               float(inc.get("rollback_end_t") or 0.0)):
        # the success criteria count from the end of the episode's last (not superseded) rollback
        inc["criteria_rollback_id"], inc["rollback_end_t"] = judged["rollback_id"], judged_end
        _rebase_criteria(inc["criteria"], judged_end)
    impact = dict(inc.get("impact") or {})
    first = runs[0]
    impact.update(window_since=iso(start - lookback_s), window_until=iso(end), window_since_t=start - lookback_s,
                  window_until_t=end, rollback_duration_s=first.get("duration_s", impact.get("rollback_duration_s")),
                  cache_entries_cleared=sum(int(m.get("cache_entries_cleared") or 0) for m in runs),
                  requests={k: dict(v) for k, v in requests.items()})
    inc["impact"] = impact
    return {"new": old is None, "escalation": escalation, "kind_escalated": kind_escalated}


def _fold_severity(runs: Sequence[Mapping[str, Any]], start: str | None = None) -> str:
    sev = start or "low"
    for m in runs:
        sev = higher_severity(sev, m.get("severity") or run_severity(m.get("procedure"), m.get("cause")))
    return sev


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

    def records(self) -> list[dict[str, Any]]:
        """Every readable incident record, oldest first (unreadable ones are skipped)."""
        out = []
        for iid in self.ids():
            try:
                out.append(self.load(iid))
            except IncidentError:
                continue
        return out

    @contextmanager
    def lock(self, wait_s: float = LOCK_WAIT_S) -> Iterator[None]:
        """Hold ``incident_reports/.episode.lock`` (``flock``: other processes and threads wait)."""
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as e:
            raise IncidentError(f"cannot open the incidents lock in {self.dir}: {e}") from e
        try:
            deadline = time.monotonic() + wait_s
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise IncidentError(f"{self.dir / LOCK_NAME} is held by another process "
                                            f"for more than {wait_s:.0f} s") from None
                    time.sleep(0.02)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

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
    """Open the incident of a rollback's episode, attach the rollback to it, or refresh its part.

    Record, ticks, immediate criteria, report; returns the incident record. One process or
    thread at a time (``incident_reports/.episode.lock``). Only an incident opened now notifies
    (or one that became a PII leak now): the rollbacks of an episode page once.
    """
    now = time.time() if now is None else now
    try:
        run = Journal(state_dir).load(rollback_id)
    except JournalError as e:
        raise IncidentError(str(e)) from e
    store = IncidentStore(state_dir, env)
    if kind == "rollback" and (run.params.get("options") or {}).get("cause") == "pii":
        kind = "pii-leak"  # e.g. the guard's PII trigger: the compliance tasks apply
    with store.lock():
        match = match_episode(episode_run(run), store.records(), episode_window_s(env))
        inc = store.load(match.incident_id) if match.incident_id else None
        start, end = episode_bounds(inc, run) if inc is not None else _bounds(run)[:2]
        records = read_logs(log_files(Path(state_dir), extra_logs), start - LOOKBACK_S, end)
        event = None
        if inc is None:
            inc = incident_from_run(run, requests=request_counts(records), now=now, kind=kind)
            event = "pii-leak" if inc["kind"] == "pii-leak" else "rollback"
        else:
            done = attach_run(inc, run, match.why, requests=request_counts(records), now=now, kind=kind)
            if done["kind_escalated"]:
                event = "pii-leak"
        if inc["kind"] == "pii-leak" and inc.get("compliance") is None:
            from .pii_leak import compliance_record

            inc["compliance"] = compliance_record(run_bounds(run)[0] or now, None, rescan_clean=None,
                                                  evidence_clean=None)
        if notify and event is not None:
            notify_incident(inc, event, state_dir, env=env)
        judged = _judged_id(inc)
        review(inc, now, run=run if judged == run.rollback_id else None, state_dir=state_dir)
        store.save(inc)
    return inc


def _judged_id(inc: Mapping[str, Any]) -> str | None:
    """The rollback whose journal the success criteria are judged on."""
    if inc.get("criteria_rollback_id"):
        return str(inc["criteria_rollback_id"])
    judged = judged_rollback(members(inc))
    return str(judged["rollback_id"]) if judged else None


def review(inc: dict[str, Any], now: float, *, run: RunRecord | None = None,
           live: Callable[[], tuple[str, str]] | None = None, state_dir: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """Evaluate every success-criteria horizon that is due; returns the criteria recorded now."""
    horizons = due(inc["criteria"], now)
    if not horizons:
        return []
    judged = _judged_id(inc)
    if run is None and judged and state_dir is not None:
        try:  # the criteria from the journal are judged on the episode's last rollback
            run = Journal(state_dir).load(judged)
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


__all__ = ["IncidentStore", "IncidentError", "incident_from_run", "attach_run", "after_rollback", "review",
           "incident_id_for", "new_incident_id", "notify_incident", "steps_of", "run_entry", "episode_bounds",
           "LOOKBACK_S", "LOCK_NAME"]
