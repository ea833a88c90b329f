"""``ethos incident new | list | show | check | review | pii-leak``: the report after a rollback.

Reports live in ``<state dir>/incident_reports/`` (``<id>.md`` from the template, ``<id>.json``
the record). ``show`` and ``review`` evaluate the success criteria whose time has come.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import click

from ..rollout.errors import RolloutError
from ..rollout.incidents.checklist import ITEM_IDS, progress, tick
from ..rollout.incidents.pii_leak import tick_task
from ..rollout.incidents.record import IncidentError, IncidentStore, after_rollback, iso, review
from ..rollout.incidents.report import TemplateError
from ..rollout.procedures.journal import Journal, JournalError
from ..rollout.stack.state import load_stack, resolve_state_dir
from .errors import EXIT_FAILED, EXIT_USAGE, CLIError


def _user() -> str:
    try:
        return os.environ.get("USER") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _store(state_dir: str | None) -> IncidentStore:
    return IncidentStore(resolve_state_dir(state_dir))


def _load(store: IncidentStore, incident_id: str | None) -> dict[str, Any]:
    try:
        if incident_id in (None, "latest"):
            inc = store.latest()
            if inc is None:
                raise CLIError(f"no incident in {store.dir}", EXIT_USAGE)
            return inc
        return store.load(incident_id)
    except IncidentError as e:
        raise CLIError(str(e), EXIT_USAGE) from None


def _live(state_dir: Path, blue: str) -> Any:
    """"All metrics stable": the procedures' success criteria read now from the local stack."""
    def read() -> tuple[str, str]:
        from ..rollout.procedures.assess import success_criteria
        from ..rollout.router.client import RouterClient
        from ..rollout.sources.signals import RouterSignals

        try:
            st = load_stack(state_dir)
        except RolloutError:
            st = None
        if st is None:
            return "unknown", "no stack to read signals from"
        with RouterClient(st.router) as router:  # reads only: no admin key
            try:
                weights = router.traffic().weights
                signals = RouterSignals(router).read()
            except RolloutError as e:
                return "unknown", f"signals unreadable: {e}"
        crit = success_criteria(weights, signals, blue, None, None)
        bad = [f"{c.name} {c.value}" for c in crit if not c.passed and c.name != "probe"]
        return ("fail", "; ".join(bad)) if bad else ("pass", "; ".join(f"{c.name} {c.value}" for c in crit))
    return read


def _review(store: IncidentStore, inc: dict[str, Any], now: float) -> list[dict[str, Any]]:
    done = review(inc, now, live=_live(store.state_dir, inc.get("blue", "blue")), state_dir=store.state_dir)
    if done:
        _save(store, inc)
    return done


def _save(store: IncidentStore, inc: dict[str, Any]) -> Path:
    try:
        return store.save(inc)
    except TemplateError as e:
        raise CLIError(str(e), EXIT_FAILED) from None


_state = click.option("--state-dir", metavar="DIR", help="State dir (default $ETHOS_STATE_DIR, else .ethos).")
_json = click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")


@click.group()
def incident() -> None:
    """Incident reports: timeline, impact, checklist, success criteria, compliance."""


@incident.command()
@click.option("--rollback", "rollback_id", default="latest", show_default=True,
              help="The rollback the incident is about (an id, or latest).")
@click.option("--no-notify", is_flag=True, help="Do not page / email the routed audiences.")
@_state
@click.option("--yes", "-y", is_flag=True, help="No prompts (there are none; accepted for scripts).")
@_json
def new(rollback_id: str, no_notify: bool, state_dir: str | None, yes: bool, as_json: bool) -> None:
    """Open (or refresh) the incident report of a rollback."""
    sd = resolve_state_dir(state_dir)
    if rollback_id == "latest":
        try:
            rec = Journal(sd).latest()
        except JournalError as e:
            raise CLIError(str(e), EXIT_USAGE) from None
        if rec is None:
            raise CLIError(f"no rollback in {sd / 'journal'}: pass --rollback ID", EXIT_USAGE)
        rollback_id = rec.rollback_id
    try:
        inc = after_rollback(sd, rollback_id, notify=not no_notify)
    except (IncidentError, TemplateError) as e:
        raise CLIError(str(e), EXIT_USAGE if isinstance(e, IncidentError) else EXIT_FAILED) from None
    path = IncidentStore(sd).report_path(inc["id"])
    if as_json:
        click.echo(json.dumps({"id": inc["id"], "report": str(path), "rollback_id": rollback_id}))
    else:
        click.echo(f"incident {inc['id']} for rollback {rollback_id}: {path}")


