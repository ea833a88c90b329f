"""The guard's one thin loop: read the sources, evaluate, record, act, alert, sleep.

All decisions are made by :func:`~.evaluate.evaluate`; this module only does the I/O around
it. A failed action leaves the guard free to try again at the next evaluation (the failure
is recorded and alerted). Sustain clocks survive a restart only when the saved state is
recent (no evaluation gap longer than three intervals): the guard never claims a breach
lasted through time it did not watch.

The loop evaluates every ``policy.interval_s``; while a sequential test is building evidence
(:attr:`~.verdicts.Evaluation.building`) it also looks every ``policy.fast_interval_s`` in
between (the regular evaluations keep their times), so that a clear fault is decided within
about a second of the evidence being there.

A dry run (``Guard(..., dry_run=True)``, ``ethos guard --dry-run``) changes nothing that any
other command reads: it reads the saved state (so it shows the decision a real guard would
make now) but never writes it nor the history, sends no alert (they are echoed as ``would
alert: ...``), resumes no half-done rollback and runs none (an actuator that is itself in
dry-run mode is asked for its plan; ``would run: ethos rollback ...`` is shown). Its state
advances in memory only, so a looping dry run keeps its own sustain clocks.
"""

from __future__ import annotations

import shlex
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from ..sources.base import SignalSource, collect_snapshot
from .actuator import ActionOutcome, Actuator, Alerter, cause_of, reason_of
from .evaluate import Decision, Evaluation, GuardState, action_failed, evaluate
from .history import GuardHistory
from .policy import Policy

#: A wait that ends this much before an evaluation is due still counts as reaching it.
_EARLY_S = 0.05


@dataclass
class StepResult:
    """One evaluation and what the guard did about it."""

    evaluation: Evaluation
    outcome: ActionOutcome | None = None
    alerts: list[str] = field(default_factory=list)  # sent (in a dry run: would have been)
    dry_run: bool = False
    would_run: str | None = None  # in a dry run, the rollback it would have run


def would_run(decision: Decision, evaluation: Evaluation) -> str:
    """The ``ethos rollback ...`` command a real guard would run for ``decision``."""
    args = ["ethos", "rollback", decision.action, "--yes",
            "--reason", reason_of(evaluation, decision.trigger),
            "--cause", cause_of(evaluation, decision.trigger), "--executed-by", "ethos-guard"]
    if decision.action == "standard":
        args.append("--force")
    return shlex.join(args)


