"""The console's actions, each a journaled run of the procedures library.

- ``emergency`` / ``gradual``: the runbook's plans (:data:`~..procedures.plans.PLANS`), run by
  :func:`~..procedures.session.run_procedure` exactly as ``ethos rollback`` runs them; each
  then opens its incident (:func:`open_incident_for`);
- ``weights``: a two-step plan (``set_traffic``, ``verify_traffic``), same session;
- ``invalidate``: ``key_pattern=all`` is the plan's own ``invalidate_cache`` step per revision;
  a glob is sent to each revision's admin route, journaled step by step the same way;
- ``drill``: delegated to ``ethos drill`` when that command exists.

Every run takes the journal's lock first (one at a time per state dir; a second gets
:class:`~..journal.LockHeld`, answered 409), records who asked (``executed_by``, also
``approved_by``: whoever holds the key and confirms is the authority) and why, and runs on a
named thread: the caller waits up to ``wait_s`` for the outcome and otherwise gets the id of
the run still going (a gradual rollback monitors for many minutes).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ...pii import redact
from ..errors import RolloutError, UnknownRevisionError
from ..procedures.cache_decision import infer_cause
from ..procedures.context import Context
from ..procedures.control import AlreadyDone, Control
from ..procedures.journal import Journal, LockHeld, new_rollback_id
from ..procedures.plans import PLANS, PlanOptions, Step, describe_plan, parse_stages
from ..procedures.runner import Outcome
from ..procedures.session import Clients, build_clients, run_procedure
from ..router.client import default_ssl_context
from ..traffic import validate_weights
from ..traffic.targets import Targets, resolve_targets


class ActionError(RolloutError):
    """An action refused before anything changed: ``status`` and ``error`` become the reply."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail


@dataclass
class Job:
    """A run started from the console."""

    rollback_id: str
    action: str
    executed_by: str
    started: float
    done: threading.Event = field(default_factory=threading.Event)
    outcome: dict[str, Any] | None = None

    def view(self) -> dict[str, Any]:
        return {"rollback_id": self.rollback_id, "action": self.action, "executed_by": self.executed_by,
                "started": self.started, "running": not self.done.is_set(), "outcome": self.outcome}


def _text(body: Mapping[str, Any], key: str, default: str = "", limit: int = 200) -> str:
    v = body.get(key, default)
    if v is None:
        v = default
    if not isinstance(v, str):
        raise ActionError(400, "invalid_body", f"{key} must be a string")
    v = v.strip()
    if len(v) > limit:
        raise ActionError(400, "invalid_body", f"{key} is longer than {limit} characters")
    return v


