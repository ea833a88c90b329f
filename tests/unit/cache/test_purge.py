"""The purge of expired entries, piece by piece: the schedule (pure), one pass of the runner,
the memory tier, the vector index and the semantic tier, the response cache that ties them
to the store, the SQLite expiry index, the metrics and the setting. Clocks are injected."""

from __future__ import annotations

import logging
import math
import sqlite3
import threading

import numpy as np
import pytest
from pydantic import ValidationError

from ethos.cache import Exchange, ResponseCache, Scope
from ethos.cache.entry import Entry
from ethos.cache.memory import MemoryTier
from ethos.cache.purge import CATCH_UP_S, FIRST_PASS_AFTER_S, PeriodicPurge, PurgeSchedule, in_purge, outcome
from ethos.cache.response_cache import PurgeReport
from ethos.cache.semantic import HashingEmbedder, SemanticTier, VectorIndex, l2_normalise
from ethos.cache.semantic import index as index_module
from ethos.cache.stores import StoreUnavailable
from ethos.cache.stores.sqlite import SQLiteStore
from ethos.service.metrics import ServiceMetrics
from ethos.settings import Settings

SCOPE = Scope("marketing", 1, "kb", "p1", "kb1")
E = HashingEmbedder(32)


class Clock:
    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def vec(text: str) -> bytes:
    return E.embed([text])[0].tobytes()


def entry(key: str, created_at: float = 1000.0, ttl_s: int = 0) -> Entry:
    return Entry(key, "ns", 1, "s", key, f"reply {key}", created_at=created_at, ttl_s=ttl_s)


# --- the schedule ----------------------------------------------------------------------
def test_the_first_pass_comes_soon_after_start_but_never_later_than_an_interval() -> None:
    assert PurgeSchedule(300).first_delay() == FIRST_PASS_AFTER_S
    assert PurgeSchedule(0.5).first_delay() == 0.5
    assert PurgeSchedule(0).first_delay() == math.inf


@pytest.mark.parametrize(
    ("report", "result", "delay"),
    [
        (PurgeReport(store=3), "complete", 300),
        (PurgeReport(), "complete", 300),
        (PurgeReport(store=1000, limited=True), "limited", CATCH_UP_S),
        (PurgeReport(memory=2, error="down"), "failed", 300),
    ],
)
def test_after_a_pass(report: PurgeReport, result: str, delay: float) -> None:
    assert outcome(report) == result
    assert PurgeSchedule(300).next_delay(report) == delay


def test_catching_up_is_never_slower_than_the_interval_and_off_stays_off() -> None:
    limited = PurgeReport(store=10, limited=True)
    assert PurgeSchedule(1.0).next_delay(limited) == 1.0
    assert PurgeSchedule(0).next_delay(limited) == math.inf


# --- one pass of the runner --------------------------------------------------------------
def test_a_pass_reports_what_it_removed_and_how_long_it_took() -> None:
    seen: list[tuple[PurgeReport, float]] = []
    flags: list[bool] = []
    limits: list[int] = []
    ticks = iter([10.0, 10.25])

    def purge(limit: int) -> PurgeReport:
        flags.append(in_purge())
        limits.append(limit)
        return PurgeReport(store=2, memory=1)

    runner = PeriodicPurge(purge, PurgeSchedule(60), limit=50,
                           on_pass=lambda r, s: seen.append((r, s)), timer=lambda: next(ticks))
    assert runner.step() == 60
    assert (flags, limits, in_purge()) == ([True], [50], False)
    assert seen == [(PurgeReport(store=2, memory=1), 0.25)]
    assert runner.last == PurgeReport(store=2, memory=1)


