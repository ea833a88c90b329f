from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from ethos.cache.entry import Entry
from ethos.cache.gates.admission import Exchange
from ethos.cache.keys import Scope, make_key
from ethos.cache.response_cache import STORE_RETRY_AFTER_S, ResponseCache
from ethos.cache.stores import StoreUnavailable
from ethos.cache.stores.sqlite import SQLiteStore

SCOPE = Scope("marketing", 1, "kb", "p1", "kb1")
Q = "What are your pricing plans?"


class Clock:
    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class FlakyStore(SQLiteStore):
    """In-memory SQLite that can be switched off; counts the calls that reach it."""

    def __init__(self) -> None:
        super().__init__(":memory:")
        self.down = False
        self.calls = 0

    def _check(self) -> None:
        self.calls += 1
        if self.down:
            raise StoreUnavailable("fake outage")

    def get(self, key, now):
        self._check()
        return super().get(key, now)

    def put(self, entry):
        self._check()
        super().put(entry)

    def epoch(self):
        self._check()
        return super().epoch()

    def add_hits(self, hits):
        self._check()
        super().add_hits(hits)

    def ping(self):
        return not self.down and super().ping()


@dataclass
class FakeSemantic:
    state: str = "off"
    resets: int = 0
    added_keys: list[str] = field(default_factory=list)

    def embed(self, text: str) -> bytes | None:
        return None

    def nearest(self, scope, question, vector, *, session_dependent):
        return None

    def added(self, entry: Entry) -> None:
        self.added_keys.append(entry.key)

    def reset(self) -> None:
        self.resets += 1


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store() -> FlakyStore:
    s = FlakyStore()
    yield s
    s.close()


@pytest.fixture
def cache(store: FlakyStore, clock: Clock) -> ResponseCache:
    return ResponseCache(store, SCOPE, clock=clock)


def answered(question: str = Q, reply: str = "Free, Starter and Team.", **kw) -> Exchange:
    return Exchange(question=question, reply=reply, answerer="kb", **kw)


def remember(cache: ResponseCache, question: str = Q, **kw) -> None:
    lk = cache.lookup(question)
    assert lk.result == "miss"
    assert cache.admit(lk, answered(question), **kw) is None


# --- exact hits --------------------------------------------------------------------
def test_miss_then_store_then_hit(cache: ResponseCache) -> None:
    remember(cache)
    lk = cache.lookup("what are your PRICING plans")
    assert lk.result == "hit"
    assert lk.entry.reply == "Free, Starter and Team."
    assert lk.key == make_key(SCOPE, Q)[0]
    assert (cache.counters.hits, cache.counters.misses) == (1, 1)
    assert cache.counters.hit_rate == 0.5


def test_a_hit_is_served_from_memory(cache: ResponseCache, store: FlakyStore) -> None:
    remember(cache)
    reads = store.ops.reads
    assert cache.lookup(Q).result == "hit"
    assert store.ops.reads == reads


def test_a_hit_comes_from_the_store_when_memory_is_cold(store: FlakyStore, clock: Clock) -> None:
    remember(ResponseCache(store, SCOPE, clock=clock))
    other = ResponseCache(store, SCOPE, clock=clock)  # another process's memory tier
    assert other.lookup(Q).result == "hit"


def test_other_format_version_is_a_miss(cache: ResponseCache, store: FlakyStore, clock: Clock) -> None:
    key, norm = make_key(SCOPE, Q)
    store.put(Entry(key, "marketing", 2, SCOPE.digest, norm, "old format", created_at=clock()))
    assert cache.lookup(Q).result == "miss"


def test_expired_entry_is_a_miss(cache: ResponseCache, clock: Clock) -> None:
    remember(cache, ttl_s=60)
    clock.t += 61
    assert cache.lookup(Q).result == "miss"


def test_ttl_is_capped(store: FlakyStore, clock: Clock) -> None:
    cache = ResponseCache(store, SCOPE, clock=clock, max_ttl_s=100)
    remember(cache, ttl_s=10_000)
    assert store.get(make_key(SCOPE, Q)[0], clock()).ttl_s == 100


def test_namespaces_do_not_share(cache: ResponseCache) -> None:
    remember(cache)
    assert cache.lookup(Q, "support").result == "miss"


# --- requests that refuse the cache ----------------------------------------------
def test_no_cache_bypasses_without_touching_the_store(cache: ResponseCache, store: FlakyStore) -> None:
    remember(cache)
    calls = store.calls
    lk = cache.lookup(Q, no_cache=True)
    assert (lk.result, lk.reason) == ("bypass", "no_cache requested")
    assert store.calls == calls


def test_no_store_is_answered_but_not_kept(cache: ResponseCache) -> None:
    lk = cache.lookup(Q)
    rejection = cache.admit(lk, answered(), no_store=True)
    assert (rejection.gate, rejection.reason) == ("request", "no_store")
    assert cache.lookup(Q).result == "miss"


def test_disabled_cache_bypasses_and_stores_nothing(store: FlakyStore, clock: Clock) -> None:
    cache = ResponseCache(store, SCOPE, clock=clock, enabled=False)
    lk = cache.lookup(Q)
    assert (lk.result, lk.reason) == ("bypass", "cache disabled")
    assert cache.admit(lk, answered()).reason == "cache_disabled"
    assert store.count() == 0


