"""``ethos rollback emergency | standard | gradual | resume | verify | history``: the runbook, one command each.

Each procedure is a plan of idempotent steps (``--dry-run`` prints it), journaled under
``<state dir>/journal/`` and guarded by a lock; ``resume`` continues an interrupted run.
Exit codes: 0 done, 1 failed, 2 bad input, 3 held or stopped on purpose, 5 refused or superseded
(another procedure holds or took control of traffic: the message names it and what to type next),
130 interrupted.

Who controls traffic (``ethos.rollout.procedures.control``): emergency > standard > gradual >
operator actions; a higher priority preempts a running lower one, an equal one is refused
(an emergency waits for a running emergency, then has nothing left to do).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from ..rollout.errors import RolloutError
from ..rollout.procedures.authority import Approval, AuthorityError, check_authority, load_authority
from ..rollout.procedures.cache_decision import CAUSES, infer_cause
from ..rollout.procedures.context import Context
from ..rollout.procedures.control import ROLLBACKS, AlreadyDone, ControlRefused
from ..rollout.procedures.journal import Journal, JournalError, LockHeld
from ..rollout.procedures.plans import PLANS, PlanOptions, Step, describe_plan, parse_stages
from ..rollout.procedures.revisions import RevisionClient
from ..rollout.procedures.runner import Outcome, StepReport
from ..rollout.procedures.session import (
    Clients,
    NothingToResume,
    ResumeRefused,
    build_clients,
    journal_path,
    resume_procedure,
    run_procedure,
    select_for_resume,
    targets_from_record,
)
from ..rollout.stack.state import resolve_state_dir
from ..rollout.traffic.targets import TargetError, Targets
from .errors import EXIT_FAILED, EXIT_REFUSED, EXIT_USAGE, CLIError
from .interrupts import interrupts_as_keyboard_interrupt
from .rollback_common import confirm, default_user, json_errors, state_dir_of, target_options, targets_from_flags
from .rollback_report import history, verify


def _procedure_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    opts = [
        click.option("--reason", default="", help="Why (goes to the journal and the notification)."),
        click.option("--cause", type=click.Choice(CAUSES), default=None,
                     help="What went wrong; pii/corruption always clear the cache (default: from --reason)."),
        click.option("--executed-by", default=lambda: os.environ.get("USER") or default_user(),
                     help="Who runs it (default $USER)."),
        click.option("--approved-by", default="",
                     help="Who approved it: a rollback authority (primary/secondary/emergency in "
                          "authority.yaml); needed for standard and gradual once authority is configured."),
        click.option("--justification", default="",
                     help="Why an emergency rollback runs without approval (default: the reason)."),
        click.option("--warm", type=click.IntRange(min=0), default=0,
                     help="After a clear, pre-warm blue with the N most asked questions."),
        click.option("--dry-run", is_flag=True, help="Print the plan and change nothing."),
        click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation."),
    ]
    for o in reversed(opts):
        fn = o(fn)
    return fn


def _emit(as_json: bool) -> Callable[[str], None]:
    return (lambda line: None) if as_json else (lambda line: click.echo(line))


def _printer(as_json: bool) -> Callable[[StepReport, float], None] | None:
    if as_json:
        return None

    def show(rep: StepReport, elapsed: float) -> None:
        now = datetime.now(UTC).strftime("%H:%M:%S.%f")[:-3]
        took = f"  [{rep.duration_s * 1000:.0f} ms]" if rep.status != "done-before" else ""
        click.echo(f"{now} +{elapsed:7.3f}s  {rep.status:<11} {rep.name:<24} {rep.message}{took}")

    return show


def _clients(targets: Targets) -> Clients:
    try:
        return build_clients(targets)
    except TargetError as e:
        raise CLIError(str(e), EXIT_USAGE) from None
    except RolloutError as e:  # e.g. no Cloud Run credentials
        raise CLIError(str(e), EXIT_FAILED) from None


def _finish(outcome: Outcome, state_dir: Path, as_json: bool) -> None:
    path = journal_path(state_dir, outcome.rollback_id)
    if not as_json:
        click.echo(f"{outcome.procedure} rollback {outcome.rollback_id}: {outcome.status} "
                   f"in {outcome.elapsed_s:.2f} s - {outcome.message}")
        click.echo(f"journal: {path}")
        if outcome.status in ("failed", "held", "interrupted"):
            click.echo("continue with: ethos rollback resume " + outcome.rollback_id)
        if outcome.status == "superseded":
            by = outcome.links.get("superseded_by") or "?"
            click.echo(f"this run no longer controls traffic: {by} does (ethos rollback history {by})")
    escalated_from = outcome.links.get("escalated_from")
    if escalated_from:  # the superseded run joins the episode's incident first
        _incident(Outcome(escalated_from, "gradual", "superseded", "", [], 0.0), state_dir)
    incident = _incident(outcome, state_dir)
    if as_json:
        click.echo(json.dumps({**outcome.to_dict(), "journal": str(path), "incident": incident}, default=str))
    elif incident.get("incident"):
        click.echo(f"incident: {incident['incident']} (report: {incident.get('report')})")
    elif incident.get("error"):
        click.echo(f"incident: not opened ({incident['error']})")
    if outcome.exit_code:
        raise SystemExit(outcome.exit_code)


def _incident(outcome: Outcome, state_dir: Path) -> dict[str, Any]:
    """Open or refresh the run's incident (``ethos.rollout.incidents.hook``); never raises.

    Not for a standard rollback stopped at step 1: nothing changed. ``ETHOS_NO_AUTO_INCIDENT=1``
    turns it off.
    """
    if outcome.status == "stopped":
        return {"incident": None, "skipped": "stopped before any change"}
    from ..rollout.incidents.hook import on_rollback_finished

    return on_rollback_finished(state_dir, outcome.rollback_id)


def _run_procedure(procedure: str, opts: PlanOptions, kw: dict[str, Any], extra: dict[str, Any]) -> None:
    as_json = kw["as_json"]
    targets = kw.get("resolved_targets") or targets_from_flags(kw)
    plan = PLANS[procedure](opts)
    params = {"options": _opts_dict(opts),
              "reason": kw["reason"], "executed_by": kw["executed_by"],
              "approved_by": kw["approved_by"], **extra}
    params["approval"] = _approval(procedure, kw).to_dict()
    if kw["dry_run"]:
        _show_plan(procedure, plan, targets, opts, as_json, params["approval"])
        return
    confirm(kw["yes"], f"{procedure} rollback to {targets.blue} on {targets.router or targets.traffic}?")
    clients = _clients(targets)

    def on_start(rid: str, ctx: Context) -> None:
        if not as_json:
            click.echo(f"{procedure} rollback {rid} by {kw['executed_by']}: "
                       f"{targets.green} -> {targets.blue} via {ctx.traffic.describe()}")

    state_dir = state_dir_of(kw)
    with _terminate_as_interrupt():
        try:
            outcome = run_procedure(procedure, plan, targets, state_dir=state_dir, params=params,
                                    printer=_printer(as_json), emit=_emit(as_json), on_start=on_start,
                                    clients=clients)
        except AlreadyDone as e:
            _covered(e, as_json)
            return
        except ControlRefused as e:
            raise CLIError(str(e), EXIT_REFUSED, {"holder": _public_holder(e.holder)}) from None
        except (LockHeld, JournalError) as e:
            raise CLIError(str(e), EXIT_FAILED) from None
    _finish(outcome, state_dir, as_json)


def _public_holder(holder: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in holder.items() if k != "token"}


def _covered(e: AlreadyDone, as_json: bool) -> None:
    """An equal emergency finished while this one waited: nothing more to do (exit 0)."""
    if as_json:
        click.echo(json.dumps({"status": "done", "covered_by": e.holder.get("rollback_id"),
                               "message": str(e), "exit_code": 0, "incident": None}))
    else:
        click.echo(str(e))


def _terminate_as_interrupt() -> contextlib.AbstractContextManager[None]:
    """SIGINT and SIGTERM stop a run like Ctrl-C wherever the CLI runs (:mod:`.interrupts`)."""
    return interrupts_as_keyboard_interrupt()


def _approval(procedure: str, kw: dict[str, Any]) -> Approval:
    """The runbook's rollback authority, checked before anything acts (``ethos.rollout.procedures.authority``)."""
    try:
        authority = load_authority(state_dir_of(kw))
        return check_authority(procedure, authority, actor=kw["executed_by"],
                               approved_by=kw["approved_by"] or None,
                               justification=kw["justification"], reason=kw["reason"])
    except AuthorityError as e:
        raise CLIError(str(e), EXIT_USAGE) from None


