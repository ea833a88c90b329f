"""The periodic PII scan of one revision: the store scanned by itself, at a bounded cost.

Every ``interval_s`` a revision reads the entries put since its last scan
(:meth:`Store.scan_since` from a position), and every ``full_interval_s`` it reads the whole
store (:meth:`Store.scan`). After each pass that completes, the number of leaking entries it
knows of is written to the store (:func:`~ethos.cache.scan.leaks.record_complete_scan`): every
instance then exports it as ``ethos_cache_pii_leaks``, and the guard's "PII in cache"
trigger fires without anyone running a scan.

Its knowledge is complete because it is built on a full pass: the leaking keys a full pass
found, kept while they are still in the store and still leak, plus those found since. A
pass that fails part-way (the store, a detector that fails its self-test, a bug) writes
nothing, so it never lowers the gauge; it is counted as a failure and retried after
``interval_s``.

Cost: one *step* reads one batch (``batch`` entries) and then the scan pauses long enough
that its CPU time stays under ``cpu_share`` of one CPU (a batch that took 20 ms of CPU with
a share of 0.2 is followed by an 80 ms pause). Steps run in a worker thread; the pauses
are ``asyncio.sleep``, and within a batch the scan lets go of the GIL every
:data:`YIELD_EVERY` entries, so a chat request waits about a millisecond for it, not a
forced switch (5 ms) per step of its own (``bench/pii_scan_bench.py``: p99 +2 ms instead of
+7 ms on 20k entries).

:class:`ScanSchedule` decides what to do next from the state and the clock, and nothing
else (pure, unit-tested); :class:`PeriodicLeakScan` does it.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from ...pii import scan_entry
from ..entry import Entry
from ..stores import Store, StoreError
from .leaks import detector_healthy, record_complete_scan

log = logging.getLogger("ethos.cache.pii_scan")

OFF, WAIT, FULL, SINCE = "off", "wait", "full", "since"
#: shortest pause between two batches of a pass (lets requests in even with a share of 1)
MIN_PAUSE_S = 0.002
#: entries scanned between two voluntary releases of the GIL (about 1-2 ms of CPU)
YIELD_EVERY = 16
#: known leaking keys re-checked one by one after an incremental pass (more: the full pass)
MAX_RECHECK = 1000


_local = threading.local()


def in_periodic_scan() -> bool:
    """True in a thread while it runs a step of the periodic scan: its store operations are
    counted apart from the requests' (``ethos_cache_pii_scan_store_operations``), so that a
    revision's first full pass never looks like a store-cost spike to the guard."""
    return getattr(_local, "scanning", False)


@dataclass
class ScanState:
    """Where the periodic scan stands."""

    #: the store position read up to; None until a full pass has completed
    marker: int | None = None
    #: when the next full pass is due (0: at once) and the next incremental one
    full_due_at: float = 0.0
    since_due_at: float = 0.0
    #: FULL or SINCE while a pass is under way (its batches follow each other)
    running: str | None = None


@dataclass(frozen=True)
class ScanSchedule:
    """When to scan what. Pure: every method takes the clock as an argument."""

    interval_s: float = 60.0
    full_interval_s: float = 3600.0

    def next(self, now: float, st: ScanState) -> tuple[str, float]:
        """``(FULL | SINCE, 0)``: read the next batch of that pass; ``(WAIT, seconds)``;
        ``(OFF, inf)`` when the scan is switched off (``interval_s`` 0)."""
        if self.interval_s <= 0:
            return OFF, math.inf
        if st.running is not None:
            return st.running, 0.0
        if now >= st.full_due_at:
            return FULL, 0.0
        if st.marker is not None and now >= st.since_due_at:
            return SINCE, 0.0
        due = st.full_due_at if st.marker is None else min(st.full_due_at, st.since_due_at)
        return WAIT, max(due - now, 0.0)

    def begin(self, st: ScanState, kind: str) -> None:
        st.running = kind

    def finished(self, st: ScanState, kind: str, now: float, started_at: float, marker: int) -> None:
        """A pass read everything: the next full pass is due ``full_interval_s`` after this
        one started, the next incremental one ``interval_s`` from now."""
        st.running = None
        st.marker = marker
        if kind == FULL:
            st.full_due_at = started_at + max(self.full_interval_s, self.interval_s)
        st.since_due_at = now + self.interval_s

    def failed(self, st: ScanState, kind: str, now: float) -> None:
        """A pass failed: it is dropped and tried again ``interval_s`` from now (a full one
        too: its knowledge stays what it was)."""
        st.running = None
        if kind == FULL:
            st.full_due_at = now + self.interval_s
        st.since_due_at = now + self.interval_s


def cpu_pause(cpu_s: float, share: float) -> float:
    """The pause after a batch that took ``cpu_s`` CPU seconds, so that the scan uses at
    most ``share`` of one CPU. Pure."""
    share = min(max(share, 0.001), 1.0)
    return max(cpu_s * (1.0 - share) / share, MIN_PAUSE_S)


class DetectorBroken(Exception):
    """The PII detector failed its self-test: a scan by it could say "clean" wrongly."""


@dataclass
class _Pass:
    kind: str
    started_at: float
    marker: int  # the position read up to (FULL: where it began, until its catch-up)
    batches: Iterator[list[Entry]] | None = None  # FULL: the store's scan, until it ends
    leaking: set[str] = field(default_factory=set)
    clean: set[str] = field(default_factory=set)
    scanned: int = 0


