"""``ethos evidence export | verify``: the runbook's Preserve Evidence, hashed and scanned for PII."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from ..rollout.errors import RolloutError
from ..rollout.incidents.evidence import EvidenceError, export_evidence, parse_since, stamp, verify_manifest
from ..rollout.stack.state import load_stack, resolve_state_dir
from .errors import EXIT_FAILED, EXIT_USAGE, CLIError
from .stores import require_state_dir


def _tick_incidents(state_dir: Path, out: str, since_t: float, now: float) -> list[str]:
    """Tick "Export logs and metrics" on the incidents whose rollback lies in the window."""
    from ..rollout.incidents.checklist import apply_ticks
    from ..rollout.incidents.record import IncidentStore, iso

    store = IncidentStore(state_dir)
    ticked = []
    for iid in store.ids():
        try:
            inc = store.load(iid)
        except RolloutError:
            continue
        if since_t <= float(inc.get("rollback_end_t") or inc.get("opened_t") or 0) <= now:
            inc.setdefault("evidence", []).append(out)
            apply_ticks(inc["checklist"], {"export_evidence": (iso(now) or "", f"ethos evidence export: {out}")})
            store.save(inc)
            ticked.append(iid)
    return ticked


@click.group()
def evidence() -> None:
    """Preserve evidence: logs, signals, guard evaluations and journal of an incident window."""


@evidence.command()
@click.option("--since", "since", default="1h", show_default=True, help="Window: 90s, 15m, 1h, 2d.")
@click.option("--revision", "revisions", multiple=True, help="Only these revisions' logs and signals; repeat.")
@click.option("--out", "out", type=click.Path(file_okay=False), default=None,
              help="Output directory (default <state dir>/evidence/YYYYmmdd_HHMMSS).")
@click.option("--log", "logs", multiple=True, type=click.Path(dir_okay=False),
              help="Another JSON-lines log file (ETHOS_LOG_FILE of a revision); repeat.")
@click.option("--state-dir", metavar="DIR", help="State dir (default $ETHOS_STATE_DIR, else .ethos).")
@click.option("--cloud-run", "cloud_run", metavar="PROJECT/REGION/SERVICE",
              help="Also export the request and container logs Cloud Run keeps of blue and green (Cloud Logging).")
@click.option("--revision-name", "revision_names", multiple=True, metavar="NAME=REVISION",
              help="With --cloud-run: the Cloud Run revision of one of our names (default: from its tag).")
@click.option("--max-entries", type=click.IntRange(min=1), default=10_000, show_default=True,
              help="With --cloud-run: at most this many log entries (the export says when it was cut).")
@click.option("--cloudrun-endpoint", hidden=True, help="Cloud Run Admin API endpoint (tests).")
@click.option("--cloudrun-anonymous", is_flag=True, hidden=True, help="Anonymous Admin API credentials (tests).")
@click.option("--yes", "-y", is_flag=True, help="No prompts (there are none; accepted for scripts).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def export(since: str, revisions: tuple[str, ...], out: str | None, logs: tuple[str, ...],
           state_dir: str | None, cloud_run: str | None, revision_names: tuple[str, ...], max_entries: int,
           cloudrun_endpoint: str | None, cloudrun_anonymous: bool, yes: bool, as_json: bool) -> None:
    """Write the window's evidence with a SHA-256 manifest; fail if the export holds PII."""
    try:
        since_s = parse_since(since)
    except ValueError as e:
        raise CLIError(f"--since: {e}", EXIT_USAGE) from None
    cloud_logs = _cloud_logs(cloud_run, revision_names, revisions, max_entries, cloudrun_endpoint,
                             cloudrun_anonymous)
    if cloud_logs is not None:  # Cloud Logging holds the logs: a fresh state dir is fine
        resolve_state_dir(state_dir).mkdir(parents=True, exist_ok=True)
    # a mistyped state dir would export nothing and call it clean: refused, nothing created
    sd = require_state_dir(resolve_state_dir(state_dir))
    now = time.time()
    out_dir = Path(out) if out else sd / "evidence" / stamp(now)
    try:
        stack = load_stack(sd)
    except RolloutError:
        stack = None
    try:
        exp = export_evidence(sd, out_dir, since_s=since_s, now=now, revisions=list(revisions) or None,
                              extra_logs=list(logs), router_url=stack.router if stack else None,
                              cloud_logs=cloud_logs)
    except EvidenceError as e:
        raise CLIError(str(e), EXIT_FAILED) from None
    except RolloutError as e:  # Cloud Logging: no credentials, permission denied, quota
        raise CLIError(str(e), EXIT_FAILED) from None
    ticked = _tick_incidents(sd, str(out_dir), now - since_s, now) if exp.clean else []
    if as_json:
        click.echo(json.dumps({**exp.to_dict(), "incidents_ticked": ticked}))
    else:
        click.echo(f"evidence of the last {since} in {out_dir}:")
        for name, meta in exp.files.items():
            click.echo(f"  {name}  {meta['bytes']} bytes  sha256 {meta['sha256'][:16]}…")
        click.echo("  " + ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in exp.counts.items()))
        if cloud_logs is not None and cloud_logs.truncated:
            click.echo(f"  Cloud Logging: cut at {cloud_logs.max_entries} entries (narrow --since or raise "
                       "--max-entries)")
        if ticked:
            click.echo(f"  checklist 'Export logs and metrics' ticked on {', '.join(ticked)}")
    if not exp.clean:
        where = "; ".join(f"{f.file}:{f.line} {','.join(f.entities)}" for f in exp.pii[:10])
        if exp.quarantine:
            raise CLIError(
                f"the export holds PII ({len(exp.pii)} lines: {where}); its raw files were moved to "
                f"{exp.quarantine_dir} (owner-only) and redacted copies kept in their place"
                + ("" if exp.redacted_clean else " (the redacted copies still hold PII: do not share them)")
                + "; share only the redacted export, find how PII reached the logs, and delete the "
                "quarantine once the incident is closed", EXIT_FAILED)
        raise CLIError(f"the export holds PII ({len(exp.pii)} lines: {where}); do not share it", EXIT_FAILED)
    if not as_json:
        click.echo("PII scan: clean; verify with: ethos evidence verify " + str(out_dir))