@incident.command("list")
@_state
@_json
def list_(state_dir: str | None, as_json: bool) -> None:
    """Every incident, oldest first, with checklist progress."""
    store = _store(state_dir)
    rows = []
    for iid in store.ids():
        try:
            inc = store.load(iid)
        except IncidentError:
            continue
        p = progress(inc["checklist"])
        rows.append({"id": iid, "kind": inc["kind"], "status": inc["status"], "opened_at": inc["opened_at"],
                     "rollback_id": inc.get("rollback_id"), "title": inc["title"],
                     "checklist": {k: f"{a}/{b}" for k, (a, b) in p.items()},
                     "criteria_pending": sum(1 for c in inc["criteria"] if c["status"] == "pending")})
    if as_json:
        click.echo(json.dumps(rows))
        return
    if not rows:
        click.echo(f"no incidents in {store.dir}")
    for r in rows:
        click.echo(f"{r['id']}  {r['kind']:<9} {r['status']:<8} {r['opened_at']}  checklist "
                   + " ".join(f"{k} {v}" for k, v in r["checklist"].items()) + f"  {r['title']}")


@incident.command()
@click.argument("incident_id", required=False)
@_state
@_json
def show(incident_id: str | None, state_dir: str | None, as_json: bool) -> None:
    """Print the report (evaluating the success criteria that are due)."""
    store = _store(state_dir)
    inc = _load(store, incident_id)
    _review(store, inc, time.time())
    if not store.report_path(inc["id"]).exists():
        _save(store, inc)
    if as_json:
        click.echo(json.dumps(inc, default=str))
    else:
        click.echo(store.report_path(inc["id"]).read_text(encoding="utf-8"), nl=False)


@incident.command("review")
@click.argument("incident_id", required=False)
@_state
@click.option("--yes", "-y", is_flag=True, help="No prompts (there are none; accepted for scripts).")
@_json
def review_(incident_id: str | None, state_dir: str | None, yes: bool, as_json: bool) -> None:
    """Evaluate and record the success criteria that are due (all open incidents by default)."""
    store = _store(state_dir)
    ids = [incident_id] if incident_id else store.ids()
    out: dict[str, list[dict[str, Any]]] = {}
    now = time.time()
    for iid in ids:
        inc = _load(store, iid)
        if inc["status"] == "open" or incident_id:
            out[inc["id"]] = [{"id": c["id"], "status": c["status"], "value": c["value"]}
                              for c in _review(store, inc, now)]
    if as_json:
        click.echo(json.dumps(out))
        return
    for iid, crit in out.items():
        click.echo(f"{iid}: " + ("; ".join(f"{c['id']} {c['status']}" for c in crit) or "nothing due"))


@incident.command()
@click.argument("incident_id")
@click.argument("item")
@click.option("--by", "by", required=True, help="Who did it (recorded).")
@click.option("--evidence", default=None, help="What shows it is done (a link, a ticket).")
@_state
@click.option("--yes", "-y", is_flag=True, help="No prompts (there are none; accepted for scripts).")
@_json
def check(incident_id: str, item: str, by: str, evidence: str | None, state_dir: str | None, yes: bool,
          as_json: bool) -> None:
    """Tick a checklist item (or a compliance task) by a person."""
    store = _store(state_dir)
    inc = _load(store, incident_id)
    at = iso(time.time()) or ""
    try:
        rec = tick(inc["checklist"], item, by, at, evidence)
    except KeyError as e:
        if inc.get("compliance") and tick_task(inc["compliance"], item, by, at):
            rec = {"id": item, "by": by, "at": at}
        else:
            tasks = [t["id"] for t in (inc.get("compliance") or {}).get("tasks", [])]
            raise CLIError(str(e.args[0]) + (f"; compliance tasks: {', '.join(tasks)}" if tasks else ""),
                           EXIT_USAGE) from None
    _save(store, inc)
    if as_json:
        click.echo(json.dumps({"incident": inc["id"], "item": rec}))
    else:
        click.echo(f"{inc['id']}: {item} ticked by {by} at {at}")


