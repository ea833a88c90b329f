"""A store that reads but cannot write (full or read-only disk): reads go on, writes pause."""

from __future__ import annotations

import sqlite3

import pytest

from ethos.cache.gates.admission import Exchange
from ethos.cache.keys import Scope
from ethos.cache.response_cache import STORE_RETRY_AFTER_S, ResponseCache
from ethos.cache.stores import StoreUnavailable
from ethos.cache.stores.sqlite import SQLiteStore, failure_kind

SCOPE = Scope("marketing", 1, "kb", "p1", "kb1")


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


class FullStore(SQLiteStore):
    def __init__(self) -> None:
        super().__init__(":memory:")
        self.full = False
        self.puts = 0

    def put(self, entry):
        self.puts += 1
        if self.full:
            raise StoreUnavailable("SQLite cache at x: database or disk is full", kind="disk_full")
        super().put(entry)


def answered(q: str) -> Exchange:
    return Exchange(question=q, reply="Free, Starter and Team.", answerer="kb")


def test_a_full_store_still_serves_reads_and_retries_writes_after_a_pause() -> None:
    store, clock = FullStore(), Clock()
    cache = ResponseCache(store, SCOPE, clock=clock)
    kinds: list[str] = []
    cache.on_store_error.append(kinds.append)
    lk = cache.lookup("What are your plans?")
    assert cache.admit(lk, answered("What are your plans?")) is None

    store.full = True
    lk = cache.lookup("Do you offer refunds?")
    assert lk.result == "miss"
    assert cache.admit(lk, answered("Do you offer refunds?")).reason == "store_unavailable"
    assert cache.store_up and not cache.writable and cache.write_error_kind == "disk_full"
    assert kinds == ["disk_full"]
    cache.memory.clear()
    assert cache.lookup("What are your plans?").result == "hit"  # read from the store

    puts = store.puts  # within the pause the store is not asked to write
    rej = cache.admit(cache.lookup("Do you offer refunds?"), answered("Do you offer refunds?"))
    assert rej.reason == "store_unavailable" and "disk is full" in rej.detail
    assert store.puts == puts

    store.full = False
    clock.t += STORE_RETRY_AFTER_S
    assert cache.admit(cache.lookup("Do you offer refunds?"), answered("Do you offer refunds?")) is None
    assert cache.writable and cache.write_error_kind is None
    assert cache.lookup("Do you offer refunds?").result == "hit"


class ReadOnlyAtStart(FullStore):
    """A store that could not be opened on a read-only disk: everything fails."""

    def _run(self, fn):
        raise StoreUnavailable("cannot open SQLite cache at x (read-only)", kind="read_only")

    def put(self, entry):
        self.puts += 1
        self._run(None)


def test_a_store_down_as_a_whole_is_not_taken_for_a_write_failure() -> None:
    """An admission after the pause reaches a store that cannot read either: that is the store
    down (health: bypassed), not "writes failing" that would outlive the store's return."""
    store, clock = ReadOnlyAtStart(), Clock()
    cache = ResponseCache(store, SCOPE, clock=clock)
    lk = cache.lookup("What are your plans?")
    assert lk.result == "bypass" and not cache.store_up
    clock.t += STORE_RETRY_AFTER_S  # the answer took long: the pause is over
    assert cache.admit(lk, answered("What are your plans?")).reason == "store_unavailable"
    assert store.puts == 1
    assert not cache.store_up and cache.writable

    fresh = FullStore()
    cache.use_store(fresh)
    clock.t += STORE_RETRY_AFTER_S
    assert cache.lookup("What are your plans?").result == "miss"
    assert cache.store_up and cache.writable


def _error(code: int) -> sqlite3.Error:
    e = sqlite3.OperationalError("x")
    e.sqlite_errorcode = code  # type: ignore[attr-defined]
    return e


@pytest.mark.parametrize(
    ("code", "kind"),
    [(13, "disk_full"), (8, "read_only"), (8 | (1 << 8), "read_only"), (5, "unavailable"), (0, "unavailable")],
)
def test_sqlite_failure_kinds(code: int, kind: str, tmp_path) -> None:
    assert failure_kind(_error(code), str(tmp_path / "cache.sqlite3")) == kind
