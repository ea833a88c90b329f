"""Running a procedure as one locked, journaled session: new runs and resumed ones.

The library entry points behind ``ethos rollback`` (and for any caller in-process):

- :func:`run_procedure` builds the clients (before anything acts), takes the lock, opens the
  journal, runs the plan, closes everything, and returns the :class:`~.runner.Outcome`;
- :func:`resume_procedure` does the same for a journaled run, skipping completed steps;
- :func:`targets_from_record` rebuilds the targets of a journaled run (the key from the env).

Control of traffic (:mod:`.control`) is taken before the journal opens: a higher priority
preempts, an equal one is refused (an emergency waits for an emergency). A gradual whose green
shows an emergency trigger escalates: the session starts an emergency rollback at once, which
preempts the gradual (journaled as ``superseded`` by it) and returns the emergency's outcome.

Errors before the journal is open (bad targets, control refused, no credentials) raise;
nothing has been changed then. Once the journal is open, every failure is a journaled step.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import PermanentError
from ..notify import Notifier, notifiers_from_env
from ..router.client import RouterClient
from ..sources.signals import RouterSignals, SignalsReader
from ..stack.state import admin_key_for
from ..traffic import TrafficManager
from ..traffic.targets import Targets, make_traffic
from .actions import delivered_before
from .context import Context
from .control import Control
from .journal import Journal, RunRecord, new_rollback_id
from .plans import PLANS, PlanOptions, Step
from .revisions import RevisionClient
from .runner import Outcome, Printer, execute

if TYPE_CHECKING:
    from ..sources.cloudmonitoring import CloudMonitoringSignals

#: ``(state_dir, rollback_id, procedure) -> Control``: a seam for tests (fake pids and clocks)
ControlFactory = Callable[[str | os.PathLike[str], str, str], Control]


class ResumeRefused(PermanentError):
    """Resuming this run could undo what happened after it (superseded, or traffic moved on)."""


@dataclass
class Clients:
    """The run's HTTP clients: the traffic manager and the signals share one router client."""

    traffic: TrafficManager
    revisions: RevisionClient
    signals: SignalsReader | None
    #: the router's pooled client (traffic and signals over it); None: no local router
    router: RouterClient | None = None
    #: the router's longest window (standard step 1); None: use ``signals``
    sustained: SignalsReader | None = None

    def close(self) -> None:
        self.revisions.close()
        for part in (self.signals, self.sustained, self.router):
            close = getattr(part, "close", None)
            if close is not None:
                close()


def build_clients(targets: Targets) -> Clients:
    """Traffic manager, revision client and (with a router) signal source for ``targets``.

    Raises ``TargetError`` (bad targets) or another ``RolloutError`` (e.g. no Cloud Run
    credentials) before anything has been done.
    """
    watched = bool(targets.router and targets.traffic == "router")
    router = RouterClient(targets.router, targets.admin_key) if watched else None  # type: ignore[arg-type]
    traffic = make_traffic(targets, router)
    signals: SignalsReader | None = RouterSignals(router) if router else None
    # the runbook's "for 5 minutes"
    sustained: SignalsReader | None = RouterSignals(router, window_s=300) if router else None
    if targets.traffic == "cloudrun" and targets.cloudrun.get("monitoring"):
        signals, sustained = cloud_monitoring_signals(targets, traffic)
    return Clients(traffic, RevisionClient(targets.revisions, targets.admin_key), signals, router, sustained)


def cloud_monitoring_signals(targets: Targets, traffic: Any) -> tuple[CloudMonitoringSignals, CloudMonitoringSignals]:
    """On Cloud Run, the signals Cloud Run records (Cloud Monitoring): the last complete minute
    and the last complete five minutes, blue and green resolved as the traffic manager does."""
    from ..sources.cloudmonitoring import CloudMonitoringSignals, CloudMonitoringSource, CloudRunService, RevisionNames

    cr = targets.cloudrun
    service = CloudRunService(str(cr["project"]), str(cr["region"]), str(cr["service"]), dict(cr.get("revisions") or {}))
    resolve = getattr(traffic, "resolved", None)
    source = CloudMonitoringSource(service, RevisionNames(service.revision_names, resolve))
    return (CloudMonitoringSignals(source, window_s=60.0),
            CloudMonitoringSignals(source, window_s=300.0, owns=False))


