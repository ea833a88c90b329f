"""Rollbacks that compose safely (issue 13), end to end on a real stack, each test the scenario a
person types.

Every test starts its own stack (`ethos stack up`: router + blue + green on free ports, green made
to fail with ``--green-env ETHOS_FAULTS=...``), sends steady traffic through the router, and runs
``ethos rollback ...`` / ``ethos guard ...`` as processes. Asserted from what a person can see:
exit codes and messages, ``GET /router/traffic`` (sampled in a thread where "never" matters), and
the journals (``ethos.rollout.procedures.journal.Journal``).

1. an emergency typed while a gradual runs preempts it (the gradual ends ``superseded`` and
   never touches traffic again); a gradual that sees green fail escalates by itself;
2. a gradual never raises green's share (from 30%: the 50% stage is skipped; from 0%: all are);
   its dry run says so;
3. ``ethos guard --once --dry-run`` does not stop the real ``ethos guard --once`` from acting;
4. ``ethos rollback resume`` does not undo a later emergency (refused; forced, still no raise);
5. two emergencies typed at once: one shift, one incident.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from ethos.rollout.procedures.journal import Journal  # noqa: E402
from tests.e2e.e2e_helpers import ChatTraffic, WeightSampler, wait_until
from tests.stacks import ETHOS, stack_down, stack_up

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

KEY = "e2e-compose-key"
QUESTIONS = ["How much is the Team plan?", "What integrations do you support?",
             "How do I contact sales?", "Is there an enterprise plan?"]
BLUE_ONLY = {"blue": 100, "green": 0}


class Stack:
    """A real stack in ``tmp/.ethos`` and the CLI run against it as a person would."""

    def __init__(self, tmp: Path, weights: str, green_env: list[str]) -> None:
        self.state = tmp / ".ethos"
        args = ["--weights", weights, "--json"]
        for kv in green_env:
            args += ["--green-env", kv]
        r = stack_up(self.state, *args, env=self.env(), timeout=120)
        if r.returncode != 0:
            self.down()
            raise RuntimeError(f"ethos stack up failed: {r.stdout}{r.stderr}")
        info = json.loads(r.stdout)
        self.router, self.revisions = info["router"], info["revisions"]

    def env(self) -> dict[str, str]:
        env = {**os.environ, "ETHOS_ADMIN_API_KEY": KEY, "ETHOS_STATE_DIR": str(self.state),
               "ETHOS_SEMANTIC_ENABLED": "false"}
        for k in ("ETHOS_SLACK_WEBHOOK_URL", "ETHOS_NOTIFY_WEBHOOK_URL", "ETHOS_ROUTER_URL",
                  "ETHOS_ROLLBACK_CRASH", "ETHOS_NO_AUTO_INCIDENT"):
            env.pop(k, None)
        return env

    def down(self) -> None:
        stack_down(self.state, env=self.env(), timeout=120)

    def ethos(self, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        return subprocess.run([ETHOS, *args, "--state-dir", str(self.state)], capture_output=True, text=True,
                              env=self.env(), timeout=timeout, cwd=self.state.parent, stdin=subprocess.DEVNULL)

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([ETHOS, *args, "--state-dir", str(self.state)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=self.env(), cwd=self.state.parent,
                                stdin=subprocess.DEVNULL)

    def traffic(self) -> dict[str, Any]:
        return httpx.get(f"{self.router}/router/traffic", timeout=5).json()

    def weights(self) -> dict[str, int]:
        return self.traffic()["weights"]

    def green_requests(self) -> int:
        stats = httpx.get(f"{self.router}/router/stats", timeout=5).json()["revisions"]
        return int(stats.get("green", {}).get("60s", {}).get("count", 0))

    # ---------------------------------------------------------------- journals

    def run_ids(self) -> list[str]:
        return sorted(p.stem for p in (self.state / "journal").glob("rb-*.jsonl"))

    def events(self, rid: str) -> list[dict[str, Any]]:
        """The run's journal lines so far (a line being written is skipped)."""
        out = []
        try:
            lines = (self.state / "journal" / f"{rid}.jsonl").read_text().splitlines()
        except OSError:
            return []
        for line in lines:
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    def runs_of(self, procedure: str) -> list[str]:
        return [rid for rid in self.run_ids()
                if (ev := self.events(rid)) and ev[0].get("procedure") == procedure]

    def record(self, rid: str):
        return Journal(self.state).load(rid)

    def step_event(self, rid: str, event: str, step: str, status: str | None = None) -> dict[str, Any] | None:
        for e in self.events(rid):
            if e.get("event") == event and e.get("step") == step and (status is None or e.get("status") == status):
                return e
        return None

    def traffic_changes(self, rid: str) -> list[dict[str, Any]]:
        """Every ``step_ended`` of a ``set_traffic`` step in the run's journal."""
        events = self.events(rid)
        kinds = {s["name"]: s["kind"] for s in events[0]["plan"]} if events else {}
        return [e for e in events if e.get("event") == "step_ended" and kinds.get(e.get("step")) == "set_traffic"]


