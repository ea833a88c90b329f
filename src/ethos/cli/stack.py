"""``ethos stack up | status | fault | down``: blue, green and the router as local processes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import httpx

from ethos.rollout.stack.supervisor import verdict

from .errors import EXIT_FAILED, EXIT_USAGE, CLIError

if TYPE_CHECKING:
    from ethos.rollout.router.client import RouterClient

def _router_healthy(router: RouterClient) -> tuple[bool, str]:
    """:func:`~ethos.rollout.stack.supervisor.healthy` for the router, through its client."""
    from ethos.rollout.errors import RouterReadError

    try:
        data = router.health()
    except RouterReadError as e:
        if e.status is not None:
            return False, f"HTTP {e.status}"
        if isinstance(e.__cause__, httpx.HTTPError):
            return False, f"unreachable ({e.__cause__.__class__.__name__})"
        return True, "ok"  # it answered 200, not with a JSON object
    return verdict(data)


@click.group()
def stack() -> None:
    """The local blue/green stack: two revisions and the router, as background processes."""


@stack.command()
@click.option("--base-port", type=int, default=8000, show_default=True,
              help="Router on N, blue on N+1, green on N+2.")
@click.option("--blue-env", multiple=True, metavar="K=V", help="Extra environment of blue; repeat.")
@click.option("--green-env", multiple=True, metavar="K=V", help="Extra environment of green; repeat.")
@click.option("--weights", default="blue=100,green=0", show_default=True, help="Initial weights.")
@click.option("--sticky/--no-sticky", default=False, help="Session stickiness in the router.")
@click.option("--state-dir", type=click.Path(file_okay=False), default=None,
              help="State, logs, cache and key (default: $ETHOS_STATE_DIR or .ethos).")
@click.option("--timeout", type=float, default=90.0, show_default=True, help="Seconds to wait for health.")
@click.option("--yes", is_flag=True, help="No prompts (there are none; accepted for scripts).")
@click.option("--json", "as_json", is_flag=True, help="Print the stack as JSON.")
def up(base_port: int, blue_env: tuple[str, ...], green_env: tuple[str, ...], weights: str, sticky: bool,
       state_dir: str | None, timeout: float, yes: bool, as_json: bool) -> None:
    """Start blue, green and the router; wait until all are healthy; record the stack file."""

    from ethos.rollout.errors import RolloutError, StackError
    from ethos.rollout.router.weights_store import WEIGHTS_FILE
    from ethos.rollout.stack import supervisor
    from ethos.rollout.stack.processes import ethos_argv
    from ethos.rollout.stack.state import StackState, load_stack, parse_env_pairs, plan_stack, resolve_state_dir, save_stack
    from ethos.rollout.traffic import parse_weights, validate_weights

    sdir = resolve_state_dir(state_dir).resolve()
    try:
        envs = {"blue": parse_env_pairs(blue_env), "green": parse_env_pairs(green_env)}
        initial = validate_weights(parse_weights(weights), envs)
    except RolloutError as e:
        raise CLIError(str(e), EXIT_USAGE) from None
    if not 1 <= base_port <= 65533:
        raise CLIError("--base-port must leave room for N, N+1, N+2 (1..65533)", EXIT_USAGE)
    existing = load_stack(sdir) if (sdir / "stack.json").exists() else None
    if existing and supervisor.running(existing.pids):
        raise CLIError(f"a stack is already running from {sdir} (router {existing.router}); "
                       "run `ethos stack down` first", EXIT_FAILED)
    busy = [p for p in (base_port, base_port + 1, base_port + 2) if not supervisor.port_free("127.0.0.1", p)]
    if busy:
        raise CLIError(f"port(s) {', '.join(map(str, busy))} already in use; pick another --base-port", EXIT_FAILED)

    key, key_file = supervisor.provision_admin_key(sdir)
    specs = plan_stack(state_dir=sdir, base_port=base_port, ethos_argv=ethos_argv(),
                       revision_env=envs, weights=initial, sticky=sticky)
    (sdir / WEIGHTS_FILE).unlink(missing_ok=True)  # a new stack starts from --weights
    try:
        pids = supervisor.start(specs, key, timeout=timeout, state_dir=sdir)
    except StackError as e:
        raise CLIError(str(e), EXIT_FAILED) from None
    by = {s.name: s for s in specs}
    state = StackState(
        router=by["router"].url,
        revisions={n: by[n].url for n in envs},
        admin_key_file=str(key_file) if key_file else None,
        pids=pids, base_port=base_port,
        cache_url=by["blue"].env["ETHOS_CACHE_URL"],
        logs={s.name: str(s.log_file) for s in specs},
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    save_stack(state, sdir)
    if as_json:
        click.echo(json.dumps(state.public()))
        return
    click.echo(f"router  {state.router}  weights {initial}")
    for name, url in state.revisions.items():
        click.echo(f"{name:<7} {url}")
    if key_file:
        click.echo(f"admin key: {key_file} (readable by you only; ETHOS_ADMIN_API_KEY overrides)")
    else:
        click.echo("admin key: from ETHOS_ADMIN_API_KEY")
    click.echo(f"logs: {sdir / 'logs'}; stop with `ethos stack down`")


@stack.command()
@click.option("--state-dir", type=click.Path(file_okay=False), default=None)
@click.option("--json", "as_json", is_flag=True,
              help='Print {"router": URL, "revisions": {...}} as recorded (no health checks).')
def status(state_dir: str | None, as_json: bool) -> None:
    """Show the recorded stack; the human form checks health and exits 1 if a part is down."""
    from ethos.rollout.router.client import RouterClient
    from ethos.rollout.stack import supervisor
    from ethos.rollout.stack.state import load_stack, resolve_state_dir

    sdir = resolve_state_dir(state_dir)
    state = load_stack(sdir)
    if state is None:
        raise CLIError(f"no stack recorded in {sdir.resolve()} (start one with `ethos stack up`)", EXIT_FAILED)
    if as_json:
        click.echo(json.dumps(state.public()))
        return
    all_ok = True
    rows: list[tuple[str, str, bool, str]] = []
    with RouterClient(state.router, timeout=2.0) as router:
        ok, detail = _router_healthy(router)
        rows.append(("router", state.router, ok, detail))
        for name, url in state.revisions.items():
            ok, detail = supervisor.healthy(f"{url}/health")
            rows.append((name, url, ok, detail))
        for name, url, ok, detail in rows:
            all_ok &= ok
            pid = state.pids.get(name)
            click.echo(f"{name:<7} {url:<24} {'up  ' if ok else 'DOWN'} {detail}  (pid {pid})")
        weights = _weights(router)
    if weights:
        click.echo("weights " + ", ".join(f"{k}={v}" for k, v in weights.items()))
    if not all_ok:
        raise CLIError("some parts of the stack are down (see above; logs under "
                       f"{Path(next(iter(state.logs.values()), str(sdir))).parent})", EXIT_FAILED)


def _weights(router: RouterClient) -> dict[str, int] | None:
    from ethos.rollout.errors import TrafficError

    try:
        return router.traffic().weights
    except TrafficError:
        return None


@stack.command()
@click.option("--state-dir", type=click.Path(file_okay=False), default=None)
@click.option("--yes", is_flag=True, help="No prompts (there are none; accepted for scripts).")
@click.option("--json", "as_json", is_flag=True)
def down(state_dir: str | None, yes: bool, as_json: bool) -> None:
    """Stop the router and the revisions and remove the stack file."""
    from ethos.rollout.stack import supervisor
    from ethos.rollout.stack.state import load_stack, remove_stack, resolve_state_dir

    sdir = resolve_state_dir(state_dir)
    state = load_stack(sdir)
    if state is None:
        if as_json:
            click.echo(json.dumps({"stopped": [], "detail": "no stack recorded"}))
        else:
            click.echo(f"no stack recorded in {sdir.resolve()}; nothing to stop")
        return
    # Router first: clients stop getting routed before the revisions go.
    order = dict(sorted(state.pids.items(), key=lambda kv: kv[0] != "router"))
    stopped = supervisor.stop(order)
    left = list(supervisor.running(state.pids))
    if left:
        raise CLIError(f"could not stop: {', '.join(left)} (pids {[state.pids[n] for n in left]})", EXIT_FAILED)
    remove_stack(sdir)
    if as_json:
        click.echo(json.dumps({"stopped": stopped}))
    else:
        click.echo(f"stopped: {', '.join(stopped) or '(nothing was running)'}")


def _shown(faults: Any) -> str:
    """``error_rate=0.2, latency_ms=500`` or ``none``, from a ``Faults.describe()`` dict."""
    if not isinstance(faults, dict) or not faults:
        return "none"
    return ", ".join(f"{k}={v}" for k, v in faults.items())


@stack.command()
@click.argument("revision")
@click.argument("settings", nargs=-1, metavar="[NAME=VALUE]...")
@click.option("--clear", is_flag=True, help="Switch every fault off.")
@click.option("--state-dir", type=click.Path(file_okay=False), default=None,
              help="The stack's state dir (default: $ETHOS_STATE_DIR or .ethos).")
@click.option("--timeout", type=float, default=10.0, show_default=True, help="Seconds to wait for the revision.")
@click.option("--yes", is_flag=True, help="No prompts (there are none; accepted for scripts).")
@click.option("--json", "as_json", is_flag=True, help="Print the revision's answer as JSON.")
def fault(revision: str, settings: tuple[str, ...], clear: bool, state_dir: str | None, timeout: float,
          yes: bool, as_json: bool) -> None:
    """Switch faults on a running revision, without a restart (drills and demos).

    \b
      ethos stack fault green error_rate=0.2            # 20% of green's chat requests answer 500
      ethos stack fault green latency_ms=2000 ttft_ms=800
      ethos stack fault green --clear                   # every fault off
      ethos stack fault green                           # show the faults in force

    The NAME=VALUE settings are ETHOS_FAULTS's grammar (error_rate=0..1, latency_ms=MS,
    ttft_ms=MS), one per argument or comma-separated. They replace the faults in force: a
    fault not given is off. Exit 2 on bad input (settings, unknown revision), 1 when the stack
    or the revision cannot be reached or refuses.
    """
    from ethos.rollout.errors import RolloutError
    from ethos.rollout.procedures.revisions import RevisionClient, RevisionRefused
    from ethos.rollout.stack.state import load_stack, resolve_state_dir
    from ethos.service.faults import Faults

    if clear and settings:
        raise CLIError("give fault settings or --clear, not both", EXIT_USAGE)
    wanted = None
    if settings:
        try:
            wanted = Faults.parse(",".join(settings), source="fault settings")
        except ValueError as e:
            raise CLIError(str(e), EXIT_USAGE) from None
    sdir = resolve_state_dir(state_dir)
    try:
        state = load_stack(sdir)
    except RolloutError as e:
        raise CLIError(str(e), EXIT_FAILED) from None
    if state is None:
        raise CLIError(f"no stack recorded in {sdir.resolve()} (start one with `ethos stack up`)", EXIT_FAILED)
    if revision not in state.revisions:
        raise CLIError(f"unknown revision {revision!r}; this stack has: {', '.join(state.revisions)}", EXIT_USAGE)
    url = state.revisions[revision]
    key = state.admin_key()
    if not key:
        where = f"the stack's key file {state.admin_key_file} cannot be read" if state.admin_key_file \
            else "the stack was started with the key from ETHOS_ADMIN_API_KEY"
        raise CLIError(f"no admin key: set ETHOS_ADMIN_API_KEY ({where})", EXIT_FAILED)
    client = RevisionClient(state.revisions, key, timeout=timeout)
    try:
        if clear:
            body = client.clear_faults(revision)
        elif wanted is not None:
            body = client.set_faults(revision, {"error_rate": wanted.error_rate, "latency_ms": wanted.latency_ms,
                                                "ttft_ms": wanted.ttft_ms})
        else:
            body = client.faults(revision)
    except RevisionRefused as e:
        hint = {403: "; the admin key is not this stack's (ETHOS_ADMIN_API_KEY overrides its key file)",
                404: "; this revision runs an ethos without /api/admin/faults (restart the stack)"}
        raise CLIError(f"{revision} refused: {e}{hint.get(e.status, '')}", EXIT_FAILED) from None
    except RolloutError as e:  # unreachable, timed out, 5xx
        raise CLIError(f"{revision} at {url} does not answer ({e}); is the stack up? "
                       "see `ethos stack status`", EXIT_FAILED) from None
    finally:
        client.close()
    if as_json:
        click.echo(json.dumps({**body, "url": url}))
        return
    now = _shown(body.get("faults"))
    line = f"{revision} ({url}): faults {'on: ' + now if body.get('enabled') else 'off'}"
    if "previous" in body:
        line += f" (before: {_shown(body['previous'])})"
    click.echo(line)