def _context(clients: Clients, targets: Targets, run: Any, procedure: str, params: Mapping[str, Any],
             notifiers: Sequence[Notifier] | None, emit: Callable[[str], None] | None) -> Context:
    return Context(
        targets=targets, traffic=clients.traffic, revisions=clients.revisions, signals=clients.signals,
        sustained_signals=clients.sustained, run=run, procedure=procedure,
        notifiers=list(notifiers_from_env() if notifiers is None else notifiers),
        reason=str(params.get("reason", "")), executed_by=str(params.get("executed_by", "")),
        approved_by=str(params.get("approved_by", "")),
        authority=str((params.get("approval") or {}).get("authority", "")), poll_s=float(params.get("poll_s", 5.0)),
        emit=emit or (lambda line: None),
    )


def run_procedure(
    procedure: str,
    plan: list[Step],
    targets: Targets,
    *,
    state_dir: str | os.PathLike[str],
    params: Mapping[str, Any],
    notifiers: Sequence[Notifier] | None = None,
    printer: Printer | None = None,
    emit: Callable[[str], None] | None = None,
    on_start: Callable[[str, Context], None] | None = None,
    clients: Clients | None = None,
    control: ControlFactory | None = None,
    configure: Callable[[Context], None] | None = None,
) -> Outcome:
    """Run ``plan`` under control of traffic with a new journal; ``params`` needs reason / executed_by.

    Raises ``ControlRefused`` (another procedure holds control), ``AlreadyDone`` (an equal
    emergency finished while this one waited), ``JournalError`` or ``RolloutError`` when it
    could not start (nothing changed then). ``notifiers``: default from the environment.
    ``control`` and ``configure`` (called with each run's context before it runs: clocks,
    thresholds) are seams for tests.
    """
    clients = clients or build_clients(targets)
    try:
        return _run_locked(procedure, plan, targets, state_dir=state_dir, params=params, notifiers=notifiers,
                           printer=printer, emit=emit, on_start=on_start, clients=clients,
                           control=control or Control, configure=configure)
    finally:
        clients.close()


def _run_locked(procedure: str, plan: list[Step], targets: Targets, *, state_dir: str | os.PathLike[str],
                params: Mapping[str, Any], notifiers: Sequence[Notifier] | None, printer: Printer | None,
                emit: Callable[[str], None] | None, on_start: Callable[[str, Context], None] | None,
                clients: Clients, control: ControlFactory,
                configure: Callable[[Context], None] | None = None) -> Outcome:
    journal = Journal(state_dir)
    rid = new_rollback_id()
    with control(state_dir, rid, procedure) as ctl:
        params = dict(params)
        if ctl.preempted:
            params["supersedes"] = ctl.preempted.get("rollback_id")
        run = journal.start(procedure, [s.to_dict() for s in plan], params=params,
                            targets=targets.public(), executed_by=str(params.get("executed_by", "")),
                            reason=str(params.get("reason", "")), rollback_id=rid)
        _note_control(run, ctl)
        ctx = _context(clients, targets, run, procedure, params, notifiers, emit)
        ctx.control = ctl
        if configure is not None:
            configure(ctx)
        if on_start is not None:
            on_start(rid, ctx)
        outcome = execute(ctx, plan, printer=printer)
        if outcome.status != "escalate":
            return outcome
        # Green shows an emergency trigger: the emergency takes control from this run now.
        if emit is not None:
            emit(f"{procedure} rollback {rid}: {outcome.message}; escalating to an emergency rollback")
        em = _run_locked("emergency", plan_escalation(params), targets, state_dir=state_dir,
                         params=escalation_params(params, rid, outcome.message), notifiers=notifiers,
                         printer=printer, emit=emit, on_start=None, clients=clients, control=control,
                         configure=configure)
        em.links["escalated_from"] = rid
        em.message = f"escalated from {procedure} {rid}: {em.message}"
        return em


