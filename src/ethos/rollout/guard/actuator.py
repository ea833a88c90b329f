"""Acting on a decision: run the rollback procedure, and tell people.

:class:`CommandActuator` runs ``ethos rollback <action> --yes --json`` (the procedures of
``ethos.rollout.procedures``: journaled, locked, resumable) as a child process, with the
reason naming the trigger and its values, and the cause derived from the signal (PII always
clears the cache). The guard has verified the issue itself, so a standard rollback runs with
``--force`` (its own step 1 reads only the router's figures, and the trigger may be a cache or
PII signal). :class:`FakeActuator` records what it was asked, for tests.

:class:`Alerter` sends the guard's alerts through the notifiers of ``ethos.rollout.notify``
(Slack / webhook from the environment); a failed alert is recorded, never raised.
"""

from __future__ import annotations

import abc
import json
import os
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..stack.processes import ethos_argv
from .evaluate import Decision, Evaluation

#: signal -> the procedures' --cause
CAUSE_OF_SIGNAL: dict[str, str] = {
    "error_rate": "errors", "http_error_rate": "errors", "up": "errors",
    "latency": "latency", "latency_p50": "latency", "latency_p95": "latency",
    "ttft": "latency", "ttft_p50": "latency", "ttft_p95": "latency",
    "cache_hit_rate": "cache", "store_up": "cache", "quality_rejection_rate": "cache",
    "pii_leaks": "pii", "pii_selftest": "pii", "pii_detection_rate": "pii",
    "store_cost_ratio": "cost", "store_cost_usd_per_hour": "cost",
}


@dataclass
class ActionOutcome:
    """What running the procedure gave: ok, its exit code, rollback id, seconds, output."""

    action: str
    ok: bool
    exit_code: int | None = None
    rollback_id: str | None = None
    duration_s: float = 0.0
    detail: str = ""
    result: dict[str, Any] = field(default_factory=dict)
    #: a procedure of equal or higher priority holds (or just did) the job: the rollback it runs
    covered_by: str | None = None
    #: a resume refused as unsafe (superseded, or traffic moved on): not retried
    refused: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _covered(action: str, e: Exception, took: float) -> ActionOutcome | None:
    """The outcome when control was refused because an equal or higher procedure has it in hand."""
    from ..procedures.control import AlreadyDone, ControlRefused, priority_of

    if not isinstance(e, ControlRefused):
        return None
    holder = e.holder or {}
    if isinstance(e, AlreadyDone) or int(holder.get("priority", 0) or 0) >= priority_of(action):
        rid = str(holder.get("rollback_id") or "")
        return ActionOutcome(action, True, 0, None, took,
                             f"covered by {holder.get('procedure', 'a')} rollback {rid}: {e}", covered_by=rid)
    return None


class Actuator(abc.ABC):
    """Runs the rollback procedure a decision calls for."""

    @abc.abstractmethod
    def run(self, decision: Decision, evaluation: Evaluation) -> ActionOutcome: ...

    def resume_pending(self) -> ActionOutcome | None:
        """Finish a rollback left half-done (``ethos.rollout.procedures.pending``), if any.

        None when there is none. The guard calls it when it starts, and :meth:`run` of the
        real actuators calls it before starting a new rollback: never two on top of each other.
        """
        return None


def _pending_run(state_dir: str | os.PathLike[str] | None, dry_run: bool) -> tuple[Any, Any] | None:
    """``(resolved state dir, record)`` of a half-done rollback to resume, or None (also
    in a dry run, which never acts)."""
    if dry_run:
        return None
    from ..procedures.pending import find_pending
    from ..stack.state import resolve_state_dir

    resolved = resolve_state_dir(state_dir)
    rec = find_pending(resolved)
    return None if rec is None else (resolved, rec)


class FakeActuator(Actuator):
    """Records decisions; ``fn(decision)`` may return an outcome (default: ok)."""

    def __init__(self, fn: Callable[[Decision], ActionOutcome] | None = None) -> None:
        self.fn = fn
        self.runs: list[Decision] = []

    def run(self, decision: Decision, evaluation: Evaluation) -> ActionOutcome:
        self.runs.append(decision)
        if self.fn is not None:
            return self.fn(decision)
        return ActionOutcome(decision.action, True, 0, "rb-fake")