class PeriodicLeakScan:
    """The periodic scan of one store. :meth:`step` does the next bit of work and says how
    long to wait before the next call; call it from one thread at a time."""

    def __init__(
        self,
        store: Callable[[], Store],
        schedule: ScanSchedule,
        *,
        batch: int = 500,
        cpu_share: float = 0.2,
        detector_ok: Callable[[], bool] = detector_healthy,
        on_complete: Callable[[str, int, int, float], None] | None = None,
        on_failure: Callable[[str, str], None] | None = None,
        clock: Callable[[], float] = time.time,
        cpu_clock: Callable[[], float] = time.thread_time,
    ) -> None:
        self.store = store  # a callable: the revision may swap its store when it comes back
        self.schedule = schedule
        self.batch = max(int(batch), 1)
        self.cpu_share = cpu_share
        self.detector_ok = detector_ok
        self.on_complete = on_complete  # (kind, scanned, leaking, now)
        self.on_failure = on_failure  # (kind, reason)
        self.clock = clock
        self.cpu_clock = cpu_clock
        self.state = ScanState()
        #: keys of the leaking entries known from the last full pass and the passes since
        self.leaking: set[str] = set()
        self._pass: _Pass | None = None
        self.cpu_s = 0.0  # CPU time spent scanning, in total
        self.scanned = 0  # entries read, in total

    # --- driving -------------------------------------------------------------------
    def step(self) -> float:
        """Read one batch if a pass is due or under way; return the seconds to wait."""
        now = self.clock()
        kind, delay = self.schedule.next(now, self.state)
        if kind in (OFF, WAIT):
            return delay
        c0 = self.cpu_clock()
        _local.scanning = True
        try:
            if self._pass is None:
                self._begin(kind, now)
            done = self._read_batch()
            if done:
                self._finish()
        except StoreError as e:
            self._fail(kind, "store", e)
        except DetectorBroken as e:
            self._fail(kind, "detector", e)
        except Exception as e:  # noqa: BLE001 - the scan must never take the revision down
            log.exception("periodic PII scan failed")
            self._fail(kind, "error", e)
        finally:
            _local.scanning = False
            cpu = self.cpu_clock() - c0
            self.cpu_s += cpu
        if self._pass is not None:  # more batches to read
            return cpu_pause(cpu, self.cpu_share)
        return max(self.schedule.next(self.clock(), self.state)[1], MIN_PAUSE_S)

    def run_pass(self, kind: str | None = None) -> None:
        """Run the due pass (or ``kind``) to its end at once, without pauses (tests, bench)."""
        if kind == FULL:
            self.state.full_due_at = 0.0
        elif kind == SINCE:
            self.state.since_due_at = 0.0
        first = True
        while first or self._pass is not None:
            first = False
            self.step()

    # --- the passes ----------------------------------------------------------------
    def _begin(self, kind: str, now: float) -> None:
        if not self.detector_ok():
            raise DetectorBroken("the PII detector failed its self-test")
        store = self.store()
        if kind == FULL:
            p = _Pass(FULL, now, store.position())
            p.batches = iter(store.scan(batch=self.batch))
        else:
            assert self.state.marker is not None
            p = _Pass(SINCE, now, self.state.marker)
        self._pass = p
        self.schedule.begin(self.state, kind)

    def _read_batch(self) -> bool:
        """Scan the next batch of the pass; True when the pass has read everything."""
        p = self._pass
        assert p is not None
        entries = next(p.batches, None) if p.batches is not None else None
        if p.batches is not None and entries is None:
            # the full pass has read the store as it was; it then reads what was put since it
            # began, like an incremental pass, so that its result is never older than
            # another instance's (which would lower the shared gauge for a while)
            p.batches = None
        if entries is None:
            entries, nxt = self.store().scan_since(p.marker, self.batch)
            if nxt == p.marker:
                return True
            p.marker = nxt
        for i, e in enumerate(entries):
            if i and not i % YIELD_EVERY:
                time.sleep(0)  # let a request's thread have the GIL now, not at the next forced switch
            if scan_entry(e) is not None:
                p.leaking.add(e.key)
                p.clean.discard(e.key)
            else:
                p.clean.add(e.key)
                p.leaking.discard(e.key)
        p.scanned += len(entries)
        self.scanned += len(entries)
        return False

    def _finish(self) -> None:
        p = self._pass
        assert p is not None
        if not self.detector_ok():  # broken while the pass ran: its "clean" means nothing
            raise DetectorBroken("the PII detector failed its self-test during the scan")
        store = self.store()
        now = self.clock()
        if p.kind == FULL:
            leaking = set(p.leaking)
        else:
            # what was known, minus what is gone or was put again clean, plus what is new
            known = self.leaking - p.clean - p.leaking
            if len(known) <= MAX_RECHECK:
                known = {k for k in known if store.get(k, now) is not None}
            leaking = known | p.leaking
        record_complete_scan(store, len(leaking), now)
        self.leaking = leaking
        self._pass = None
        self.schedule.finished(self.state, p.kind, now, p.started_at, p.marker)
        if self.on_complete is not None:
            self.on_complete(p.kind, p.scanned, len(leaking), now)
        if leaking:
            log.warning("periodic PII scan: cached entries hold personal data",
                        extra={"pass": p.kind, "scanned": p.scanned, "leaking": len(leaking)})

    def _fail(self, kind: str, reason: str, e: BaseException) -> None:
        self._pass = None
        self.schedule.failed(self.state, kind, self.clock())
        log.warning("periodic PII scan failed: the leak gauge keeps its last complete value",
                    extra={"pass": kind, "reason": reason, "error": f"{type(e).__name__}: {e}"})
        if self.on_failure is not None:
            self.on_failure(kind, reason)