def _note_control(run: Any, ctl: Control) -> None:
    if ctl.took_over:
        run.note("took over a stale lock", holder=ctl.took_over)
    if ctl.preempted:
        run.note("preempted a lower-priority run", holder=ctl.preempted)
    if ctl.waited_for:
        run.note("waited for an emergency rollback to end", holder=ctl.waited_for)


def plan_escalation(params: Mapping[str, Any]) -> list[Step]:
    """The emergency plan a gradual escalates to: its names and cause, the runbook's clear."""
    raw = dict(params.get("options") or {})
    fields = set(PlanOptions.__slots__)
    opts = {k: v for k, v in raw.items() if k in fields}
    for k in ("revisions", "stages"):
        if k in opts:
            opts[k] = tuple(tuple(x) if isinstance(x, list) else x for x in opts[k])
    o = PlanOptions(**{**opts, "cache": "clear", "probe": False, "force": True})
    return PLANS["emergency"](o)


def escalation_params(params: Mapping[str, Any], rid: str, why: str) -> dict[str, Any]:
    """The journaled params of the emergency a run escalates to."""
    return {**{k: v for k, v in params.items() if k not in ("approval", "supersedes")},
            "reason": f"escalated from {rid}: {why}", "escalated_from": rid,
            "approval": {"authority": "emergency (escalation of a running rollback)",
                         "approved_by": None, "justification": why}}


def targets_from_record(rec: RunRecord, *, admin_key_env: str | None = None,
                        state_dir: str | os.PathLike[str] | None = None) -> Targets:
    """The targets a journaled run acted on; the admin key from the env or the stack file."""
    t = rec.targets
    key = admin_key_for(state_dir, key_env=admin_key_env)
    return Targets(router=t.get("router"), revisions=dict(t.get("revisions") or {}), admin_key=key or None,
                   source="journal", traffic=str(t.get("traffic", "router")),
                   cloudrun=dict(t.get("cloudrun") or {}), blue=str(t.get("blue", "blue")),
                   green=str(t.get("green", "green")))


def resume_procedure(
    rec: RunRecord,
    targets: Targets,
    *,
    state_dir: str | os.PathLike[str],
    notifiers: Sequence[Notifier] | None = None,
    printer: Printer | None = None,
    emit: Callable[[str], None] | None = None,
    clients: Clients | None = None,
    force: bool = False,
    control: ControlFactory | None = None,
    configure: Callable[[Context], None] | None = None,
) -> Outcome:
    """Continue a journaled run: same plan, completed steps skipped, appended to its journal.

    The run is read again once control is held: ``rec`` may be stale (another ``resume``,
    or the guard, finished the run in between). A run that is no longer resumable is left
    alone: the outcome has its status, no step and nothing is appended to its journal.
    Raises :class:`ResumeRefused` (unless ``force``) when the run was superseded, or when the
    router's split is not the one the run left: resuming could undo what came after it.
    """
    clients = clients or build_clients(targets)
    journal = Journal(state_dir)
    try:
        with (control or Control)(state_dir, rec.rollback_id, rec.procedure) as ctl:
            rec = journal.load(rec.rollback_id)
            if not rec.resumable and not (force and rec.status == "superseded"):
                return Outcome(rec.rollback_id, rec.procedure, rec.status,
                               f"already {rec.status}; nothing to resume", [], 0.0)
            if not force:
                check_resumable(rec, clients.traffic.get_weights())
            plan = [Step.from_dict(s) for s in rec.plan]
            run = journal.reopen(rec.rollback_id)
            if force:
                run.note("resumed with --force", status=rec.status, superseded_by=rec.superseded_by)
            _note_control(run, ctl)
            ctx = _context(clients, targets, run, rec.procedure, rec.params, notifiers, emit)
            ctx.control = ctl
            if configure is not None:
                configure(ctx)
            ctx.delivered = delivered_before(rec.events)
            return execute(ctx, plan, completed=rec.completed, printer=printer)
    finally:
        clients.close()


class NothingToResume(PermanentError):
    """No run to resume: none, or the latest one ended, or the one named is finished."""


