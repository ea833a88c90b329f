"""A stateful model test of who controls traffic (issue 13): the real procedures, one fake world.

Hypothesis interleaves emergency, standard and gradual rollbacks, operator weight changes,
guard evaluations (dry and real), resumes (with and without an id, forced or not), kills
(SIGKILL: nothing more written, control not given back), hangs (a process that stops in the
middle of a step and never comes back) and pauses (a process stopped in the middle of a step
while *other* procedures run, then woken up), and restarts (hung processes finally die). Every
procedure is the real code of ``ethos.rollout.procedures`` (plans, runner, session, control,
journal, the guard's loop and the incidents hook) over real files; only the traffic target,
the revisions, the signals, the clock and the process table are fakes.

Checked after every step (and, for traffic, at every change the router applies):

- green's share never rises except by an operator action;
- every fenced change is made by the current holder of control: a superseded run never acts
  (not even one woken up half-way through a traffic change: the router's fence refuses it);
- an emergency that runs to its end leaves traffic at 100% blue, whatever else was running;
- a dry run of the guard leaves traffic, the cache, incidents, the guard's state and history,
  and the journal unchanged;
- one incident per episode (every run here belongs to one episode).
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from ethos.rollout.guard import Measurement, parse_policy, proportion
from ethos.rollout.guard.actuator import ActionOutcome, Actuator, Alerter
from ethos.rollout.guard.evaluate import Decision, Evaluation
from ethos.rollout.guard.history import GuardHistory
from ethos.rollout.guard.loop import Guard
from ethos.rollout.incidents.hook import on_rollback_finished
from ethos.rollout.incidents.record import IncidentStore
from ethos.rollout.procedures import PLANS, PlanOptions
from ethos.rollout.procedures.context import Context
from ethos.rollout.procedures.control import ROLLBACKS, AlreadyDone, Control, ControlRefused, read_holder
from ethos.rollout.procedures.journal import Journal, JournalError
from ethos.rollout.procedures.pending import pending_run
from ethos.rollout.procedures.plans import Step
from ethos.rollout.procedures.revisions import RevisionClient
from ethos.rollout.procedures.runner import Outcome
from ethos.rollout.procedures.session import (
    Clients,
    NothingToResume,
    ResumeRefused,
    resume_procedure,
    run_procedure,
    select_for_resume,
)
from ethos.rollout.sources import FakeSource
from ethos.rollout.sources.signals import FakeSignals, RevisionSignals
from ethos.rollout.traffic import FakeTrafficManager, TrafficManager, Weights
from ethos.rollout.traffic.targets import Targets

TARGETS = Targets(router="http://router.test", revisions={"blue": "http://blue.test", "green": "http://green.test"},
                  admin_key="k")
ENV = {"ETHOS_INCIDENT_EPISODE_S": "86400"}  # every run of a model test is one episode
POLICY = parse_policy({
    "interval": "5s", "cooldown": "10m", "clear_after": "1m",
    "triggers": [{"name": "err5", "signal": "error_rate", "comparator": ">", "threshold": 0.05,
                  "windows": [60], "min_samples": 20, "action": "emergency", "severity": "critical"}],
})
STAGES = [((50, 2.0), (25, 2.0), (5, 2.0)), ((50, 1.0),), ((25, 1.0), (5, 1.0)), ((90, 1.0), (50, 1.0))]


def note(text: str) -> None:
    """A Hypothesis event (shown with --hypothesis-show-statistics), outside it nothing."""
    if currently_in_test_context():
        event(text)


class Killed(BaseException):
    """SIGKILL: the process stops where it is; nothing more is written, control is not given back."""


class Hung(BaseException):
    """The process stops where it is and never comes back, but stays alive (until a restart)."""


#: where a process may be stopped: its k-th I/O of a kind ("any": of any kind)
Point = tuple[str, int]
KINDS = ("set_weights", "get_weights", "signals", "sleep", "/api/admin/cache/invalidate", "any")


@dataclass
class Proc:
    """One process running a procedure; every I/O it does is a point where it may die, hang or pause."""

    world: World
    pid: int
    kill_at: Point | None = None
    hang_at: Point | None = None
    pause_at: Point | None = None
    interlude: tuple[Any, ...] = ()
    seen: dict[str, int] = field(default_factory=dict)

    def io(self, what: str) -> None:
        self.seen[what] = self.seen.get(what, 0) + 1
        self.seen["any"] = self.seen.get("any", 0) + 1

        def at(point: Point | None) -> bool:
            return point is not None and self.seen.get(point[0]) == point[1] and point[0] in (what, "any")

        if at(self.pause_at):  # stopped here while others run, then woken up
            self.pause_at = None
            for action in self.interlude:
                self.world.perform(action)
        if at(self.kill_at):
            self.world.live.discard(self.pid)
            raise Killed(what)
        if at(self.hang_at):
            self.world.hung.add(self.pid)
            raise Hung(what)

    def sleep(self, seconds: float) -> None:
        self.io("sleep")
        self.world.advance(seconds)


class Revisions:
    """blue.test and green.test: health, cache invalidation (entries counted), chat."""

    def __init__(self) -> None:
        self.entries = {"blue": 5, "green": 5}

    def handler(self, request: httpx.Request) -> httpx.Response:
        name, p = request.url.host.split(".")[0], request.url.path
        if p == "/health":
            return httpx.Response(200, json={"status": "ok", "revision": name, "cache_format_version": 1})
        if p == "/api/admin/cache/invalidate":
            n, self.entries[name] = self.entries.get(name, 0), 0
            return httpx.Response(200, json={"removed": n, "key_pattern": "all"})
        if p == "/api/ai/marketing-chat":
            return httpx.Response(200, json={"reply": "Plans: Free, Team", "cache": "miss", "revision": "blue"})
        return httpx.Response(404)


class ModelTraffic(TrafficManager):
    """The router as one process sees it: each call is an I/O point of that process."""

    def __init__(self, world: World, proc: Proc) -> None:
        self.world, self.proc = world, proc

    def get_weights(self) -> Weights:
        self.proc.io("get_weights")
        return self.world.router.get_weights()

    def set_weights(self, weights: Any, *, fence: int | None = None) -> Weights:
        self.proc.io("set_weights")  # a pause here is a process hung inside the HTTP call
        return self.world.apply(dict(weights), fence)


@dataclass
class World:
    state: Path
    t: float = 1_800_000_000.0
    router: FakeTrafficManager = field(default_factory=lambda: FakeTrafficManager({"blue": 100, "green": 0}))
    revs: Revisions = field(default_factory=Revisions)
    green_failing: bool = False
    live: set[int] = field(default_factory=set)
    hung: set[int] = field(default_factory=set)
    next_pid: int = 1_000_000
    violations: list[str] = field(default_factory=list)
    #: every change the router applied: (who, weights after)
    applied: list[tuple[str, dict[str, int]]] = field(default_factory=list)

    # ------------------------------------------------------------------ the fakes

    def clock(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += max(0.0, seconds)

    def alive(self, holder: dict[str, Any] | None) -> bool:
        return bool(holder) and int(holder.get("pid", 0) or 0) in self.live  # type: ignore[union-attr]

    def spawn(self, **kw: Any) -> Proc:
        self.next_pid += 1
        self.live.add(self.next_pid)
        return Proc(self, self.next_pid, **kw)

    def exit(self, proc: Proc) -> None:
        if proc.pid not in self.hung:
            self.live.discard(proc.pid)

    def apply(self, weights: dict[str, int], fence: int | None) -> Weights:
        """The router applies a change; the invariants on who may change what are checked here."""
        before = dict(self.router.weights)
        holder = read_holder(self.state / "journal")
        after = self.router.set_weights(weights, fence=fence)  # FencedError: refused, nothing changed
        actor = "operator (unfenced)"
        if fence is not None:
            if not holder or holder.get("epoch") != fence:
                self.violations.append(f"a change with fence {fence} was applied while {holder} holds control")
            actor = str((holder or {}).get("procedure"))
        if actor in ROLLBACKS and after.get("green", 0) > before.get("green", 0):
            self.violations.append(f"{actor} raised green's share: {before} -> {after}")
        self.applied.append((actor, dict(after)))
        return after

    def control(self, proc: Proc) -> Callable[..., Control]:
        world = self

        class ModelControl(Control):
            def release(self) -> None:
                if self.pid in world.live and self.pid not in world.hung:  # a dead process gives nothing back
                    super().release()

        def make(state_dir: Any, rid: str, procedure: str) -> Control:
            return ModelControl(state_dir, rid, procedure, pid=proc.pid, alive=world.alive, clock=world.clock,
                                sleep=world.advance, wait_s=30.0, mutex_timeout_s=1.0)

        return make

    def clients(self, proc: Proc) -> Clients:
        def handler(request: httpx.Request) -> httpx.Response:
            proc.io(request.url.path)
            return self.revs.handler(request)

        def signals() -> dict[str, RevisionSignals]:
            proc.io("signals")
            w = self.router.weights
            g, b = w.get("green", 0), w.get("blue", 0)
            err = 0.3 if self.green_failing else 0.0
            return {"blue": RevisionSignals(count=b, error_rate=0.0, p50_ms=50, p95_ms=100, window_s=60),
                    "green": RevisionSignals(count=g, error_rate=err if g else 0.0, p50_ms=50, p95_ms=100,
                                             window_s=60)}

        client = RevisionClient(TARGETS.revisions, "k", transport=httpx.MockTransport(handler))
        source = FakeSignals(signals)
        return Clients(ModelTraffic(self, proc), client, source, None, source)

    def configure(self, proc: Proc) -> Callable[[Context], None]:
        def configure(ctx: Context) -> None:
            ctx.sleep, ctx.clock, ctx.poll_s, ctx.notify_backoff_s = proc.sleep, self.clock, 0.5, 0.0

        return configure

    # ------------------------------------------------------------------ procedures

    def rollback(self, procedure: str, proc: Proc, stages: tuple[tuple[int, float], ...] = STAGES[0]) -> str:
        """Run one procedure in ``proc``; returns how it ended (``killed``, ``refused``, a status)."""
        o = PlanOptions(cache="auto" if procedure == "gradual" else "clear", cause="errors",
                        force=True, stages=stages, probe=procedure != "emergency")
        plan = PLANS[procedure](o)
        params = {"options": {k: getattr(o, k) for k in o.__slots__}, "reason": "model",  # type: ignore[attr-defined]
                  "executed_by": f"pid {proc.pid}", "poll_s": 0.5}
        return self._run(lambda: run_procedure(
            procedure, plan, TARGETS, state_dir=self.state, params=params, notifiers=[],
            clients=self.clients(proc), control=self.control(proc), configure=self.configure(proc)), proc)

    def operator(self, green: int, proc: Proc) -> str:
        """An operator's weight change through control (the console's "weights" action)."""
        w = {"blue": 100 - green, "green": green}
        plan = [Step("set_traffic", "set_traffic", {"weights": w}), Step("verify_traffic", "verify_traffic", {"weights": w})]
        return self._run(lambda: run_procedure(
            "set_weights", plan, TARGETS, state_dir=self.state, params={"reason": "operator", "executed_by": "op"},
            notifiers=[], clients=self.clients(proc), control=self.control(proc),
            configure=self.configure(proc)), proc)

    def resume(self, proc: Proc, which: int | None, force: bool) -> str:
        ids = Journal(self.state).ids()
        rid = ids[which % len(ids)] if which is not None and ids else None
        try:
            rec = select_for_resume(Journal(self.state), rid, force=force)
        except (NothingToResume, ResumeRefused, JournalError):
            self.exit(proc)
            return "refused"
        return self._run(lambda: resume_procedure(
            rec, TARGETS, state_dir=self.state, notifiers=[], clients=self.clients(proc), force=force,
            control=self.control(proc), configure=self.configure(proc)), proc)

    def _run(self, fn: Callable[[], Outcome], proc: Proc) -> str:
        try:
            out = fn()
        except Killed:
            return "killed"
        except Hung:
            return "hung"
        except (AlreadyDone, ControlRefused, ResumeRefused) as e:
            note(f"refused: {type(e).__name__}")
            self.exit(proc)
            return "refused"
        self.exit(proc)
        note(f"{out.procedure}: {out.status}" + (" (escalated)" if out.links.get("escalated_from") else "")
              + (f" {out.message[:60]}" if out.status == "failed" else ""))
        if out.procedure in ROLLBACKS and out.status != "stopped" and out.steps:
            # as `ethos rollback` does when a run ends: the superseded run joins first
            for rid in (out.links.get("escalated_from"), out.rollback_id):
                if rid:
                    got = on_rollback_finished(self.state, rid, env=ENV)
                    assert "error" not in got, got
        return out.status

    def guard(self, proc: Proc, dry: bool) -> str:
        """``ethos guard --once`` (``--dry-run``): a new guard on the saved state, one evaluation."""
        world = self

        class ModelActuator(Actuator):
            def run(self, decision: Decision, evaluation: Evaluation) -> ActionOutcome:
                pending = self.resume_pending()
                if pending is not None and not pending.refused:
                    return pending
                status = world.rollback(decision.action, proc)
                return ActionOutcome(decision.action, status in ("done", "refused"), 0, None, 0.0, status)

            def resume_pending(self) -> ActionOutcome | None:
                latest = Journal(world.state).latest()
                holder = read_holder(world.state / "journal")
                rec = pending_run(latest, lock_holder=holder, holder_alive=world.alive(holder), now=time.time())
                if rec is None:
                    return None
                status = world.resume(proc, Journal(world.state).ids().index(rec.rollback_id), False)
                return ActionOutcome(rec.procedure, status == "done", 0, rec.rollback_id, 0.0, status,
                                     refused=status == "refused")

        def measure(needs: Any, revisions: Any, now: float) -> dict[Any, Measurement]:
            out = {}
            for rev in revisions:
                n = 2 * world.router.weights.get(rev, 0)
                e = n // 2 if rev == "green" and world.green_failing else 0
                out[(rev, "error_rate", 60.0)] = proportion(e, n, window_s=60.0)
            return out

        g = Guard(POLICY, [FakeSource(measure, "router")], ModelActuator(), Alerter([]), GuardHistory(self.state),
                  clock=self.clock, dry_run=dry)
        try:
            r = g.step()
        except (Killed, Hung):
            return "killed"
        self.exit(proc)
        return r.outcome.detail if r.outcome else r.evaluation.decision.action

    def perform(self, action: tuple[Any, ...]) -> None:
        """One procedure of an interlude (run while another process is stopped half-way)."""
        kind = action[0]
        proc = self.spawn()
        if kind in ROLLBACKS:
            self.rollback(kind, proc, action[1])
        elif kind == "operator":
            self.operator(action[1], proc)
        elif kind == "guard":
            self.guard(proc, action[1])
        elif kind == "resume":
            self.resume(proc, action[1], action[2])

    # ------------------------------------------------------------------ observations

    def files(self) -> dict[str, str]:
        return {str(p.relative_to(self.state)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(self.state.rglob("*")) if p.is_file()}


procedures = st.sampled_from(["emergency", "standard", "gradual"])
stages = st.sampled_from(STAGES)
emergency = st.tuples(st.just("emergency"), stages)
actions = st.one_of(
    emergency, emergency, st.tuples(procedures, stages),
    st.tuples(st.just("operator"), st.sampled_from([0, 10, 50, 100])),
    st.tuples(st.just("guard"), st.booleans()),
    st.tuples(st.just("resume"), st.none() | st.integers(0, 20), st.booleans()),
)
points = st.tuples(st.sampled_from(KINDS), st.integers(1, 3))


class ControlModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        base = "/dev/shm" if Path("/dev/shm").is_dir() else None
        self.dir = Path(tempfile.mkdtemp(prefix="ethos-model-", dir=base))
        self.world = World(self.dir)

    def teardown(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    @initialize(green=st.sampled_from([100, 50, 30, 0]), failing=st.booleans())
    def a_release(self, green: int, failing: bool) -> None:
        """Green has some share (a new release), failing or not."""
        self.world.router.weights = {"blue": 100 - green, "green": green}
        self.world.green_failing = failing

    @rule(procedure=procedures, stages=stages, mode=st.sampled_from(["run", "kill", "hang", "pause"]),
          at=points, interlude=st.lists(actions, min_size=1, max_size=2))
    def rollback(self, procedure: str, stages: tuple[tuple[int, float], ...], mode: str, at: Point,
                 interlude: list[tuple[Any, ...]]) -> None:
        kw = {"kill": {"kill_at": at}, "hang": {"hang_at": at}, "pause": {"pause_at": at, "interlude": tuple(interlude)},
              "run": {}}[mode]
        n = len(self.world.applied)
        status = self.world.rollback(procedure, self.world.spawn(**kw), stages)
        if procedure == "emergency" and status not in ("killed", "hung"):
            # 100% blue when it ends, unless an operator raised green since (explicitly, once the
            # emergency that won had ended: an operator never gets control from a running one)
            by_operator = [who for who, _ in self.world.applied[n:] if who not in ROLLBACKS]
            assert self.world.router.weights.get("green", 0) == 0 or (
                by_operator and self.world.applied[-1][0] not in ROLLBACKS), (
                f"an emergency ended {status} with traffic {self.world.router.weights}: {self.world.applied[n:]}")

    @rule(green=st.sampled_from([0, 10, 50, 100]))
    def operator(self, green: int) -> None:
        self.world.operator(green, self.world.spawn())

    @rule(green=st.sampled_from([10, 50, 100]))
    def operator_raw(self, green: int) -> None:
        """An operator's change straight at the router (no fence, no control): may raise green."""
        self.world.apply({"blue": 100 - green, "green": green}, None)

    @rule(dry=st.booleans(), at=st.none() | points)
    def guard(self, dry: bool, at: Point | None) -> None:
        before = (self.world.files(), dict(self.world.router.weights), self.world.router.fence,
                  dict(self.world.revs.entries))
        proc = self.world.spawn(kill_at=None if dry else at)
        result = self.world.guard(proc, dry)
        if dry:
            after = (self.world.files(), dict(self.world.router.weights), self.world.router.fence,
                     dict(self.world.revs.entries))
            assert after == before, f"a dry run changed something: {result}"

    @rule(which=st.none() | st.integers(0, 20), force=st.booleans())
    def resume(self, which: int | None, force: bool) -> None:
        self.world.resume(self.world.spawn(), which, force)

    @rule()
    def restart(self) -> None:
        """The machine restarts: hung processes are gone (their control is left behind, stale)."""
        self.world.live -= self.world.hung
        self.world.hung.clear()

    @rule(failing=st.booleans())
    def green(self, failing: bool) -> None:
        self.world.green_failing = failing

    @invariant()
    def nothing_acted_out_of_turn(self) -> None:
        assert self.world.violations == []

    @invariant()
    def a_superseded_run_never_shifts_traffic_after(self) -> None:
        for rid in Journal(self.dir).ids():
            events = Journal(self.dir).load(rid).events
            kinds = {str(s.get("name")): str(s.get("kind"))
                     for s in next(e for e in events if e.get("event") == "run_started").get("plan", [])}
            superseded = False
            for e in events:
                if e.get("event") == "run_superseded":
                    superseded = True
                elif e.get("event") == "run_resumed":
                    superseded = False
                elif (superseded and e.get("event") == "step_ended" and e.get("status") == "ok"
                      and kinds.get(str(e.get("step"))) == "set_traffic"):
                    raise AssertionError(f"{rid} changed traffic after it was superseded: {e}")

    @invariant()
    def one_incident_per_episode(self) -> None:
        assert len(IncidentStore(self.dir, ENV).ids()) <= 1


