"""``ethos console``: the ops console, one page over the local stack (or a router and revisions).

Reads the stack file of ``--state-dir`` (``ethos stack up``), or ``--router`` with
``ETHOS_ROUTER_URL``-style environment; the admin key for actions is ``ETHOS_ADMIN_API_KEY``,
else the stack's generated key. The page works without a key (read-only).
"""

from __future__ import annotations

import logging
import socket

import click

from .errors import EXIT_FAILED, EXIT_USAGE, CLIError
from .router import _split_listen


@click.command()
@click.option("--listen", default="127.0.0.1:8090", show_default=True, help="HOST:PORT to serve the page on.")
@click.option("--state-dir", type=click.Path(file_okay=False), default=None,
              help="State dir of the stack, journal and guard (default: $ETHOS_STATE_DIR or .ethos).")
@click.option("--router", metavar="URL", default=None, help="Router base URL (default: the stack file).")
@click.option("--revision", "revisions", multiple=True, metavar="NAME=URL",
              help="A revision's base URL; repeat (default: the stack file).")
@click.option("--policy", "policy_path", type=click.Path(dir_okay=False), default=None,
              help="Guard policy YAML whose triggers are shown (default: the runbook's).")
@click.option("--interval", "interval_s", type=click.FloatRange(min=0.5, max=60), default=5.0,
              show_default=True, help="Seconds between samples of the signals.")
@click.option("--persist/--no-persist", default=True, show_default=True,
              help="Keep the last hour of samples under <state dir>/console/ across restarts.")
@click.option("--cloud-run", "cloud_run", metavar="PROJECT/REGION/SERVICE",
              help="A Cloud Run service: signals from Cloud Monitoring, actions through Cloud Run's traffic.")
@click.option("--revision-name", "revision_names", multiple=True, metavar="NAME=REVISION",
              help="With --cloud-run: the Cloud Run revision of one of our names (default: from its tag).")
@click.option("--managed-prometheus", is_flag=True,
              help="With --cloud-run: also the revisions' own series from Managed Service for Prometheus.")
@click.option("--cloudrun-endpoint", hidden=True, help="Cloud Run Admin API endpoint (tests).")
@click.option("--cloudrun-anonymous", is_flag=True, hidden=True, help="Anonymous Admin API credentials (tests).")
@click.option("--log-level", default="warning", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
def console(listen: str, state_dir: str | None, router: str | None, revisions: tuple[str, ...],
            policy_path: str | None,
            interval_s: float, persist: bool, cloud_run: str | None, revision_names: tuple[str, ...],
            managed_prometheus: bool, cloudrun_endpoint: str | None, cloudrun_anonymous: bool,
            log_level: str) -> None:
    """Serve the ops console: traffic, health, triggers, charts, journal, and the rollback actions."""
    import uvicorn

    from ethos.rollout.console import build_console, create_app
    from ethos.rollout.errors import RolloutError
    from ethos.rollout.guard.policy import load_policy
    from ethos.rollout.stack.state import resolve_state_dir
    from ethos.rollout.traffic.targets import TargetError

    host, port = _split_listen(listen)
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"warning: serving the console on {host}; anyone who reaches it sees the rollout", err=True)
    sd = resolve_state_dir(state_dir)
    from .guard import _cloud_run

    where = _cloud_run({"cloud_run": cloud_run, "revision_names": revision_names,
                        "managed_prometheus": managed_prometheus})
    try:
        policy = load_policy(policy_path)
        c = build_console(sd, router=router, revisions=revisions, policy=policy,
                          interval_s=interval_s, persist=persist, cloud_run=where,
                          cloudrun_api={"api_endpoint": cloudrun_endpoint, "anonymous": cloudrun_anonymous},
                          managed_prometheus=managed_prometheus)
    except TargetError as e:
        raise CLIError(f"{e} (state dir {sd})", EXIT_USAGE) from None
    except RolloutError as e:
        raise CLIError(str(e), EXIT_USAGE) from None
    with socket.socket() as s:  # a clean error instead of uvicorn's trace when the port is taken
        try:
            s.bind((host, port))
        except OSError as e:
            raise CLIError(f"cannot listen on {host}:{port}: {e.strerror}", EXIT_FAILED) from None
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not c.admin_key():
        click.echo("warning: no admin key (ETHOS_ADMIN_API_KEY or the stack's); actions will answer 503", err=True)
    try:
        app = create_app(c)
    except ValueError as e:  # ETHOS_ADMIN_AUTH_* not numbers
        raise CLIError(str(e), EXIT_USAGE) from None
    watched = f"Cloud Run {where}" if where is not None else f"router {c.sampler.router}"
    click.echo(f"console on http://{host}:{port}/ for {watched}", err=True)
    # First hop: the client address is the peer's (a forged X-Forwarded-For could otherwise
    # dodge the wrong-key lockout).
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False, proxy_headers=False)
