"""`ethos guard --once --dry-run`, then `ethos guard --once`, as a user runs them (issue 13,
item 3): against fake revisions, a fake router whose ``/router/stats`` shows green (at 50%)
failing half its requests, and a webhook receiver, all on 127.0.0.1.

The dry run must change nothing any other command reads (no traffic, cache, incident, guard
state or history, no alert sent), so that the real run that follows decides the emergency and
rolls back, instead of answering ``watch ... held: incident open``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.rollout._rollback_fakes import FakeRevision, FakeRouter, WebhookReceiver

pytestmark = pytest.mark.slow  # starts the ethos CLI as a process per test: left out of `make test-fast`

ETHOS = str(Path(sys.executable).parent / "ethos")


class GreenFailingRouter(FakeRouter):
    """The fake router, green at 50% failing half its requests (``/router/stats``'s 60 s window),
    with a ``/router/metrics`` that has no series yet (the guard then reads the stats)."""

    def __init__(self) -> None:
        super().__init__(["blue", "green"])
        self.weights = {"blue": 50, "green": 50}
        self.stats["blue"].update(count=200, errors=0, error_rate=0.0, status={"2xx": 200})
        self.stats["green"].update(count=200, errors=100, error_rate=0.5, status={"2xx": 100, "5xx": 100})
        base = self.httpd.RequestHandlerClass
        owner = self

        class Handler(base):  # type: ignore[misc, valid-type]
            def do_GET(self) -> None:
                if self.path.split("?")[0] != "/router/metrics":
                    return base.do_GET(self)
                with owner.lock:
                    owner.calls.append(("GET", "/router/metrics"))
                data = b"# no series yet\n"
                self.send_response(200)
                self.send_header("content-type", "text/plain; version=0.0.4")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd.RequestHandlerClass = Handler


def ethos(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    e = {k: v for k, v in os.environ.items() if not k.startswith("ETHOS_")}
    e.update(env)
    return subprocess.run([ETHOS, *args], capture_output=True, text=True, env=e, timeout=timeout,
                          stdin=subprocess.DEVNULL)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Any]:
    blue, green = FakeRevision("blue").start(), FakeRevision("green").start()
    router = GreenFailingRouter().start()
    hook = WebhookReceiver().start()

    class S:
        pass

    s = S()
    s.blue, s.green, s.router, s.hook = blue, green, router, hook
    s.state = tmp_path / "state"
    s.flags = ["--router", router.url, "--revision", f"blue={blue.url}", "--revision", f"green={green.url}",
               "--state-dir", str(s.state)]
    s.env = {"ETHOS_ADMIN_API_KEY": "k", "ETHOS_NOTIFY_WEBHOOK_URL": hook.url + "/hook",
             "ETHOS_NO_AUTO_INCIDENT": "1"}
    yield s
    for srv in (blue, green, router, hook):
        srv.stop()


def _writes(s: Any) -> list[tuple[str, str]]:
    calls = [*s.router.calls, *s.blue.calls, *s.green.calls]
    return [c for c in calls if c[0] != "GET"]


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()} \
        if root.exists() else {}


@pytest.mark.parametrize("as_json", [False, True], ids=["table", "json"])
def test_a_dry_run_changes_nothing_and_the_real_guard_then_rolls_back(stack: Any, as_json: bool) -> None:
    fmt = ["--json"] if as_json else []
    dry = ethos("guard", "--once", "--dry-run", *fmt, *stack.flags, env=stack.env)
    assert dry.returncode == 3, dry.stdout + dry.stderr  # would have acted
    if as_json:
        out = json.loads(dry.stdout)
        assert out["decision"]["action"] == "emergency" and out["decision"]["trigger"] == "error_rate_critical"
        assert out["dry_run"] is True and out["would_run"].startswith("ethos rollback emergency --yes")
        assert any(a.startswith("emergency rollback by the guard") for a in out["would_alert"])
        assert out["outcome"]["rollback_id"] is None and "shift_traffic" in out["outcome"]["detail"]
    else:
        assert "decision: emergency (error_rate_critical)" in dry.stdout, dry.stdout
        assert "would run: ethos rollback emergency --yes" in dry.stdout, dry.stdout
        assert "acted:" not in dry.stdout
        assert "would alert: emergency rollback by the guard" in dry.stderr, dry.stderr
        assert "ALERT " not in dry.stderr
    # nothing changed: no traffic, no cache, no journal, incident, guard state or history, no alert
    assert _writes(stack) == []
    assert stack.router.weights == {"blue": 50, "green": 50}
    assert stack.blue.entries == 10 and stack.green.entries == 10
    assert stack.hook.received == []
    assert _files(stack.state) == {}

    hist = ethos("guard", "history", "--all", "--json", "--state-dir", str(stack.state), env=stack.env)
    assert hist.returncode == 0 and hist.stdout == "", hist.stdout + hist.stderr

    real = ethos("guard", "--once", "--json", *stack.flags, env=stack.env)
    out = json.loads(real.stdout)
    assert out["decision"]["action"] == "emergency", out["decision"]  # not "watch ... held: incident open"
    assert out["decision"]["held"] is None
    assert real.returncode == 3, real.stdout + real.stderr
    assert out["outcome"]["ok"] and out["outcome"]["rollback_id"], out["outcome"]
    assert "dry_run" not in out
    assert stack.router.weights == {"blue": 100, "green": 0}
    assert ("PUT", "/router/traffic") in stack.router.calls
    assert stack.hook.received  # the real guard tells people
    assert (stack.state / "guard" / "state.json").exists()
    recs = [json.loads(x) for x in (stack.state / "guard" / "history.jsonl").read_text().splitlines()]
    assert len(recs) == 1 and recs[0]["outcome"]["ok"]


def test_a_dry_run_after_a_real_rollback_leaves_its_state_and_history_byte_identical(stack: Any) -> None:
    real = ethos("guard", "--once", "--json", *stack.flags, env=stack.env)
    assert real.returncode == 3 and json.loads(real.stdout)["outcome"]["ok"], real.stdout + real.stderr
    stack.router.weights = {"blue": 50, "green": 50}  # someone put green back: the incident is open
    before, writes, alerts = _files(stack.state), len(_writes(stack)), len(stack.hook.received)
    assert "guard/state.json" in before and "guard/history.jsonl" in before

    dry = ethos("guard", "--once", "--dry-run", *stack.flags, env=stack.env)
    # it reads the saved state: the decision a real guard would make now (held by the incident)
    assert "decision: watch" in dry.stdout and "incident open" in dry.stdout, dry.stdout
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert _files(stack.state) == before
    assert len(_writes(stack)) == writes and len(stack.hook.received) == alerts