@incident.command()
@click.argument("incident_id")
@click.option("--by", "by", required=True, help="Who resolves it (recorded).")
@_state
@click.option("--yes", "-y", is_flag=True, help="No prompts (there are none; accepted for scripts).")
@_json
def resolve(incident_id: str, by: str, state_dir: str | None, yes: bool, as_json: bool) -> None:
    """Mark an incident resolved and resolve its PagerDuty alert (same dedup key)."""
    from ..rollout.incidents.routing import load_routing, notifiers_for
    from ..rollout.notify import Notification

    store = _store(state_dir)
    inc = _load(store, incident_id)
    at = iso(time.time()) or ""
    inc.update(status="resolved", resolved_at=at, resolved_by=by)
    inc["actions"].append({"ts": at, "what": "incident resolved", "by": by})
    n = Notification(title=f"Incident {inc['id']}: {inc['title']}", reason="resolved", time=at, executed_by=by,
                     procedure=inc.get("procedure") or "", rollback_id=inc.get("rollback_id") or "",
                     outcome="resolved", details={"incident_id": inc["id"], "kind": inc["kind"]})
    results = []
    try:
        notifiers = notifiers_for("resolved", load_routing(store.state_dir))
    except RolloutError as e:
        raise CLIError(str(e), EXIT_USAGE) from None
    for notifier in notifiers:
        if getattr(notifier, "kind", "") != "pagerduty":
            continue
        try:
            notifier.resolve(n)  # type: ignore[attr-defined]
            results.append({"notifier": notifier.describe(), "ok": True})
        except RolloutError as e:
            results.append({"notifier": notifier.describe(), "ok": False, "error": str(e)})
    inc["notifications"].extend({"event": "resolved", "at": at, **r} for r in results)
    _save(store, inc)
    if as_json:
        click.echo(json.dumps({"incident": inc["id"], "status": "resolved", "deliveries": results}))
    else:
        click.echo(f"{inc['id']} resolved by {by} at {at}"
                   + "".join(f"; {r['notifier']}: {'resolved' if r['ok'] else r['error']}" for r in results))
    if any(not r["ok"] for r in results):
        raise SystemExit(EXIT_FAILED)


@incident.command("pii-leak")
@click.option("--cache-url", default=None, help="Store to scan and clear (default: the stack's, else $ETHOS_CACHE_URL).")
@click.option("--by", "executed_by", default=_user, help="Who responds (default $USER).")
@click.option("--justification", default="", help="Why the emergency rollback runs without approval.")
@_state
@click.option("--yes", "-y", is_flag=True, help="Act without asking.")
@_json
def pii_leak(cache_url: str | None, executed_by: str, justification: str, state_dir: str | None,
             yes: bool, as_json: bool) -> None:
    """PII Leak Response: emergency rollback, clear ALL cache, scan store and evidence, open the incident.

    A state dir or cache store that does not exist (or a store that does not answer) is refused
    before anything is done (exit 2, or 1 when unreachable); every failure of the response
    itself prints an ``error:`` line saying what failed and what to do (exit 1).
    """
    from ..rollout.incidents.respond import pii_leak_response
    from ..rollout.settings import RolloutSettings
    from .stores import open_existing_store, require_state_dir

    sd = require_state_dir(resolve_state_dir(state_dir))
    if cache_url is None:
        try:
            st = load_stack(sd)
        except RolloutError:
            st = None
        cache_url = (st.cache_url if st else None) or RolloutSettings.from_env().cache_url
    if cache_url:  # a mistyped or dead store would be "scanned" as empty: refused, nothing done
        open_existing_store(cache_url, "--cache-url (default: the stack's, else ETHOS_CACHE_URL)",
                            "the response did not start: fix the URL, or roll back alone with "
                            "`ethos rollback emergency --cause pii`").close()
    if not yes:
        if not sys.stdin.isatty():
            raise CLIError("no terminal to confirm on: pass --yes", EXIT_USAGE)
        if not click.confirm("emergency rollback and clear ALL cache?", default=False):
            raise CLIError("not confirmed; nothing changed", EXIT_FAILED)
    try:
        res = pii_leak_response(sd, cache_url, executed_by=executed_by, justification=justification)
    except RolloutError as e:
        raise CLIError(f"the PII leak response failed: {e}", EXIT_FAILED) from None
    inc = res["incident"]
    comp = inc["compliance"]
    errors = list(res.get("errors") or [])
    if as_json:
        click.echo(json.dumps({"ok": res["ok"], "incident": inc["id"], "steps": res["steps"], "errors": errors,
                               "gdpr_deadline": comp["gdpr_deadline"], "served_total": comp["served_total"],
                               "evidence_quarantine": inc.get("evidence_quarantine"),
                               "report": str(IncidentStore(sd).report_path(inc["id"]))}, default=str))
    else:
        for name, s in res["steps"].items():
            click.echo(f"{name:<20} " + ", ".join(f"{k}={v}" for k, v in s.items() if k != "leaks"))
        if "error" in (res["steps"].get("scan_before") or {}):
            click.echo(f"incident {inc['id']}: leaking entries and served count unknown (the cache was not scanned)")
        else:
            click.echo(f"incident {inc['id']}: {len(comp['leaks'])} leaking entries, "
                       f"served {comp['served_total']} times")
        click.echo(f"GDPR 72-hour notification deadline: {comp['gdpr_deadline']}")
        click.echo("tasks: " + ", ".join(t["id"] + (" (done)" if t["done"] else "") for t in comp["tasks"]))
    for line in errors:
        click.echo(f"error: {line}", err=True)
    if not res["ok"]:
        if not errors:
            click.echo(f"error: the response did not complete; see {IncidentStore(sd).report_path(inc['id'])}",
                       err=True)
        raise SystemExit(EXIT_FAILED)


__all__ = ["incident", "ITEM_IDS"]
