"""The runner against fakes: traffic, revisions (httpx MockTransport), signals, notifier."""

from __future__ import annotations

import json

import httpx
import pytest

from ethos.rollout.notify import FakeNotifier, NotifyError
from ethos.rollout.procedures import (
    Context,
    PlanOptions,
    execute,
    parse_stages,
    plan_emergency,
    plan_gradual,
    plan_standard,
)
from ethos.rollout.procedures.journal import Journal
from ethos.rollout.procedures.revisions import RevisionClient
from ethos.rollout.sources.signals import FakeSignals
from ethos.rollout.sources.signals import RevisionSignals as S
from ethos.rollout.traffic import FakeTrafficManager
from ethos.rollout.traffic.targets import Targets


class Revisions:
    """Fake revisions behind one MockTransport: hosts blue.test and green.test."""

    def __init__(self) -> None:
        self.formats = {"blue": 1, "green": 1}
        self.status = {"blue": "ok", "green": "ok"}
        self.down: set[str] = set()
        self.calls: list[tuple[str, str]] = []
        self.entries = {"blue": 5, "green": 0}
        self.top: list[str] | None = ["q1", "q2"]

    def handler(self, request: httpx.Request) -> httpx.Response:
        name = request.url.host.split(".")[0]
        self.calls.append((name, request.url.path))
        if name in self.down:
            raise httpx.ConnectError("refused", request=request)
        p = request.url.path
        if p == "/health":
            return httpx.Response(200, json={"status": self.status.get(name, "ok"), "revision": name,
                                             "cache_format_version": self.formats.get(name)})
        if p.startswith("/api/admin/"):
            if request.headers.get("x-admin-api-key") != "k":
                return httpx.Response(403, json={"error": "forbidden"})
            if p == "/api/admin/cache/invalidate":
                n, self.entries[name] = self.entries.get(name, 0), 0
                return httpx.Response(200, json={"removed": n, "key_pattern": "all"})
            if p == "/api/admin/cache/top":
                if self.top is None:
                    return httpx.Response(404, json={"error": "not_found"})
                return httpx.Response(200, json={"questions": self.top})
        if p == "/api/ai/marketing-chat":
            return httpx.Response(200, json={"reply": "Plans: Free, Team", "cache": "miss", "revision": "blue"})
        return httpx.Response(404)


@pytest.fixture
def revs():
    return Revisions()


def make_ctx(tmp_path, revs, *, weights=None, signals=None, notifiers=(), procedure="emergency"):
    targets = Targets(router="http://router.test", revisions={"blue": "http://blue.test", "green": "http://green.test"},
                      admin_key="k")
    client = RevisionClient(targets.revisions, "k", transport=httpx.MockTransport(revs.handler))
    run = Journal(tmp_path, durable=False).start(procedure, [], params={}, targets=targets.public(),
                                                  executed_by="dev", reason="test")
    traffic = FakeTrafficManager(weights or {"blue": 0, "green": 100})
    return Context(targets=targets, traffic=traffic, revisions=client, run=run, procedure=procedure,
                   signals=signals, notifiers=list(notifiers), reason="error rate > 5%",
                   executed_by="dev", sleep=lambda s: None, notify_backoff_s=0.0)


def test_emergency_happy_path(tmp_path, revs):
    notifier = FakeNotifier()
    ctx = make_ctx(tmp_path, revs, notifiers=[notifier])
    out = execute(ctx, plan_emergency(PlanOptions()))
    assert out.status == "done" and out.exit_code == 0
    assert ctx.traffic.weights == {"blue": 100, "green": 0}
    assert ("blue", "/api/admin/cache/invalidate") in revs.calls
    assert ("green", "/api/admin/cache/invalidate") in revs.calls
    assert notifier.sent[0].reason == "error rate > 5%" and notifier.sent[0].outcome == "done"
    rec = Journal(tmp_path).load(ctx.run.rollback_id)
    assert rec.status == "done" and len(rec.completed) == len(plan_emergency(PlanOptions()))
    assert rec.completed["invalidate_cache:blue"] == {"removed": 5}


def test_steps_are_idempotent_second_run_skips_the_shift(tmp_path, revs):
    ctx = make_ctx(tmp_path, revs, weights={"blue": 100, "green": 0})
    out = execute(ctx, plan_emergency(PlanOptions()))
    shift = next(s for s in out.steps if s.name == "shift_traffic")
    assert out.status == "done" and shift.status == "skipped"
    assert not [c for c in ctx.traffic.calls if c[0] == "set"]