def cause_of(evaluation: Evaluation, trigger: str | None) -> str:
    """The procedures' ``--cause`` for the trigger that fired."""
    for r in evaluation.results:
        if r.trigger == trigger:
            return CAUSE_OF_SIGNAL.get(r.signal, "unspecified")
    return "unspecified"


def reason_of(evaluation: Evaluation, trigger: str | None) -> str:
    """``error_rate_critical: error_rate 0.074 (bound 0.061) > 0.05 on green, 1912 samples``."""
    for r in evaluation.results:
        if r.trigger == trigger:
            return f"guard: {r.trigger}: {r.reason}"
    return f"guard: {evaluation.decision.reason}"


class CommandActuator(Actuator):
    """``ethos rollback <action> --yes --json`` in a child process, with the guard's targets."""

    def __init__(
        self,
        target_args: Sequence[str] = (),
        *,
        executed_by: str = "ethos-guard",
        command: Sequence[str] | None = None,
        timeout_s: float = 3600.0,
        dry_run: bool = False,
        state_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.target_args = list(target_args)
        self.executed_by = executed_by
        self.command = list(command) if command else ethos_argv()
        self.timeout_s = timeout_s
        self.dry_run = dry_run
        self.state_dir = state_dir

    def argv(self, decision: Decision, evaluation: Evaluation) -> list[str]:
        """The command line for this decision (shown by ``--dry-run``)."""
        args = [*self.command, "rollback", decision.action, "--yes", "--json",
                "--reason", reason_of(evaluation, decision.trigger),
                "--cause", cause_of(evaluation, decision.trigger),
                "--executed-by", self.executed_by, *self.target_args]
        if decision.action == "standard":
            args.append("--force")  # the guard verified the issue on its own signals
        if self.dry_run:
            args.append("--dry-run")
        return args

    def resume_pending(self) -> ActionOutcome | None:
        """``ethos rollback resume ID --yes --json`` for a half-done rollback, if any."""
        pending = _pending_run(self.state_dir, self.dry_run)
        if pending is None:
            return None
        state_dir, rec = pending
        argv = [*self.command, "rollback", "resume", rec.rollback_id, "--yes", "--json",
                "--state-dir", str(state_dir)]
        out = self._call(rec.procedure, argv)
        out.detail = f"resumed {rec.procedure} rollback {rec.rollback_id} ({rec.status}): {out.detail}"
        out.rollback_id = out.rollback_id or rec.rollback_id
        return out

    def run(self, decision: Decision, evaluation: Evaluation) -> ActionOutcome:
        pending = self.resume_pending()
        if pending is not None and not pending.refused:
            return pending
        return self._call(decision.action, self.argv(decision, evaluation))

    def _call(self, action: str, argv: list[str]) -> ActionOutcome:
        start = time.monotonic()
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=self.timeout_s,
                               env=os.environ.copy(), check=False)
        except (OSError, subprocess.TimeoutExpired) as e:
            return ActionOutcome(action, False, None, None, time.monotonic() - start,
                                 f"could not run the procedure: {type(e).__name__}: {e}")
        took = time.monotonic() - start
        result: dict[str, Any] = {}
        for line in reversed(p.stdout.strip().splitlines()):
            try:
                result = json.loads(line)
                break
            except ValueError:
                continue
        if not isinstance(result, dict):
            result = {}
        detail = result.get("message") or result.get("error") or p.stderr.strip()[-500:] or p.stdout.strip()[-500:]
        holder = result.get("holder") if isinstance(result.get("holder"), dict) else None
        if result.get("covered_by"):  # an equal emergency finished while this one waited
            return ActionOutcome(action, True, 0, None, took, f"covered by rollback {result['covered_by']}: {detail}",
                                 result, covered_by=str(result["covered_by"]))
        if p.returncode == 5 and holder is not None:
            from ..procedures.control import priority_of

            if int(holder.get("priority", 0) or 0) >= priority_of(action):
                rid = str(holder.get("rollback_id") or "")
                return ActionOutcome(action, True, 0, None, took, f"covered by {holder.get('procedure')} "
                                     f"rollback {rid}: {detail}", result, covered_by=rid)
        return ActionOutcome(action, p.returncode == 0, p.returncode, result.get("rollback_id"),
                             took, str(detail), result, refused=(p.returncode == 5 and holder is None))