class Guard:
    """Evaluates ``policy`` over ``sources`` every ``policy.interval_s`` and acts."""

    def __init__(
        self,
        policy: Policy,
        sources: Sequence[SignalSource],
        actuator: Actuator,
        alerter: Alerter,
        history: GuardHistory | None = None,
        *,
        clock: Callable[[], float] = time.time,
        weights: Callable[[], dict[str, int] | None] | None = None,
        dry_run: bool = False,
    ) -> None:
        self.policy = policy
        self.dry_run = dry_run
        self.sources = list(sources)
        self.actuator = actuator
        self.alerter = alerter
        self.history = history
        self.clock = clock
        self.weights = weights
        self.state = GuardState()
        self._last_at: float | None = None
        if history is not None:
            self.state, self._last_at = history.load_state()
        self.actions: list[ActionOutcome] = []
        self._failing = False
        self._recovered = False

    def step(self) -> StepResult:
        """One evaluation, recorded, acted on.

        The first step of a guard finishes a rollback left half-done (a guard or a person
        killed mid-run) before anything else: resumed from its journal, never started again.
        In a dry run nothing is written, sent, resumed or run (see the module docstring).
        """
        recovered = None
        if not self._recovered and not self.dry_run:
            recovered = self.actuator.resume_pending()
            # Until it is finished (or there is none), try again at every evaluation.
            # A resume refused as unsafe (superseded, or traffic moved on) is left to a person.
            self._recovered = recovered is None or recovered.ok or recovered.refused
            if recovered is not None:
                self.actions.append(recovered)
        now = self.clock()
        if self._last_at is not None and now - self._last_at > 3 * self.policy.interval_s:
            self.state = replace(self.state, breach_since={})  # not watched: no continuity
        snap = collect_snapshot(
            self.sources, self.policy.needs(), [self.policy.candidate, self.policy.baseline], now,
            self.weights() if self.weights else None,
        )
        ev = evaluate(self.policy, snap, self.state, now)
        state = ev.state
        outcome = None
        d = ev.decision
        alerts = list(d.alerts)
        if recovered is not None:
            outcome = recovered
            if recovered.ok or not self._failing:
                alerts.append(f"{recovered.detail}; rollback {recovered.rollback_id} "
                              + ("done" if recovered.ok else f"NOT done (exit {recovered.exit_code}); "
                                 "the guard will try again"))
            self._failing = not recovered.ok
        planned = None
        if d.acts and self.dry_run:
            planned = would_run(d, ev)
            outcome = self._dry_act(d, ev, planned)
            self.actions.append(outcome)
            if outcome.ok:
                alerts.append(f"{d.action} rollback by the guard ({d.reason})")
            else:
                alerts.append(f"{d.action} rollback FAILED in its dry run ({outcome.detail})")
                state = action_failed(state, self.state)
        elif d.acts:
            if self.history is not None:
                # Known before acting: a guard killed mid-rollback restarts with its incident
                # open (one incident, one rollback) and finishes the run from the journal.
                self.history.save_state(state, now)
            outcome = self.actuator.run(d, ev)
            self.actions.append(outcome)
            if outcome.ok:
                self._failing = False
                if outcome.covered_by:
                    alerts.append(f"{d.action} rollback not started by the guard ({d.reason}): {outcome.detail}")
                else:
                    alerts.append(f"{d.action} rollback done by the guard ({d.reason}); rollback {outcome.rollback_id} in {outcome.duration_s:.1f}s")
            else:
                # Tell once, then retry quietly every evaluation (e.g. a person's rollback holds
                # the lock): the history keeps every attempt.
                if not self._failing:
                    alerts.append(f"{d.action} rollback FAILED ({outcome.detail}); the guard will try again")
                self._failing = True
                state = action_failed(state, self.state)
        deliveries = []
        for a in alerts:
            if self.dry_run:
                if self.alerter.echo is not None:
                    self.alerter.echo(f"would alert: {a}")
            else:
                deliveries.extend(self.alerter.alert(a, ev, outcome))
        self.state = state  # in a dry run: in memory only
        self._last_at = now
        if self.history is not None and not self.dry_run:
            self.history.append(ev, outcome.to_dict() if outcome else None, deliveries)
            self.history.save_state(state, now)
        return StepResult(ev, outcome, alerts, self.dry_run, planned)

    def _dry_act(self, d: Decision, ev: Evaluation, planned: str) -> ActionOutcome:
        """What acting would give, without acting: an actuator in dry-run mode is asked for its
        plan (it checks the targets and runs nothing); any other actuator is not called."""
        if getattr(self.actuator, "dry_run", False) is True:
            out = self.actuator.run(d, ev)
        else:
            out = ActionOutcome(d.action, True, 0, None, 0.0, "dry run")
        out.result = {**out.result, "dry_run": True, "would_run": planned}
        return out

    def run(
        self,
        stop: threading.Event | None = None,
        *,
        max_steps: int | None = None,
        until: float | None = None,
        exit_after_action: bool = False,
        on_step: Callable[[StepResult], None] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> list[StepResult]:
        """Evaluate every interval until ``stop`` is set, ``max_steps`` or clock ``until``."""
        stop = stop or threading.Event()
        wait = sleep or (lambda s: stop.wait(s))
        out: list[StepResult] = []
        tick: float | None = None  # when the next regular evaluation is due
        while not stop.is_set():
            started = self.clock()
            if tick is None or started >= tick - _EARLY_S:  # a regular evaluation (a sleep may wake early)
                tick = started + self.policy.interval_s
            r = self.step()
            out.append(r)
            if on_step is not None:
                on_step(r)
            if max_steps is not None and len(out) >= max_steps:
                break
            if exit_after_action and r.outcome is not None and r.outcome.ok:
                break
            if until is not None and self.clock() >= until:
                break
            due = min(tick, started + self.policy.look_s) if r.evaluation.building else tick
            wait(max(0.0, due - self.clock()))
        return out

    def close(self) -> None:
        for s in self.sources:
            s.close()


__all__ = ["Guard", "StepResult", "would_run"]
