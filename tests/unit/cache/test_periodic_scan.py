"""The periodic PII scan: its schedule (pure), the gauge only complete scans write, and the
"served" counts that come from the store (or say "unknown")."""

from __future__ import annotations

import math
import re
import sqlite3

import pytest

from ethos.cache import Entry, open_store
from ethos.cache.scan.leaks import (
    PII_LEAKS_META,
    PII_SCAN_OK_META,
    UNKNOWN,
    scan_store,
    served_of,
    served_total,
)
from ethos.cache.scan.periodic import (
    FULL,
    MIN_PAUSE_S,
    OFF,
    SINCE,
    WAIT,
    PeriodicLeakScan,
    ScanSchedule,
    ScanState,
    cpu_pause,
)
from ethos.cache.stores import StoreUnavailable
from ethos.cache.stores.sqlite import SQLiteStore

LEAK_REPLY = "Sure, we will call you on 0412 345 678."


def entry(key: str, reply: str = "The Team plan costs 10 a month.", t: float = 1000.0) -> Entry:
    return Entry(key=key, namespace="marketing", format_version=1, scope="s", question=f"question {key}",
                 reply=reply, created_at=t, ttl_s=0)


# --- the schedule: what to scan next, from the state and the clock ------------------
def test_first_step_is_a_full_pass_then_incremental_ones_every_interval() -> None:
    sch, st = ScanSchedule(interval_s=60, full_interval_s=3600), ScanState()
    assert sch.next(0.0, st) == (FULL, 0.0)
    sch.begin(st, FULL)
    assert sch.next(5.0, st) == (FULL, 0.0)  # a pass under way goes on, batch after batch
    sch.finished(st, FULL, now=10.0, started_at=0.0, marker=42)
    assert st.marker == 42 and st.running is None
    assert sch.next(10.0, st) == (WAIT, 60.0)
    assert sch.next(69.9, st)[0] == WAIT
    assert sch.next(70.0, st) == (SINCE, 0.0)
    sch.begin(st, SINCE)
    sch.finished(st, SINCE, now=71.0, started_at=70.0, marker=50)
    assert st.marker == 50
    assert sch.next(71.0, st) == (WAIT, 60.0)


def test_the_full_pass_comes_back_every_full_interval_from_its_start() -> None:
    sch, st = ScanSchedule(interval_s=60, full_interval_s=300), ScanState()
    sch.finished(st, FULL, now=20.0, started_at=0.0, marker=1)
    sch.finished(st, SINCE, now=290.0, started_at=289.0, marker=2)
    assert sch.next(290.0, st) == (WAIT, 10.0)  # the full pass (due at 300) comes first
    assert sch.next(300.0, st) == (FULL, 0.0)


def test_a_failed_pass_is_retried_after_the_interval_and_keeps_the_marker() -> None:
    sch, st = ScanSchedule(interval_s=60, full_interval_s=3600), ScanState()
    sch.begin(st, FULL)
    sch.failed(st, FULL, now=5.0)
    assert st.marker is None and st.running is None
    assert sch.next(6.0, st) == (WAIT, 59.0)  # no incremental pass without a full one
    assert sch.next(65.0, st) == (FULL, 0.0)
    sch.finished(st, FULL, now=70.0, started_at=65.0, marker=7)
    sch.begin(st, SINCE)
    sch.failed(st, SINCE, now=131.0)
    assert st.marker == 7  # the next incremental pass reads from where the last one ended
    assert sch.next(191.0, st) == (SINCE, 0.0)


def test_interval_zero_switches_the_scan_off() -> None:
    assert ScanSchedule(interval_s=0).next(0.0, ScanState()) == (OFF, math.inf)


def test_cpu_pause_keeps_the_share() -> None:
    assert cpu_pause(0.02, 0.2) == pytest.approx(0.08)
    assert cpu_pause(0.02, 1.0) == MIN_PAUSE_S
    assert cpu_pause(0.0, 0.5) == MIN_PAUSE_S


# --- the scan itself on a store ---------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def store():
    s = open_store("sqlite://:memory:")
    yield s
    s.close()


