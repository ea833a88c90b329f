"""``ethos guard``: watch the runbook's triggers and roll back by itself.

    ethos guard [--policy FILE] [--interval 5s] [--once] [--json] [--dry-run]
    ethos guard history [--since 1h] [--limit N] [--json]
    ethos guard policy            # print the policy in force (default: the runbook's)

Exit codes of ``--once`` (and of the loop when it stops after acting):
0 nothing to do (ok or watching), 3 acted (a rollback ran, or with --dry-run would have; or
an alert-only trigger fired), 4 inconclusive (no trigger fired, and some had too few samples
or no data), 1 an action failed, 2 bad input.

``--dry-run`` changes nothing that any other command reads: no traffic, cache, incident, guard
state or history, no alert sent. It reads the saved state (the decision shown is the one a real
guard would make now) and prints what it would do: ``would run: ethos rollback ...`` and
``would alert: ...``.
"""

from __future__ import annotations

import json
import math
import signal
import sys
import threading
import time
from typing import Any

import click
import yaml

from .errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CLIError

EXIT_ACTED = 3
EXIT_INCONCLUSIVE = 4


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    if isinstance(v, float):
        if not math.isfinite(v):
            return "inf" if v > 0 else "nan"
        return f"{v:.4g}"
    return str(v)


def render_table(ev_dict: dict[str, Any]) -> str:
    """The table of triggers with their values (``--once``)."""
    rows = [("trigger", "status", "rev", "value", "cmp", "threshold", "n", "window", "action", "note")]
    for r in ev_dict["triggers"]:
        note = ""
        if r["status"] == "watching" and r.get("time_left_s") is not None:
            note = f"fires in {r['time_left_s']:.0f}s"
        elif r.get("p_value") is not None:
            note = f"p={r['p_value']:.2g} vs {_fmt(r.get('baseline_value'))}"
        elif r.get("bound") is not None:
            note = f"bound {_fmt(r['bound'])}"
        elif r["status"] in ("inconclusive", "no-data"):
            note = r.get("reason", "")[:60]
        if r.get("latched"):
            note = (note + " latched").strip()
        rows.append((r["trigger"], r["status"], r.get("revision") or "-", _fmt(r.get("value")),
                     r["comparator"], _fmt(r["threshold"]), str(r.get("samples", 0)),
                     _fmt(r.get("window_s")), r["action"], note))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(widths[i]) for i, c in enumerate(row)).rstrip() for row in rows]
    d = ev_dict["decision"]
    lines.append("")
    lines.append(f"decision: {d['action']}" + (f" ({d['trigger']})" if d.get("trigger") else "")
                 + (f" - {d['reason']}" if d.get("reason") else ""))
    for src, err in (ev_dict.get("unavailable") or {}).items():
        lines.append(f"no data from {src}: {err}")
    return "\n".join(lines)


def exit_code_of(ev_dict: dict[str, Any], outcome: dict[str, Any] | None, dry_run: bool) -> int:
    """0 ok / 3 acted / 4 inconclusive / 1 action failed (see the module docstring)."""
    d = ev_dict["decision"]
    if outcome is not None:
        return EXIT_ACTED if outcome.get("ok") else EXIT_FAILED
    if d["action"] in ("emergency", "standard", "gradual") and (dry_run or d.get("needs_approval")):
        return EXIT_ACTED
    statuses = [r["status"] for r in ev_dict["triggers"]]
    if any(r["status"] == "firing" and r["action"] == "notify" and not r.get("latched") for r in ev_dict["triggers"]):
        return EXIT_ACTED
    if "firing" not in statuses and ("inconclusive" in statuses or "no-data" in statuses):
        return EXIT_INCONCLUSIVE
    return EXIT_OK


def _load_policy(path: str | None, interval: str | None) -> Any:
    from ethos.rollout.guard.policy import PolicyError, load_policy, parse_duration

    try:
        policy = load_policy(path)
        if interval:
            from dataclasses import replace

            policy = replace(policy, interval_s=parse_duration(interval, "--interval"))
    except PolicyError as e:
        raise CLIError(str(e), EXIT_USAGE) from None
    if policy.interval_s <= 0:
        raise CLIError("--interval must be > 0", EXIT_USAGE)
    return policy


