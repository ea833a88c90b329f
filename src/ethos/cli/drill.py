"""``ethos drill [--scenario ...]`` and ``ethos drill status``: the runbook's monthly rollback drill."""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import click

from ..rollout.drill.history import DrillHistory
from ..rollout.drill.plan import DRILL_STAGES, SCENARIOS, drill_status
from ..rollout.stack.state import resolve_state_dir
from .errors import EXIT_FAILED, EXIT_USAGE, CLIError


@click.group(invoke_without_command=True)
@click.option("--scenario", type=click.Choice(SCENARIOS), default="emergency", show_default=True,
              help="Which procedure to rehearse.")
@click.option("--target", type=click.Path(file_okay=False), default=None,
              help="State dir of a running stack to drill on (default: a sandbox stack the drill starts).")
@click.option("--workdir", type=click.Path(file_okay=False), default=None,
              help="Where the sandbox goes (default: a new temporary directory).")
@click.option("--fault", default="error_rate=0.3", show_default=True, help="ETHOS_FAULTS of the sandbox's green.")
@click.option("--stages", default=DRILL_STAGES, show_default=True, help="Gradual stages of the drill.")
@click.option("--runbook", type=click.Path(dir_okay=False), default=None,
              help="The runbook to check (default $ETHOS_RUNBOOK, else ../shared/spec/rollback-procedures.md).")
@click.option("--policy", type=click.Path(dir_okay=False), default=None, help="Guard policy (default: the runbook's).")
@click.option("--approved-by", default="drill-approver", show_default=True,
              help="Approver of standard/gradual drills (with --target: a name in its authority.yaml).")
@click.option("--state-dir", metavar="DIR", help="Where drill reports and history are kept (default $ETHOS_STATE_DIR, else .ethos).")
@click.option("--yes", "-y", is_flag=True, help="No prompts (there are none; accepted for scripts).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def drill(ctx: click.Context, scenario: str, target: str | None, workdir: str | None, fault: str, stages: str,
          runbook: str | None, policy: str | None, approved_by: str, state_dir: str | None, yes: bool,
          as_json: bool) -> None:
    """Rehearse a rollback on a sandbox stack: time each step, check the runbook's test checklist."""
    if ctx.invoked_subcommand is not None:
        return
    from ..rollout.drill.runner import DrillOptions, run_drill

    if target is not None and not (Path(target) / "stack.json").is_file():
        raise CLIError(f"--target {target}: no stack.json there (start one with `ethos stack up`)", EXIT_USAGE)
    work = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="ethos-drill-"))
    opts = DrillOptions(scenario=scenario, workdir=work, target=Path(target) if target else None, fault=fault,
                        runbook=Path(runbook) if runbook else None, policy=Path(policy) if policy else None,
                        stages=stages, approved_by=approved_by,
                        echo=(lambda line: None) if as_json else click.echo)
    if not as_json:
        click.echo(f"drill {scenario} in {opts.target or work}")
    report = run_drill(opts)
    md, js = DrillHistory(resolve_state_dir(state_dir)).record(report)
    if as_json:
        click.echo(json.dumps({**report.to_dict(), "report": str(md), "report_json": str(js)}, default=str))
    else:
        for c in report.checks:
            click.echo(f"{c.status.upper():<4} {c.title}: {c.evidence}")
        click.echo(f"drill {'PASSED' if report.passed else 'FAILED'}; report {md}")
    if not report.passed:
        raise SystemExit(EXIT_FAILED)


@drill.command()
@click.option("--state-dir", metavar="DIR", help="Where drill history is kept (default $ETHOS_STATE_DIR, else .ethos).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(state_dir: str | None, as_json: bool) -> None:
    """Last drill, and whether the monthly drill is overdue."""
    st = drill_status(DrillHistory(resolve_state_dir(state_dir)).read(), datetime.now(UTC))
    if as_json:
        click.echo(json.dumps(st, default=str))
        return
    last = st["last_drill"]
    if last:
        click.echo(f"last drill: {last['started']} {last['scenario']} "
                   f"{'passed' if last['passed'] else 'FAILED'} ({last['report']})")
    click.echo(st["message"])


__all__ = ["drill", "EXIT_FAILED"]