def scanner(store, clock, **kw) -> PeriodicLeakScan:
    failures: list[tuple[str, str]] = []
    sc = PeriodicLeakScan(lambda: store, ScanSchedule(60, 3600), batch=2, clock=clock,
                          on_failure=lambda k, r: failures.append((k, r)), **kw)
    sc.failures = failures  # type: ignore[attr-defined]
    return sc


def test_full_then_incremental_passes_keep_the_store_gauge_true(store) -> None:
    clock = Clock()
    for i in range(5):
        store.put(entry(f"k{i}"))
    store.put(entry("leak0", LEAK_REPLY))
    sc = scanner(store, clock)
    sc.run_pass()
    assert sc.state.marker == store.position() and sc.leaking == {"leak0"}
    assert store.get_meta(PII_LEAKS_META) == 1 and store.get_meta(PII_SCAN_OK_META) == 1000
    # planted past the gate: the next incremental pass finds it
    store.put(entry("leak1", LEAK_REPLY))
    store.put(entry("k9"))
    clock.t += 60
    assert sc.schedule.next(clock.t, sc.state)[0] == SINCE
    sc.run_pass()
    assert sc.leaking == {"leak0", "leak1"} and store.get_meta(PII_LEAKS_META) == 2
    # one removed, one put again clean: the gauge comes down, to the store's truth
    store.delete_keys(["leak0"])
    store.put(entry("leak1"))
    clock.t += 60
    sc.run_pass()
    assert sc.leaking == set() and store.get_meta(PII_LEAKS_META) == 0


def test_a_step_reads_one_batch_and_pauses_for_its_cpu_share(store) -> None:
    for i in range(5):
        store.put(entry(f"k{i}"))
    cpu = iter([0.0, 0.01] * 10)
    sc = scanner(store, Clock(), cpu_share=0.5, cpu_clock=lambda: next(cpu))
    assert sc.step() == pytest.approx(0.01)  # one batch of 2, then a pause as long as its CPU
    assert sc.scanned == 2 and sc.state.running == FULL
    while sc.state.running:
        sc.step()
    assert sc.scanned == 5 and sc.state.marker == 5


def test_a_full_pass_ends_by_reading_what_was_put_while_it_ran(store) -> None:
    for i in range(6):
        store.put(entry(f"m{i}"))
    sc = scanner(store, Clock())
    sc.step()  # the first batch: m0, m1
    store.put(entry("a-leak", LEAK_REPLY))  # sorts before the scan's cursor: a key scan misses it
    sc.run_pass()
    assert sc.leaking == {"a-leak"} and store.get_meta(PII_LEAKS_META) == 1
    assert sc.state.marker == store.position()


def test_a_failed_scan_never_lowers_the_gauge(store) -> None:
    clock = Clock()
    store.put(entry("leak0", LEAK_REPLY))
    store.put(entry("leak1", LEAK_REPLY))
    sc = scanner(store, clock)
    sc.run_pass()
    assert store.get_meta(PII_LEAKS_META) == 2
    # the store fails part-way through the next full pass
    for i in range(6):
        store.put(entry(f"k{i}"))
    real = store.scan

    def broken(pattern="*", batch=500):
        it = real(pattern, batch)
        yield next(it)
        raise StoreUnavailable("gone")

    store.scan = broken
    sc.run_pass(FULL)
    assert sc.failures == [(FULL, "store")]
    assert store.get_meta(PII_LEAKS_META) == 2 and store.get_meta(PII_SCAN_OK_META) == 1000
    # a detector that fails its self-test scans nothing and writes nothing
    store.scan = real
    store.delete_keys(["leak0"])
    sc.detector_ok = lambda: False
    clock.t += 60
    sc.run_pass(FULL)
    assert sc.failures[-1] == (FULL, "detector")
    assert store.get_meta(PII_LEAKS_META) == 2
    # and the one-off scan (CLI, admin endpoint) by a broken detector leaves it alone too
    report = scan_store(store, detector_ok=lambda: False)
    assert report.complete is False and "self-test" in report.incomplete
    assert store.get_meta(PII_LEAKS_META) == 2
    # a healthy complete scan is the truth again
    sc.detector_ok = lambda: True
    clock.t += 60
    sc.run_pass(FULL)
    assert store.get_meta(PII_LEAKS_META) == 1 and store.get_meta(PII_SCAN_OK_META) == int(clock.t)


