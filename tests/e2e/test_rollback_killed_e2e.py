"""A rollback killed half-way (issue 9, faults on the rollout side), then finished from its journal.

One real stack (`ethos stack up`) for the module, a webhook receiver on 127.0.0.1 for the
notifications. Each case starts a standard rollback as a real process with the drill hook
``ETHOS_ROLLBACK_CRASH=<step>:<phase>`` (it SIGKILLs itself there: no cleanup, the lock left
behind), then runs ``ethos rollback resume``. Asserted: 100% blue; the cache cleared (a question
cached before is a MISS) and decided once; one notification; one incident; every step
completed exactly once in the journal, which ends with ``run_ended done``; a second resume
changes nothing. Then the guard: killed in the middle of the standard rollback it started, and
restarted: it finishes that run from the journal and starts no second one.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from pathlib import Path

import httpx
import pytest

from tests.servers import ServerThread, request_body
from tests.stacks import ETHOS, stack_down, stack_up

pytestmark = pytest.mark.e2e

KEY = "e2e-resume-key"
CACHED = "Do you offer a free trial?"


class Webhook:
    """Records every JSON body POSTed to it (the generic notification webhook)."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.lock = threading.Lock()

    async def __call__(self, scope, receive, send) -> None:
        body = await request_body(scope, receive, send)
        if body is None:
            return
        with self.lock:
            self.bodies.append(json.loads(body or b"{}"))
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b"{}"})

    def for_run(self, rid: str, title: str = "ROLLBACK ") -> list[dict]:
        """The procedure's notifications of one run (the guard's alerts have their own title)."""
        with self.lock:
            return [b for b in self.bodies if b.get("rollback_id") == rid and b.get("title", "").startswith(title)]


