from __future__ import annotations

from ethos.cache.entry import Entry
from ethos.cache.memory import MemoryTier


def entry(key: str, created_at: float = 1000.0, ttl_s: int = 0) -> Entry:
    return Entry(key, "ns", 1, "s", key, f"reply {key}", created_at=created_at, ttl_s=ttl_s)


def test_put_and_get() -> None:
    m = MemoryTier(10)
    e = entry("a")
    m.put(e)
    assert m.get("a", 1000.0) is e
    assert m.get("b", 1000.0) is None
    assert len(m) == 1


def test_least_recently_used_goes_first() -> None:
    m = MemoryTier(2)
    m.put(entry("a"))
    m.put(entry("b"))
    assert m.get("a", 1000.0) is not None  # a is now the most recent
    m.put(entry("c"))
    assert m.get("b", 1000.0) is None
    assert m.get("a", 1000.0) is not None
    assert m.get("c", 1000.0) is not None
    assert len(m) == 2


def test_replacing_a_key_does_not_grow() -> None:
    m = MemoryTier(2)
    m.put(entry("a"))
    m.put(entry("a"))
    assert len(m) == 1


def test_expired_copies_are_dropped() -> None:
    m = MemoryTier(10)
    m.put(entry("a", created_at=1000.0, ttl_s=60))
    assert m.get("a", 1059.0) is not None
    assert m.get("a", 1060.0) is None
    assert len(m) == 0


def test_zero_entries_keeps_nothing() -> None:
    m = MemoryTier(0)
    m.put(entry("a"))
    assert m.get("a", 1000.0) is None
    assert len(m) == 0


def test_sync_clears_when_the_epoch_moves() -> None:
    m = MemoryTier(10)
    assert m.sync(5) is False  # the first epoch seen is not a move
    m.put(entry("a"))
    assert m.sync(5) is False
    assert m.get("a", 1000.0) is not None
    assert m.sync(6) is True
    assert m.get("a", 1000.0) is None
    m.put(entry("b"))
    assert m.sync(5) is True  # any change, not only upwards (a Redis restarted empty)
    assert len(m) == 0


def test_discard_and_clear() -> None:
    m = MemoryTier(10)
    for k in "abc":
        m.put(entry(k))
    m.discard("a")
    m.discard("missing")
    assert m.get("a", 1000.0) is None
    assert len(m) == 2
    m.clear()
    assert len(m) == 0