def test_a_scan_of_a_missing_store_fails_without_touching_anything(tmp_path) -> None:
    from ethos.service.unavailable import UnavailableStore

    sc = scanner(UnavailableStore("no such store"), Clock())
    sc.run_pass()
    assert sc.failures == [(FULL, "store")] and sc.state.marker is None


# --- served counts come from the store ------------------------------------------------
def test_served_counts_are_the_stores_hit_counts(store) -> None:
    store.put(entry("leak0", LEAK_REPLY))
    store.put(entry("leak1", LEAK_REPLY))
    store.add_hits({"leak0": 2})
    report = scan_store(store).to_dict()
    served = {x["key"]: x["served"] for x in report["leaks"]}
    assert served == {"leak0": 2, "leak1": 0}
    assert report["served_total"] == 2 and report["complete"] is True


def test_served_is_unknown_when_the_store_cannot_tell() -> None:
    e = entry("x")
    e.hit_count = None
    assert served_of(e) == UNKNOWN and served_of(entry("y")) == 0
    assert served_total([{"served": 2}, {"served": UNKNOWN}]) == UNKNOWN
    assert served_total([{"served": 2}, {"served": 1}]) == 3
    assert served_total([]) == 0


@pytest.mark.redis
def test_redis_entry_without_a_hit_count_is_served_unknown(redis_url) -> None:
    store = open_store(redis_url)
    try:
        store.put(entry("leak0", LEAK_REPLY))
        store.client.hdel(store._hkey("leak0"), "hit_count")  # written by something else
        report = scan_store(store).to_dict()
        assert report["leaks"][0]["served"] == UNKNOWN and report["served_total"] == UNKNOWN
    finally:
        store.delete_matching("*")
        store.close()


def test_a_sqlite_file_from_before_positions_gets_them(tmp_path) -> None:
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE entries (key TEXT PRIMARY KEY, scope TEXT NOT NULL, question TEXT NOT NULL"
        " DEFAULT '', format_version INTEGER NOT NULL, created_at REAL NOT NULL, expires_at REAL"
        " NOT NULL, hit_count INTEGER NOT NULL DEFAULT 0, data TEXT NOT NULL, embedding BLOB NOT"
        " NULL DEFAULT x'') WITHOUT ROWID;"
    )
    db.execute("INSERT INTO entries VALUES ('old', 's', 'q', 1, 1, 1e18, 3, ?, x'')",
               (entry("old").to_json(),))
    db.commit()
    db.close()
    store = SQLiteStore(path)
    try:
        assert [e.key for b in store.scan() for e in b] == ["old"]
        assert store.scan_since(0) == ([], 0)  # old entries: for the full pass only
        store.put(entry("new"))
        assert [e.key for e in store.scan_since(0)[0]] == ["new"]
    finally:
        store.close()


def test_the_scans_store_operations_are_not_priced_as_the_requests(store) -> None:
    from ethos.service.metrics import ServiceMetrics

    m = ServiceMetrics("blue")
    m.watch_store(store)
    for i in range(4):
        store.put(entry(f"k{i}"))
    scanner(store, Clock()).run_pass()
    text = m.render().decode()
    assert 'ethos_store_operations_total{op="write",revision="blue",store="sqlite"} 4.0' in text
    assert 'ethos_store_operations_total{op="read",revision="blue",store="sqlite"} 0.0' in text
    assert re.search(r'ethos_cache_pii_scan_store_operations_total\{op="read",revision="blue",store="sqlite"\} [1-9]', text)
    # the requests' writes priced (Firestore's list price by default), the scan's reads not
    assert 'ethos_store_estimated_cost_usd_total{revision="blue",store="sqlite"} 7.2e-06' in text