@pytest.fixture
def make_stack(tmp_path):
    stacks: list[Stack] = []

    def make(weights: str, green_env: list[str] | None = None) -> Stack:
        s = Stack(tmp_path, weights, green_env or [])
        stacks.append(s)
        return s

    yield make
    for s in stacks:
        s.down()

#: a gradual stage's window that no test waits out: when a test ends before it, the procedure did
#: not wait it out either
ESCALATE_WINDOW_S = 600


def finish(proc: subprocess.Popen[str], timeout: float) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"{proc.args} did not exit within {timeout:g} s: {out[-2000:]}{err[-2000:]}")
    return proc.returncode, out, err


def warm_green(stack: Stack, at_least: int = 40) -> None:
    """Steady traffic has reached green enough for its window to say something."""
    wait_until(lambda: stack.green_requests() >= at_least, 20, 0.1, f"{at_least} requests on green")


# ---------------------------------------------------------------- 1. emergency over a gradual

@pytest.mark.parametrize("fault", ["error_rate=0.3", "latency_ms=150"], ids=["green-30pct-errors", "green-slow"])
def test_emergency_preempts_a_running_gradual(make_stack, fault):
    """Green at 100% misbehaving; a gradual rolls it back; at its 50% stage the on-call types an
    emergency. The emergency is not refused, takes traffic to 100% blue at once, and the gradual
    stops (exit 5, ``superseded`` by that emergency) without touching traffic again.

    With 30% errors the gradual usually sees green's emergency trigger first and escalates by
    itself: then both exit 0 and the gradual is superseded by its own escalation. A slow green
    (no emergency trigger) leaves the preemption to the person: that case must be exit 5.
    """
    stack = make_stack("blue=0,green=100", [f"ETHOS_FAULTS={fault}"])
    with ChatTraffic(stack.router, QUESTIONS) as traffic, WeightSampler(stack.router) as sampler:
        warm_green(stack, 20)
        # The gradual's first window (600 s) is far longer than the emergency may take (60 s):
        # an emergency that waited for the gradual fails by its timeout, however slow the machine.
        gradual = stack.popen("rollback", "gradual", "--stages", f"50:{ESCALATE_WINDOW_S}s,25:30s,5:30s",
                              "--poll", "0.5", "--yes", "--json", "--reason", "e2e: green misbehaves")
        try:
            gid = wait_until(lambda: (stack.runs_of("gradual") or [None])[0], 20, 0.05, "the gradual's journal")
            wait_until(lambda: stack.step_event(gid, "step_started", "monitor@50"), 30, 0.05,
                       "the gradual's monitor@50 to start")
            em = stack.ethos("rollback", "emergency", "--yes", "--json", "--reason", "e2e: on-call says now",
                             timeout=60)
            code, gout, gerr = finish(gradual, 30)
        finally:
            if gradual.poll() is None:
                gradual.kill()
                gradual.communicate()
        time.sleep(0.3)
    assert traffic.count() > 0

    # the person's emergency: not refused, quick, 100% blue
    assert em.returncode == 0, em.stdout + em.stderr
    assert "another rollback is running" not in em.stdout + em.stderr
    em_out = json.loads(em.stdout)
    assert em_out["status"] == "done", em_out
    assert stack.weights() == BLUE_ONLY

    # the gradual: stopped, superseded by an emergency
    print(f"gradual exit {code} ({'preempted by the person' if code == 5 else 'escalated by itself'})")
    if fault.startswith("latency"):  # no emergency trigger: only the person's emergency stops it
        assert code == 5, f"the person's emergency did not stop the gradual (exit {code}): {gout[-3000:]}{gerr}"
    rec = stack.record(gid)
    emergencies = stack.runs_of("emergency")
    assert rec.status == "superseded", (rec.status, rec.message)
    assert rec.superseded_by in emergencies, (rec.superseded_by, emergencies)
    if code == 5:  # the person's emergency preempted it
        gjson = json.loads(gout)
        assert rec.superseded_by == em_out["rollback_id"], (rec.superseded_by, em_out)
        assert gjson["status"] == "superseded" and gjson["exit_code"] == 5, gjson
    else:  # it saw green's emergency trigger and escalated by itself
        assert code == 0, gout + gerr
        gjson = json.loads(gout)
        if "covered_by" in gjson:  # the person's emergency came between: the escalation found it done
            assert gjson["covered_by"] == rec.superseded_by == em_out["rollback_id"], (gjson, rec.superseded_by)
        else:
            assert gjson["procedure"] == "emergency" and gjson["links"]["escalated_from"] == gid, gjson
            assert rec.superseded_by == gjson["rollback_id"], (rec.superseded_by, gjson)

    # the gradual never changed traffic after the emergency's shift
    shifts = [e["t"] for rid in emergencies for e in stack.traffic_changes(rid) if e["status"] == "ok"]
    assert len(shifts) == 1, [stack.traffic_changes(rid) for rid in emergencies]
    late = [e for e in stack.traffic_changes(gid) if e["t"] >= shifts[0]]
    assert late == [], late
    started_late = [e for e in stack.events(gid) if e["event"] == "step_started" and e["t"] >= shifts[0]]
    assert started_late == [], started_late
    first_blue = next(t for t, w in sampler.samples if w == BLUE_ONLY)
    assert all(w == BLUE_ONLY for t, w in sampler.samples if t >= first_blue), "traffic left 100% blue"


