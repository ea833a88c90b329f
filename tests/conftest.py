"""Fixtures shared by every part's tests: a real Redis, private Redis servers, and the real
Firestore emulator.

Redis is found at ``ETHOS_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``). When it
does not answer, a ``redis-server`` is started on a free port for the session if one is
installed; otherwise Redis tests are skipped, except under ``CI=true`` where they fail.
Each test gets its own key prefix, and everything under it is removed afterwards.

The Firestore emulator is started once per session (or found at
``ETHOS_TEST_FIRESTORE_EMULATOR_HOST``); each test gets a project of its own, emptied
afterwards. A machine without the emulator fails those tests with the command to install it:
they are never skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ethos.rollout.stack.state import free_port

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
HOW_TO_RUN = (
    "Redis tests need a Redis server: run `redis-server --port 6379 --save ''` (or set"
    " ETHOS_TEST_REDIS_URL=redis://HOST:PORT/DB), or install redis-server so that the tests"
    " start their own."
)


def _answers(url: str, timeout_s: float = 0.5) -> bool:
    import redis

    client = redis.Redis.from_url(
        url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
    )
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


class RedisServer:
    """A private ``redis-server`` on 127.0.0.1 that a test may stop and start again."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        """Start it (again, on the same port) and wait until it answers."""
        if self.proc is not None and self.proc.poll() is None:
            return self
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not _answers(self.url, 0.2):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        """Stop it; connections to it break at once."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def _require_redis_server() -> None:
    if shutil.which("redis-server") is None:
        if _in_ci():
            pytest.fail(f"CI=true and redis-server is not installed. {HOW_TO_RUN}")
        pytest.skip(f"redis-server is not installed. {HOW_TO_RUN}")


@pytest.fixture(scope="session")
def redis_server_url() -> Iterator[str]:
    """The URL of a Redis for this session (plain: fine for redis-py clients)."""
    explicit = os.environ.get("ETHOS_TEST_REDIS_URL")
    url = explicit or DEFAULT_REDIS_URL
    if _answers(url):
        yield url
        return
    if explicit and _in_ci():
        pytest.fail(f"CI=true and ETHOS_TEST_REDIS_URL={explicit} does not answer. {HOW_TO_RUN}")
    if shutil.which("redis-server") is None:
        if _in_ci():
            pytest.fail(f"CI=true and no Redis answers at {url}. {HOW_TO_RUN}")
        pytest.skip(f"no Redis answers at {url}. {HOW_TO_RUN}")
    server = RedisServer().start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def redis_prefix(redis_server_url: str) -> Iterator[str]:
    """A key prefix of this test's own; every key under it is removed afterwards."""
    import redis

    prefix = f"ethos-test-{uuid.uuid4().hex[:12]}:"
    yield prefix
    client = redis.Redis.from_url(redis_server_url, socket_timeout=5)
    try:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        for i in range(0, len(keys), 500):
            client.unlink(*keys[i : i + 500])
    finally:
        client.close()


@pytest.fixture
def redis_url(redis_server_url: str, redis_prefix: str) -> str:
    """A cache URL for ``open_store`` / ``RedisStore.from_url``, with this test's prefix.

    It carries ``?prefix=…``, which redis-py itself does not accept: raw clients use
    ``redis_server_url``.
    """
    sep = "&" if "?" in redis_server_url else "?"
    return f"{redis_server_url}{sep}prefix={redis_prefix}"


@pytest.fixture
def redis_server_factory() -> Iterator[type[RedisServer]]:
    """Start private servers with ``redis_server_factory(port=None).start()``; all stopped after."""
    _require_redis_server()
    started: list[RedisServer] = []

    class _Tracked(RedisServer):
        def __init__(self, port: int | None = None) -> None:
            super().__init__(port)
            started.append(self)

    yield _Tracked
    for server in started:
        server.stop()


# --- Firestore ------------------------------------------------------------------------
@pytest.fixture(scope="session")
def firestore_emulator_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``HOST:PORT`` of a Firestore emulator for this session; FIRESTORE_EMULATOR_HOST is set."""
    from tests.firestore_emulator import INSTALL, FirestoreEmulator, emulator_installed

    explicit = os.environ.get("ETHOS_TEST_FIRESTORE_EMULATOR_HOST")
    emulator = None
    if explicit:
        host = explicit
    else:
        problem = emulator_installed()
        if problem is not None:
            pytest.fail(f"{INSTALL} ({problem})")
        emulator = FirestoreEmulator(log=tmp_path_factory.mktemp("firestore") / "emulator.log").start()
        host = emulator.host
    before = os.environ.get("FIRESTORE_EMULATOR_HOST")
    os.environ["FIRESTORE_EMULATOR_HOST"] = host
    try:
        yield host
    finally:
        if before is None:
            os.environ.pop("FIRESTORE_EMULATOR_HOST", None)
        else:
            os.environ["FIRESTORE_EMULATOR_HOST"] = before
        if emulator is not None:
            emulator.stop()


@pytest.fixture
def firestore_project(firestore_emulator_host: str) -> Iterator[str]:
    """A project id of this test's own on the session's emulator, emptied afterwards."""
    from tests.firestore_emulator import FirestoreEmulator

    project = f"ethos-test-{uuid.uuid4().hex[:12]}"
    yield project
    host, port = firestore_emulator_host.rsplit(":", 1)
    emu = FirestoreEmulator(int(port))
    if host == "127.0.0.1":
        emu.reset(project)


@pytest.fixture
def firestore_url(firestore_project: str) -> str:
    """A cache URL for ``open_store`` on this test's project (a long deadline: a shared,
    loaded machine must not turn a slow emulator into a failed test; faults are tested apart)."""
    return f"firestore://{firestore_project}?collection=cache&timeout=5"


@pytest.fixture
def firestore_emulator_factory(tmp_path: Path) -> Iterator[type]:
    """Private emulators a test may kill and restart: ``firestore_emulator_factory().start()``."""
    from tests.firestore_emulator import INSTALL, FirestoreEmulator, emulator_installed

    problem = emulator_installed()
    if problem is not None:
        pytest.fail(f"{INSTALL} ({problem})")
    started: list[FirestoreEmulator] = []

    class _Tracked(FirestoreEmulator):
        def __init__(self, port: int | None = None) -> None:
            super().__init__(port, log=tmp_path / f"emulator-{len(started)}.log")
            started.append(self)

    yield _Tracked
    for emu in started:
        emu.stop()
