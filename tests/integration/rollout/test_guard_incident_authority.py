"""An incident the guard opens says who acted on whose authority (issue 20).

docs/incidents.md: "The guard acting alone (`--executed-by ethos-guard...`) records itself as
the actor and its policy trigger as the authority", and the checklist's approval is ticked by
"a named approver or the guard's trigger". The guard runs the procedure in its own process by
default (``ProcedureActuator``, ``--via library``) or as ``ethos rollback`` (``CommandActuator``,
``--via command``); both must record the same, against fake revisions and a fake router.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ethos.rollout.guard import GuardState, Measurement, evaluate, parse_policy, proportion
from ethos.rollout.guard.actuator import CommandActuator, ProcedureActuator
from ethos.rollout.incidents.record import IncidentStore
from ethos.rollout.procedures.journal import Journal
from ethos.rollout.sources import FakeSource, collect_snapshot
from tests.integration.rollout._rollback_fakes import FakeRevision, FakeRouter

POLICY = parse_policy({
    "interval": "5s", "cooldown": "10m", "clear_after": "1m",
    "triggers": [{"name": "err5", "signal": "error_rate", "comparator": ">", "threshold": 0.05, "windows": [60],
                  "min_samples": 50, "action": "emergency", "severity": "critical"}],
})


def _evaluation():
    def fn(needs, revisions, now):  # type: ignore[no-untyped-def]
        return {(rev, "error_rate", 60.0): proportion(30 if rev == "green" else 0, 200, window_s=60.0)
                for rev in revisions} | {(rev, "latency_p50", 60.0): Measurement(1.0, 200) for rev in revisions}

    t = 1_800_000_000.0
    snap = collect_snapshot([FakeSource(fn, "router")], POLICY.needs(), ["green", "blue"], t)
    ev = evaluate(POLICY, snap, GuardState(), t)
    assert ev.decision.action == "emergency" and ev.decision.trigger == "err5"
    return ev


@pytest.fixture
def fakes(monkeypatch):
    for name in ("ETHOS_NO_AUTO_INCIDENT", "ETHOS_NOTIFY_WEBHOOK_URL", "ETHOS_SLACK_WEBHOOK_URL",
                 "ETHOS_PAGERDUTY_ROUTING_KEY", "ETHOS_AUTHORITY_FILE", "ETHOS_STATE_DIR", "ETHOS_ROUTER_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ETHOS_ADMIN_API_KEY", "k")
    blue, green = FakeRevision("blue").start(), FakeRevision("green").start()
    router = FakeRouter(["blue", "green"]).start()
    yield router, blue, green
    for srv in (blue, green, router):
        srv.stop()


@pytest.mark.parametrize("via", ["library", "command"])
def test_a_guard_opened_incident_shows_the_guards_authority_and_the_approval_ticked(
        fakes, tmp_path: Path, via: str) -> None:
    router, blue, green = fakes
    sd = tmp_path / "state"
    sd.mkdir()
    # roles are configured: the guard needs none of them, its trigger is its authority
    (sd / "authority.yaml").write_text("primary: [maria]\nsecondary: [dev]\nemergency: [cto-sam]\n")
    revisions = [f"blue={blue.url}", f"green={green.url}"]
    ev = _evaluation()
    if via == "library":
        actuator: ProcedureActuator | CommandActuator = ProcedureActuator(
            router=router.url, revisions=revisions, state_dir=sd)
    else:
        actuator = CommandActuator(["--router", router.url, "--revision", revisions[0], "--revision", revisions[1],
                                    "--state-dir", str(sd)], state_dir=sd)
    out = actuator.run(ev.decision, ev)
    assert out.ok, out.detail
    assert router.weights == {"blue": 100, "green": 0}
    # the journal records the approval as `ethos rollback` does (the notification and a
    # re-built incident read it there)
    params = Journal(sd).load(str(out.rollback_id)).params
    assert params["executed_by"] == "ethos-guard"
    assert params["approval"]["authority"].startswith("policy trigger: guard: err5: ")

    store = IncidentStore(sd, env={})
    inc = store.latest()
    assert inc is not None and inc["rollback_id"] == out.rollback_id
    authority = inc["authority"]
    assert authority["actor"] == "ethos-guard"
    assert authority["authority"].startswith("policy trigger: guard: err5: ")
    assert authority["approved_by"] is None and authority["role"] is None
    approval = next(item for item in inc["checklist"] if item["id"] == "approval")
    assert approval["done"] and approval["by"] == "system"
    assert approval["evidence"] == authority["authority"]

    report = store.report_path(inc["id"]).read_text()
    assert "| Executed by | ethos-guard |" in report
    assert "| Authority | policy trigger: guard: err5: " in report and "| Authority | - |" not in report
    line = next(x for x in report.splitlines() if "Get rollback authority approval" in x)
    assert "[x]" in line, line