def select_for_resume(journal: Journal, rollback_id: str | None = None, *, force: bool = False) -> RunRecord:
    """The run ``resume`` continues. Without an id: only the latest run, and only if nothing ran
    after it. Raises :class:`NothingToResume`, :class:`ResumeRefused` (superseded, unless
    ``force``) or ``JournalError``."""
    rec = journal.load(rollback_id) if rollback_id else journal.latest()
    if rec is None:
        raise NothingToResume(f"no rollback to resume in {journal.dir}")
    if not rollback_id and not rec.resumable:
        older = journal.latest(resumable=True)
        hint = (f"; {older.rollback_id} ({older.procedure}, {older.status}) is older and resuming it could "
                f"undo {rec.rollback_id}: name it to have it checked (`ethos rollback resume {older.rollback_id}`)"
                if older is not None else "")
        raise NothingToResume(f"the latest rollback {rec.rollback_id} ({rec.procedure}) is {rec.status}; "
                              f"nothing to resume{hint}")
    if rec.status == "superseded" and not force:
        check_resumable(rec, {})  # raises ResumeRefused naming the run that took over
    if not rec.resumable and not (force and rec.status == "superseded"):
        raise NothingToResume(f"rollback {rec.rollback_id} is {rec.status}; nothing to resume")
    return rec


def left_splits(rec: RunRecord) -> list[dict[str, int]]:
    """The splits a run may have left traffic in: the last it saw or set, and the target of a
    traffic change cut off mid-way (killed after asking, before journaling). Pure."""
    last: dict[str, int] | None = None
    pending: dict[str, int] | None = None
    kinds = {str(s.get("name")): str(s.get("kind")) for s in rec.plan}
    for e in rec.events:
        ev, step = e.get("event"), str(e.get("step", ""))
        if ev == "step_started" and kinds.get(step) == "set_traffic":
            pending = {k: int(v) for k, v in ((e.get("params") or {}).get("weights") or {}).items()}
        elif ev == "step_ended":
            values = e.get("values") or {}
            if kinds.get(step) == "set_traffic":
                pending = None
                if isinstance(values.get("after"), dict):
                    last = {k: int(v) for k, v in values["after"].items()}
            elif kinds.get(step) == "snapshot" and isinstance(values.get("weights"), dict):
                last = {k: int(v) for k, v in values["weights"].items()}
    return [w for w in (last, pending) if w is not None]


def _same(a: Mapping[str, int], b: Mapping[str, int]) -> bool:
    return all(a.get(k, 0) == b.get(k, 0) for k in set(a) | set(b))


def check_resumable(rec: RunRecord, weights: Mapping[str, int]) -> None:
    """Raise :class:`ResumeRefused` when resuming ``rec`` could undo a later change. Pure."""
    again = f"ethos rollback resume {rec.rollback_id} --force --yes"
    if rec.status == "superseded":
        by = rec.superseded_by or "a later run"
        raise ResumeRefused(f"rollback {rec.rollback_id} was superseded by {by}: resuming it could undo "
                            f"that run. See `ethos rollback history {by}`; to resume anyway: {again}")
    splits = left_splits(rec)
    if splits and not any(_same(w, weights) for w in splits):
        now = ", ".join(f"{k}={v}" for k, v in weights.items())
        left = ", ".join(f"{k}={v}" for k, v in splits[0].items())
        raise ResumeRefused(f"traffic is {now} but rollback {rec.rollback_id} left it at {left}: something "
                            "changed traffic since (see `ethos rollback history`). Resuming could undo "
                            f"that; to resume anyway (a rollback never raises green's share): {again}")


def journal_path(state_dir: str | os.PathLike[str], rollback_id: str) -> Path:
    """Where a run's journal lives."""
    return Journal(state_dir).path(rollback_id)


__all__ = ["Clients", "build_clients", "run_procedure", "resume_procedure", "targets_from_record",
           "journal_path", "ResumeRefused", "check_resumable", "left_splits", "plan_escalation",
           "escalation_params", "ControlFactory", "NothingToResume", "select_for_resume"]