def _opts_dict(o: PlanOptions) -> dict[str, Any]:
    return {k: getattr(o, k) for k in o.__slots__}


def _show_plan(procedure: str, plan: list[Step], targets: Targets, opts: PlanOptions, as_json: bool,
               approval: dict[str, Any]) -> None:
    preview = _cache_preview(targets, opts)
    if as_json:
        click.echo(json.dumps({"procedure": procedure, "dry_run": True, "targets": targets.public(),
                               "plan": [s.to_dict() for s in plan], "cache_preview": preview,
                               "approval": approval}))
        return
    click.echo(f"{procedure} rollback (dry run: nothing will change)")
    click.echo(f"targets: router {targets.router or '-'}; "
               + ", ".join(f"{k} {v}" for k, v in targets.revisions.items())
               + f"; traffic via {targets.traffic}; admin key {'set' if targets.admin_key else 'NOT set'}")
    now = _weights_now(targets)
    for step, line in zip(plan, describe_plan(plan), strict=True):
        click.echo(line + _would_skip(procedure, step, targets.green, now))
    if now is not None:
        click.echo("traffic now: " + ", ".join(f"{k}={v}" for k, v in now.items()))
    click.echo(f"cache: {preview['action']}: {preview['reason']}")
    click.echo(f"authority: {approval['authority']}")


