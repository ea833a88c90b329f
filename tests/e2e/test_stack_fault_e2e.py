"""End to end (issue 20): `ethos stack fault` switches faults on a running revision of a stack
started with `ethos stack up`, without a restart, and `--clear` switches them off again."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.stacks import ETHOS, clean_env, stack_down, stack_up

pytestmark = pytest.mark.e2e

QUESTION = "What are your pricing plans?"


def run(*args: str, state: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ETHOS, *args, "--state-dir", str(state)], capture_output=True, text=True,
                          env=clean_env(), timeout=60, cwd=state.parent, stdin=subprocess.DEVNULL)


def answers(url: str, n: int) -> list[tuple[int, str, str]]:
    """(status, error code, revision that answered) of ``n`` chat requests to ``url``."""
    out = []
    with httpx.Client(timeout=30) as c:
        for _ in range(n):
            r = c.post(f"{url}/api/ai/marketing-chat", json={"message": QUESTION})
            body = r.json()
            out.append((r.status_code, str(body.get("error") or ""),
                        r.headers.get("x-routed-to") or r.headers.get("x-revision") or ""))
    return out


@pytest.fixture
def state(tmp_path: Path) -> Iterator[Path]:
    sdir = tmp_path / ".ethos"
    yield sdir
    stack_down(sdir, timeout=180)  # whatever happened, leave no process behind


def test_fault_on_green_then_cleared_without_a_restart(state: Path) -> None:
    r = stack_up(state, "--weights", "blue=0,green=100", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    stack = json.loads(r.stdout)
    router, blue, green = stack["router"], stack["revisions"]["blue"], stack["revisions"]["green"]
    pids = json.loads((state / "stack.json").read_text())["pids"]
    assert {a[0] for a in answers(router, 5)} == {200}

    r = run("stack", "fault", "green", "error_rate=1", state=state)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "green" in r.stdout and "faults on: error_rate=1.0" in r.stdout and "before: none" in r.stdout
    # every answer of green fails on purpose, through the router and directly; blue is untouched
    assert set(answers(router, 10)) == {(500, "injected_fault", "green")}
    assert {a[:2] for a in answers(green, 3)} == {(500, "injected_fault")}
    assert {a[0] for a in answers(blue, 3)} == {200}
    assert httpx.get(f"{green}/health").json()["faults"] == {"error_rate": 1.0}
    assert 'ethos_faults_enabled{revision="green"} 1.0' in httpx.get(f"{green}/metrics").text

    r = run("stack", "fault", "green", "--json", state=state)  # no settings: shows them
    assert r.returncode == 0, r.stderr
    shown = json.loads(r.stdout)
    assert shown["faults"] == {"error_rate": 1.0} and shown["spec"] == "error_rate=1.0" and shown["url"] == green

    r = run("stack", "fault", "green", "--clear", state=state)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "faults off (before: error_rate=1.0)" in r.stdout
    assert set(answers(router, 10)) == {(200, "", "green")}
    assert httpx.get(f"{green}/health").json()["faults"] is None
    assert 'ethos_faults_enabled{revision="green"} 0.0' in httpx.get(f"{green}/metrics").text
    # the same processes all along: nothing was restarted
    assert json.loads((state / "stack.json").read_text())["pids"] == pids

    # clear errors, never a traceback
    r = run("stack", "fault", "purple", "error_rate=1", state=state)
    assert r.returncode == 2 and "unknown revision 'purple'" in r.stderr and "blue, green" in r.stderr
    r = run("stack", "fault", "green", "error_rate=lots", state=state)
    assert r.returncode == 2 and "error_rate must be a number 0..1" in r.stderr
    r = run("stack", "fault", "green", "latency=5", state=state)
    assert r.returncode == 2 and "unknown fault 'latency'" in r.stderr
    assert "Traceback" not in r.stderr

    r = run("stack", "down", state=state)
    assert r.returncode == 0, r.stderr
    r = run("stack", "fault", "green", "error_rate=1", state=state)
    assert r.returncode == 1 and "no stack recorded" in r.stderr and "ethos stack up" in r.stderr