def _build(policy: Any, kw: dict[str, Any], echo_alerts: bool) -> Any:
    from ethos.rollout.errors import RolloutError
    from ethos.rollout.guard.actuator import Alerter, CommandActuator, ProcedureActuator
    from ethos.rollout.guard.build import build_guard, watch_sources
    from ethos.rollout.guard.history import GuardHistory
    from ethos.rollout.settings import RolloutSettings, SettingsError
    from ethos.rollout.stack.state import load_stack, resolve_state_dir

    state_dir = resolve_state_dir(kw["state_dir"])
    cloud_run = _cloud_run(kw)
    stack = None
    if cloud_run is None:  # on Cloud Run the local stack is not what is watched
        try:
            stack = load_stack(state_dir)
        except Exception:  # noqa: BLE001 - a broken stack file only means no defaults from it
            stack = None
    revisions: dict[str, str] = {}
    for item in kw["revisions"]:
        name, sep, url = item.partition("=")
        if not sep or not name or not url:
            raise CLIError(f"--revision takes NAME=URL, got {item!r}", EXIT_USAGE)
        revisions[name] = url.rstrip("/")
    try:
        router = kw["router"] or (RolloutSettings.from_env().router_url if cloud_run is None else None)
    except SettingsError as e:
        raise CLIError(str(e), EXIT_USAGE) from None
    if stack is not None:
        router = router or stack.router
        revisions = revisions or dict(stack.revisions)
    api = {"api_endpoint": kw.get("cloudrun_endpoint"), "anonymous": kw.get("cloudrun_anonymous")}
    try:
        watch = watch_sources(policy, router=router, revisions=revisions, prometheus=kw["prometheus"],
                              pids=stack.pids if stack is not None else None, cloud_run=cloud_run,
                              cloudrun_api=api, managed_prometheus=bool(kw.get("managed_prometheus")))
    except RolloutError as e:  # no Application Default Credentials, a bad Cloud Run option
        raise CLIError(str(e), EXIT_USAGE) from None
    if not watch.sources:
        raise CLIError("nothing to watch: pass --router URL / --revision NAME=URL / --prometheus URL / "
                       "--cloud-run PROJECT/REGION/SERVICE, set ETHOS_ROUTER_URL, or run `ethos stack up`",
                       EXIT_USAGE)
    target_args: list[str] = ["--blue", policy.baseline, "--green", policy.candidate]
    if kw["state_dir"]:
        target_args += ["--state-dir", str(kw["state_dir"])]
    if kw["router"]:
        target_args += ["--router", kw["router"]]
    for item in kw["revisions"]:
        target_args += ["--revision", item]
    cloudrun: dict[str, Any] = {}
    if cloud_run is not None:
        target_args += ["--cloud-run", str(cloud_run)]
        for name, rev in cloud_run.revision_names.items():
            target_args += ["--revision-name", f"{name}={rev}"]
        if api["api_endpoint"]:
            target_args += ["--cloudrun-endpoint", str(api["api_endpoint"])]
        if api["anonymous"]:
            target_args += ["--cloudrun-anonymous"]
        cloudrun = {"project": cloud_run.project, "region": cloud_run.region, "service": cloud_run.service,
                    "revisions": dict(cloud_run.revision_names), "monitoring": True, **api}
    if kw["via"] == "command":
        actuator: Any = CommandActuator(target_args, dry_run=kw["dry_run"], state_dir=kw["state_dir"])
    else:
        actuator = ProcedureActuator(router=kw["router"], revisions=kw["revisions"], state_dir=kw["state_dir"],
                                     blue=policy.baseline, green=policy.candidate, dry_run=kw["dry_run"],
                                     traffic="cloudrun" if cloud_run is not None else "router",
                                     cloudrun=cloudrun)
    alerter = Alerter(echo=(lambda m: click.echo(m, err=True)) if echo_alerts else None)
    history = GuardHistory(state_dir)  # a dry run reads its saved state, never writes it
    return build_guard(policy, watch, actuator, alerter, history, dry_run=bool(kw["dry_run"]))


def _cloud_run(kw: dict[str, Any]) -> Any:
    """``--cloud-run P/R/S`` with ``--revision-name NAME=REV``, or None."""
    from ethos.rollout.sources.cloudmonitoring import CloudRunService

    names: dict[str, str] = {}
    for item in kw.get("revision_names") or ():
        name, sep, rev = str(item).partition("=")
        if not sep or not name.strip() or not rev.strip():
            raise CLIError(f"--revision-name takes NAME=CLOUD_RUN_REVISION (e.g. green=marketing-api-00013-bod), "
                           f"got {item!r}", EXIT_USAGE)
        names[name.strip()] = rev.strip()
    if not kw.get("cloud_run"):
        if names:
            raise CLIError("--revision-name needs --cloud-run PROJECT/REGION/SERVICE", EXIT_USAGE)
        if kw.get("managed_prometheus"):
            raise CLIError("--managed-prometheus needs --cloud-run PROJECT/REGION/SERVICE", EXIT_USAGE)
        return None
    try:
        return CloudRunService.parse(kw["cloud_run"], names)
    except ValueError as e:
        raise CLIError(str(e), EXIT_USAGE) from None