def test_green_down_is_a_warning_blue_down_is_a_failure(tmp_path, revs):
    revs.down = {"green"}
    out = execute(make_ctx(tmp_path, revs), plan_emergency(PlanOptions()))
    assert out.status == "done"
    assert {s.name: s.status for s in out.steps}["invalidate_cache:green"] == "warn"
    revs.down = {"blue"}
    ctx = make_ctx(tmp_path, revs)
    out = execute(ctx, plan_emergency(PlanOptions()))
    assert out.status == "failed" and "unreachable" in out.message
    assert ctx.traffic.weights == {"blue": 0, "green": 100}  # nothing half-done


def test_failed_notification_never_fails_the_rollback(tmp_path, revs):
    def down(n):
        raise NotifyError("webhook down")

    ctx = make_ctx(tmp_path, revs, notifiers=[FakeNotifier(down)])
    out = execute(ctx, plan_emergency(PlanOptions()))
    assert out.status == "done" and out.steps[-1].status == "warn"
    rec = Journal(tmp_path).load(ctx.run.rollback_id)
    notes = [e for e in rec.events if e["event"] == "note"]
    assert len(notes) == 3 and notes[0]["values"]["error"] == "webhook down"


def test_cache_preserved_when_formats_match_and_auto(tmp_path, revs):
    out = execute(make_ctx(tmp_path, revs), plan_emergency(PlanOptions(cache="auto")))
    st = {s.name: s.status for s in out.steps}
    assert st["invalidate_cache:blue"] == "skipped" and ("blue", "/api/admin/cache/invalidate") not in revs.calls


def test_preserve_across_formats_is_refused_before_any_change(tmp_path, revs):
    revs.formats = {"blue": 3, "green": 4}
    ctx = make_ctx(tmp_path, revs)
    out = execute(ctx, plan_emergency(PlanOptions(cache="preserve")))
    assert out.status == "failed" and "format 3" in out.message
    assert ctx.traffic.weights == {"blue": 0, "green": 100}


def test_warm_collects_before_clear_and_asks_blue(tmp_path, revs):
    out = execute(make_ctx(tmp_path, revs), plan_emergency(PlanOptions(warm=2)))
    assert out.status == "done"
    warm = next(s for s in out.steps if s.name == "warm_cache")
    assert warm.values == {"asked": 2, "answered": 2}
    paths = [c for c in revs.calls if c[1] in ("/api/admin/cache/top", "/api/admin/cache/invalidate")]
    assert paths[0] == ("blue", "/api/admin/cache/top")


def test_warm_without_top_route_is_a_warning(tmp_path, revs):
    revs.top = None
    out = execute(make_ctx(tmp_path, revs), plan_emergency(PlanOptions(warm=2)))
    st = {s.name: s for s in out.steps}
    assert out.status == "done" and st["collect_top"].status == "warn" and st["warm_cache"].status == "skipped"


def test_standard_stops_unless_confirmed(tmp_path, revs):
    calm = FakeSignals({"green": S(count=100, error_rate=0.0, p95_ms=50), "blue": S(count=100, p95_ms=50)})
    ctx = make_ctx(tmp_path, revs, signals=calm, procedure="standard")
    out = execute(ctx, plan_standard(PlanOptions()))
    assert out.status == "stopped" and out.exit_code == 3 and "not confirmed" in out.message
    assert ctx.traffic.weights == {"blue": 0, "green": 100}
    ctx = make_ctx(tmp_path, revs, signals=calm, procedure="standard")
    assert execute(ctx, plan_standard(PlanOptions(force=True))).status == "done"
    bad = FakeSignals({"green": S(count=100, error_rate=0.08), "blue": S(count=100)})
    ctx = make_ctx(tmp_path, revs, signals=bad, procedure="standard")
    out = execute(ctx, plan_standard(PlanOptions()))
    assert out.status == "done" and ctx.traffic.weights == {"blue": 100, "green": 0}
    assert {s.name: s.status for s in out.steps}["probe"] == "ok"