class ProcedureActuator(Actuator):
    """Runs the procedure in this process through ``ethos.rollout.procedures.session``
    (the library behind ``ethos rollback``): same plan, lock and journal, without the
    second or so a child interpreter takes to start. Targets as for ``ethos rollback``:
    ``router`` / ``revisions`` (``NAME=URL``), else ``$ETHOS_ROUTER_URL``, else the stack file.
    """

    def __init__(
        self,
        *,
        router: str | None = None,
        revisions: Sequence[str] = (),
        state_dir: str | os.PathLike[str] | None = None,
        blue: str = "blue",
        green: str = "green",
        executed_by: str = "ethos-guard",
        dry_run: bool = False,
        traffic: str = "router",
        cloudrun: Mapping[str, Any] | None = None,
    ) -> None:
        self.router = router
        self.revisions = list(revisions)
        self.state_dir = state_dir
        self.blue, self.green = blue, green
        self.executed_by = executed_by
        self.dry_run = dry_run
        #: ``cloudrun``: Cloud Run traffic (service, region, project, revisions, monitoring, ...)
        self.traffic = traffic
        self.cloudrun = dict(cloudrun or {})

    def resume_pending(self) -> ActionOutcome | None:
        """Resume a half-done rollback in this process (as ``ethos rollback resume`` does)."""
        pending = _pending_run(self.state_dir, self.dry_run)
        if pending is None:
            return None
        from ..procedures.session import ResumeRefused, resume_procedure, targets_from_record

        state_dir, rec = pending
        start = time.monotonic()
        try:
            targets = targets_from_record(rec, state_dir=state_dir)
            out = resume_procedure(rec, targets, state_dir=state_dir)
        except ResumeRefused as e:  # resuming could undo a later run: left to a person
            return ActionOutcome(rec.procedure, False, 5, rec.rollback_id, time.monotonic() - start,
                                 f"not resuming {rec.rollback_id}: {e}", refused=True)
        except Exception as e:  # noqa: BLE001 - e.g. its lock taken meanwhile: reported, retried
            return ActionOutcome(rec.procedure, False, None, rec.rollback_id, time.monotonic() - start,
                                 f"resuming {rec.rollback_id}: {type(e).__name__}: {e}")
        result = {**out.to_dict(), "incident": _open_incident(state_dir, out)}
        return ActionOutcome(rec.procedure, out.status == "done", out.exit_code, out.rollback_id,
                             time.monotonic() - start,
                             f"resumed {rec.procedure} rollback {rec.rollback_id} ({rec.status}): {out.message}",
                             result)

    def run(self, decision: Decision, evaluation: Evaluation) -> ActionOutcome:
        from ..procedures import PLANS, PlanOptions
        from ..procedures.session import run_procedure
        from ..stack.state import resolve_state_dir
        from ..traffic.targets import resolve_targets

        pending = self.resume_pending()
        if pending is not None and not pending.refused:
            return pending
        start = time.monotonic()
        action = decision.action
        try:
            targets = resolve_targets(router=self.router, revisions=self.revisions,
                                      state_dir=self.state_dir, blue=self.blue, green=self.green,
                                      traffic=self.traffic, cloudrun=self.cloudrun)
            names = tuple(dict.fromkeys([self.blue, self.green, *targets.revisions]))
            opts = PlanOptions(
                blue=self.blue, green=self.green, revisions=names,
                cache="auto" if action == "gradual" else "clear",
                cause=cause_of(evaluation, decision.trigger),
                force=True,  # the guard verified the issue on its own signals
                probe=action != "emergency",  # as `ethos rollback emergency` does
            )
            plan = PLANS[action](opts)
            if self.dry_run:
                return ActionOutcome(action, True, 0, None, time.monotonic() - start,
                                     "dry run: " + ", ".join(st.name for st in plan))
            reason = reason_of(evaluation, decision.trigger)
            params = {"options": {k: getattr(opts, k) for k in opts.__slots__},
                      "reason": reason, "executed_by": self.executed_by, "approved_by": "",
                      "approval": self._approval(action, reason)}
            out = run_procedure(action, plan, targets, state_dir=resolve_state_dir(self.state_dir),
                                params=params)
        except Exception as e:  # noqa: BLE001 - a failed rollback is reported and retried, never a crash
            covered = _covered(action, e, time.monotonic() - start)
            if covered is not None:
                return covered
            return ActionOutcome(action, False, None, None, time.monotonic() - start,
                                 f"{type(e).__name__}: {e}")
        result = {**out.to_dict(), "incident": _open_incident(resolve_state_dir(self.state_dir), out)}
        return ActionOutcome(action, out.status == "done", out.exit_code, out.rollback_id,
                             time.monotonic() - start, out.message, result)

    def _approval(self, action: str, reason: str) -> dict[str, Any]:
        """What ``ethos rollback`` records as ``params.approval`` (the incident's Authority and the
        checklist's approval come from it): the guard acting alone is its own actor and its
        policy trigger the authority; another ``executed_by`` is checked against the authority
        file as the command checks it (raises AuthorityError)."""
        from ..procedures.authority import GUARD_ACTOR_PREFIX, Authority, check_authority, load_authority
        from ..stack.state import resolve_state_dir

        authority = (Authority() if self.executed_by.startswith(GUARD_ACTOR_PREFIX)
                     else load_authority(resolve_state_dir(self.state_dir)))
        return check_authority(action, authority, actor=self.executed_by, reason=reason).to_dict()