def _target_options(fn: Any) -> Any:
    opts = [
        click.option("--policy", "policy_path", metavar="FILE", help="Policy YAML (default: the runbook's)."),
        click.option("--interval", metavar="DURATION", help="Evaluate every DURATION (e.g. 5s); default: the policy's."),
        click.option("--router", metavar="URL", help="Router base URL (else $ETHOS_ROUTER_URL, else the stack file)."),
        click.option("--revision", "revisions", multiple=True, metavar="NAME=URL",
                     help="A revision's base URL (repeatable; default: the stack file)."),
        click.option("--prometheus", metavar="URL", help="Read signals from Prometheus at URL (PromQL per signal)."),
        click.option("--cloud-run", "cloud_run", metavar="PROJECT/REGION/SERVICE",
                     help="Watch a Cloud Run service: signals from Cloud Monitoring (what Cloud Run records), "
                          "rollbacks through Cloud Run's traffic; blue and green are its tags."),
        click.option("--revision-name", "revision_names", multiple=True, metavar="NAME=REVISION",
                     help="With --cloud-run: the Cloud Run revision of one of our names (repeat; default: "
                          "resolved from the tag of the same name)."),
        click.option("--managed-prometheus", is_flag=True,
                     help="With --cloud-run: also read the revisions' own series (cache, PII, cost) from "
                          "Managed Service for Prometheus (the sidecar of deploy/cloudrun/)."),
        click.option("--cloudrun-endpoint", hidden=True, help="Cloud Run Admin API endpoint (tests)."),
        click.option("--cloudrun-anonymous", is_flag=True, hidden=True,
                     help="Anonymous credentials for the Cloud Run Admin API (tests against a local server)."),
        click.option("--state-dir", metavar="DIR", help="State dir: stack file, journal, guard history (default $ETHOS_STATE_DIR, else .ethos)."),
        click.option("--json", "as_json", is_flag=True, help="Print JSON (one document per evaluation)."),
        click.option("--dry-run", is_flag=True,
                     help="Decide and print what would be done; change nothing (no rollback, alert, "
                          "guard state or history)."),
        click.option("--yes", "-y", is_flag=True, help="Act without asking (the guard never asks; kept for symmetry)."),
        click.option("--via", type=click.Choice(["library", "command"]), default="library", show_default=True,
                     help="Run rollbacks in this process (library) or as `ethos rollback ... --yes` (command)."),
    ]
    for o in reversed(opts):
        fn = o(fn)
    return fn


@click.group(invoke_without_command=True)
@_target_options
@click.option("--once", is_flag=True, help="Evaluate once, print the table of triggers, exit 0/3/4.")
@click.option("--duration", metavar="DURATION", help="Stop after DURATION (e.g. 10m); default: run until stopped.")
@click.option("--exit-after-action", is_flag=True, help="Stop (exit 3) after the first rollback it runs.")
@click.pass_context
def guard(ctx: click.Context, **kw: Any) -> None:
    """Watch the runbook's triggers and roll back by itself (Ctrl-C stops it)."""
    if ctx.invoked_subcommand is not None:
        return
    from ethos.rollout.guard.policy import parse_duration

    policy = _load_policy(kw["policy_path"], kw["interval"])
    g = _build(policy, kw, echo_alerts=not kw["as_json"])
    try:
        if kw["once"]:
            r = g.step()
            evd = r.evaluation.to_dict()
            outcome = r.outcome.to_dict() if r.outcome else None
            if kw["as_json"]:
                doc = {**evd, "outcome": outcome, "policy": policy.name}
                if r.dry_run:
                    doc.update(dry_run=True, would_run=r.would_run, would_alert=r.alerts)
                click.echo(json.dumps(doc, default=str))
            else:
                click.echo(render_table(evd))
                if r.dry_run and r.would_run:
                    click.echo(f"would run: {r.would_run}")
                    if outcome and not outcome["ok"]:
                        click.echo(f"  its dry run FAILED: {outcome['detail']}")
                    else:
                        click.echo(f"  ({outcome['detail'] if outcome else 'dry run'}; nothing was changed)")
                elif outcome:
                    click.echo(f"acted: {outcome['action']} rollback {outcome.get('rollback_id')} "
                               f"{'ok' if outcome['ok'] else 'FAILED'} in {outcome['duration_s']:.2f}s")
            code = exit_code_of(evd, outcome, kw["dry_run"])
            if code:
                raise SystemExit(code)
            return
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        until = time.time() + parse_duration(kw["duration"], "--duration") if kw["duration"] else None

        def show(r: Any) -> None:
            ev = r.evaluation
            if kw["as_json"]:
                doc = {**ev.to_dict(), "outcome": r.outcome.to_dict() if r.outcome else None}
                if r.dry_run:
                    doc.update(dry_run=True, would_run=r.would_run, would_alert=r.alerts)
                click.echo(json.dumps(doc, default=str))
            else:
                d = ev.decision
                stamp = time.strftime("%H:%M:%S", time.gmtime(ev.at))
                counts: dict[str, int] = {}
                for x in ev.results:
                    counts[x.status] = counts.get(x.status, 0) + 1
                shown = " ".join(f"{k}={v}" for k, v in sorted(counts.items()))
                click.echo(f"{stamp} {d.action:<9} {shown}" + (f"  {d.reason}" if d.reason else ""))
                if r.dry_run and r.would_run:
                    click.echo(f"{stamp} would run: {r.would_run}"
                               + ("" if r.outcome is None or r.outcome.ok
                                  else f"  (its dry run FAILED: {r.outcome.detail})"))
                elif r.outcome is not None:
                    click.echo(f"{stamp} acted: {r.outcome.action} rollback {r.outcome.rollback_id} "
                               f"{'ok' if r.outcome.ok else 'FAILED: ' + r.outcome.detail} in {r.outcome.duration_s:.2f}s")
            sys.stdout.flush()

        if not kw["as_json"]:
            click.echo(f"guard: policy {policy.name} ({len(policy.triggers)} triggers), every "
                       f"{policy.interval_s:g}s, {policy.candidate} against {policy.baseline}; "
                       f"sources: {', '.join(s.name for s in g.sources)}"
                       + ("; dry run: nothing is changed, recorded or sent" if kw["dry_run"] else ""))
        results = g.run(stop, until=until, exit_after_action=kw["exit_after_action"], on_step=show)
        if kw["exit_after_action"] and results and results[-1].outcome is not None:
            raise SystemExit(EXIT_ACTED if results[-1].outcome.ok else EXIT_FAILED)
    finally:
        g.close()