def test_a_preempted_gradual_names_the_emergency_that_took_over(make_stack):
    """A gradual run with the default ``--poll`` (5 s) checks control every 5 s, so an emergency
    typed meanwhile has finished before the gradual notices. The gradual still stops (exit 5),
    and its own output, not only its journal, names the emergency that took over."""
    stack = make_stack("blue=0,green=100")
    with ChatTraffic(stack.router, QUESTIONS):
        gradual = stack.popen("rollback", "gradual", "--stages", "50:30s,25:30s,5:30s", "--yes", "--json",
                              "--reason", "e2e: default poll")
        try:
            gid = wait_until(lambda: (stack.runs_of("gradual") or [None])[0], 20, 0.05, "the gradual's journal")
            wait_until(lambda: stack.step_event(gid, "step_started", "monitor@50"), 30, 0.05,
                       "the gradual's monitor@50 to start")
            em = stack.ethos("rollback", "emergency", "--yes", "--json", "--reason", "e2e: on-call says now")
            code, gout, gerr = finish(gradual, 20)
        finally:
            if gradual.poll() is None:
                gradual.kill()
                gradual.communicate()
    assert em.returncode == 0, em.stdout + em.stderr
    eid = json.loads(em.stdout)["rollback_id"]
    assert stack.weights() == BLUE_ONLY
    assert code == 5, gout + gerr
    rec = stack.record(gid)
    assert rec.status == "superseded" and rec.superseded_by == eid, (rec.status, rec.superseded_by)
    out = json.loads(gout)
    assert out["status"] == "superseded", out["status"]
    assert out["links"].get("superseded_by") == eid and eid in out["message"], \
        f"the gradual's outcome does not name {eid}: links {out['links']}, message {out['message']!r}"


