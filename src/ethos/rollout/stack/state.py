"""The local stack's state file: where the router and the revisions of `ethos stack up` live.

The file is ``<state dir>/stack.json``; the state dir is ``--state-dir``, else
``ETHOS_STATE_DIR``, else ``.ethos``. Its shape::

    {"router": "http://127.0.0.1:8000",
     "revisions": {"blue": "http://127.0.0.1:8001", "green": "http://127.0.0.1:8002"},
     "admin_key_file": "/abs/.ethos/admin_key" | null,   # null: key came from the environment
     "pids": {"router": 123, "blue": 124, "green": 125},
     "base_port": 8000,
     "cache_url": "sqlite:////abs/.ethos/cache.sqlite3",
     "logs": {"router": "/abs/.ethos/logs/router.log", ...},
     "started_at": "2026-11-28T16:00:00+00:00"}

Other parts (``ethos rollback``) read targets with :func:`load_stack`.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import StackError
from ..settings import resolve_admin_key, resolve_state_dir

STACK_FILE = "stack.json"


def stack_file(state_dir: str | os.PathLike[str] | None = None) -> Path:
    """Path of the stack file under the resolved state dir."""
    return resolve_state_dir(state_dir) / STACK_FILE


@dataclass
class StackState:
    """What `ethos stack up` started: URLs, pids, logs and where the admin key is kept."""

    router: str
    revisions: dict[str, str]
    admin_key_file: str | None = None
    pids: dict[str, int] = field(default_factory=dict)
    base_port: int | None = None
    cache_url: str | None = None
    logs: dict[str, str] = field(default_factory=dict)
    started_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form written to ``stack.json``."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StackState:
        """Read the JSON form; raises StackError when required fields are missing."""
        try:
            router = str(data["router"])
            revisions = {str(k): str(v) for k, v in dict(data["revisions"]).items()}
        except (KeyError, TypeError, ValueError) as e:
            raise StackError(f"stack file lacks router/revisions: {e}") from e
        return cls(
            router=router,
            revisions=revisions,
            admin_key_file=data.get("admin_key_file"),
            pids={str(k): int(v) for k, v in (data.get("pids") or {}).items()},
            base_port=data.get("base_port"),
            cache_url=data.get("cache_url"),
            logs={str(k): str(v) for k, v in (data.get("logs") or {}).items()},
            started_at=data.get("started_at"),
        )

    def public(self) -> dict[str, Any]:
        """The ``ethos stack status --json`` shape: ``{"router": URL, "revisions": {...}}``."""
        return {"router": self.router, "revisions": dict(self.revisions)}

    def admin_key(self, env: Mapping[str, str] | None = None) -> str | None:
        """The admin key: ``$ETHOS_ADMIN_API_KEY`` in ``env`` (default ``os.environ``) if set,
        else the stack's key file, else None (:func:`ethos.rollout.settings.resolve_admin_key`)."""
        return resolve_admin_key(env=env, stack=self)

    def key_from_file(self) -> str | None:
        """The key in the stack's key file, or None when there is none or it cannot be read."""
        if self.admin_key_file:
            try:
                return Path(self.admin_key_file).read_text().strip() or None
            except OSError:
                return None
        return None


@dataclass
class ProcessSpec:
    """One process of the stack: how to start it and how to tell it is healthy."""

    name: str  # "router", "blue", "green"
    argv: list[str]
    env: dict[str, str]  # variables set on top of the parent's environment
    url: str
    health_url: str
    log_file: Path


def parse_env_pairs(pairs: Iterable[str]) -> dict[str, str]:
    """``("K=V", ...)`` -> ``{"K": "V"}``; raises StackError on an item without ``=``. Pure."""
    out: dict[str, str] = {}
    for item in pairs:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise StackError(f"expected KEY=VALUE, got {item!r}")
        out[key.strip()] = value
    return out