def _open_incident(state_dir: str | os.PathLike[str], out: Any) -> dict[str, Any]:
    """Open or refresh the run's incident, as ``ethos rollback`` does when a run ends (never raises)."""
    if out.status == "stopped":
        return {"incident": None, "skipped": "stopped before any change"}
    from ..incidents.hook import on_rollback_finished

    return on_rollback_finished(state_dir, out.rollback_id)


class Alerter:
    """Sends the guard's alerts through notifiers (``ethos.rollout.notify``); never raises."""

    def __init__(self, notifiers: Sequence[Any] | None = None, *, executed_by: str = "ethos-guard",
                 echo: Callable[[str], None] | None = None) -> None:
        if notifiers is None:
            from ..notify import notifiers_from_env

            notifiers = notifiers_from_env()
        self.notifiers = list(notifiers)
        self.executed_by = executed_by
        self.echo = echo
        self.sent: list[str] = []

    def alert(self, message: str, evaluation: Evaluation, outcome: ActionOutcome | None = None) -> list[dict[str, Any]]:
        """Send one alert; returns the deliveries (for the history)."""
        self.sent.append(message)
        if self.echo is not None:
            self.echo(f"ALERT {message}")
        if not self.notifiers:
            return []
        from ..notify import Notification, deliver

        d = evaluation.decision
        n = Notification(
            title=f"ethos guard: {d.action}" + (f" ({d.trigger})" if d.trigger else ""),
            reason=message,
            time=datetime.fromtimestamp(evaluation.at, UTC).isoformat(timespec="seconds"),
            executed_by=self.executed_by,
            procedure=d.action if d.action in ("emergency", "standard", "gradual") else "",
            rollback_id=(outcome.rollback_id or "") if outcome else "",
            outcome=("done" if outcome.ok else "failed") if outcome else "",
            details={"trigger": d.trigger or "", "held": d.held or ""},
        )
        return [x.to_dict() for x in deliver(self.notifiers, n, attempts=2, backoff_s=0.2)]


__all__ = [
    "ActionOutcome",
    "Actuator",
    "Alerter",
    "CommandActuator",
    "FakeActuator",
    "ProcedureActuator",
    "CAUSE_OF_SIGNAL",
    "cause_of",
    "reason_of",
]