def test_a_pass_that_fails_is_reported_never_raised(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[PurgeReport] = []

    def broken(limit: int) -> PurgeReport:
        raise RuntimeError("a bug")

    def bad_bookkeeping(report: PurgeReport, seconds: float) -> None:
        seen.append(report)
        raise ValueError("metrics broke")

    runner = PeriodicPurge(broken, PurgeSchedule(30), on_pass=bad_bookkeeping)
    with caplog.at_level(logging.WARNING, logger="ethos.cache.purge"):
        assert runner.step() == 30
    assert seen[0].error == "RuntimeError: a bug" and outcome(seen[0]) == "failed"
    assert "cache purge failed" in caplog.text and "recording a pass failed" in caplog.text
    assert in_purge() is False


def test_stop_can_wait_for_a_pass_under_way() -> None:
    inside, release = threading.Event(), threading.Event()

    def slow(limit: int) -> PurgeReport:
        inside.set()
        release.wait(5)
        return PurgeReport()

    runner = PeriodicPurge(slow, PurgeSchedule(30))
    t = threading.Thread(target=runner.step)
    t.start()
    assert inside.wait(5)
    assert runner.wait_idle(0.01) is False
    release.set()
    assert runner.wait_idle(5) is True
    t.join(5)


# --- the memory tier -------------------------------------------------------------------
def test_the_memory_tier_drops_expired_copies_nobody_asks_for() -> None:
    m = MemoryTier(10)
    m.put(entry("short", ttl_s=10))
    m.put(entry("long", ttl_s=100))
    m.put(entry("forever"))
    assert m.purge_expired(1005.0) == 0
    assert m.purge_expired(1010.0) == 1  # expires_at is the first instant it is expired
    assert len(m) == 2 and m.get("long", 1010.0) is not None
    assert m.purge_expired(10**12) == 1
    assert m.get("forever", 10**12) is not None


# --- the vector index ------------------------------------------------------------------
def test_expired_rows_leave_the_index_and_searches() -> None:
    idx = VectorIndex(E.dim)
    idx.add("old", "pricing plans", vec("pricing plans"), 100.0)
    idx.add_many([("new", "pricing plans please", vec("pricing plans please"), 200.0),
                  ("kept", "what is sso", vec("what is sso"))])  # no expiry given: never
    assert idx.remove_expired(99.0) == 0
    assert idx.remove_expired(100.0) == 1
    assert len(idx) == 2
    assert [n.key for n in idx.search(vec("pricing plans"), k=3)] == ["new", "kept"]
    assert idx.remove(["new", "unknown"]) == 1
    assert idx.remove_expired(1e300) == 0
    assert [n.key for n in idx.search(vec("pricing plans"), k=3)] == ["kept"]


def test_an_index_compacts_once_retired_rows_outnumber_live_ones() -> None:
    idx = VectorIndex(E.dim)
    n = 200
    idx.add_many([(f"k{i}", f"question {i}", vec(f"question {i}"), 100.0 + i) for i in range(n)])
    assert idx.rows == n
    # 60 retired of 200: kept as they are (not worth a copy)
    assert idx.remove_expired(159.5) == 60 and idx.rows == n
    # 120 retired of 200: compacted to the 80 live rows
    assert idx.remove_expired(219.5) == 60
    assert idx.rows == len(idx) == 80
    got = idx.search(vec("question 150"), k=1)
    assert got[0].key == "k150" and got[0].similarity == pytest.approx(1.0, abs=1e-5)
    # and the live rows keep their own expiry
    assert idx.remove_expired(249.5) == 30 and len(idx) == 50
    assert {nb.key for nb in idx.search(vec("question 299"), k=50)} == {f"k{i}" for i in range(150, 200)}


def test_a_graph_built_from_rows_before_a_compaction_is_thrown_away(monkeypatch) -> None:
    """The HNSW build reads a snapshot and runs without the lock: a compaction meanwhile
    renumbers the rows, so that graph must not be used; one over the new rows is built."""
    from usearch.index import Index

    idx = VectorIndex(16, ann_threshold=100, background=False)
    rng = np.random.default_rng(3)
    rows = l2_normalise(rng.normal(size=(300, 16)))
    compact_once = []

    class Racing(Index):  # type: ignore[misc]
        def add(self, *args, **kwargs):
            if not compact_once:  # the first build: rows expire and go while it runs
                compact_once.append(True)
                idx.remove_expired(1150.0)
            return super().add(*args, **kwargs)

    monkeypatch.setattr("usearch.index.Index", Racing)
    idx.add_many([(f"k{i}", "q", rows[i], 1000.0 + i) for i in range(300)])
    assert compact_once and idx.rows == len(idx) == 149
    assert idx.uses_ann and idx._ann_rows == idx.rows  # noqa: SLF001 - the graph of the new rows
    got = idx.search(rows[250], k=1)
    assert got[0].key == "k250" and got[0].similarity == pytest.approx(1.0, abs=1e-5)
    assert index_module.COMPACT_MIN_RETIRED <= 151


# --- the semantic tier -----------------------------------------------------------------
def test_the_semantic_tier_drops_expired_rows_and_forgets_emptied_indexes() -> None:
    store = SQLiteStore(":memory:")
    clock = Clock(1000.0)
    tier = SemanticTier(store, E, clock=clock)
    tier.load()
    for key, ttl, scope in (("a", 10, "s1"), ("b", 100, "s1"), ("c", 10, "s2")):
        store.put(Entry(f"ns:v1:{scope}:{key}:0", "ns", 1, scope, f"question {key}", "r",
                        created_at=1000.0, ttl_s=ttl, embedding=vec(f"question {key}")))
    for scope in ("s1", "s2"):  # loaded from the store, as a lookup of the scope does
        tier._index(("ns", 1, scope))  # noqa: SLF001
    assert tier.stats()["indexed"] == {"ns:1:s1": 2, "ns:1:s2": 1}
    assert tier.purge_expired(1050.0) == 2
    assert tier.stats()["indexed"] == {"ns:1:s1": 1}
    store.close()


# --- the response cache ----------------------------------------------------------------
class DownForPurge(SQLiteStore):
    def __init__(self) -> None:
        super().__init__(":memory:")
        self.down = False

    def purge_expired(self, now, limit=1000):
        if self.down:
            raise StoreUnavailable("fake outage")
        return super().purge_expired(now, limit)


def remember(cache: ResponseCache, question: str, ttl: int) -> str:
    lk = cache.lookup(question)
    assert lk.result == "miss"
    assert cache.admit(lk, Exchange(question, f"answer to {question}", "kb"), ttl_s=ttl) is None
    return lk.key


def test_the_cache_purges_its_memory_and_the_store_without_emptying_memory() -> None:
    store, clock = DownForPurge(), Clock()
    cache = ResponseCache(store, SCOPE, clock=clock)
    remember(cache, "What are your pricing plans?", ttl=60)
    remember(cache, "Do you offer SSO?", ttl=60)
    remember(cache, "Where is your office?", ttl=3600)
    assert cache.purge_expired() == PurgeReport()
    clock.t += 120
    report = cache.purge_expired(limit=1)
    assert (report.store, report.memory, report.limited, report.error) == (1, 2, True, None)
    assert cache.purge_expired(limit=1) == PurgeReport(store=1, limited=True)
    assert cache.purge_expired(limit=1) == PurgeReport()
    assert store.count() == 1 and len(cache.memory) == 1  # the live copy stays in memory
    assert cache.lookup("Where is your office?").result == "hit"
    assert cache.lookup("What are your pricing plans?").result == "miss"
    cache.close()


def test_a_store_that_is_down_fails_the_store_part_only() -> None:
    store, clock = DownForPurge(), Clock()
    cache = ResponseCache(store, SCOPE, clock=clock)
    remember(cache, "What are your pricing plans?", ttl=60)
    clock.t += 120
    store.down = True
    report = cache.purge_expired()
    assert report == PurgeReport(memory=1, error="fake outage")
    assert cache.store_up  # a failed background purge does not bypass the cache for requests
    store.down = False
    assert cache.purge_expired() == PurgeReport(store=1)
    cache.close()


# --- SQLite: the expiry index ------------------------------------------------------------
def test_a_file_from_before_the_expiry_index_gets_it_and_the_purge_uses_it(tmp_path) -> None:
    path = tmp_path / "old.sqlite3"
    SQLiteStore(path).close()
    db = sqlite3.connect(path)
    db.execute("DROP INDEX entries_expires")
    db.commit()
    db.close()
    store = SQLiteStore(path)
    plan = store._run(lambda db: db.execute(  # noqa: SLF001
        "EXPLAIN QUERY PLAN SELECT key FROM entries WHERE expires_at<=? ORDER BY expires_at LIMIT ?",
        (1.0, 10)).fetchall())
    assert any("entries_expires" in row[-1] for row in plan), plan
    store.close()


# --- metrics and settings ---------------------------------------------------------------
def test_purge_passes_and_their_store_operations_are_counted_apart() -> None:
    metrics = ServiceMetrics("blue")
    store, clock = SQLiteStore(":memory:"), Clock()
    metrics.watch_store(store)
    metrics.watch_purge()
    cache = ResponseCache(store, SCOPE, clock=clock)
    remember(cache, "What are your pricing plans?", ttl=60)
    clock.t += 120
    ticks = iter([0.0, 0.5])
    PeriodicPurge(cache.purge_expired, PurgeSchedule(60), on_pass=metrics.count_purge,
                  timer=lambda: next(ticks)).step()
    text = metrics.render().decode()
    assert 'ethos_cache_purged_entries_total{revision="blue",tier="store"} 1.0' in text
    assert 'ethos_cache_purged_entries_total{revision="blue",tier="memory"} 1.0' in text
    assert 'ethos_cache_purged_entries_total{revision="blue",tier="semantic"} 0.0' in text
    assert 'ethos_cache_purge_passes_total{result="complete",revision="blue"} 1.0' in text
    assert 'ethos_cache_purge_passes_total{result="failed",revision="blue"} 0.0' in text
    assert 'ethos_cache_purge_duration_seconds_sum{revision="blue"} 0.5' in text
    assert 'ethos_cache_purge_store_operations_total{op="delete",revision="blue",store="sqlite"} 1.0' in text
    assert 'ethos_store_operations_total{op="delete",revision="blue",store="sqlite"} 0.0' in text
    cache.close()


def test_the_purge_settings() -> None:
    s = Settings()
    assert (s.cache_purge_interval_s, s.cache_purge_batch) == (300.0, 1000)
    assert Settings(cache_purge_interval_s=0).cache_purge_interval_s == 0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("cache_purge_interval_s", -1, "greater than or equal to 0"),
        ("cache_purge_interval_s", "soon", "valid number"),
        ("cache_purge_interval_s", "inf", "finite number"),
        ("cache_purge_interval_s", "nan", "finite number"),
        ("cache_purge_batch", 0, "greater than or equal to 1"),
        ("cache_purge_batch", 2.5, "valid integer"),
    ],
)
def test_bad_purge_settings_are_refused_by_name(monkeypatch, field: str, value, message: str) -> None:
    monkeypatch.setenv(f"ETHOS_{field.upper()}", str(value))
    with pytest.raises(ValidationError) as e:
        Settings()
    [err] = e.value.errors()
    assert err["loc"] == (field,) and message in err["msg"]
