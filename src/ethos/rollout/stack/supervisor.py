"""Starting and stopping the local stack's processes: the library side of ``ethos stack``.

:func:`start` launches each planned process (:func:`~.state.plan_stack`) in its own session,
waits until every one answers its health route, and stops them all again if one fails;
:func:`stop` sends SIGTERM to each process group, waits, then SIGKILLs what is left.
Failures are :class:`~ethos.rollout.errors.StackError` with what to look at.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from ..errors import StackError
from ..settings import ADMIN_KEY_ENV, resolve_admin_key
from .processes import is_ethos_process, pid_alive
from .state import ProcessSpec

#: The stack's admin key file under its state dir (mode 0600).
KEY_FILE = "admin_key"


def port_free(host: str, port: int) -> bool:
    """True when a server could listen on ``host:port`` now.

    ``SO_REUSEADDR`` as the servers themselves set it, so a port left in TIME-WAIT by a stack
    just stopped counts as free: ``ethos stack down`` then ``up`` on the same ports works at once.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def provision_admin_key(state_dir: Path, env: Mapping[str, str] | None = None) -> tuple[str, Path | None]:
    """The stack's shared key: ``$ETHOS_ADMIN_API_KEY``, else the key file (made 0600 if missing).

    Returns the key and the file it is in (None when it came from the environment)."""
    from_env = resolve_admin_key(env=env)  # no stack passed: the environment only
    if from_env:
        return from_env, None
    path = (state_dir / KEY_FILE).resolve()
    if path.exists():
        key = path.read_text().strip()
        if key:
            os.chmod(path, 0o600)
            return key, path
    key = secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        os.fchmod(f.fileno(), 0o600)
        f.write(key + "\n")
    return key, path


def verdict(data: Any) -> tuple[bool, str]:
    """A health answer read: up when ``status`` is ok or degraded; the detail shown to people."""
    status = str(data.get("status", "ok")) if isinstance(data, dict) else "ok"
    extra = ""
    if isinstance(data, dict) and "cache_format_version" in data:
        extra = f", cache format v{data['cache_format_version']}"
    return status in ("ok", "degraded"), status + extra


def healthy(url: str, timeout: float = 2.0) -> tuple[bool, str]:
    """``GET url``: (up, detail)."""
    try:
        r = httpx.get(url, timeout=timeout)
    except httpx.HTTPError as e:
        return False, f"unreachable ({e.__class__.__name__})"
    if r.status_code != 200:
        return False, f"HTTP {r.status_code}"
    try:
        data = r.json()
    except ValueError:
        return True, "ok"
    return verdict(data)


def tail(path: Path, lines: int = 15) -> str:
    """The last lines of a log, or ``(no log)``."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def running(pids: Mapping[str, int]) -> dict[str, int]:
    """The processes of ``pids`` that still run and are ethos processes (not a reused pid)."""
    return {n: p for n, p in pids.items() if pid_alive(p) and is_ethos_process(p)}


def stop(pids: Mapping[str, int], grace: float = 10.0) -> list[str]:
    """SIGTERM each process group, wait ``grace`` s, SIGKILL what is left. The names stopped."""
    stopped: list[str] = []
    live = running(pids)
    for pid in live.values():
        try:
            os.killpg(pid, signal.SIGTERM)  # each child leads its own session/group
        except ProcessLookupError:
            pass
        except PermissionError:
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(pid_alive(p) for p in live.values()):
        time.sleep(0.05)
    for name, pid in live.items():
        if pid_alive(pid):
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        stopped.append(name)
    deadline = time.monotonic() + 15.0  # SIGKILL is not instant (less so on a busy machine)
    while time.monotonic() < deadline:
        for pid in live.values():  # reap our own children (when stopped by `start` itself)
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
        if not any(pid_alive(p) for p in live.values()):
            break
        time.sleep(0.05)
    return stopped


def start(specs: Sequence[ProcessSpec], admin_key: str, *, timeout: float = 90.0,
          state_dir: Path | None = None) -> dict[str, int]:
    """Start every process and wait until all are healthy: ``{name: pid}``.

    On any failure (a process exits, health not reached within ``timeout``, an interrupt) the
    processes already started are stopped and :class:`StackError` (or the interrupt) is raised.
    """
    pids: dict[str, int] = {}
    try:
        for spec in specs:
            spec.log_file.parent.mkdir(parents=True, exist_ok=True)
            env = {**os.environ, **spec.env, ADMIN_KEY_ENV: admin_key}
            with open(spec.log_file, "ab") as log:
                proc = subprocess.Popen(spec.argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True, cwd=os.getcwd())
            pids[spec.name] = proc.pid
        deadline = time.monotonic() + timeout
        pending = {s.name: s for s in specs}
        while pending:
            for name, spec in list(pending.items()):
                if not pid_alive(pids[name]):
                    raise StackError(f"{name} exited during start-up; last lines of {spec.log_file}:\n"
                                     f"{tail(spec.log_file)}")
                if healthy(spec.health_url, timeout=1.0)[0]:
                    del pending[name]
            if pending and time.monotonic() > deadline:
                where = f"; logs under {state_dir / 'logs'}" if state_dir is not None else ""
                raise StackError(f"not healthy within {timeout:g}s: {', '.join(pending)}{where}")
            if pending:
                time.sleep(0.1)
    except BaseException:
        stop(pids, grace=5.0)
        raise
    return pids


__all__ = ["KEY_FILE", "healthy", "port_free", "provision_admin_key", "running", "start", "stop", "tail", "verdict"]
