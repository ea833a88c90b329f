"""Options and helpers shared by the ``ethos rollback`` commands: targets, prompts, JSON errors."""

from __future__ import annotations

import functools
import getpass
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..rollout.errors import RolloutError
from ..rollout.stack.state import resolve_state_dir
from ..rollout.traffic.targets import TargetError, Targets, resolve_targets
from .errors import EXIT_FAILED, EXIT_USAGE, CLIError


def target_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Add the target flags (router, revisions, key, state dir, traffic manager) and ``--json``."""
    opts = [
        click.option("--router", metavar="URL", help="Router base URL (else $ETHOS_ROUTER_URL, else the stack file)."),
        click.option("--revision", "revisions", multiple=True, metavar="NAME=URL",
                     help="A revision's base URL; repeat (else the stack file)."),
        click.option("--admin-key-env", metavar="VAR",
                     help="Environment variable holding the admin key (default ETHOS_ADMIN_API_KEY)."),
        click.option("--state-dir", metavar="DIR", help="State dir: stack file and journal (default $ETHOS_STATE_DIR, else .ethos)."),
        click.option("--blue", default="blue", show_default=True, help="The stable revision to roll back to."),
        click.option("--green", default="green", show_default=True, help="The revision rolled back from."),
        click.option("--traffic", "traffic_kind", type=click.Choice(["router", "cloudrun"]), default="router",
                     show_default=True, help="Traffic manager: the local router or Cloud Run."),
        click.option("--service", help="Cloud Run service (with --traffic cloudrun)."),
        click.option("--region", help="Cloud Run region (with --traffic cloudrun)."),
        click.option("--project", default=lambda: os.environ.get("GOOGLE_CLOUD_PROJECT"),
                     help="Cloud Run project (default $GOOGLE_CLOUD_PROJECT)."),
        click.option("--cloudrun-tag", "cloud_tags", multiple=True, metavar="NAME=TAG",
                     help="Address our name by a Cloud Run traffic tag (default: the tag of the same name, "
                          "e.g. blue=blue); tags move with each deploy."),
        click.option("--cloudrun-revision", "--revision-name", "cloud_revisions", multiple=True,
                     metavar="NAME=CLOUD_REVISION",
                     help="Address our name by a Cloud Run revision name instead of a tag "
                          "(e.g. blue=marketing-api-00012-xuv)."),
        click.option("--cloud-run", "cloud_run", metavar="PROJECT/REGION/SERVICE",
                     help="Cloud Run: shift its traffic (as --traffic cloudrun --project --region --service) "
                          "and read the signals Cloud Run records (Cloud Monitoring) instead of a router's."),
        click.option("--cloudrun-endpoint", hidden=True, help="Cloud Run API endpoint (tests)."),
        click.option("--cloudrun-anonymous", is_flag=True, hidden=True,
                     help="Anonymous credentials (tests against a local Admin API)."),
        click.option("--json", "as_json", is_flag=True, help="Print one JSON document."),
    ]
    for o in reversed(opts):
        fn = o(fn)
    return fn


def default_user() -> str:
    """The login name, for ``--executed-by`` when ``$USER`` is unset."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def targets_from_flags(kw: dict[str, Any]) -> Targets:
    """Resolve targets from the flags of :func:`target_options` (then env, then stack file)."""
    cloud: dict[str, Any] = {}
    if kw.get("cloud_run"):
        from ..rollout.sources.cloudmonitoring import CloudRunService

        try:
            where = CloudRunService.parse(kw["cloud_run"])
        except ValueError as e:
            raise CLIError(str(e), EXIT_USAGE) from None
        kw = {**kw, "traffic_kind": "cloudrun", "project": where.project, "region": where.region,
              "service": where.service}
        cloud["monitoring"] = True
    if kw["traffic_kind"] == "cloudrun":
        cloud.update({"service": kw["service"], "region": kw["region"], "project": kw["project"],
                      "api_endpoint": kw.get("cloudrun_endpoint"), "anonymous": kw.get("cloudrun_anonymous")})
        for flag, key in (("--cloudrun-tag", "cloud_tags"), ("--cloudrun-revision", "cloud_revisions")):
            if kw.get(key):
                cloud[key.removeprefix("cloud_")] = _pairs(flag, kw[key])
    try:
        return resolve_targets(router=kw["router"], revisions=kw["revisions"],
                               admin_key_env=kw["admin_key_env"], state_dir=kw["state_dir"],
                               blue=kw["blue"], green=kw["green"], traffic=kw["traffic_kind"],
                               cloudrun=cloud)
    except TargetError as e:
        raise CLIError(str(e), EXIT_USAGE) from None
    except RolloutError as e:  # Cloud Run: no credentials, project/region/service not found, unreachable
        raise CLIError(str(e), EXIT_USAGE if e.permanent else EXIT_FAILED) from None


def _pairs(flag: str, items: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = str(item).partition("=")
        if not sep or not name.strip() or not value.strip():
            raise CLIError(f"bad {flag} {item!r}: expected NAME=VALUE (e.g. blue=blue)", EXIT_USAGE)
        out[name.strip()] = value.strip()
    return out


def state_dir_of(kw: dict[str, Any]) -> Path:
    """``--state-dir``, else ``$ETHOS_STATE_DIR``, else ``.ethos``."""
    return resolve_state_dir(kw.get("state_dir"))


def confirm(yes: bool, text: str) -> None:
    """Ask on a terminal unless ``--yes``; without a terminal refuse (exit 2) rather than hang."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise CLIError("no terminal to confirm on: pass --yes to act without a prompt", EXIT_USAGE)
    if not click.confirm(text, default=False):
        raise CLIError("not confirmed; nothing changed", EXIT_FAILED)


def json_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """With ``--json``, a clean error is also one JSON document on stdout (for scripts)."""
    @functools.wraps(fn)
    def wrapper(**kw: Any) -> Any:
        try:
            return fn(**kw)
        except CLIError as e:
            if kw.get("as_json"):
                click.echo(json.dumps({"status": "error", "error": str(e), "exit_code": e.exit_code,
                                       **getattr(e, "details", {})}, default=str))
            raise
    return wrapper


__all__ = ["default_user", "target_options", "targets_from_flags", "state_dir_of", "confirm", "json_errors"]