def test_gradual_escalates_by_itself_when_green_fails(make_stack):
    """Nobody intervenes: green at 100% fails 30% of requests; the gradual's watch on green sees the
    emergency trigger at its 50% stage and escalates: one command, 100% blue, the gradual
    superseded by the emergency it started."""
    stack = make_stack("blue=0,green=100", ["ETHOS_FAULTS=error_rate=0.3"])
    with ChatTraffic(stack.router, QUESTIONS):
        warm_green(stack, 40)
        # The first stage's window (600 s) is far longer than the command may take (180 s): a
        # gradual that waited it out fails here, however slow the machine, and the journal
        # shows the escalation inside the window.
        r = stack.ethos("rollback", "gradual", "--stages", f"50:{ESCALATE_WINDOW_S}s,25:20s,5:20s", "--poll", "0.5",
                        "--yes", "--json", "--reason", "e2e: nobody watching", timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout)
    (gid,) = stack.runs_of("gradual")
    (eid,) = stack.runs_of("emergency")
    assert out["procedure"] == "emergency" and out["rollback_id"] == eid and out["status"] == "done", out
    assert out["links"]["escalated_from"] == gid, out
    assert stack.weights() == BLUE_ONLY

    rec = stack.record(gid)
    assert rec.status == "superseded" and rec.superseded_by == eid, (rec.status, rec.superseded_by)
    monitor = stack.step_event(gid, "step_ended", "monitor@50")
    assert monitor is not None and monitor["status"] == "escalate", monitor
    assert "emergency trigger" in monitor["message"] and "error rate" in monitor["message"], monitor
    started = stack.step_event(gid, "step_started", "monitor@50")
    assert started is not None and monitor["t"] - started["t"] < ESCALATE_WINDOW_S, (started, monitor)
    assert stack.step_event(gid, "step_started", "monitor@25") is None
    assert stack.record(eid).params.get("escalated_from") == gid
    # one episode, one incident holding both runs
    assert out["incident"].get("incident"), out["incident"]
    assert set(out["incident"].get("rollbacks") or []) >= {gid, eid}, out["incident"]


# ---------------------------------------------------------------- 2. never raise green

def test_gradual_never_raises_green_from_30_percent(make_stack):
    """Green already down to 30% (healthy): the dry run says the 50% stage would be skipped and
    changes nothing; the gradual skips it ("never raises"), then 25 -> 5 -> 0, and green's share,
    sampled every 0.1 s, never exceeds 30."""
    stack = make_stack("blue=70,green=30")
    with ChatTraffic(stack.router, QUESTIONS):
        dry = stack.ethos("rollback", "gradual", "--dry-run", "--stages", "50:2s,25:2s,5:2s", "--poll", "0.5")
        assert dry.returncode == 0, dry.stdout + dry.stderr
        lines = dry.stdout.splitlines()
        at50 = [x for x in lines if "green=50" in x]
        assert at50 and "[skipped: green is at 30%" in at50[0], dry.stdout
        assert not any("[skipped" in x for x in lines if "green=25" in x or "green=5," in x), dry.stdout
        assert stack.weights() == {"blue": 70, "green": 30}
        assert stack.run_ids() == [], "a dry run journals nothing"

        with WeightSampler(stack.router) as sampler:
            r = stack.ethos("rollback", "gradual", "--stages", "50:2s,25:2s,5:2s", "--poll", "0.5", "--yes",
                            "--json", "--reason", "e2e: from 30%", timeout=60)
            time.sleep(0.3)
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout)
    steps = {s["name"]: s for s in out["steps"]}
    assert steps["shift_traffic@50"]["status"] == "skipped", steps["shift_traffic@50"]
    assert "never raises" in steps["shift_traffic@50"]["message"], steps["shift_traffic@50"]
    assert steps["monitor@50"]["status"] == "skipped", steps["monitor@50"]
    assert [steps[f"shift_traffic@{p}"]["values"]["after"] for p in (25, 5, 0)] == [
        {"blue": 75, "green": 25}, {"blue": 95, "green": 5}, BLUE_ONLY]
    assert [steps[f"monitor@{p}"]["status"] for p in (25, 5)] == ["ok", "ok"]
    assert len(sampler.samples) > 20
    assert sampler.max_share("green") <= 30, [w for _, w in sampler.samples if w["green"] > 30][:3]
    assert stack.weights() == BLUE_ONLY
    (gid,) = stack.run_ids()
    skipped = stack.step_event(gid, "step_ended", "shift_traffic@50")
    assert skipped["status"] == "skipped" and "a rollback never raises green's share" in skipped["message"]