class Operator:
    """Runs the console's actions against the targets of ``state_dir`` (stack file or env)."""

    def __init__(self, state_dir: Path, *, router: str | None = None, revisions: Sequence[str] = (),
                 env: Mapping[str, str] | None = None, wait_s: float = 30.0,
                 poll_s: float = 5.0, traffic: str = "router", cloudrun: Mapping[str, Any] | None = None) -> None:
        self.state_dir = Path(state_dir)
        #: ``cloudrun``: the actions shift Cloud Run's traffic (service, region, project, ...)
        self.traffic = traffic
        self.cloudrun = dict(cloudrun or {})
        self.router = router
        self.revisions = tuple(revisions)
        self.env = env
        self.wait_s = wait_s
        self.poll_s = poll_s
        self.journal = Journal(self.state_dir)
        self.jobs: dict[str, Job] = {}
        self._last_options: dict[str, Any] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ targets

    def targets(self) -> Targets:
        """Where the actions act (raises ActionError 503 when nothing is configured)."""
        try:
            return resolve_targets(router=self.router, revisions=self.revisions, state_dir=self.state_dir,
                                   env=self.env, traffic=self.traffic, cloudrun=self.cloudrun)
        except RolloutError as e:
            raise ActionError(503, "no_targets", str(e)) from None

    def _options(self, t: Targets, body: Mapping[str, Any], cache_default: str, **more: Any) -> PlanOptions:
        cache = _text(body, "cache", cache_default) or cache_default
        if cache not in ("clear", "preserve", "auto"):
            raise ActionError(400, "invalid_body", "cache must be clear, preserve or auto")
        opts = PlanOptions(blue=t.blue, green=t.green, revisions=tuple(t.revisions), cache=cache,
                           cause=infer_cause(_text(body, "reason")), **more)
        self._last_options = {k: getattr(opts, k) for k in opts.__slots__}
        return opts

    def plan(self, action: str, body: Mapping[str, Any]) -> tuple[str, list[Step], Targets]:
        """The procedure name, the plan and the targets of ``action`` (nothing runs)."""
        t = self.targets()
        if action == "emergency":
            return "emergency", PLANS["emergency"](self._options(t, body, "clear", probe=False)), t
        if action == "gradual":
            try:
                stages = parse_stages(_text(body, "stages", "50:15m,25:15m,5:30m") or "50:15m,25:15m,5:30m")
            except ValueError as e:
                raise ActionError(400, "invalid_body", f"stages: {redact(str(e))}") from None
            return "gradual", PLANS["gradual"](self._options(t, body, "auto", stages=stages)), t
        if action == "weights":
            raw = body.get("weights")
            if not isinstance(raw, Mapping):
                raise ActionError(400, "invalid_body", 'weights must be an object, e.g. {"blue": 100, "green": 0}')
            try:
                w = validate_weights(raw, list(t.revisions))
            except UnknownRevisionError:
                # the name is not echoed: whatever a client sends may hold personal data
                raise ActionError(400, "invalid_weights",
                                  f"unknown revision name; known revisions: {', '.join(t.revisions)}") from None
            except RolloutError as e:
                raise ActionError(400, "invalid_weights", redact(str(e))) from None
            shown = ", ".join(f"{k}={v}" for k, v in w.items())
            return "set_weights", [
                Step("set_traffic", "set_traffic", {"weights": dict(w)}, title=f"set traffic {shown}"),
                Step("verify_traffic", "verify_traffic", {"weights": dict(w)}, title=f"verify traffic shows {shown}"),
            ], t
        if action == "invalidate":
            pattern = _text(body, "pattern", "all") or "all"
            names = body.get("revisions") or list(t.revisions)
            if not isinstance(names, list) or not all(isinstance(n, str) and n in t.revisions for n in names):
                raise ActionError(400, "invalid_body", f"revisions must be a list of {', '.join(t.revisions)}")
            if pattern == "all":
                return "invalidate_cache", [
                    Step(f"invalidate_cache:{n}", "invalidate_cache", {"revision": n}, critical=False,
                         title=f"invalidate the cache on {n} (key_pattern=all)") for n in names], t
            return "invalidate_cache", [
                Step(f"invalidate_pattern:{n}", "invalidate_pattern", {"revision": n, "pattern": pattern},
                     critical=False, title=f"invalidate keys matching {pattern} on {n}") for n in names], t
        raise ActionError(404, "unknown_action", "no such action: emergency, gradual, weights, invalidate, drill")

    def preview(self, action: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """What ``action`` would do, step by step (the confirmation dialog shows it)."""
        procedure, plan, t = self.plan(action, body)
        return {"action": action, "procedure": procedure, "dry_run": True, "targets": t.public(),
                "plan": [s.to_dict() for s in plan], "lines": describe_plan(plan)}

    # ------------------------------------------------------------------ running

    def start(self, action: str, body: Mapping[str, Any]) -> tuple[Job, Outcome | None]:
        """Run ``action`` as one locked, journaled session; wait up to ``wait_s`` for its outcome.

        Raises ActionError 409 when another run holds the lock (nothing changed then).
        """
        executed_by = _text(body, "executed_by", limit=80)
        if not executed_by:
            raise ActionError(400, "missing_executed_by", "say who you are: executed_by is recorded in the journal")
        reason = _text(body, "reason", limit=500) or f"{action} from the console"
        self._last_options = {}
        procedure, plan, targets = self.plan(action, body)
        params = {"via": "console", "action": action, "options": self._last_options, "reason": reason,
                  # whoever holds the admin key and confirms is the rollback authority here
                  "executed_by": executed_by, "approved_by": executed_by, "poll_s": self.poll_s,
                  "body": _public(body)}
        try:
            clients = build_clients(targets)
        except RolloutError as e:
            raise ActionError(503, "no_targets", str(e)) from None
        job = Job("", action, executed_by, time.time())
        started = threading.Event()  # set once the journal is open, or when it could not start
        refused: list[ActionError] = []
        holder: dict[str, Outcome] = {}

        def on_start(rid: str, ctx: Context) -> None:
            job.rollback_id = rid
            with self._lock:
                self.jobs[rid] = job
            started.set()

        def work() -> None:
            try:
                if plan[0].kind == "invalidate_pattern":
                    outcome = self._run_pattern(procedure, plan, targets, params, clients, on_start)
                else:
                    outcome = run_procedure(procedure, plan, targets, state_dir=self.state_dir, params=params,
                                            clients=clients, on_start=on_start)
                job.outcome = outcome.to_dict()
                if procedure in PLANS:  # a rollback opens its incident (report, checklist)
                    job.outcome["incident"] = open_incident_for(self.state_dir, outcome.rollback_id)
                holder["outcome"] = outcome
            except AlreadyDone as e:  # an equal emergency took traffic to blue while this one waited
                job.outcome = {"status": "done", "message": str(e), "covered_by": e.holder.get("rollback_id")}
            except LockHeld as e:  # another procedure holds control (the message names it)
                refused.append(ActionError(409, "busy", str(e)))
            except RolloutError as e:  # could not start (journal unwritable ...): nothing changed
                refused.append(ActionError(500, "not_started", str(e)))
            except Exception as e:  # noqa: BLE001 - recorded; the console keeps serving
                job.outcome = {"status": "failed", "message": f"{type(e).__name__}: {e}"}
            finally:
                started.set()
                job.done.set()

        threading.Thread(target=work, name=f"console-{action}", daemon=True).start()
        started.wait()
        if refused:
            raise refused[0]
        job.done.wait(self.wait_s)
        return job, holder.get("outcome")

    def _run_pattern(self, procedure: str, plan: list[Step], targets: Targets, params: Mapping[str, Any],
                     clients: Clients, on_start: Callable[[str, Context], None]) -> Outcome:
        """Glob invalidation: the session's lock and journal around :func:`_invalidate_pattern`."""
        rid = new_rollback_id()
        try:
            with Control(self.state_dir, rid, procedure) as lock:
                run = self.journal.start(procedure, [s.to_dict() for s in plan], params=dict(params),
                                         targets=targets.public(), executed_by=str(params["executed_by"]),
                                         reason=str(params["reason"]), rollback_id=rid)
                if lock.took_over:
                    run.note("took over a stale lock", holder=lock.took_over)
                ctx = Context(targets=targets, traffic=clients.traffic, revisions=clients.revisions, run=run,
                              procedure=procedure, signals=clients.signals, notifiers=[],
                              reason=str(params["reason"]), executed_by=str(params["executed_by"]))
                on_start(rid, ctx)
                return _invalidate_pattern(ctx, plan)
        finally:
            clients.close()

    def running(self) -> list[dict[str, Any]]:
        """Jobs started by this console that have not finished, and the last finished ones."""
        with self._lock:
            jobs = sorted(self.jobs.values(), key=lambda j: j.started, reverse=True)[:10]
        return [j.view() for j in jobs]


def open_incident_for(state_dir: Path, rollback_id: str) -> dict[str, Any]:
    """Open the incident of a rollback's episode, or attach the rollback to the open one.

    ``{"opened": True, "id": …, "attached": bool}``: ``attached`` when an incident of the same
    episode was open already (one incident per episode); ``opened`` False with a ``detail`` when
    it could not be written (the rollback stands).
    """
    from ..incidents.record import after_rollback, incident_id_for

    try:
        inc = after_rollback(state_dir, rollback_id)
    except Exception as e:  # noqa: BLE001 - the rollback is done; a missing report must not hide it
        return {"opened": False, "detail": f"{type(e).__name__}: {e}"}
    return {"opened": True, "id": inc.get("id"), "attached": inc.get("id") != incident_id_for(rollback_id)}


def _public(body: Mapping[str, Any]) -> dict[str, Any]:
    """The request body as journaled (never a key)."""
    return {k: v for k, v in body.items() if "key" not in k.lower() or k == "key_pattern"}


def _invalidate_pattern(ctx: Context, plan: list[Step]) -> Outcome:
    """Glob invalidation on each revision, journaled like a plan's steps."""
    from ..procedures.runner import StepReport

    t0 = time.monotonic()
    reports: list[StepReport] = []
    status, message = "done", "all steps completed"
    client = httpx.Client(timeout=10.0, verify=default_ssl_context())
    try:
        for step in plan:
            ctx.run.step_started(step.name, step.kind, step.params)
            s0 = time.monotonic()
            name, pattern = step.params["revision"], step.params["pattern"]
            url = f"{ctx.revisions.url(name)}/api/admin/cache/invalidate"
            try:
                r = client.post(url, params={"key_pattern": pattern},
                                headers={"X-Admin-API-Key": ctx.targets.admin_key or ""})
                data = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
                if r.status_code == 200:
                    st, msg, vals = "ok", f"removed {data.get('removed', 0)} entries on {name}", {"removed": data.get("removed")}
                else:
                    st, msg, vals = "warn", f"{url} answered {r.status_code}: {data.get('detail') or r.text[:200]}", {}
            except httpx.HTTPError as e:
                st, msg, vals = "warn", f"{url} unreachable: {type(e).__name__}", {}
            dur = time.monotonic() - s0
            ctx.run.step_ended(step.name, st, msg, vals, dur)
            reports.append(StepReport(step.name, st, msg, "", round(dur, 6), vals))
            if st != "ok":
                status, message = "failed", msg
    finally:
        client.close()
    ctx.run.ended(status, message)
    return Outcome(ctx.run.rollback_id, ctx.procedure, status, message, reports, round(time.monotonic() - t0, 6))


__all__ = ["ActionError", "Job", "Operator"]