class Env:
    def __init__(self, tmp: Path, webhook_url: str) -> None:
        self.state = tmp / ".ethos"
        self.webhook_url = webhook_url
        self.router = ""
        self.revisions: dict[str, str] = {}

    def env(self, **extra: str) -> dict[str, str]:
        env = {**os.environ, "ETHOS_ADMIN_API_KEY": KEY, "ETHOS_STATE_DIR": str(self.state),
               "ETHOS_SEMANTIC_ENABLED": "false", "ETHOS_NOTIFY_WEBHOOK_URL": self.webhook_url, **extra}
        for k in ("ETHOS_SLACK_WEBHOOK_URL", "ETHOS_ROUTER_URL", "ETHOS_ROLLBACK_CRASH"):
            if k not in extra:
                env.pop(k, None)
        return env

    def ethos(self, *args: str, timeout: float = 120, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([ETHOS, *args, "--state-dir", str(self.state)], capture_output=True, text=True,
                              env=self.env(**extra), timeout=timeout, cwd=self.state.parent,
                              stdin=subprocess.DEVNULL)

    def set_weights(self, weights: dict[str, int]) -> None:
        r = httpx.put(f"{self.router}/router/traffic", json=weights, headers={"X-Admin-API-Key": KEY}, timeout=10)
        assert r.status_code == 200, r.text

    def weights(self) -> dict[str, int]:
        return httpx.get(f"{self.router}/router/traffic", timeout=10).json()["weights"]

    def ask_blue(self, q: str) -> httpx.Response:
        return httpx.post(f"{self.revisions['blue']}/api/ai/marketing-chat", json={"message": q}, timeout=30)

    def journal(self, rid: str) -> list[dict]:
        return [json.loads(x) for x in (self.state / "journal" / f"{rid}.jsonl").read_text().splitlines()]

    def runs(self) -> list[str]:
        return sorted(p.stem for p in (self.state / "journal").glob("rb-*.jsonl"))


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    webhook = Webhook()
    hook_server = ServerThread(webhook).start()
    e = Env(tmp_path_factory.mktemp("rollback-killed"), f"{hook_server.url}/hook")
    # green fails half its answers: the guard's trigger in the last test
    r = stack_up(e.state, "--weights", "blue=50,green=50", "--green-env", "ETHOS_FAULTS=error_rate=0.5", "--json",
                 env=e.env(), timeout=120)
    try:
        assert r.returncode == 0, r.stdout + r.stderr
        info = json.loads(r.stdout)
        e.router, e.revisions = info["router"], info["revisions"]
        yield e, webhook
    finally:
        stack_down(e.state, env=e.env(), timeout=120)
        hook_server.stop()


def prepare(e: Env) -> None:
    """Green serving half the traffic, a question in the shared cache, no run left to resume."""
    e.set_weights({"blue": 50, "green": 50})
    e.ask_blue(CACHED)
    assert e.ask_blue(CACHED).headers.get("x-cache") == "HIT"


def assert_finished_once(e: Env, webhook: Webhook, rid: str) -> None:
    assert e.weights() == {"blue": 100, "green": 0}
    assert e.ask_blue(CACHED).headers.get("x-cache") == "MISS", "the cache was cleared"
    events = e.journal(rid)
    assert events[0]["event"] == "run_started" and events[-1]["event"] == "run_ended"
    assert events[-1]["status"] == "done"
    plan = [s["name"] for s in events[0]["plan"]]
    done = [ev["step"] for ev in events if ev["event"] == "step_ended" and ev["status"] in ("ok", "skipped", "warn")]
    assert sorted(done) == sorted(plan), "every step completed exactly once"
    decided = [ev for ev in events if ev["event"] == "step_ended" and ev["step"] == "decide_cache"]
    assert len(decided) == 1 and decided[0]["values"]["action"] == "clear"
    sent = webhook.for_run(rid)
    assert len(sent) == 1 and sent[0]["outcome"] == "done", sent
    # one incident per episode: the module's rollbacks share one; this run is in exactly one, once
    records = [json.loads(p.read_text()) for p in (e.state / "incident_reports").glob("inc-*.json")]
    holding = [r["id"] for r in records if rid in r.get("rollbacks", [r.get("rollback_id")])]
    assert len(holding) == 1 and len(records) == 1, holding
    (inc,) = [r for r in records if r["id"] == holding[0]]
    assert inc["rollbacks"].count(rid) == 1
    assert sum(1 for x in inc["timeline"] if x["event"] == "rollback_attached" and x["rollback_id"] == rid) == 1


@pytest.mark.parametrize("point", [
    "decide_cache:ended",            # nothing changed yet
    "shift_traffic:acted",           # 100% blue, the journal does not know
    "invalidate_cache:blue:acted",   # cache cleared, the journal does not know
    "notify:acted",                  # the team was told, the step not journaled as ended
])
def test_standard_rollback_killed_then_resumed(stack, point) -> None:
    e, webhook = stack
    prepare(e)
    before = set(e.runs())
    killed = e.ethos("rollback", "standard", "--yes", "--json", "--force", "--reason", f"drill: killed at {point}",
                     ETHOS_ROLLBACK_CRASH=point)
    assert killed.returncode == -9, killed.stdout + killed.stderr
    (rid,) = set(e.runs()) - before
    assert e.journal(rid)[-1]["event"] != "run_ended"
    assert json.loads((e.state / "journal" / "rollback.lock").read_text())["rollback_id"] == rid, "stale lock left"

    resumed = e.ethos("rollback", "resume", "--yes", "--json")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    out = json.loads(resumed.stdout)
    assert out["rollback_id"] == rid and out["status"] == "done" and out["incident"]["incident"]
    steps = {s["name"]: s for s in out["steps"]}
    if point == "shift_traffic:acted":
        assert steps["shift_traffic"]["status"] == "skipped", "the shift is not done twice"
    if point == "notify:acted":
        assert "earlier attempt" in steps["notify"]["values"]["deliveries"][0]["note"]
    assert_finished_once(e, webhook, rid)
    assert not (e.state / "journal" / "rollback.lock").exists()

    # A second resume changes nothing.
    lines = len(e.journal(rid))
    again = e.ethos("rollback", "resume", rid, "--yes", "--json")
    assert again.returncode == 2 and "nothing to resume" in again.stdout + again.stderr
    latest = e.ethos("rollback", "resume", "--yes", "--json")
    assert latest.returncode == 2 and "nothing to resume" in latest.stdout + latest.stderr
    assert len(e.journal(rid)) == lines and len(webhook.for_run(rid)) == 1


POLICY = """
candidate: green
baseline: blue
interval: 1s
cooldown: 10m
triggers:
  - name: green_errors
    runbook: "Standard: error rate > 2% (drill)"
    signal: error_rate
    revision: candidate
    comparator: ">"
    threshold: 0.05
    windows: [60s]
    min_samples: 20
    confidence: 0.9
    sustain: 0s
    action: standard
"""


def test_guard_killed_mid_rollback_finishes_it_on_restart(stack) -> None:
    e, webhook = stack
    prepare(e)
    policy = e.state.parent / "policy.yaml"
    policy.write_text(POLICY)
    with httpx.Client(timeout=30) as c:  # green's errors, for the trigger
        for i in range(80):
            c.post(f"{e.router}/api/ai/marketing-chat", json={"message": f"How much is the Team plan? {i % 4}"})
    before = set(e.runs())
    killed = e.ethos("guard", "--policy", str(policy), "--once", "--json",
                     ETHOS_ROLLBACK_CRASH="invalidate_cache:blue:acted")
    assert killed.returncode == -9, killed.stdout[-2000:] + killed.stderr[-2000:]
    (rid,) = set(e.runs()) - before
    assert e.journal(rid)[0]["procedure"] == "standard" and e.journal(rid)[-1]["event"] != "run_ended"

    restarted = e.ethos("guard", "--policy", str(policy), "--once", "--json")
    out = json.loads(restarted.stdout)
    assert set(e.runs()) - before == {rid}, "no second rollback on top of the half-done one"
    assert out["outcome"]["ok"] and out["outcome"]["rollback_id"] == rid and "resumed" in out["outcome"]["detail"]
    assert out["decision"]["action"] in ("watch", "none"), out["decision"]  # the incident is open: held
    assert_finished_once(e, webhook, rid)
    assert e.journal(rid)[0]["executed_by"] == "ethos-guard"
    alerts = webhook.for_run(rid, title="ethos guard")
    assert alerts and "resumed standard rollback" in alerts[-1]["reason"], alerts