def test_gradual_holds_when_blue_degrades_and_resume_finishes(tmp_path, revs):
    state = {"blue": S(count=100, p95_ms=100.0)}
    sig = FakeSignals(lambda: dict(state))
    ctx = make_ctx(tmp_path, revs, signals=sig, procedure="gradual")
    plan = plan_gradual(PlanOptions(cache="clear", stages=parse_stages("50:0.01s,25:0.01s,5:0.01s")))

    def degrade_at_25(weights):
        if weights.get("green") == 25:
            state["blue"] = S(count=100, error_rate=0.1, p95_ms=100.0)
        return None

    ctx.traffic.handler = lambda action, w: degrade_at_25(w) if action == "set" else None
    out = execute(ctx, plan)
    assert out.status == "held" and out.exit_code == 3 and "green=25%" in out.message
    assert "error rate" in out.message and ctx.traffic.weights == {"blue": 75, "green": 25}
    # the operator fixes blue; resume continues from the journal without redoing steps
    state["blue"] = S(count=100, p95_ms=100.0)
    rec = Journal(tmp_path).load(ctx.run.rollback_id)
    assert rec.status == "held" and "shift_traffic@25" in rec.completed and "monitor@25" not in rec.completed
    ctx2 = make_ctx(tmp_path, revs, signals=sig, weights=ctx.traffic.weights, procedure="gradual")
    ctx2.run = Journal(tmp_path, durable=False).reopen(rec.rollback_id)
    out2 = execute(ctx2, plan, completed=rec.completed)
    assert out2.status == "done" and ctx2.traffic.weights == {"blue": 100, "green": 0}
    sets = [c[1] for c in ctx2.traffic.calls if c[0] == "set"]
    assert sets == [{"blue": 95, "green": 5}, {"blue": 100, "green": 0}]
    assert Journal(tmp_path).load(rec.rollback_id).status == "done"


def test_unexpected_error_is_journaled_not_raised(tmp_path, revs):
    ctx = make_ctx(tmp_path, revs)

    def boom(action, w):
        raise ValueError("bug")

    ctx.traffic.handler = boom
    out = execute(ctx, plan_emergency(PlanOptions()))
    assert out.status == "failed" and "ValueError" in out.message
    lines = [json.loads(x) for x in ctx.run.path.read_text().splitlines()]
    assert lines[-1]["event"] == "run_ended" and lines[-1]["status"] == "failed"


def test_notification_carries_who_approved_and_the_cache_decision(tmp_path, revs):
    notifier = FakeNotifier()
    ctx = make_ctx(tmp_path, revs, notifiers=[notifier], procedure="gradual")
    ctx.approved_by = "priya"
    assert execute(ctx, plan_emergency(PlanOptions())).status == "done"
    details = notifier.sent[0].details
    assert details["Approved By"] == "priya" and details["Cache"].startswith("clear")


def test_public_surface():
    import ethos.rollout.procedures as p

    assert set(p.__all__) == {
        "CacheDecision", "decide_cache", "infer_cause", "Thresholds", "Criterion", "confirm_issue",
        "blue_degraded", "success_criteria", "Step", "PlanOptions", "PLANS", "plan_emergency",
        "plan_standard", "plan_gradual", "parse_stages", "describe_plan", "Context", "StepResult",
        "execute", "Outcome", "StepReport",
    }
    assert all(hasattr(p, name) for name in p.__all__)


def test_session_runs_locked_and_journaled_and_resumes(tmp_path, revs):
    from ethos.rollout.procedures.control import Control
    from ethos.rollout.procedures.journal import Journal, LockHeld
    from ethos.rollout.procedures.session import Clients, resume_procedure, run_procedure

    targets = Targets(router="http://router.test", revisions={"blue": "http://blue.test", "green": "http://green.test"},
                      admin_key="k")

    def clients(traffic):
        return Clients(traffic, RevisionClient(targets.revisions, "k", transport=httpx.MockTransport(revs.handler)),
                       None)

    traffic = FakeTrafficManager({"blue": 0, "green": 100})
    revs.down = {"green"}
    revs.status["blue"] = "degraded"  # verify_health fails: a critical step
    params = {"reason": "drill", "executed_by": "dev"}
    out = run_procedure("emergency", plan_emergency(PlanOptions()), targets, state_dir=tmp_path,
                        params=params, notifiers=[], clients=clients(traffic))
    assert out.status == "failed" and "verify_health" in out.message
    assert not (tmp_path / "journal" / "rollback.lock").exists()
    revs.status["blue"] = "ok"
    rec = Journal(tmp_path).latest(resumable=True)
    with Control(tmp_path, rec.rollback_id, "emergency"):  # the same run, alive: running right now
        with pytest.raises(LockHeld):
            resume_procedure(rec, targets, state_dir=tmp_path, notifiers=[], clients=clients(traffic))
    out = resume_procedure(rec, targets, state_dir=tmp_path, notifiers=[], clients=clients(traffic))
    assert out.status == "done" and [c for c in traffic.calls if c[0] == "set"] == [("set", {"blue": 100, "green": 0})]
