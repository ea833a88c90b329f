"""The rollback journal: an append-only record of every run, step by step, and the run lock.

Layout under the state dir (default ``.ethos``)::

    journal/<rollback_id>.jsonl    one JSON object per line, appended and fsync'ed
    journal/rollback.lock          who controls traffic (see :mod:`.procedures.control`)

Every line has ``ts`` (ISO 8601 UTC), ``t`` (unix seconds), ``rollback_id`` and ``event``:

- ``run_started``: ``procedure``, ``plan`` (list of step dicts), ``params``, ``targets``
  (URLs only, never the key), ``executed_by``, ``reason``, ``pid``
- ``step_started``: ``step``, ``kind``, ``params``
- ``step_ended``: ``step``, ``status`` (ok | skipped | warn | failed | held), ``message``,
  ``values`` (what the step saw and did), ``duration_s``
- ``note``: ``message``, ``values`` (e.g. a failed notification attempt)
- ``run_resumed``: ``pid``; ``run_ended``: ``status`` (done | failed | held | stopped |
  interrupted | superseded), ``message``, ``duration_s``
- ``run_superseded``: ``by`` (the rollback id that took control), ``procedure``, ``priority``,
  ``pid``, ``reason``; written by the newcomer (:mod:`.procedures.control`). The run's status
  is ``superseded`` from then on, whatever it wrote after (until a forced ``resume``)

A run without ``run_ended`` was killed; ``ethos rollback resume`` continues it (and any run
that ended failed/held/interrupted), skipping the steps whose last ``step_ended`` completed.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import PermanentError
from ..stack.processes import pid_alive

JOURNAL_DIR = "journal"
LOCK_FILE = "rollback.lock"
#: step statuses after which a step is not run again on resume
COMPLETED = frozenset({"ok", "skipped", "warn"})
#: run statuses ``resume`` may continue
RESUMABLE = frozenset({"failed", "held", "interrupted", "incomplete"})


class JournalError(PermanentError):
    """The journal cannot be written or read, or names no such run."""


class LockHeld(PermanentError):
    """Another procedure holds control of traffic (see :mod:`.procedures.control`)."""

    def __init__(self, message: str, holder: dict[str, Any]) -> None:
        super().__init__(message)
        self.holder = holder


def _now_iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")


_last_ms = 0


def new_rollback_id(t: float | None = None) -> str:
    """``rb-20261128T160501.123Z-3fa2``: sortable by time to the millisecond, unique enough for one machine.

    Runs started in the same second (an emergency preempting a gradual) still sort in the order
    they started: ``latest()`` and ``resume`` without an id depend on it. Within one process the
    milliseconds never repeat.
    """
    global _last_ms
    ms = int((time.time() if t is None else t) * 1000)
    if t is None:
        ms = _last_ms = max(ms, _last_ms + 1)
    stamp = datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y%m%dT%H%M%S")
    return f"rb-{stamp}.{ms % 1000:03d}Z-{secrets.token_hex(2)}"


@dataclass
class RunRecord:
    """A run as read back from its journal file."""

    rollback_id: str
    procedure: str
    plan: list[dict[str, Any]]
    params: dict[str, Any]
    targets: dict[str, Any]
    events: list[dict[str, Any]]
    status: str  # done | failed | held | stopped | interrupted | superseded | incomplete
    completed: dict[str, dict[str, Any]] = field(default_factory=dict)  # step -> values
    started: str = ""
    message: str = ""
    #: the run that took control from this one (``run_superseded``), if any
    superseded_by: str | None = None

    @property
    def resumable(self) -> bool:
        return self.status in RESUMABLE

    def summary(self) -> dict[str, Any]:
        return {"rollback_id": self.rollback_id, "procedure": self.procedure,
                "status": self.status, "started": self.started, "message": self.message,
                "steps_done": len(self.completed), "steps": len(self.plan)}


class Run:
    """An open run: appends events to ``journal/<rollback_id>.jsonl``."""

    def __init__(self, path: Path, rollback_id: str, *, durable: bool = True) -> None:
        self.path = path
        self.rollback_id = rollback_id
        self.durable = durable
        self.t0 = time.time()

    def append(self, event: str, **fields: Any) -> dict[str, Any]:
        t = time.time()
        rec = {"ts": _now_iso(t), "t": round(t, 6), "rollback_id": self.rollback_id,
               "event": event, **fields}
        line = json.dumps(rec, default=str, separators=(",", ":")) + "\n"
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode())
                if self.durable:
                    os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as e:
            raise JournalError(f"cannot write the journal {self.path}: {e}") from e
        return rec

    def step_started(self, name: str, kind: str, params: dict[str, Any]) -> None:
        self.append("step_started", step=name, kind=kind, params=params)

    def step_ended(self, name: str, status: str, message: str, values: dict[str, Any],
                   duration_s: float) -> None:
        self.append("step_ended", step=name, status=status, message=message, values=values,
                    duration_s=round(duration_s, 6))

    def note(self, message: str, **values: Any) -> None:
        self.append("note", message=message, values=values)

    def ended(self, status: str, message: str = "") -> None:
        self.append("run_ended", status=status, message=message,
                    duration_s=round(time.time() - self.t0, 6))


class Journal:
    """All runs under ``<state_dir>/journal``."""

    def __init__(self, state_dir: str | os.PathLike[str], *, durable: bool = True) -> None:
        self.dir = Path(state_dir) / JOURNAL_DIR
        self.durable = durable

    def path(self, rollback_id: str) -> Path:
        if not rollback_id or "/" in rollback_id or rollback_id.startswith("."):
            raise JournalError(f"bad rollback id {rollback_id!r}")
        return self.dir / f"{rollback_id}.jsonl"

    def start(self, procedure: str, plan: list[dict[str, Any]], *, params: dict[str, Any],
              targets: dict[str, Any], executed_by: str, reason: str,
              rollback_id: str | None = None) -> Run:
        """Create a run's file and write ``run_started``."""
        rid = rollback_id or new_rollback_id()
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise JournalError(f"cannot create the journal directory {self.dir}: {e}") from e
        run = Run(self.path(rid), rid, durable=self.durable)
        run.append("run_started", procedure=procedure, plan=plan, params=params,
                   targets=targets, executed_by=executed_by, reason=reason, pid=os.getpid())
        return run

    def reopen(self, rollback_id: str) -> Run:
        """Continue appending to an existing run (``resume``)."""
        path = self.path(rollback_id)
        if not path.exists():
            raise JournalError(f"no rollback {rollback_id!r} in {self.dir}")
        run = Run(path, rollback_id, durable=self.durable)
        run.append("run_resumed", pid=os.getpid())
        return run

    def ids(self) -> list[str]:
        """Rollback ids, oldest first."""
        if not self.dir.is_dir():
            return []
        return sorted(p.stem for p in self.dir.glob("rb-*.jsonl"))

    def load(self, rollback_id: str) -> RunRecord:
        """Read one run back; a torn last line (killed mid-write) is ignored."""
        path = self.path(rollback_id)
        try:
            lines = path.read_text().splitlines()
        except FileNotFoundError:
            raise JournalError(f"no rollback {rollback_id!r} in {self.dir}") from None
        except OSError as e:
            raise JournalError(f"cannot read {path}: {e}") from e
        events = []
        for line in lines:
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
        return _fold(rollback_id, events)

    def runs(self) -> Iterator[RunRecord]:
        """Every run, newest first."""
        for rid in reversed(self.ids()):
            yield self.load(rid)

    def latest(self, *, resumable: bool = False) -> RunRecord | None:
        """The newest run (or the newest one ``resume`` may continue)."""
        for rec in self.runs():
            if not resumable or rec.resumable:
                return rec
        return None