def _cloud_logs(cloud_run: str | None, revision_names: tuple[str, ...], only: tuple[str, ...], max_entries: int,
                endpoint: str | None, anonymous: bool) -> Any:
    """The Cloud Logging reader of ``--cloud-run`` (blue and green resolved), or None."""
    if not cloud_run:
        if revision_names:
            raise CLIError("--revision-name needs --cloud-run PROJECT/REGION/SERVICE", EXIT_USAGE)
        return None
    from ..rollout.incidents.cloudlogging import CloudLogs
    from ..rollout.sources.cloudmonitoring import CloudRunService

    given: dict[str, str] = {}
    for item in revision_names:
        name, sep, rev = item.partition("=")
        if not sep or not name.strip() or not rev.strip():
            raise CLIError(f"--revision-name takes NAME=CLOUD_RUN_REVISION, got {item!r}", EXIT_USAGE)
        given[name.strip()] = rev.strip()
    try:
        where = CloudRunService.parse(cloud_run, given)
    except ValueError as e:
        raise CLIError(str(e), EXIT_USAGE) from None
    names = dict(given)
    if not all(n in names for n in ("blue", "green")):
        from ..rollout.traffic.cloudrun import CloudRunTraffic

        kwargs: dict[str, Any] = {"revisions": given}
        if endpoint:
            kwargs["api_endpoint"] = endpoint
        if anonymous:
            from google.auth.credentials import AnonymousCredentials

            kwargs["credentials"] = AnonymousCredentials()
        try:
            names = CloudRunTraffic(where.service, where.region, where.project, **kwargs).resolved()
        except RolloutError as e:
            raise CLIError(str(e), EXIT_USAGE if e.permanent else EXIT_FAILED) from None
    if only:
        names = {k: v for k, v in names.items() if k in only}
    return CloudLogs(where.project, where.region, where.service, names, max_entries=max_entries)


@evidence.command()
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def verify(directory: str, as_json: bool) -> None:
    """Re-hash every file of an export against its manifest; exit 1 on any difference."""
    try:
        res: dict[str, Any] = verify_manifest(directory)
    except EvidenceError as e:
        raise CLIError(str(e), EXIT_USAGE) from None
    if as_json:
        click.echo(json.dumps(res))
    else:
        click.echo(f"{res['checked']} files checked: "
                   + ("all match the manifest" if res["ok"] else "DIFFERENCES FOUND"))
        for k in ("mismatched", "missing", "extra"):
            if res[k]:
                click.echo(f"  {k}: {', '.join(res[k])}")
    if not res["ok"]:
        raise SystemExit(EXIT_FAILED)