def _weights_now(targets: Targets) -> dict[str, int] | None:
    """The split in force, read only (None if it cannot be read: the dry run says less)."""
    try:
        from ..rollout.traffic.targets import make_traffic

        return make_traffic(targets).get_weights()
    except Exception:  # noqa: BLE001 - a preview never fails on a read
        return None


def _would_skip(procedure: str, step: Step, green: str, now: dict[str, int] | None) -> str:
    """`` [skipped: …]`` for a stage a rollback would not apply (it never raises green). Pure."""
    if now is None or procedure not in ROLLBACKS or step.kind != "set_traffic":
        return ""
    target = int((step.params.get("weights") or {}).get(green, 0))
    if target > now.get(green, 0):
        return f"  [skipped: {green} is at {now.get(green, 0)}%, a rollback never raises it]"
    return ""


def _cache_preview(targets: Targets, opts: PlanOptions) -> dict[str, Any]:
    """Read-only look at /health to say now what the cache step will do."""
    from ..rollout.procedures.cache_decision import decide_cache

    fmts: dict[str, int | None] = {}
    client = RevisionClient(targets.revisions, None, timeout=2.0)
    try:
        for name in (targets.blue, targets.green):
            try:
                v = client.health(name).get("cache_format_version")
                fmts[name] = v if isinstance(v, int) else None
            except RolloutError:
                fmts[name] = None
    finally:
        client.close()
    return decide_cache(opts.cache, fmts[targets.blue], fmts[targets.green], opts.cause).to_dict()  # type: ignore[arg-type]


def _plan_options(kw: dict[str, Any], targets_hint: tuple[str, str], cache: str, **more: Any) -> PlanOptions:
    cause = kw["cause"] or infer_cause(kw["reason"])
    revisions = tuple(dict.fromkeys([targets_hint[0], targets_hint[1],
                                     *[r.partition("=")[0] for r in kw["revisions"]]]))
    return PlanOptions(blue=targets_hint[0], green=targets_hint[1], revisions=revisions,
                       cache=cache, cause=cause, warm=kw["warm"], **more)


