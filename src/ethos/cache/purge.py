"""The periodic purge: expired entries leave the store, the memory tier and the vector indexes.

Reads already skip expired entries, so this is about space, not correctness: without it a
SQLite file, Redis's index sets, a Firestore collection (without a TTL policy), the memory
tier and every process's vector index keep expired entries until an invalidation, and a
revision that runs for days grows.

Every ``interval_s`` each revision runs one pass (:meth:`ResponseCache.purge_expired`) in a
worker thread: its own memory tier and vector indexes, then at most ``limit`` entries of the
shared store, selected by an index on expiry. A pass that removed ``limit`` entries leaves
the rest to the next, which then follows after :data:`CATCH_UP_S` instead of a whole
interval, so a backlog (a store that ran without purging) drains in bounded steps. A pass
whose store part fails is logged and counted, and the next comes after the interval.

Every process purges its own memory tier and indexes: removing expired entries does not move
the store's epoch (see :mod:`ethos.cache.stores.base`), so nothing else would tell them.
Several revisions on one store each purge it; the passes are idempotent and bounded, so the
price is a query that finds little.

:class:`PurgeSchedule` decides when (pure, unit-tested); :class:`PeriodicPurge` runs a pass.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .response_cache import PurgeReport
from .stores import PURGE_LIMIT

log = logging.getLogger("ethos.cache.purge")

#: the pause after a pass that hit its limit (more is left), seconds
CATCH_UP_S = 5.0
#: the first pass comes this soon after start, or after one interval if that is shorter: soon
#: enough that a revision living less than an interval still purges, not while it starts
FIRST_PASS_AFTER_S = 10.0

_local = threading.local()


def in_purge() -> bool:
    """True in a thread while it runs a purge pass: its store operations are counted apart
    from the requests' (``ethos_cache_purge_store_operations``), so that a backlog drained
    after a deploy never looks like a store-cost spike of the new revision to the guard."""
    return getattr(_local, "purging", False)


@dataclass(frozen=True)
class PurgeSchedule:
    """When to purge. Pure: it looks at nothing but its arguments."""

    interval_s: float = 300.0
    catch_up_s: float = CATCH_UP_S
    first_after_s: float = FIRST_PASS_AFTER_S

    @property
    def enabled(self) -> bool:
        return self.interval_s > 0

    def first_delay(self) -> float:
        """Seconds from start to the first pass (``inf``: switched off)."""
        if not self.enabled:
            return math.inf
        return min(self.interval_s, self.first_after_s)

    def next_delay(self, report: PurgeReport) -> float:
        """Seconds from the end of a pass to the next: sooner when it hit its limit (and its
        store part worked: a failing store is not asked again sooner)."""
        if not self.enabled:
            return math.inf
        if report.limited and report.error is None:
            return min(self.catch_up_s, self.interval_s)
        return self.interval_s


def outcome(report: PurgeReport) -> str:
    """``complete``, ``limited`` (more left for the next pass) or ``failed`` (the store part)."""
    if report.error is not None:
        return "failed"
    return "limited" if report.limited else "complete"


class PeriodicPurge:
    """Runs purge passes; :meth:`step` runs one now and says how long to wait for the next.
    Call it from one thread at a time (the service: a worker thread, one pass after another).
    """

    def __init__(
        self,
        purge: Callable[[int], PurgeReport],
        schedule: PurgeSchedule,
        *,
        limit: int = PURGE_LIMIT,
        on_pass: Callable[[PurgeReport, float], None] | None = None,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.purge = purge  # ResponseCache.purge_expired: the cache outlives a swapped store
        self.schedule = schedule
        self.limit = max(int(limit), 1)
        self.on_pass = on_pass  # (report, seconds the pass took)
        self.timer = timer
        self.last: PurgeReport | None = None
        self._running = threading.Lock()

    def step(self) -> float:
        """Run one pass; return the seconds to wait before the next (``inf``: off). Never
        raises: a failure is in the report (``error``), logged and passed to ``on_pass``."""
        with self._running:
            t0 = self.timer()
            _local.purging = True
            try:
                report = self.purge(self.limit)
            except Exception as e:  # noqa: BLE001 - the purge must never take the revision down
                log.exception("cache purge failed")
                report = PurgeReport(error=f"{type(e).__name__}: {e}")
            finally:
                _local.purging = False
            seconds = self.timer() - t0
            self.last = report
        if report.error is not None:
            log.warning("cache purge: the store part failed; retried after the interval",
                        extra={"error": report.error, "memory": report.memory,
                               "semantic": report.semantic})
        elif report.store or report.memory or report.semantic:
            log.info("cache purge: expired entries removed",
                     extra={"store": report.store, "memory": report.memory,
                            "semantic": report.semantic, "limited": report.limited})
        if self.on_pass is not None:
            try:
                self.on_pass(report, seconds)
            except Exception:  # noqa: BLE001 - nor may its bookkeeping stop the purge
                log.exception("cache purge: recording a pass failed")
        return self.schedule.next_delay(report)

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait until no pass runs (at shutdown, before the store is closed under it); False
        when one still runs after ``timeout_s``."""
        if not self._running.acquire(timeout=timeout_s):
            return False
        self._running.release()
        return True
