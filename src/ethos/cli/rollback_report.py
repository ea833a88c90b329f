"""``ethos rollback verify`` (the runbook's success criteria) and ``ethos rollback history``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..rollout.errors import RolloutError
from ..rollout.journal import Journal, JournalError
from ..rollout.procedures.assess import success_criteria
from ..rollout.procedures.plans import PROBE_MESSAGE
from ..rollout.procedures.revisions import RevisionClient
from ..rollout.signals import RevisionSignals, RouterSignals, SignalsUnavailable
from ..rollout.stack import resolve_state_dir
from ..rollout.targets import TargetError, make_traffic
from .errors import EXIT_FAILED, EXIT_USAGE, CLIError
from .rollback_common import json_errors, state_dir_of, target_options, targets_from_flags


@click.command()
@target_options
@click.option("--baseline-p95-ms", type=float, default=None,
              help="Blue's normal p95 latency, ms (default: recorded by the last rollback).")
@click.option("--no-probe", is_flag=True, help="Skip the functional probe.")
@json_errors
def verify(baseline_p95_ms: float | None, no_probe: bool, **kw: Any) -> None:
    """The runbook's success criteria after a rollback, each with its value and pass/fail."""
    as_json = kw["as_json"]
    targets = targets_from_flags(kw)
    try:
        traffic = make_traffic(targets)
    except TargetError as e:
        raise CLIError(str(e), EXIT_USAGE) from None
    except RolloutError as e:  # e.g. no Cloud Run credentials
        raise CLIError(str(e), EXIT_FAILED) from None
    try:
        weights: dict[str, int] | None = traffic.get_weights()
        weights_error = ""
    except RolloutError as e:
        weights, weights_error = None, str(e)
    signals = None
    if targets.router:
        try:
            source = RouterSignals(targets.router)
            signals = source.read()
            source.close()
        except SignalsUnavailable:
            signals = None
    baseline = _baseline(state_dir_of(kw), targets.blue, baseline_p95_ms)
    probe_ok, probe_detail = None, ""
    if not no_probe:
        client = RevisionClient(targets.revisions, targets.admin_key)
        try:
            r = client.chat(targets.router or targets.revisions[targets.blue], PROBE_MESSAGE)
            probe_ok = r.status == 200 and bool(r.reply.strip())
            probe_detail = f"{r.status}, {len(r.reply)} chars, by {r.revision or '?'}"
        except RolloutError as e:
            probe_ok, probe_detail = False, str(e)
        finally:
            client.close()
    crit = success_criteria(weights, signals, targets.blue, baseline, probe_ok, probe_detail)
    passed = all(c.passed for c in crit)
    if as_json:
        click.echo(json.dumps({"passed": passed, "criteria": [c.to_dict() for c in crit],
                               "weights_error": weights_error or None}))
    else:
        for c in crit:
            click.echo(f"{'PASS' if c.passed else 'FAIL'}  {c.name:<24} {c.value}  (expected {c.expected})")
        if weights_error:
            click.echo(f"traffic: {weights_error}")
        click.echo("all success criteria pass" if passed else "some success criteria fail")
    if not passed:
        raise SystemExit(EXIT_FAILED)


def _baseline(state_dir: Path, blue: str, p95_ms: float | None) -> RevisionSignals | None:
    if p95_ms is not None:
        return RevisionSignals(count=10**6, p95_ms=p95_ms)
    try:
        rec = Journal(state_dir).latest()
    except JournalError:
        return None
    if rec is None:
        return None
    for step in ("baseline", "snapshot", "verify_issue"):
        sig = (rec.completed.get(step) or {}).get("signals") or {}
        if blue in sig:
            return RevisionSignals.from_dict(sig[blue])
    return None


@click.command()
@click.argument("rollback_id", required=False)
@click.option("--state-dir", metavar="DIR", help="State dir (default .ethos).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@json_errors
def history(rollback_id: str | None, state_dir: str | None, as_json: bool) -> None:
    """List past rollbacks, or show one run's journal."""
    journal = Journal(resolve_state_dir(state_dir))
    try:
        if rollback_id:
            rec = journal.load(rollback_id)
            if as_json:
                click.echo(json.dumps({**rec.summary(), "events": rec.events}))
            else:
                for e in rec.events:
                    click.echo(f"{e.get('ts')}  {e.get('event'):<13} {e.get('step', '') or ''} "
                               f"{e.get('status', '') or ''} {e.get('message', '') or ''}".rstrip())
            return
        runs = [r.summary() for r in journal.runs()]
    except JournalError as e:
        raise CLIError(str(e), EXIT_USAGE) from None
    if as_json:
        click.echo(json.dumps(runs))
    else:
        for r in runs:
            click.echo(f"{r['rollback_id']}  {r['procedure']:<9} {r['status']:<11} "
                       f"{r['steps_done']}/{r['steps']} steps  {r['message']}")


__all__ = ["verify", "history"]
