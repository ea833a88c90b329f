"""Two real ``ethos serve`` processes on one Redis: answers are shared, and an invalidation
on one reaches the other's memory tier through Redis pub/sub before its next request.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.redis, pytest.mark.slow]

Q = "What are your pricing plans?"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Serve:
    """One ``ethos serve`` process on a free port."""

    def __init__(self, revision: str, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        ethos = Path(sys.executable).with_name("ethos")
        self._log_file = log.open("wb")
        self.proc = subprocess.Popen(
            [str(ethos), "serve", "--port", str(self.port), "--revision", revision],
            env=env, stdout=self._log_file, stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ethos serve exited:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"ethos serve did not start:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log_file.close()


def ask(server: Serve, message: str = Q) -> str:
    r = httpx.post(f"{server.url}/api/ai/marketing-chat", json={"message": message}, timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["X-Cache"] == r.json()["cache"].upper().replace("_", "-")
    return r.json()["cache"]


@pytest.fixture
def two_instances(redis_url: str, tmp_path: Path) -> Iterator[tuple[Serve, Serve, str]]:
    key = secrets.token_urlsafe(16)
    base = {k: v for k, v in os.environ.items() if not k.startswith("ETHOS_")}
    servers = []
    try:
        for name in ("blue", "green"):
            env = dict(
                base,
                ETHOS_CACHE_URL=redis_url,  # carries ?prefix=… of this test
                ETHOS_ADMIN_API_KEY=key,
                ETHOS_STATE_DIR=str(tmp_path / name),
            )
            servers.append(Serve(name, env, tmp_path / f"{name}.log"))
        for s in servers:
            s.wait_ready()
        yield servers[0], servers[1], key
    finally:
        for s in servers:
            s.stop()


def test_two_instances_share_answers_and_invalidations(two_instances) -> None:
    a, b, key = two_instances
    for s in (a, b):
        health = httpx.get(f"{s.url}/health", timeout=5).json()
        assert health["store"]["backend"] == "redis", health
        assert health["status"] == "ok", health

    assert ask(a) == "miss"
    assert ask(a) == "hit"
    assert ask(b) == "hit"  # stored by A, found by B
    assert ask(b) == "hit"  # now from B's memory tier

    r = httpx.post(
        f"{a.url}/api/admin/cache/invalidate",
        params={"key_pattern": "all"},
        headers={"X-Admin-API-Key": key},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    assert r.json()["removed"] == 1

    # B's very next request: its memory copy must already be gone
    assert ask(b) == "miss"
    assert ask(a) == "hit"  # B's answer was stored again and is shared

