"""The one thin loop that runs a plan: journal, act, print, stop on a critical failure.

Steps already completed (from the journal, on ``resume``) are not run again; their
recorded values are put back in ``ctx.results`` so later steps see them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..errors import RolloutError
from .actions import ACTIONS, notification, send
from .context import Context, StepResult
from .control import Superseded
from .crash import CrashHook
from .plans import Step

#: run status -> exit code of the command (5: a higher-priority procedure took control)
EXIT_CODES = {"done": 0, "failed": 1, "interrupted": 130, "held": 3, "stopped": 3, "superseded": 5}


@dataclass
class StepReport:
    """One executed (or resumed-over) step, as printed and returned in ``--json``."""

    name: str
    status: str
    message: str
    started: str
    duration_s: float
    values: dict[str, Any] = field(default_factory=dict)


@dataclass
class Outcome:
    """How the run ended."""

    rollback_id: str
    procedure: str
    status: str  # done | failed | held | stopped | interrupted | superseded | escalate
    message: str
    steps: list[StepReport]
    elapsed_s: float
    #: runs this one is linked to: ``superseded_by``, ``escalated_to``, ``escalated_from``
    links: dict[str, str] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.status, 1)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["exit_code"] = self.exit_code
        return d


Printer = Callable[[StepReport, float], None]


def _run_step(ctx: Context, step: Step) -> StepResult:
    action = ACTIONS.get(step.kind)
    if action is None:
        return StepResult("failed", f"unknown step kind {step.kind!r}")
    try:
        result = action(ctx, step)
    except Superseded as e:
        return StepResult("superseded", str(e), {"by": e.holder.get("rollback_id")})
    except RolloutError as e:
        if _fenced(e):
            return StepResult("superseded", str(e), {"error": type(e).__name__})
        # an error's ``details`` (e.g. the Cloud Run operation that failed) go to the journal too
        result = StepResult("failed", str(e), {"error": type(e).__name__, **dict(getattr(e, "details", None) or {})})
    except Exception as e:  # noqa: BLE001 - recorded in the journal, never a stack trace out
        result = StepResult("failed", f"unexpected {type(e).__name__}: {e}", {"error": type(e).__name__})
    if result.status == "failed" and not step.critical:
        result = StepResult("warn", result.message, result.values)
    return result


def _fenced(e: BaseException) -> bool:
    """A traffic change refused by the router's fence: a later holder of control changed traffic."""
    return type(e).__name__ == "FencedError"


#: step status -> the run's status when that step stops the run
STOPS = {"held": "held", "stopped": "stopped", "inconclusive": "held", "superseded": "superseded",
         "escalate": "escalate"}


def execute(
    ctx: Context,
    plan: list[Step],
    *,
    completed: dict[str, dict[str, Any]] | None = None,
    printer: Printer | None = None,
    crash: CrashHook | None = None,
) -> Outcome:
    """Run ``plan`` step by step, journaling each; return the :class:`Outcome`.

    ``crash``: the drill hook (:mod:`.crash`, from ``ETHOS_ROLLBACK_CRASH`` by default).
    """
    completed = completed or {}
    crash = crash or CrashHook()
    t0 = time.monotonic()
    reports: list[StepReport] = []
    status, message = "done", "all steps completed"
    open_step: tuple[str, float] | None = None  # journaled as started, not yet as ended
    try:
        for step in plan:
            if step.name in completed:
                ctx.results[step.name] = completed[step.name]
                rep = StepReport(step.name, "done-before", "completed in an earlier attempt", "", 0.0,
                                 completed[step.name])
                reports.append(rep)
                if printer:
                    printer(rep, time.monotonic() - t0)
                continue
            try:
                ctx.control.check()  # a run that lost control never starts another step
            except Superseded as e:
                status, message = "superseded", f"{e} (before {step.name})"
                ctx.links["superseded_by"] = str(e.holder.get("rollback_id") or "")
                break
            started = datetime.now(UTC).isoformat(timespec="milliseconds")
            s0 = time.monotonic()
            open_step = (step.name, s0)
            ctx.run.step_started(step.name, step.kind, step.params)
            crash.at(step.name, "started")
            result = _run_step(ctx, step)
            crash.at(step.name, "acted")
            dur = time.monotonic() - s0
            ctx.run.step_ended(step.name, result.status, result.message, result.values, dur)
            open_step = None
            crash.at(step.name, "ended")
            rep = StepReport(step.name, result.status, result.message, started, round(dur, 6), result.values)
            reports.append(rep)
            if printer:
                printer(rep, time.monotonic() - t0)
            if result.status in ("ok", "skipped", "warn"):
                ctx.results[step.name] = result.values
                continue
            status = STOPS.get(result.status, "failed")
            message = f"{step.name}: {result.message}"
            if status == "superseded":
                ctx.links["superseded_by"] = str(result.values.get("by") or "")
            break
    except KeyboardInterrupt:
        # Ctrl-C / SIGTERM anywhere in the loop, even between two journal writes.
        status, message = "interrupted", "interrupted"
        if open_step is not None:
            name, s0 = open_step
            ctx.run.step_ended(name, "failed", "interrupted", {}, time.monotonic() - s0)
            reports.append(StepReport(name, "failed", "interrupted", "", round(time.monotonic() - s0, 6)))
            message = f"interrupted during {name}"
    if status == "superseded" and not ctx.links.get("superseded_by"):
        # e.g. a change the router's fence refused: the journal names who took control
        sup = getattr(ctx.control, "superseder", lambda: None)()
        if sup:
            ctx.links["superseded_by"] = str(sup.get("rollback_id") or "")
    if status == "escalate":
        # Ended as held: if the emergency cannot start, a person resumes or escalates by hand.
        # Once the emergency takes control, the journal says superseded (run_superseded).
        ctx.run.ended("held", f"escalating to an emergency rollback: {message}")
        crash.at("run", "ended")
        return Outcome(ctx.run.rollback_id, ctx.procedure, status, message, reports,
                       round(time.monotonic() - t0, 6), dict(ctx.links))
    if status in ("failed", "held") and ctx.notifiers:
        # The team hears of a rollback that stopped half-way too; best effort, journaled.
        deliveries = send(ctx, notification(ctx, status, message))
        ctx.run.note("notified of the stop", deliveries=deliveries)
    ctx.run.ended(status, message)
    crash.at("run", "ended")
    return Outcome(ctx.run.rollback_id, ctx.procedure, status, message, reports,
                   round(time.monotonic() - t0, 6), dict(ctx.links))


__all__ = ["execute", "Outcome", "StepReport", "EXIT_CODES", "STOPS"]