def test_gradual_from_green_0_changes_nothing(make_stack):
    """Green already at 0%: every stage is skipped, exit 0, and traffic never changes (no
    ``set_traffic`` step ``ok`` in the journal, the router accepted no fenced change)."""
    stack = make_stack("blue=100,green=0")
    before = stack.traffic()
    with ChatTraffic(stack.router, QUESTIONS), WeightSampler(stack.router) as sampler:
        time.sleep(0.5)
        r = stack.ethos("rollback", "gradual", "--stages", "50:2s,25:2s,5:2s", "--poll", "0.5", "--yes",
                        "--json", "--reason", "e2e: from 0%", timeout=60)
        time.sleep(0.3)
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout)
    assert out["status"] == "done", out
    steps = {s["name"]: s for s in out["steps"]}
    for p in (50, 25, 5):
        assert steps[f"shift_traffic@{p}"]["status"] == "skipped", steps[f"shift_traffic@{p}"]
        assert "never raises" in steps[f"shift_traffic@{p}"]["message"]
        assert steps[f"monitor@{p}"]["status"] == "skipped", steps[f"monitor@{p}"]
    assert steps["shift_traffic@0"]["status"] == "skipped", steps["shift_traffic@0"]
    (gid,) = stack.run_ids()
    assert [e for e in stack.traffic_changes(gid) if e["status"] == "ok"] == []
    assert {tuple(sorted(w.items())) for _, w in sampler.samples} == {tuple(sorted(BLUE_ONLY.items()))}
    after = stack.traffic()
    assert after["weights"] == BLUE_ONLY and after.get("fence") == before.get("fence")


# ---------------------------------------------------------------- 3. guard dry run, then the guard

def test_a_dry_run_guard_does_not_block_the_real_guard(make_stack):
    """Green at 50% fails half its requests. `ethos guard --once --dry-run` says it would roll back
    and changes nothing; `ethos guard --once` then acts (exit 3, 100% blue), not "held"."""
    stack = make_stack("blue=50,green=50", ["ETHOS_FAULTS=error_rate=0.5"])
    history = stack.state / "guard" / "history.jsonl"
    with ChatTraffic(stack.router, QUESTIONS):
        warm_green(stack, 60)
        dry = None

        def dry_run_would_act() -> bool:
            nonlocal dry
            dry = stack.ethos("guard", "--once", "--dry-run", timeout=60)
            return dry.returncode == 3

        wait_until(dry_run_would_act, 40, 1.0, "the dry-run guard to decide to roll back")
        assert "would run: ethos rollback emergency" in dry.stdout, dry.stdout
        assert stack.weights() == {"blue": 50, "green": 50}, "a dry run changes nothing"
        assert stack.run_ids() == []
        assert not history.exists() or history.read_text() == "", "a dry run writes no guard history"
        assert not list((stack.state / "incident_reports").glob("*.json")), "a dry run opens no incident"

        real = stack.ethos("guard", "--once", timeout=60)
    assert real.returncode == 3, real.stdout + real.stderr
    assert "held: incident open" not in real.stdout + real.stderr, real.stdout
    assert "acted: emergency rollback" in real.stdout, real.stdout
    assert stack.weights() == BLUE_ONLY
    (rid,) = stack.run_ids()
    assert stack.record(rid).status == "done"


# ---------------------------------------------------------------- 4. resume after an emergency

