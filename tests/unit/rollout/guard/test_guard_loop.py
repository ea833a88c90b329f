"""The guard's loop with fakes: act once, record everything, survive restarts, retry failures;
and the CLI's table, exit codes, history and policy commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ethos.cli import cli
from ethos.cli.guard import exit_code_of, render_table
from ethos.rollout.guard import Measurement, parse_policy, proportion
from ethos.rollout.guard.actuator import ActionOutcome, Alerter, CommandActuator, FakeActuator
from ethos.rollout.guard.evaluate import Decision
from ethos.rollout.guard.history import GuardHistory
from ethos.rollout.guard.loop import Guard
from ethos.rollout.notify import FakeNotifier
from ethos.rollout.sources import FakeSource, SourceError

POLICY = parse_policy({
    "interval": "5s", "cooldown": "10m", "clear_after": "1m",
    "triggers": [
        {"name": "err5", "signal": "error_rate", "comparator": ">", "threshold": 0.05, "windows": [60],
         "min_samples": 50, "action": "emergency", "severity": "critical"},
        {"name": "p50", "signal": "latency_p50", "comparator": ">", "threshold": 5, "windows": [60],
         "min_samples": 20, "sustain": "1m", "action": "standard"},
    ],
})


class World:
    """A fake clock and what the fake source reports."""

    def __init__(self) -> None:
        self.t = 1_800_000_000.0
        self.errors = 0
        self.down = False
        self.p50 = 1.0

    def clock(self) -> float:
        return self.t

    def source(self) -> FakeSource:
        def fn(needs, revisions, now):  # type: ignore[no-untyped-def]
            if self.down:
                raise SourceError("connection refused")
            out = {}
            for rev in revisions:
                e = self.errors if rev == "green" else 0
                out[(rev, "error_rate", 60.0)] = proportion(e, 200, window_s=60.0)
                out[(rev, "latency_p50", 60.0)] = Measurement(self.p50 if rev == "green" else 1.0, 200)
            return out

        return FakeSource(fn, "router")


def _guard(world: World, tmp: Path, actuator: FakeActuator | None = None) -> tuple[Guard, FakeActuator, FakeNotifier]:
    act = actuator or FakeActuator()
    notifier = FakeNotifier()
    g = Guard(POLICY, [world.source()], act, Alerter([notifier]), GuardHistory(tmp), clock=world.clock)
    return g, act, notifier


def _run(g: Guard, world: World, seconds: float) -> None:
    for _ in range(int(seconds / 5)):
        g.step()
        world.t += 5


def test_acts_once_records_every_evaluation_and_alerts(tmp_path: Path) -> None:
    w = World()
    g, act, notifier = _guard(w, tmp_path)
    _run(g, w, 60)
    w.errors = 30  # 15%
    _run(g, w, 120)
    assert [d.action for d in act.runs] == ["emergency"]
    assert act.runs[0].trigger == "err5"
    recs = list(GuardHistory(tmp_path).read())
    assert len(recs) == 36
    acted = [r for r in recs if r.get("outcome")]
    assert len(acted) == 1 and acted[0]["outcome"]["rollback_id"] == "rb-fake"
    row = [t for t in acted[0]["triggers"] if t["trigger"] == "err5"][0]
    assert row["value"] == pytest.approx(0.15) and row["threshold"] == 0.05 and row["samples"] == 200
    assert any("emergency rollback done by the guard" in n.reason for n in notifier.sent)


def test_a_restarted_guard_keeps_its_incident(tmp_path: Path) -> None:
    w = World()
    w.errors = 30
    g, act, _ = _guard(w, tmp_path)
    _run(g, w, 10)
    assert len(act.runs) == 1
    g2, act2, _ = _guard(w, tmp_path)  # a new process, same state dir
    _run(g2, w, 60)
    assert act2.runs == []


def test_a_failed_rollback_is_retried_and_alerted(tmp_path: Path) -> None:
    w = World()
    w.errors = 30
    outcomes = iter([ActionOutcome("emergency", False, 1, None, 0.1, "router unreachable"),
                     ActionOutcome("emergency", True, 0, "rb-2", 0.1)])
    act = FakeActuator(lambda d: next(outcomes))
    g, _, notifier = _guard(w, tmp_path, act)
    _run(g, w, 30)
    assert len(act.runs) == 2
    assert any("FAILED (router unreachable)" in n.reason for n in notifier.sent)


def test_ten_minute_outage_holds_and_alerts_once(tmp_path: Path) -> None:
    w = World()
    g, act, notifier = _guard(w, tmp_path)
    _run(g, w, 60)
    w.down = True
    _run(g, w, 600)
    w.down = False
    _run(g, w, 60)
    assert act.runs == []
    assert len(notifier.sent) == 1 and "no data" in notifier.sent[0].reason


def test_sustain_is_not_carried_over_a_gap_in_watching(tmp_path: Path) -> None:
    w = World()
    w.p50 = 9.0
    g, act, _ = _guard(w, tmp_path)
    _run(g, w, 50)  # watching p50 for 50 s of its 60
    w.t += 600  # the guard was not running for 10 minutes
    g2, act2, _ = _guard(w, tmp_path)
    g2.step()
    assert act2.runs == [] and g2.state.breach_since.get("p50") == w.t


def test_command_actuator_argv() -> None:
    w = World()
    w.errors = 30
    g, _, _ = _guard(w, Path("/nonexistent-never-written"), FakeActuator())
    from ethos.rollout.guard import GuardState, evaluate
    from ethos.rollout.sources import collect_snapshot

    snap = collect_snapshot([w.source()], POLICY.needs(), ["green", "blue"], w.t)
    ev = evaluate(POLICY, snap, GuardState(), w.t)
    a = CommandActuator(["--state-dir", "/s"], command=["ethos"])
    argv = a.argv(ev.decision, ev)
    assert argv[:5] == ["ethos", "rollback", "emergency", "--yes", "--json"]
    assert argv[argv.index("--cause") + 1] == "errors"
    assert "err5" in argv[argv.index("--reason") + 1] and "15%" in argv[argv.index("--reason") + 1]
    assert "--force" not in argv and argv[-2:] == ["--state-dir", "/s"]
    std = a.argv(Decision("standard", "err5", "x"), ev)
    assert "--force" in std


def _ev_dict(statuses: list[tuple[str, str]], action: str = "none", **kw) -> dict:  # type: ignore[type-arg]
    return {"decision": {"action": action, "trigger": None, "reason": "", **kw},
            "triggers": [{"trigger": f"t{i}", "status": s, "action": a, "comparator": ">", "threshold": 1,
                          "revision": "green", "value": 0.5, "samples": 3} for i, (s, a) in enumerate(statuses)],
            "unavailable": {}}


def test_exit_codes() -> None:
    assert exit_code_of(_ev_dict([("ok", "standard")]), None, False) == 0
    assert exit_code_of(_ev_dict([("watching", "standard")], "watch"), None, False) == 0
    assert exit_code_of(_ev_dict([("ok", "standard"), ("inconclusive", "emergency")]), None, False) == 4
    assert exit_code_of(_ev_dict([("no-data", "emergency")], "notify"), None, False) == 4
    assert exit_code_of(_ev_dict([("firing", "emergency")], "emergency"), {"ok": True}, False) == 3
    assert exit_code_of(_ev_dict([("firing", "emergency")], "emergency"), {"ok": False}, False) == 1
    assert exit_code_of(_ev_dict([("firing", "emergency")], "emergency"), None, True) == 3
    assert exit_code_of(_ev_dict([("firing", "notify")], "notify"), None, False) == 3


def test_table_shows_every_trigger_and_the_decision() -> None:
    text = render_table(_ev_dict([("ok", "standard"), ("inconclusive", "emergency")]))
    assert "trigger" in text.splitlines()[0] and "t0" in text and "t1" in text
    assert "decision: none" in text


def test_cli_once_with_nothing_reachable_is_inconclusive(tmp_path: Path) -> None:
    r = CliRunner().invoke(cli, ["guard", "--once", "--router", "http://127.0.0.1:9", "--state-dir", str(tmp_path)])
    assert r.exit_code == 4, r.output
    assert "no data from router" in r.output and "error_rate_critical" in r.output
    r = CliRunner().invoke(cli, ["guard", "--once", "--json", "--router", "http://127.0.0.1:9",
                                 "--state-dir", str(tmp_path)])
    doc = json.loads(r.output.strip().splitlines()[-1])
    assert doc["decision"]["action"] in ("notify", "none") and len(doc["triggers"]) == 20


def test_cli_history_and_policy(tmp_path: Path) -> None:
    w = World()
    w.errors = 30
    g, _, _ = _guard(w, tmp_path)
    _run(g, w, 20)
    r = CliRunner().invoke(cli, ["guard", "history", "--state-dir", str(tmp_path)])
    assert r.exit_code == 0 and "emergency" in r.output and "err5" in r.output and "rb-fake" in r.output
    r = CliRunner().invoke(cli, ["guard", "history", "--state-dir", str(tmp_path), "--all", "--json"])
    assert len(r.output.strip().splitlines()) == 4
    r = CliRunner().invoke(cli, ["guard", "policy"])
    assert r.exit_code == 0 and "error_rate_critical" in r.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("triggers: [{name: x, signal: nope, threshold: 1, action: emergency}]\n")
    r = CliRunner().invoke(cli, ["guard", "policy", "--policy", str(bad)])
    from ethos.cli.errors import CLIError

    assert isinstance(r.exception, CLIError) and r.exception.exit_code == 2
    assert "unknown signal 'nope'" in str(r.exception)


def test_procedure_actuator_reports_a_failure_instead_of_raising(tmp_path: Path) -> None:
    from ethos.rollout.guard import GuardState, evaluate
    from ethos.rollout.guard.actuator import ProcedureActuator
    from ethos.rollout.sources import collect_snapshot

    w = World()
    w.errors = 30
    snap = collect_snapshot([w.source()], POLICY.needs(), ["green", "blue"], w.t)
    ev = evaluate(POLICY, snap, GuardState(), w.t)
    dry = ProcedureActuator(router="http://127.0.0.1:9", revisions=["blue=http://127.0.0.1:9", "green=http://127.0.0.1:9"],
                            state_dir=tmp_path, dry_run=True).run(ev.decision, ev)
    assert dry.ok and "shift_traffic" in dry.detail
    out = ProcedureActuator(router="http://127.0.0.1:9", revisions=["blue=http://127.0.0.1:9", "green=http://127.0.0.1:9"],
                            state_dir=tmp_path).run(ev.decision, ev)
    assert not out.ok and out.detail
