"""Running a procedure as one locked, journaled session: new runs and resumed ones.

The library entry points behind ``ethos rollback`` (and for any caller in-process):

- :func:`run_procedure` builds the clients (before anything acts), takes the lock, opens the
  journal, runs the plan, closes everything, and returns the :class:`~.runner.Outcome`;
- :func:`resume_procedure` does the same for a journaled run, skipping completed steps;
- :func:`targets_from_record` rebuilds the targets of a journaled run (the key from the env).

Errors before the journal is open (bad targets, lock held, no credentials) raise; nothing has
been changed then. Once the journal is open, every failure is a journaled step.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..journal import Journal, RunRecord, new_rollback_id
from ..notify import Notifier, notifiers_from_env
from ..signals import RouterSignals, SignalSource
from ..stack import load_stack
from ..targets import KeepOpenTransport, Targets, make_traffic
from ..traffic import TrafficManager
from ..errors import RolloutError
from .actions import delivered_before
from .context import Context
from .plans import Step
from .revisions import RevisionClient
from .runner import Outcome, Printer, execute


@dataclass
class Clients:
    """The run's HTTP clients; one pooled transport serves them all (one SSL context)."""

    traffic: TrafficManager
    revisions: RevisionClient
    signals: SignalSource | None
    transport: KeepOpenTransport | None = None

    def close(self) -> None:
        self.revisions.close()
        close = getattr(self.signals, "close", None)
        if close is not None:
            close()
        if self.transport is not None:
            self.transport.shutdown()


def build_clients(targets: Targets) -> Clients:
    """Traffic manager, revision client and (with a router) signal source for ``targets``.

    Raises ``TargetError`` (bad targets) or another ``RolloutError`` (e.g. no Cloud Run
    credentials) before anything has been done.
    """
    transport = KeepOpenTransport()
    traffic = make_traffic(targets, transport)
    signals = (RouterSignals(targets.router, transport=transport)
               if targets.router and targets.traffic == "router" else None)
    return Clients(traffic, RevisionClient(targets.revisions, targets.admin_key, transport=transport),
                   signals, transport)


def _context(clients: Clients, targets: Targets, run: Any, procedure: str, params: Mapping[str, Any],
             notifiers: Sequence[Notifier] | None, emit: Callable[[str], None] | None) -> Context:
    return Context(
        targets=targets, traffic=clients.traffic, revisions=clients.revisions, signals=clients.signals,
        transport=clients.transport, run=run, procedure=procedure,
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
) -> Outcome:
    """Run ``plan`` under the lock with a new journal; ``params`` needs reason / executed_by.

    Raises ``LockHeld``, ``JournalError`` or ``RolloutError`` when it could not start (nothing
    changed then). ``notifiers``: default from the environment.
    """
    clients = clients or build_clients(targets)
    journal = Journal(state_dir)
    rid = new_rollback_id()
    try:
        with journal.lock(rid) as lock:
            run = journal.start(procedure, [s.to_dict() for s in plan], params=dict(params),
                                targets=targets.public(), executed_by=str(params.get("executed_by", "")),
                                reason=str(params.get("reason", "")), rollback_id=rid)
            if lock.took_over:
                run.note("took over a stale lock", holder=lock.took_over)
            ctx = _context(clients, targets, run, procedure, params, notifiers, emit)
            if on_start is not None:
                on_start(rid, ctx)
            return execute(ctx, plan, printer=printer)
    finally:
        clients.close()


def targets_from_record(rec: RunRecord, *, admin_key_env: str | None = None,
                        state_dir: str | os.PathLike[str] | None = None) -> Targets:
    """The targets a journaled run acted on; the admin key from the env or the stack file."""
    t = rec.targets
    key = os.environ.get(admin_key_env or "ETHOS_ADMIN_API_KEY")
    if not key:
        try:
            stack = load_stack(state_dir)
        except RolloutError:
            stack = None
        key = stack.admin_key() if stack else None
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
) -> Outcome:
    """Continue a journaled run: same plan, completed steps skipped, appended to its journal.

    The run is read again once the lock is held: ``rec`` may be stale (another ``resume``,
    or the guard, finished the run in between). A run that is no longer resumable is left
    alone: the outcome has its status, no step and nothing is appended to its journal.
    """
    clients = clients or build_clients(targets)
    journal = Journal(state_dir)
    try:
        with journal.lock(rec.rollback_id) as lock:
            rec = journal.load(rec.rollback_id)
            if not rec.resumable:
                return Outcome(rec.rollback_id, rec.procedure, rec.status,
                               f"already {rec.status}; nothing to resume", [], 0.0)
            plan = [Step.from_dict(s) for s in rec.plan]
            run = journal.reopen(rec.rollback_id)
            if lock.took_over:
                run.note("took over a stale lock", holder=lock.took_over)
            ctx = _context(clients, targets, run, rec.procedure, rec.params, notifiers, emit)
            ctx.delivered = delivered_before(rec.events)
            return execute(ctx, plan, completed=rec.completed, printer=printer)
    finally:
        clients.close()


def journal_path(state_dir: str | os.PathLike[str], rollback_id: str) -> Path:
    """Where a run's journal lives."""
    return Journal(state_dir).path(rollback_id)


__all__ = ["Clients", "build_clients", "run_procedure", "resume_procedure", "targets_from_record",
           "journal_path"]