def test_gate_refusal_is_reported(cache: ResponseCache) -> None:
    refused = []
    cache.on_reject.append(lambda r, ex: refused.append(r.reason))
    lk = cache.lookup(Q)
    assert cache.admit(lk, answered(finish_reason="length")).reason == "truncated"
    assert refused == ["truncated"]
    assert cache.lookup(Q).result == "miss"


# --- a store that fails ------------------------------------------------------------
def test_store_failure_bypasses_then_recovers_by_itself(
    cache: ResponseCache, store: FlakyStore, clock: Clock
) -> None:
    remember(cache)
    store.down = True
    lk = cache.lookup(Q)
    assert lk.result == "bypass"
    assert "fake outage" in lk.reason
    assert cache.store_up is False

    # within the pause the store is not even asked
    calls = store.calls
    clock.t += STORE_RETRY_AFTER_S / 2
    assert cache.lookup(Q).result == "bypass"
    assert store.calls == calls
    assert cache.admit(cache.lookup(Q), answered()).reason == "store_unavailable"

    # after the pause it is tried again: still down, so another pause
    clock.t += STORE_RETRY_AFTER_S
    assert cache.lookup(Q).result == "bypass"
    assert store.calls == calls + 1

    store.down = False
    clock.t += STORE_RETRY_AFTER_S
    assert cache.lookup(Q).result == "hit"
    assert cache.store_up is True
    assert cache.counters.bypasses == 4


def test_check_store_reports_health(cache: ResponseCache, store: FlakyStore) -> None:
    assert cache.check_store() is True
    store.down = True
    assert cache.check_store() is False
    assert cache.store_up is False
    store.down = False
    assert cache.check_store() is True
    assert cache.store_up is True


def test_failed_put_is_a_refusal_not_an_error(cache: ResponseCache, store: FlakyStore) -> None:
    lk = cache.lookup(Q)
    store.down = True
    assert cache.admit(lk, answered()).reason == "store_unavailable"
    assert cache.store_up is False


# --- invalidation ------------------------------------------------------------------
def test_invalidate_clears_the_memory_tier(store: FlakyStore, clock: Clock) -> None:
    sem = FakeSemantic()
    cache = ResponseCache(store, SCOPE, clock=clock, semantic=sem)
    remember(cache)
    remember(cache, "Do you offer refunds?")
    assert len(cache.memory) == 2
    assert cache.invalidate("marketing:*pricing*") == 1
    assert len(cache.memory) == 0
    assert sem.resets == 1
    assert cache.lookup(Q).result == "miss"
    assert cache.lookup("Do you offer refunds?").result == "hit"


def test_removal_elsewhere_clears_this_memory_tier(store: FlakyStore, clock: Clock) -> None:
    sem = FakeSemantic()
    a = ResponseCache(store, SCOPE, clock=clock)
    b = ResponseCache(store, SCOPE, clock=clock, semantic=sem)
    remember(a)
    assert b.lookup(Q).result == "hit"
    assert len(b.memory) == 1
    a.invalidate("*")
    assert b.lookup(Q).result == "miss"  # not served from b's stale copy
    assert len(b.memory) == 0
    assert sem.resets == 1


def test_invalidate_source(cache: ResponseCache) -> None:
    lk = cache.lookup(Q)
    assert cache.admit(lk, answered(sources=("pricing.md",))) is None
    assert cache.invalidate_source("pricing.md") == 1
    assert cache.lookup(Q).result == "miss"


# --- hit counts --------------------------------------------------------------------
def test_hit_counts_are_flushed(cache: ResponseCache, store: FlakyStore, clock: Clock) -> None:
    remember(cache)
    for _ in range(3):
        assert cache.lookup(Q).result == "hit"
    assert store.get(make_key(SCOPE, Q)[0], clock()).hit_count == 0
    cache.flush_hits()
    assert store.get(make_key(SCOPE, Q)[0], clock()).hit_count == 3
    cache.flush_hits()  # nothing pending: nothing added
    assert store.get(make_key(SCOPE, Q)[0], clock()).hit_count == 3


def test_hit_counts_wait_for_a_store_that_is_down(
    cache: ResponseCache, store: FlakyStore, clock: Clock
) -> None:
    remember(cache)
    cache.lookup(Q)
    cache.lookup(Q)
    store.down = True
    cache.flush_hits()
    store.down = False
    cache.flush_hits()
    assert store.get(make_key(SCOPE, Q)[0], clock()).hit_count == 2


def test_pending_hit_counts_are_capped(
    cache: ResponseCache, store: FlakyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 20: while the store is down, hit counts of at most MAX_PENDING_HIT_KEYS keys wait."""
    import ethos.cache.response_cache as rc

    monkeypatch.setattr(rc, "MAX_PENDING_HIT_KEYS", 3)
    store.down = True
    for i in range(10):
        cache._count_hit(f"k{i}")
        cache.flush_hits()
    cache._count_hit("k0")
    assert dict(cache._hits) == {"k0": 2, "k1": 1, "k2": 1}


def test_added_entries_reach_the_semantic_tier_only_with_a_vector(
    store: FlakyStore, clock: Clock
) -> None:
    sem = FakeSemantic()
    cache = ResponseCache(store, SCOPE, clock=clock, semantic=sem)
    remember(cache)
    assert sem.added_keys == []  # FakeSemantic.embed gives no vector