ControlModel.TestCase.settings = settings(
    max_examples=int(__import__("os").environ.get("ETHOS_MODEL_EXAMPLES", "150")), stateful_step_count=10,
    deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_control_model = ControlModel.TestCase


@pytest.fixture(autouse=True)
def _no_notifiers(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("ETHOS_SLACK_WEBHOOK_URL", "ETHOS_NOTIFY_WEBHOOK_URL", "ETHOS_NO_AUTO_INCIDENT"):
        monkeypatch.delenv(var, raising=False)


# ---------------------------------------------------------------------- examples it found, kept


def _world(tmp_path: Path, green: int, failing: bool) -> World:
    w = World(tmp_path)
    w.router.weights = {"blue": 100 - green, "green": green}
    w.green_failing = failing
    return w


def test_a_gradual_woken_inside_its_traffic_change_is_fenced_off(tmp_path: Path) -> None:
    """Stopped inside the HTTP call of its first stage while an emergency preempts it and shifts
    to blue: when it wakes, the router refuses its stale change (the fence)."""
    w = _world(tmp_path, 100, True)
    proc = w.spawn(pause_at=("set_weights", 1), interlude=(("emergency", STAGES[0]),))
    assert w.rollback("gradual", proc, STAGES[0]) == "superseded"
    assert w.router.weights == {"blue": 100, "green": 0} and w.violations == []
    gradual = next(r for r in Journal(tmp_path).runs() if r.procedure == "gradual")
    assert gradual.status == "superseded" and gradual.superseded_by
    ended = [e for e in gradual.events if e.get("event") == "step_ended" and e.get("step") == "shift_traffic@50"]
    assert ended[-1]["status"] == "superseded" and "later holder" in ended[-1]["message"]


def test_an_emergency_hung_in_its_traffic_change_is_taken_over_and_an_operator_may_then_raise_green(
        tmp_path: Path) -> None:
    """Found by the model: a second emergency waits for the first (hung inside its traffic
    change), takes over after ``wait_s``, finishes; the operator then raises green on purpose.
    The first, woken, is fenced off and ends superseded: the operator's split stands."""
    w = _world(tmp_path, 100, False)
    proc = w.spawn(pause_at=("set_weights", 1), interlude=(("emergency", STAGES[0]), ("operator", 10)))
    assert w.rollback("emergency", proc) == "superseded"
    assert w.router.weights == {"blue": 90, "green": 10} and w.violations == []
    assert [who for who, _ in w.applied] == ["emergency", "set_weights"]


def test_runs_started_in_the_same_second_sort_in_start_order() -> None:
    """Found by the model (a flaky failure): ids were stamped to the second with a random
    suffix, so an emergency that preempted a gradual could sort before it."""
    from ethos.rollout.procedures.journal import new_rollback_id

    ids = [new_rollback_id() for _ in range(50)]
    assert ids == sorted(ids) and len(set(ids)) == 50