def _fold(rollback_id: str, events: list[dict[str, Any]]) -> RunRecord:
    """Replay events into a :class:`RunRecord`. Pure."""
    start = next((e for e in events if e.get("event") == "run_started"), None)
    if start is None:
        raise JournalError(f"rollback {rollback_id} has no run_started record")
    completed: dict[str, dict[str, Any]] = {}
    status, message = "incomplete", ""
    superseded: dict[str, Any] | None = None  # since the last (re)start
    for e in events:
        ev = e.get("event")
        if ev == "step_ended":
            if e.get("status") in COMPLETED:
                completed[e["step"]] = dict(e.get("values") or {})
            else:
                completed.pop(e["step"], None)
        elif ev == "run_ended":
            status, message = str(e.get("status")), str(e.get("message") or "")
        elif ev == "run_superseded":
            superseded = e
        elif ev in ("run_resumed", "run_started"):
            status, message, superseded = "incomplete", "", None
    if superseded is not None:
        # Whatever the run wrote after it lost control, it is over: the newcomer rules.
        status = "superseded"
        message = (f"superseded by {superseded.get('procedure', 'another')} rollback {superseded.get('by')}"
                   + (f": {message}" if message and "superseded" not in message else ""))
    return RunRecord(
        rollback_id=rollback_id, procedure=str(start.get("procedure")),
        plan=list(start.get("plan") or []), params=dict(start.get("params") or {}),
        targets=dict(start.get("targets") or {}), events=events, status=status,
        completed=completed, started=str(start.get("ts", "")), message=message,
        superseded_by=str(superseded.get("by")) if superseded is not None else None,
    )


__all__ = [
    "Journal", "Run", "RunRecord", "JournalError", "LockHeld", "JOURNAL_DIR", "LOCK_FILE",
    "new_rollback_id", "pid_alive", "COMPLETED", "RESUMABLE",
]
