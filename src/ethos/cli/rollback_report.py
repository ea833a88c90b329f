"""``ethos rollback verify`` (the runbook's success criteria) and ``ethos rollback history``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..rollout.errors import RolloutError
from ..rollout.procedures.assess import Thresholds, success_criteria
from ..rollout.procedures.journal import Journal, JournalError
from ..rollout.procedures.plans import PROBE_MESSAGE
from ..rollout.procedures.revisions import RevisionClient
from ..rollout.router.client import RouterClient
from ..rollout.sources.signals import RevisionSignals, RouterSignals, SignalsUnavailable
from ..rollout.stack.state import resolve_state_dir
from ..rollout.traffic.targets import TargetError, Targets, make_traffic
from .errors import EXIT_FAILED, EXIT_USAGE, CLIError
from .rollback_common import json_errors, state_dir_of, target_options, targets_from_flags

EXIT_INCONCLUSIVE = 4  # too few requests to judge: the same code as ``ethos guard --once``


@click.command()
@target_options
@click.option("--baseline-p95-ms", type=float, default=None,
              help="Blue's normal p95 latency, ms (default: recorded by the last rollback).")
@click.option("--no-probe", is_flag=True, help="Skip the functional probe.")
@json_errors
def verify(baseline_p95_ms: float | None, no_probe: bool, **kw: Any) -> None:
    """The runbook's success criteria after a rollback, each with its value and verdict.

    Each criterion is PASS, FAIL or INCONCLUSIVE. The error rate, latency and failed requests
    are read from the router's window and are INCONCLUSIVE while blue has fewer than 20
    requests in it (send traffic or wait, then run verify again); traffic 100 % blue and the
    functional probe are judged regardless.

    Exit 0 all pass, 1 any fails, 4 inconclusive (none fails, some had too little traffic:
    the same code as ``ethos guard --once``), 2 bad input.
    """
    as_json = kw["as_json"]
    targets = targets_from_flags(kw)
    weights, weights_error, signals = _read_router(targets)
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
    t = Thresholds()
    crit = success_criteria(weights, signals, targets.blue, baseline, probe_ok, probe_detail, t)
    passed = all(c.passed for c in crit)
    statuses = [c.status for c in crit]
    verdict = "fail" if "fail" in statuses else "inconclusive" if "inconclusive" in statuses else "pass"
    blue_sig = (signals or {}).get(targets.blue)
    seen = 0 if blue_sig is None else blue_sig.count
    needs = max(t.min_samples - seen, 0) if verdict == "inconclusive" else 0
    if as_json:
        click.echo(json.dumps({"passed": passed, "verdict": verdict, "needs_requests": needs,
                               "criteria": [c.to_dict() for c in crit],
                               "weights_error": weights_error or None}))
    else:
        for c in crit:
            click.echo(f"{c.status.upper():<12}  {c.name:<24} {c.value}  (expected {c.expected})")
        if weights_error:
            click.echo(f"traffic: {weights_error}")
        if verdict == "pass":
            click.echo("verdict: pass - all success criteria pass")
        elif verdict == "fail":
            n = statuses.count("fail")
            click.echo(f"verdict: fail - {n} of {len(crit)} success criteria fail")
        else:
            n = statuses.count("inconclusive")
            click.echo(f"verdict: inconclusive - {n} of {len(crit)} success criteria need more traffic: "
                       f"{seen} of {t.min_samples} requests on {targets.blue}, {needs} more needed; "
                       "send traffic or wait, then run `ethos rollback verify` again")
    if verdict == "fail":
        raise SystemExit(EXIT_FAILED)
    if verdict == "inconclusive":
        raise SystemExit(EXIT_INCONCLUSIVE)


def _read_router(targets: Targets) -> tuple[dict[str, int] | None, str, dict[str, RevisionSignals] | None]:
    """The weights in force (None and why not) and the router's signals (None: unreadable)."""
    router = RouterClient(targets.router, targets.admin_key) if targets.router else None
    try:
        try:
            traffic = make_traffic(targets, router)
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
        if router is not None:
            try:
                signals = RouterSignals(router).read()
            except SignalsUnavailable:
                signals = None
        elif targets.traffic == "cloudrun" and targets.cloudrun.get("monitoring"):
            # Cloud Run (--cloud-run): what Cloud Run recorded, over its last complete minute
            from ..rollout.procedures.session import cloud_monitoring_signals

            try:
                reader, _ = cloud_monitoring_signals(targets, traffic)
            except RolloutError as e:  # no Application Default Credentials
                raise CLIError(str(e), EXIT_USAGE) from None
            try:
                signals = reader.read()
            except SignalsUnavailable:
                signals = None
            finally:
                reader.close()
        return weights, weights_error, signals
    finally:
        if router is not None:
            router.close()


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
@click.option("--state-dir", metavar="DIR", help="State dir (default $ETHOS_STATE_DIR, else .ethos).")
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
    elif not runs:
        click.echo(f"no rollbacks recorded in {resolve_state_dir(state_dir).resolve()}")
    else:
        for r in runs:
            click.echo(f"{r['rollback_id']}  {r['procedure']:<9} {r['status']:<11} "
                       f"{r['steps_done']}/{r['steps']} steps  {r['message']}")


__all__ = ["verify", "history"]