@guard.command()
@click.option("--since", metavar="DURATION", help="Only the last DURATION (e.g. 1h).")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="At most N records (newest).")
@click.option("--all", "show_all", is_flag=True, help="Every evaluation (default: decisions other than none/watch).")
@click.option("--state-dir", metavar="DIR", help="State dir (default $ETHOS_STATE_DIR, else .ethos).")
@click.option("--json", "as_json", is_flag=True, help="One JSON record per line.")
def history(since: str | None, limit: int, show_all: bool, state_dir: str | None, as_json: bool) -> None:
    """Past evaluations: values, thresholds and decisions (the ones that did something by default)."""
    from ethos.rollout.guard.history import GuardHistory
    from ethos.rollout.guard.policy import PolicyError, parse_duration
    from ethos.rollout.stack.state import resolve_state_dir

    try:
        cutoff = time.time() - parse_duration(since, "--since") if since else None
    except PolicyError as e:
        raise CLIError(str(e), EXIT_USAGE) from None
    h = GuardHistory(resolve_state_dir(state_dir))
    recs = [r for r in h.read(cutoff)
            if show_all or r["decision"]["action"] not in ("none", "watch") or r.get("outcome")]
    recs = recs[-limit:]
    if as_json:
        for r in recs:
            click.echo(json.dumps(r, default=str))
        return
    if not recs:
        click.echo(f"no guard decisions recorded in {h.path}" + (" (try --all)" if not show_all else ""))
        return
    for r in recs:
        d = r["decision"]
        line = f"{r['ts']}  {d['action']:<9} {d.get('trigger') or '-':<24} {d.get('reason') or ''}"
        click.echo(line.rstrip())
        o = r.get("outcome")
        if o:
            click.echo(f"{'':>31}-> {o['action']} rollback {o.get('rollback_id')} "
                       f"{'ok' if o.get('ok') else 'FAILED'} in {o.get('duration_s', 0):.2f}s")


@guard.command("policy")
@click.option("--policy", "policy_path", metavar="FILE", help="Check and print this policy instead of the default.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show_policy(policy_path: str | None, as_json: bool) -> None:
    """Print the policy in force (the runbook's by default), checked."""
    p = _load_policy(policy_path, None)
    if as_json:
        click.echo(json.dumps(p.to_dict()))
    elif policy_path is None:
        from ethos.rollout.guard.default_policy import DEFAULT_POLICY_YAML

        click.echo(DEFAULT_POLICY_YAML, nl=False)
    else:
        click.echo(yaml.safe_dump(p.to_dict(), sort_keys=False), nl=False)


__all__ = ["guard", "render_table", "exit_code_of", "EXIT_ACTED", "EXIT_INCONCLUSIVE"]
