"""``ethos router``: run the local weighted reverse proxy in front of the revisions."""

from __future__ import annotations

import logging

import click

from .errors import EXIT_USAGE, CLIError


def _split_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit():
        raise CLIError(f"--listen must be HOST:PORT, got {listen!r}", EXIT_USAGE)
    return host or "127.0.0.1", int(port)


def _revisions(items: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        name, sep, url = item.partition("=")
        # Revisions sit next to the router (127.0.0.1 or a private network): plain HTTP only.
        if not sep or not name or not url.startswith("http://"):
            raise CLIError(f"--revision must be NAME=http://HOST:PORT, got {item!r}", EXIT_USAGE)
        if name in out:
            raise CLIError(f"revision {name!r} given twice", EXIT_USAGE)
        out[name] = url
    if not out:
        raise CLIError("give at least one --revision NAME=URL (e.g. blue=http://127.0.0.1:8081)", EXIT_USAGE)
    return out


@click.command()
@click.option("--listen", default="127.0.0.1:8000", show_default=True, help="HOST:PORT to serve on.")
@click.option("--revision", "revisions", multiple=True, metavar="NAME=URL",
              help="A revision and its base URL; repeat. The first one gets 100% by default.")
@click.option("--weights", default=None, metavar="blue=90,green=10",
              help="Initial weights when no saved weights exist (saved ones survive restarts).")
@click.option("--sticky/--no-sticky", default=False, show_default=True,
              help="Keep a session (X-Session-ID header or session_id in the JSON body) on one revision.")
@click.option("--state-dir", type=click.Path(file_okay=False), default=None,
              help="Where weights persist (default: $ETHOS_STATE_DIR or .ethos).")
@click.option("--windows", default="60,300", show_default=True, help="Stats windows, seconds, comma-separated.")
@click.option("--log-level", default="warning", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
def router(listen: str, revisions: tuple[str, ...], weights: str | None, sticky: bool,
           state_dir: str | None, windows: str, log_level: str) -> None:
    """Weighted reverse proxy over blue/green with per-revision stats and an admin API.

    The admin key (for PUT /router/traffic) is read from ETHOS_ADMIN_API_KEY only.
    """
    from ethos.rollout.errors import RolloutError
    from ethos.rollout.router import RouterConfig, serve
    from ethos.rollout.router.weights_store import WEIGHTS_FILE
    from ethos.rollout.stack.state import resolve_state_dir
    from ethos.rollout.traffic import parse_weights, validate_weights

    host, port = _split_listen(listen)
    revs = _revisions(revisions)
    try:
        initial = validate_weights(parse_weights(weights), revs) if weights else None
        win = [int(w) for w in windows.split(",") if w.strip()]
    except (RolloutError, ValueError) as e:
        raise CLIError(str(e), EXIT_USAGE) from None
    if not win or min(win) <= 0:
        raise CLIError("--windows must be positive seconds, e.g. 60,300", EXIT_USAGE)
    from ethos.rollout.settings import RolloutSettings, SettingsError

    try:
        key = RolloutSettings.from_env().secret("admin_api_key")
    except SettingsError as e:
        raise CLIError(str(e), EXIT_USAGE) from None
    from ethos.security import LimitSettings

    try:
        limits = LimitSettings.from_env()
    except ValueError as e:
        raise CLIError(str(e), EXIT_USAGE) from None
    config = RouterConfig(
        revisions=revs,
        admin_key=key,
        sticky=sticky,
        state_file=resolve_state_dir(state_dir) / WEIGHTS_FILE,
        initial_weights=initial,
        windows=win,
        auth_limits=limits,
    )
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if key is None:
        click.echo("warning: ETHOS_ADMIN_API_KEY is not set; PUT /router/traffic will answer 503", err=True)
    click.echo(f"router on http://{host}:{port} -> " + ", ".join(f"{n}={u}" for n, u in revs.items()), err=True)
    serve(config, host, port, log_level=log_level)