def plan_stack(
    *,
    state_dir: Path,
    base_port: int,
    ethos_argv: Sequence[str],
    revision_env: Mapping[str, Mapping[str, str]],
    weights: Mapping[str, int] | None = None,
    sticky: bool = False,
    host: str = "127.0.0.1",
) -> list[ProcessSpec]:
    """The processes of a stack: router on ``base_port``, revisions on the next ports. Pure.

    ``ethos_argv`` is how to run the ``ethos`` command; ``revision_env`` holds, per revision in
    order, the variables it gets on top of the shared ones (``--blue-env``/``--green-env``).
    Every revision shares one SQLite cache under the state dir unless its env overrides
    ``ETHOS_CACHE_URL``; each gets its own ``ETHOS_STATE_DIR`` below the stack's, and
    ``ETHOS_ONNX_THREADS=1`` unless its env says otherwise.
    """
    state_dir = state_dir.resolve()
    logs = state_dir / "logs"
    shared_cache = f"sqlite:///{state_dir / 'cache.sqlite3'}"
    specs: list[ProcessSpec] = []
    urls: dict[str, str] = {}
    for i, (name, extra) in enumerate(revision_env.items(), start=1):
        port = base_port + i
        url = f"http://{host}:{port}"
        urls[name] = url
        env = {"ETHOS_CACHE_URL": shared_cache, "ETHOS_STATE_DIR": str(state_dir / "revisions" / name),
               # the revisions share this machine's cores: one thread per model call serves
               # 1.58x the answers of one per core (bench/onnx_threads.py)
               "ETHOS_ONNX_THREADS": "1"}
        env.update(extra)
        specs.append(ProcessSpec(
            name=name,
            argv=[*ethos_argv, "serve", "--host", host, "--port", str(port), "--revision", name],
            env=env, url=url, health_url=f"{url}/health", log_file=logs / f"{name}.log",
        ))
    router_url = f"http://{host}:{base_port}"
    argv = [*ethos_argv, "router", "--listen", f"{host}:{base_port}", "--state-dir", str(state_dir)]
    for name, url in urls.items():
        argv += ["--revision", f"{name}={url}"]
    if weights:
        argv += ["--weights", ",".join(f"{k}={v}" for k, v in weights.items())]
    if sticky:
        argv.append("--sticky")
    specs.append(ProcessSpec(
        name="router", argv=argv, env={}, url=router_url,
        health_url=f"{router_url}/router/health", log_file=logs / "router.log",
    ))
    return specs


def load_stack(state_dir: str | os.PathLike[str] | None = None) -> StackState | None:
    """The recorded stack, or None when no stack file exists. Raises StackError if unreadable."""
    path = stack_file(state_dir)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise StackError(f"cannot read {path}: {e}") from e
    try:
        data = json.loads(text)
    except ValueError as e:
        raise StackError(f"{path} is not valid JSON: {e}") from e
    if not isinstance(data, dict):
        raise StackError(f"{path} does not hold a JSON object")
    return StackState.from_dict(data)


def save_stack(state: StackState, state_dir: str | os.PathLike[str] | None = None) -> Path:
    """Write the stack file atomically (write + rename) and return its path."""
    path = stack_file(state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(state.to_dict(), indent=2) + "\n")
    os.replace(tmp, path)
    return path


def remove_stack(state_dir: str | os.PathLike[str] | None = None) -> bool:
    """Delete the stack file; True if there was one."""
    try:
        stack_file(state_dir).unlink()
    except FileNotFoundError:
        return False
    return True


def admin_key_for(state_dir: str | os.PathLike[str] | None = None, *, key_env: str | None = None,
                  env: Mapping[str, str] | None = None) -> str | None:
    """The admin key for the stack under ``state_dir``: ``key_env`` (default
    ``ETHOS_ADMIN_API_KEY``) in ``env``, else that stack's key file; a stack file that cannot be
    read counts as none."""
    try:
        stack = load_stack(resolve_state_dir(state_dir, env))
    except StackError:
        stack = None
    return resolve_admin_key(key_env=key_env, env=env, stack=stack)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_base_port(n: int = 3, tries: int = 100) -> int:
    """A port N such that N .. N+n-1 are all free on 127.0.0.1 right now.

    A stack listens on consecutive ports (router, blue, green from ``--base-port``), so the
    OS-chosen port is only a starting guess; every port of the run is bound once to check it.
    """
    for _ in range(tries):
        base = free_port()
        if base + n - 1 > 65535:
            continue
        socks: list[socket.socket] = []
        try:
            for p in range(base, base + n):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError(f"no {n} consecutive free ports on 127.0.0.1")


__all__ = [
    "STACK_FILE",
    "admin_key_for",
    "free_base_port",
    "free_port",
    "ProcessSpec",
    "plan_stack",
    "parse_env_pairs",
    "StackState",
    "load_stack",
    "save_stack",
    "remove_stack",
    "resolve_state_dir",
    "stack_file",
]
