"""A rollback left half-done: the run an automatic responder must finish before starting another.

A run is *pending* when its process died before it ended (no ``run_ended``: SIGKILL, OOM, a
lost machine) and it is recent. The guard resumes such a run instead of starting a second
rollback on top of it. A run whose lock is held by a live process is not pending: it is
running, and the lock makes everyone else wait. A run stopped on purpose (Ctrl-C / SIGTERM:
``interrupted``), failed or held ended cleanly: a person decides about it (``ethos rollback
resume``), not the guard.

:func:`pending_run` decides (pure); :func:`find_pending` reads the journal and the lock.
"""

from __future__ import annotations

import os
import time

from .control import holder_alive, read_holder
from .journal import Journal, JournalError, RunRecord

#: the status of a run whose process died before it ended
PENDING = frozenset({"incomplete"})
#: older half-done runs are left to a person (the world may have moved on since)
MAX_AGE_S = 3600.0


def pending_run(latest: RunRecord | None, *, lock_holder: dict | None, holder_alive: bool,
                now: float, max_age_s: float = MAX_AGE_S) -> RunRecord | None:
    """The newest run if it is half-done, recent and not held by a live process; else None. Pure."""
    if latest is None or latest.status not in PENDING:
        return None
    started = next((e.get("t") for e in latest.events if e.get("event") == "run_started"), None)
    if not isinstance(started, (int, float)) or now - float(started) > max_age_s:
        return None
    if lock_holder and lock_holder.get("rollback_id") == latest.rollback_id and holder_alive:
        return None  # running right now
    return latest


def find_pending(state_dir: str | os.PathLike[str], *, now: float | None = None,
                 max_age_s: float = MAX_AGE_S) -> RunRecord | None:
    """The pending run of ``state_dir``'s journal, if any (never raises on a bad journal)."""
    journal = Journal(state_dir)
    try:
        latest = journal.latest()
    except JournalError:
        return None
    if latest is None:
        return None
    holder = read_holder(journal.dir)
    alive = holder_alive(holder)  # another host's pid cannot be checked: assumed alive
    return pending_run(latest, lock_holder=holder, holder_alive=alive,
                       now=time.time() if now is None else now, max_age_s=max_age_s)


__all__ = ["MAX_AGE_S", "PENDING", "find_pending", "pending_run"]
