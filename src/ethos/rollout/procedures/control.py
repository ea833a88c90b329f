"""Who controls traffic: one procedure at a time, and a higher priority always wins.

Priorities (:data:`PRIORITY`): **emergency 3 > standard 2 > gradual 1 > operator actions 0**
(weights set from the console, cache invalidation). Whoever runs a procedure (the CLI, the
guard, the console) takes control through :class:`Control` before anything acts.

Who gets control is decided by :func:`arbitrate` (pure):

=========================================  ==============  ======================================
holder of control                          newcomer        verdict
=========================================  ==============  ======================================
none; or its process is dead on this host  any             ``take`` (a dead holder is noted)
lower priority (alive, hung or not)        higher          ``preempt``: the holder's run is
                                                           marked ``superseded`` by the
                                                           newcomer and never acts again
an emergency                               an emergency    ``wait`` for it; when it ends ``done``
                                                           the newcomer has nothing to do
                                                           (:class:`AlreadyDone`); still running
                                                           after ``wait_s`` -> ``preempt`` (hung)
the same run, alive                        its resume      ``refuse``: it is running
equal or higher priority                   any other       ``refuse`` (:class:`ControlRefused`
                                                           names the holder and what to type)
=========================================  ==============  ======================================

Files under ``<state dir>/journal/``:

- ``rollback.lock``: the holder ``{pid, rollback_id, host, started, procedure, priority, epoch,
  token}``, written atomically (a reader sees the old or the new holder, never half of one);
- ``control.mutex``: ``flock``'ed around every read-decide-write of the holder, and around each
  traffic change (check and act under one mutex: a run that lost control cannot slip a change in
  after the newcomer took over). A process that hangs while holding it delays an emergency by
  at most ``mutex_timeout_s``; the emergency then proceeds, and the fence below still stops the
  hung process's change at the router;
- ``control.epoch``: the last epoch handed out. Epochs only rise (milliseconds since the Unix
  epoch when control was taken, at least the last one + 1). A traffic change carries its
  holder's epoch as a *fence*: the local router refuses a change older than one it accepted.

A run checks that it still holds control before every step, at every read of a monitoring
window, and under the mutex right before it changes traffic (:meth:`Control.acting`); a run
that lost control raises :class:`Superseded` and ends ``superseded``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import RolloutError
from .journal import JOURNAL_DIR, LOCK_FILE, Journal, JournalError, LockHeld, Run, pid_alive

MUTEX_FILE = "control.mutex"
EPOCH_FILE = "control.epoch"

#: procedure -> priority; anything else (operator actions) is :data:`OPERATOR`
PRIORITY: dict[str, int] = {"emergency": 3, "standard": 2, "gradual": 1}
OPERATOR = 0
#: the procedures that roll back (and so may never raise green's share)
ROLLBACKS = frozenset(PRIORITY)


def priority_of(procedure: str) -> int:
    """The priority of a procedure (0 for an operator action)."""
    return PRIORITY.get(procedure, OPERATOR)


class ControlRefused(LockHeld):
    """Another procedure holds control and this one may not take it (nothing changed)."""


class AlreadyDone(ControlRefused):
    """An equal emergency held control and finished ``done`` while this one waited."""


class Superseded(RolloutError):
    """This run lost control to a higher-priority procedure: it must not act again."""

    def __init__(self, message: str, holder: dict[str, Any] | None) -> None:
        super().__init__(message)
        self.holder = holder or {}


@dataclass(frozen=True, slots=True)
class Verdict:
    """What :func:`arbitrate` decided: ``take`` | ``preempt`` | ``wait`` | ``refuse``."""

    action: str
    reason: str


def arbitrate(holder: dict[str, Any] | None, *, holder_alive: bool, rollback_id: str, procedure: str,
              waited_s: float = 0.0, wait_s: float = 30.0) -> Verdict:
    """Who gets control: the holder (as read from the lock file) against a newcomer. Pure."""
    if holder is None:
        return Verdict("take", "no procedure holds control")
    if not holder_alive:
        return Verdict("take", f"the holder {holder.get('rollback_id')} (pid {holder.get('pid')}) is gone")
    mine, theirs = priority_of(procedure), int(holder.get("priority", OPERATOR) or 0)
    held_by = f"{holder.get('procedure', 'a procedure')} {holder.get('rollback_id')}"
    if holder.get("rollback_id") == rollback_id:
        return Verdict("refuse", f"{held_by} is running right now (pid {holder.get('pid')})")
    if mine > theirs:
        return Verdict("preempt", f"{procedure} (priority {mine}) preempts {held_by} (priority {theirs})")
    if mine == theirs == PRIORITY["emergency"]:
        if waited_s >= wait_s:
            return Verdict("preempt", f"{held_by} held control for {waited_s:.0f} s more without ending: "
                                      "taken over as hung")
        return Verdict("wait", f"{held_by} is rolling back to blue already: waiting for it")
    return Verdict("refuse", f"{held_by} holds control (priority {theirs} >= {mine})")


def refusal_message(holder: dict[str, Any], procedure: str) -> str:
    """What a refused procedure tells the person: what holds control, and what to type next."""
    rid = holder.get("rollback_id", "?")
    proc = holder.get("procedure", "a procedure")
    since = holder.get("started", "?")
    msg = (f"{proc} rollback {rid} holds control of traffic (pid {holder.get('pid')}, since {since}); "
           f"a {procedure} may not take it over. Follow it with `ethos rollback history {rid}`")
    if priority_of(str(proc)) < PRIORITY["emergency"]:
        msg += "; to override it, an emergency preempts it: `ethos rollback emergency --yes`"
    return msg


def _now_iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")


def read_holder(journal_dir: Path) -> dict[str, Any] | None:
    """The holder of control as written in ``rollback.lock`` (None: free, or unreadable)."""
    try:
        data = json.loads((journal_dir / LOCK_FILE).read_text() or "null")
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def holder_alive(holder: dict[str, Any] | None) -> bool:
    """Whether the holder's process runs (another host's pid cannot be checked: assumed alive)."""
    if not holder:
        return False
    if holder.get("host") not in (None, socket.gethostname()):
        return True
    try:
        return pid_alive(int(holder.get("pid", 0)))
    except (TypeError, ValueError):
        return False


class Control:
    """Control of traffic for one run: take it (:meth:`acquire`), check it, act under it, give it back.

    ``pid``, ``alive``, ``clock`` and ``sleep`` are seams for tests (a model test runs several
    "processes" in one). Use as a context manager.
    """

    def __init__(
        self,
        state_dir: str | os.PathLike[str],
        rollback_id: str,
        procedure: str,
        *,
        pid: int | None = None,
        alive: Callable[[dict[str, Any] | None], bool] = holder_alive,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        wait_s: float = 30.0,
        mutex_timeout_s: float = 1.0,
    ) -> None:
        self.dir = Path(state_dir) / JOURNAL_DIR
        self.path = self.dir / LOCK_FILE
        self.rollback_id = rollback_id
        self.procedure = procedure
        self.priority = priority_of(procedure)
        self.pid = os.getpid() if pid is None else pid
        self.alive = alive
        self.clock = clock
        self.sleep = sleep
        self.wait_s = wait_s
        self.mutex_timeout_s = mutex_timeout_s
        self.token = secrets.token_hex(8)
        self.epoch: int | None = None
        self.took_over: dict[str, Any] | None = None  # a dead holder replaced
        self.preempted: dict[str, Any] | None = None  # a live lower-priority holder superseded
        self.waited_for: dict[str, Any] | None = None  # an equal emergency waited for
        self._held = False

    # ------------------------------------------------------------------ the mutex

    @contextlib.contextmanager
    def _mutex(self) -> Iterator[bool]:
        """``flock`` the control mutex; after ``mutex_timeout_s`` go on without it (yields False)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.dir / MUTEX_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        got = False
        try:
            deadline = self.clock() + self.mutex_timeout_s
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    got = True
                    break
                except OSError as e:
                    if e.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                        raise JournalError(f"cannot lock {self.dir / MUTEX_FILE}: {e}") from e
                if self.clock() >= deadline:
                    break  # its holder hangs: go on; the fence protects the traffic
                self.sleep(0.01)
            yield got
        finally:
            if got:
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    # ------------------------------------------------------------------ taking control

    def read_holder(self) -> dict[str, Any] | None:
        return read_holder(self.dir)

    def acquire(self) -> Control:
        """Take control, preempting a lower priority; raises :class:`ControlRefused` /
        :class:`AlreadyDone` (nothing changed then) or ``JournalError``."""
        t0 = self.clock()
        while True:
            with self._mutex():
                holder = self.read_holder()
                alive = holder is not None and self.alive(holder)
                if holder is None and self.path.exists():
                    # an empty or unreadable lock file: a writer died between create and write
                    self.took_over = {"stale": "unreadable lock file"}
                verdict = arbitrate(holder, holder_alive=alive, rollback_id=self.rollback_id,
                                    procedure=self.procedure, waited_s=self.clock() - t0, wait_s=self.wait_s)
                if verdict.action == "take" and self.waited_for is not None and holder is None:
                    self._after_wait()
                if verdict.action in ("take", "preempt"):
                    if holder is not None and not alive:
                        self.took_over = holder
                    if verdict.action == "preempt" and holder is not None:
                        self.preempted = {**holder, "reason": verdict.reason}
                        self._mark_superseded(holder, verdict.reason)
                    self._write_holder()
                    self._held = True
                    return self
                if verdict.action == "refuse":
                    raise ControlRefused(refusal_message(holder or {}, self.procedure), holder or {})
                self.waited_for = holder
            self.sleep(0.1)

    def _after_wait(self) -> None:
        """The emergency waited for has ended: if it is done, this one has nothing to do."""
        assert self.waited_for is not None
        rid = str(self.waited_for.get("rollback_id"))
        try:
            rec = Journal(self.dir.parent).load(rid)
        except JournalError:
            return
        if rec.status == "done":
            raise AlreadyDone(f"emergency rollback {rid} took traffic to blue while this one waited "
                              f"(done); nothing more to do (see `ethos rollback history {rid}`)",
                              self.waited_for)

    def _next_epoch(self) -> int:
        path = self.dir / EPOCH_FILE
        try:
            last = int(path.read_text().strip() or 0)
        except (OSError, ValueError):
            last = 0
        epoch = max(last + 1, int(self.clock() * 1000))
        _atomic_write(path, f"{epoch}\n")
        return epoch

    def _write_holder(self) -> None:
        self.epoch = self._next_epoch()
        body = {"pid": self.pid, "rollback_id": self.rollback_id, "host": socket.gethostname(),
                "started": _now_iso(self.clock()), "procedure": self.procedure, "priority": self.priority,
                "epoch": self.epoch, "token": self.token}
        _atomic_write(self.path, json.dumps(body))

    def _mark_superseded(self, holder: dict[str, Any], reason: str) -> None:
        """Write ``run_superseded`` into the preempted run's journal (best effort: it may have none)."""
        rid = str(holder.get("rollback_id") or "")
        journal = Journal(self.dir.parent)
        try:
            path = journal.path(rid)
        except JournalError:
            return
        if not path.exists():
            return
        try:
            Run(path, rid).append("run_superseded", by=self.rollback_id, procedure=self.procedure,
                                  priority=self.priority, pid=self.pid, reason=reason)
        except JournalError:
            pass

    # ------------------------------------------------------------------ holding it

    def holds(self) -> bool:
        """Whether this run still holds control."""
        holder = self.read_holder()
        return bool(self._held and holder and holder.get("token") == self.token)

    def check(self) -> None:
        """Raise :class:`Superseded` unless this run still holds control."""
        if self.holds():
            return
        holder = self.superseder() or self.read_holder()
        if holder:
            by = f"{holder.get('procedure', 'another procedure')} rollback {holder.get('rollback_id')}"
        else:
            by = "another procedure (it has ended since)"
        raise Superseded(f"superseded by {by}: this run no longer controls traffic", holder)

    def superseder(self) -> dict[str, Any] | None:
        """Who took control from this run, from its own journal (the newcomer writes
        ``run_superseded`` there before it acts; it may have ended and let go since)."""
        try:
            events = Journal(self.dir.parent).load(self.rollback_id).events
        except JournalError:
            return None
        for e in reversed(events):
            if e.get("event") == "run_superseded":
                return {"rollback_id": e.get("by"), "procedure": e.get("procedure"), "priority": e.get("priority")}
            if e.get("event") in ("run_resumed", "run_started"):
                return None
        return None

    @contextlib.contextmanager
    def acting(self) -> Iterator[int | None]:
        """Check control and act under the mutex; yields the epoch to send as the fence."""
        with self._mutex():
            self.check()
            yield self.epoch

    def release(self) -> None:
        """Give control back (only if this run still holds it)."""
        if not self._held:
            return
        with self._mutex():
            holder = self.read_holder()
            if holder is not None and holder.get("token") == self.token:
                with contextlib.suppress(FileNotFoundError):
                    self.path.unlink()
        self._held = False

    def __enter__(self) -> Control:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


class Unguarded:
    """Control for a context built without one (library use, unit tests): always held, no fence."""

    epoch: int | None = None

    def holds(self) -> bool:
        return True

    def check(self) -> None:
        return None

    @contextlib.contextmanager
    def acting(self) -> Iterator[int | None]:
        yield None


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(3)}.tmp")
    try:
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise JournalError(f"cannot write {path}: {e}") from e


__all__ = [
    "PRIORITY", "OPERATOR", "ROLLBACKS", "priority_of", "arbitrate", "Verdict", "refusal_message",
    "Control", "Unguarded", "ControlRefused", "AlreadyDone", "Superseded", "read_holder", "holder_alive",
    "MUTEX_FILE", "EPOCH_FILE",
]