def test_resume_does_not_undo_a_later_emergency(make_stack):
    """A gradual is stopped (SIGTERM) at 50/50; the on-call runs an emergency (100% blue). Resuming
    the gradual is refused (exit 5, naming the split it left); `resume` without an id refuses too
    (the latest run, the emergency, is done); forced, the gradual finishes without raising green."""
    stack = make_stack("blue=0,green=100")
    with ChatTraffic(stack.router, QUESTIONS), WeightSampler(stack.router) as sampler:
        gradual = stack.popen("rollback", "gradual", "--stages", "50:10s,25:10s,5:10s", "--poll", "0.5",
                              "--yes", "--json", "--reason", "e2e: to be interrupted")
        try:
            gid = wait_until(lambda: (stack.runs_of("gradual") or [None])[0], 20, 0.05, "the gradual's journal")
            wait_until(lambda: stack.step_event(gid, "step_ended", "shift_traffic@50", "ok"), 30, 0.05,
                       "the gradual's shift to 50/50")
            assert stack.weights() == {"blue": 50, "green": 50}
            gradual.send_signal(signal.SIGTERM)
            code, gout, gerr = finish(gradual, 15)
        finally:
            if gradual.poll() is None:
                gradual.kill()
                gradual.communicate()
        assert code == 130, gout + gerr
        assert stack.record(gid).status == "interrupted", stack.record(gid).status
        assert stack.weights() == {"blue": 50, "green": 50}

        em = stack.ethos("rollback", "emergency", "--yes", "--json", "--reason", "e2e: on-call says now")
        assert em.returncode == 0, em.stdout + em.stderr
        eid = json.loads(em.stdout)["rollback_id"]
        assert stack.weights() == BLUE_ONLY
        t_blue = time.time()

        named = stack.ethos("rollback", "resume", gid, "--yes")
        assert named.returncode == 5, named.stdout + named.stderr
        assert f"traffic is blue=100, green=0 but rollback {gid} left it at blue=50, green=50" in \
            named.stdout + named.stderr, named.stdout + named.stderr
        assert stack.weights() == BLUE_ONLY

        latest = stack.ethos("rollback", "resume", "--yes")
        assert latest.returncode == 2, latest.stdout + latest.stderr
        said = latest.stdout + latest.stderr
        assert f"the latest rollback {eid} (emergency) is done" in said and "nothing to resume" in said, said
        assert gid in said, "it names the older run and how to have it checked"
        assert stack.weights() == BLUE_ONLY

        forced = stack.ethos("rollback", "resume", gid, "--force", "--yes", "--json", timeout=60)
        time.sleep(0.3)
    assert forced.returncode == 0, forced.stdout + forced.stderr
    out = json.loads(forced.stdout)
    assert out["rollback_id"] == gid and out["status"] == "done", out
    steps = {s["name"]: s for s in out["steps"]}
    for p in (25, 5):
        assert steps[f"shift_traffic@{p}"]["status"] == "skipped", steps[f"shift_traffic@{p}"]
        assert "never raises" in steps[f"shift_traffic@{p}"]["message"]
    assert stack.weights() == BLUE_ONLY
    after = [w for t, w in sampler.samples if t >= t_blue]
    assert after and all(w == BLUE_ONLY for w in after), [w for w in after if w != BLUE_ONLY][:3]
    ok_after = [e for e in stack.traffic_changes(gid) if e["status"] == "ok" and e["t"] >= t_blue]
    assert ok_after == [], ok_after
    assert any(e["event"] == "note" and "resumed with --force" in e["message"] for e in stack.events(gid))


# ---------------------------------------------------------------- 5. two emergencies at once

def test_two_emergencies_at_once_shift_once(make_stack):
    """Two people type `ethos rollback emergency --yes` at the same moment: both exit 0, traffic
    is shifted once, and the episode has one incident."""
    stack = make_stack("blue=0,green=100", ["ETHOS_FAULTS=error_rate=0.5"])
    with ChatTraffic(stack.router, QUESTIONS):
        warm_green(stack, 20)
        procs = [stack.popen("rollback", "emergency", "--yes", "--json", "--reason", f"e2e: person {i}")
                 for i in (1, 2)]
        try:
            results = [finish(p, 60) for p in procs]
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.communicate()
    for code, out, err in results:
        assert code == 0, out + err
        assert json.loads(out)["status"] == "done", out
    assert stack.weights() == BLUE_ONLY
    runs = stack.run_ids()
    assert 1 <= len(runs) <= 2, runs
    shifted = [(rid, e) for rid in runs for e in stack.traffic_changes(rid) if e["status"] == "ok"]
    assert len(shifted) == 1, shifted
    for rid in runs:
        assert stack.record(rid).status == "done", (rid, stack.record(rid).status)
    listed = stack.ethos("incident", "list", "--json")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    incidents = json.loads(listed.stdout)
    assert len(incidents) == 1, incidents
