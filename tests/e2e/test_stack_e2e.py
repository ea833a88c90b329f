"""End to end: `ethos stack up | status | down` as subprocesses, a user's view of the local stack."""

from __future__ import annotations

import json
import socket
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ethos.rollout.stack.state import free_base_port
from ethos.rollout.traffic import LocalRouterTraffic
from tests.stacks import ETHOS, clean_env, stack_down

pytestmark = pytest.mark.e2e


def run(*args: str, state: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = clean_env()
    full.update(env or {})
    return subprocess.run([ETHOS, *args, "--state-dir", str(state)], capture_output=True, text=True,
                          env=full, timeout=180, cwd=state.parent, stdin=subprocess.DEVNULL)


@pytest.fixture
def state(tmp_path: Path) -> Iterator[Path]:
    sdir = tmp_path / ".ethos"
    yield sdir
    # Whatever happened, leave no process behind.
    stack_down(sdir, timeout=180)


def test_up_status_down_with_a_generated_key(state: Path) -> None:
    base = free_base_port()
    r = run("stack", "up", "--base-port", str(base), "--weights", "blue=90,green=10",
            "--green-env", "ETHOS_CACHE_NAMESPACE=green", state=state)
    assert r.returncode == 0, r.stdout + r.stderr
    key_file = state / "admin_key"
    assert str(key_file) in r.stdout  # says where the key is kept
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600

    r = run("stack", "status", "--json", state=state)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {
        "router": f"http://127.0.0.1:{base}",
        "revisions": {"blue": f"http://127.0.0.1:{base + 1}", "green": f"http://127.0.0.1:{base + 2}"},
    }
    r = run("stack", "status", state=state)
    assert r.returncode == 0 and r.stdout.count(" up ") == 3 and "blue=90, green=10" in r.stdout

    router = f"http://127.0.0.1:{base}"
    answers = [httpx.post(f"{router}/api/ai/marketing-chat", json={"message": "What are your pricing plans?"},
                          timeout=30) for _ in range(20)]
    assert all(a.status_code == 200 for a in answers)
    tm = LocalRouterTraffic(router, key_file.read_text().strip())
    assert tm.get_weights() == {"blue": 90, "green": 10}
    assert tm.set_weights({"blue": 100}) == {"blue": 100, "green": 0}
    assert {httpx.post(f"{router}/api/ai/marketing-chat", json={"message": "hi"}, timeout=30).headers["x-revision"]
            for _ in range(5)} == {"blue"}
    stats = httpx.get(f"{router}/router/stats").json()["revisions"]
    assert stats["blue"]["60s"]["count"] + stats["green"]["60s"]["count"] >= 25

    # A second `up` on the same state dir refuses while the first one runs.
    r = run("stack", "up", "--base-port", str(free_base_port()), state=state)
    assert r.returncode != 0 and "already running" in r.stderr

    r = run("stack", "down", state=state)
    assert r.returncode == 0 and "router" in r.stdout
    assert not (state / "stack.json").exists()
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{router}/router/health", timeout=1)
    r = run("stack", "status", state=state)
    assert r.returncode != 0 and "no stack" in r.stderr


def test_key_from_env_and_port_in_use(state: Path) -> None:
    base = free_base_port()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", base + 2))
        busy.listen()
        r = run("stack", "up", "--base-port", str(base), state=state, env={"ETHOS_ADMIN_API_KEY": "k"})
    assert r.returncode != 0 and f"{base + 2}" in r.stderr and "in use" in r.stderr
    r = run("stack", "up", "--base-port", str(base), state=state, env={"ETHOS_ADMIN_API_KEY": "env-key"})
    assert r.returncode == 0, r.stderr
    assert "ETHOS_ADMIN_API_KEY" in r.stdout and not (state / "admin_key").exists()
    assert LocalRouterTraffic(f"http://127.0.0.1:{base}", "env-key").set_weights({"green": 100})["green"] == 100


def test_bad_input_exits_non_zero(state: Path) -> None:
    r = run("stack", "up", "--weights", "blue=50", state=state)
    assert r.returncode == 2 and "sum to 100" in r.stderr
    r = run("stack", "up", "--blue-env", "NOEQUALS", state=state)
    assert r.returncode == 2


def test_a_revision_that_fails_to_start_stops_the_others(state: Path) -> None:
    base = free_base_port()
    r = run("stack", "up", "--base-port", str(base), "--blue-env", "ETHOS_CACHE_TTL_S=-5", "--timeout", "60",
            state=state)
    assert r.returncode == 1 and "blue exited during start-up" in r.stderr and "ETHOS_CACHE_TTL_S" in r.stderr
    assert not (state / "stack.json").exists()
    for port in (base, base + 1, base + 2):  # nothing left listening
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))