def _with_revisions(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Fill the plan's revision list from the resolved targets (flags, stack file or the Cloud
    Run service's status); the targets are kept (``resolved_targets``), not resolved again."""
    @functools.wraps(fn)
    def wrapper(**kw: Any) -> Any:
        if not kw["revisions"]:
            t = targets_from_flags(kw)
            kw["revisions"] = tuple(f"{k}={v}" for k, v in t.revisions.items())
            kw["resolved_targets"] = t
        return fn(**kw)
    return wrapper


@click.group()
def rollback() -> None:
    """Roll traffic back from green to blue: emergency, standard or gradual (the runbook)."""


@rollback.command()
@target_options
@_procedure_options
@click.option("--cache", type=click.Choice(["clear", "preserve", "auto"]), default="clear", show_default=True,
              help="Cache after rollback: clear (runbook), preserve (same format only), auto.")
@json_errors
@_with_revisions
def emergency(**kw: Any) -> None:
    """100% blue, clear every revision's cache, verify traffic and health, notify."""
    opts = _plan_options(kw, (kw["blue"], kw["green"]), kw["cache"], probe=False)
    _run_procedure("emergency", opts, kw, {})


@rollback.command()
@target_options
@_procedure_options
@click.option("--cache", type=click.Choice(["clear", "preserve", "auto"]), default="clear", show_default=True,
              help="Cache after rollback: clear (runbook), preserve (same format only), auto.")
@click.option("--force", is_flag=True, help="Roll back even if the signals do not confirm the issue.")
@json_errors
@_with_revisions
def standard(**kw: Any) -> None:
    """The runbook's five steps: verify issue, shift, clear cache, verify (with probe), notify."""
    opts = _plan_options(kw, (kw["blue"], kw["green"]), kw["cache"], force=kw["force"])
    _run_procedure("standard", opts, kw, {})


@rollback.command()
@target_options
@_procedure_options
@click.option("--cache", type=click.Choice(["clear", "preserve", "auto"]), default="auto", show_default=True,
              help="Cache after rollback: clear, preserve (same format only), auto.")
@click.option("--stages", default="50:15m,25:15m,5:30m", show_default=True,
              help="Green percent and monitoring window per stage (e.g. 50:5s,25:5s,5:5s).")
@click.option("--poll", "poll_s", type=float, default=5.0, show_default=True,
              help="Seconds between signal reads while monitoring.")
@json_errors
@_with_revisions
def gradual(**kw: Any) -> None:
    """Green 50 -> 25 -> 5 -> 0, watching blue each stage; holds and says why if blue degrades."""
    try:
        stages = parse_stages(kw["stages"])
    except ValueError as e:
        raise CLIError(f"--stages: {e}", EXIT_USAGE) from None
    opts = _plan_options(kw, (kw["blue"], kw["green"]), kw["cache"], stages=stages)
    _run_procedure("gradual", opts, kw, {"poll_s": kw["poll_s"]})


@rollback.command()
@click.argument("rollback_id", required=False)
@click.option("--state-dir", metavar="DIR", help="State dir (default $ETHOS_STATE_DIR, else .ethos).")
@click.option("--admin-key-env", metavar="VAR", help="Environment variable holding the admin key.")
@click.option("--force", is_flag=True,
              help="Resume a superseded run, or one whose split traffic has left since (a rollback "
                   "still never raises green's share).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@json_errors
def resume(rollback_id: str | None, state_dir: str | None, admin_key_env: str | None, force: bool, yes: bool,
           as_json: bool) -> None:
    """Continue an interrupted, failed or held rollback without redoing completed steps.

    Without an id: only the latest run, and only if nothing ran after it. A run superseded by
    a later one, or whose split traffic has left since, is refused unless --force.
    """
    journal = Journal(resolve_state_dir(state_dir))
    try:
        rec = select_for_resume(journal, rollback_id, force=force)
    except ResumeRefused as e:
        raise CLIError(str(e), EXIT_REFUSED) from None
    except (NothingToResume, JournalError) as e:
        raise CLIError(str(e), EXIT_USAGE) from None
    targets = targets_from_record(rec, admin_key_env=admin_key_env, state_dir=state_dir)
    left = [str(x["name"]) for x in rec.plan if x["name"] not in rec.completed]
    confirm(yes, f"resume {rec.procedure} rollback {rec.rollback_id} ({len(left)} steps left: {', '.join(left)})?")
    clients = _clients(targets)
    if not as_json:
        click.echo(f"resuming {rec.procedure} rollback {rec.rollback_id} ({rec.status}): "
                   f"{len(rec.completed)} steps done, {len(left)} left")
    with _terminate_as_interrupt():
        try:
            outcome = resume_procedure(rec, targets, state_dir=journal.dir.parent, printer=_printer(as_json),
                                       emit=_emit(as_json), clients=clients, force=force)
        except ResumeRefused as e:
            raise CLIError(str(e), EXIT_REFUSED) from None
        except ControlRefused as e:
            raise CLIError(str(e), EXIT_REFUSED, {"holder": _public_holder(e.holder)}) from None
        except (LockHeld, JournalError) as e:
            raise CLIError(str(e), EXIT_FAILED) from None
        except RolloutError as e:  # e.g. the traffic manager unreachable for the split check
            raise CLIError(f"cannot resume {rec.rollback_id}: {e}", EXIT_FAILED) from None
    _finish(outcome, journal.dir.parent, as_json)


rollback.add_command(verify)
rollback.add_command(history)
