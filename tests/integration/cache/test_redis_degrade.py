"""Redis down, hung, back again; and two instances sharing one Redis.

The only timings asserted are no-hang bounds (a call that should fail fast must not take
a second); everything else polls with generous deadlines.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator

import pytest

from ethos.cache.entry import Entry
from ethos.cache.gates.admission import Exchange
from ethos.cache.keys import Scope
from ethos.cache.response_cache import STORE_RETRY_AFTER_S, ResponseCache
from ethos.cache.stores import StoreUnavailable
from ethos.cache.stores.redis import RedisStore
from tests.polling import eventually

pytestmark = pytest.mark.redis

SCOPE = Scope("marketing", 1, "kb", "p1", "kb1")
Q = "What are your pricing plans?"
NO_HANG_S = 1.0


class Clock:
    """Real time plus a jump we control (Redis expiry needs real timestamps)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def remember(cache: ResponseCache, question: str = Q) -> None:
    lk = cache.lookup(question)
    assert lk.result == "miss", lk.reason
    assert cache.admit(lk, Exchange(question=question, reply="Free and Team.", answerer="kb")) is None


def timed_lookup(cache: ResponseCache) -> str:
    t = time.monotonic()
    result = cache.lookup(Q).result
    assert time.monotonic() - t < NO_HANG_S, "a lookup hung on a broken Redis"
    return result




class ResetCounter:
    """A semantic tier that only counts how often it was told to forget its vectors."""

    state = "off"

    def __init__(self) -> None:
        self.resets = 0

    def embed(self, text: str) -> bytes | None:
        return None

    def nearest(self, scope, question, vector, *, session_dependent):
        return None

    def added(self, entry) -> None:
        pass

    def reset(self) -> None:
        self.resets += 1


@pytest.fixture
def no_leaked_threads() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    assert eventually(lambda: not (set(threading.enumerate()) - before), 2.0, interval=0.01), (
        set(threading.enumerate()) - before
    )


def test_redis_down_then_back(redis_server_factory, no_leaked_threads) -> None:
    server = redis_server_factory().start()
    store = RedisStore.from_url(server.url, prefix="degrade:")
    clock = Clock()
    cache = ResponseCache(store, SCOPE, clock=clock)
    try:
        remember(cache)
        assert cache.lookup(Q).result == "hit"

        server.stop()
        # Until the subscriber notices the broken connection (milliseconds, more on a busy
        # machine) the memory tier may still answer: nobody can remove anything meanwhile.
        assert eventually(lambda: timed_lookup(cache) == "bypass", 5.0, interval=0.01)
        results = []
        for _ in range(5):
            clock.offset += STORE_RETRY_AFTER_S  # each time the store is tried again
            results.append(timed_lookup(cache))
        assert results == ["bypass"] * 5
        assert cache.store_up is False
        t = time.monotonic()
        assert cache.check_store() is False
        assert time.monotonic() - t < NO_HANG_S
        lk = cache.lookup(Q)
        assert cache.admit(lk, Exchange(question=Q, reply="x", answerer="kb")).reason == (
            "store_unavailable"
        )

        server.start()  # same port, empty (no persistence)

        def back() -> bool:
            clock.offset += STORE_RETRY_AFTER_S
            return timed_lookup(cache) != "bypass"

        assert eventually(back, 5.0, interval=0.01), "the cache did not come back by itself"
        assert cache.store_up is True
        remember(cache)  # the restarted Redis is empty
        assert cache.lookup(Q).result == "hit"
    finally:
        cache.close()


def test_redis_hung_is_bypassed_not_waited_for(redis_server_factory, no_leaked_threads) -> None:
    server = redis_server_factory().start()
    store = RedisStore.from_url(server.url, prefix="hung:")
    clock = Clock()
    cache = ResponseCache(store, SCOPE, clock=clock)
    try:
        remember(cache)
        cache.memory.clear()  # make the next lookup ask Redis
        server.proc.send_signal(signal.SIGSTOP)
        try:
            assert timed_lookup(cache) == "bypass"
            clock.offset += STORE_RETRY_AFTER_S
            assert timed_lookup(cache) == "bypass"
            t = time.monotonic()
            assert store.ping() is False
            assert time.monotonic() - t < NO_HANG_S
        finally:
            server.proc.send_signal(signal.SIGCONT)

        def back() -> bool:
            clock.offset += STORE_RETRY_AFTER_S
            return cache.lookup(Q).result == "hit"

        assert eventually(back, 5.0, interval=0.01), "the cache did not come back after Redis resumed"
    finally:
        cache.close()


def test_a_store_opened_while_redis_is_down_starts_degraded(
    redis_server_factory, no_leaked_threads
) -> None:
    server = redis_server_factory()  # not started yet
    t = time.monotonic()
    store = RedisStore.from_url(server.url, prefix="late:")
    assert time.monotonic() - t < NO_HANG_S
    clock = Clock()
    cache = ResponseCache(store, SCOPE, clock=clock)
    try:
        assert timed_lookup(cache) == "bypass"
        server.start()

        def up() -> bool:
            clock.offset += STORE_RETRY_AFTER_S
            return cache.lookup(Q).result == "miss"

        assert eventually(up, 5.0, interval=0.01)
    finally:
        cache.close()


def test_invalidation_reaches_another_instance(redis_url, no_leaked_threads, record_property) -> None:
    a = ResponseCache(RedisStore.from_url(redis_url), SCOPE)
    b_index = ResetCounter()
    b = ResponseCache(RedisStore.from_url(redis_url), SCOPE, semantic=b_index)
    try:
        remember(a)
        remember(a, "Do you offer refunds?")
        assert b.lookup(Q).result == "hit"
        assert b.lookup("Do you offer refunds?").result == "hit"
        assert len(b.memory) == 2  # b would answer from memory without asking Redis
        before = b.store.epoch()

        t = time.monotonic()
        assert a.invalidate("marketing:*pricing*") == 1
        assert eventually(lambda: b.store.epoch() != before, 5.0, interval=0.01)
        record_property("invalidation_reached_other_instance_ms", (time.monotonic() - t) * 1000)

        assert b.lookup(Q).result == "miss"
        assert b_index.resets == 1  # b's semantic index is dropped too
        assert b.lookup("Do you offer refunds?").result == "hit"
    finally:
        a.close()
        b.close()


def test_redis_restarted_empty_drops_memory_tiers(redis_server_factory, no_leaked_threads) -> None:
    """A Redis that comes back empty restarts its epoch: memory tiers must still drop."""
    server = redis_server_factory().start()
    store = RedisStore.from_url(server.url, prefix="restart:")
    try:
        store.put(Entry("k", "ns", 1, "s", "q", "r", created_at=time.time()))
        store.delete_keys(["k"])  # Redis epoch 1
        seen = store.epoch()
        server.stop()
        server.start()
        assert eventually(lambda: _epoch_or_none(store) not in (None, seen), 5.0, interval=0.01)
    finally:
        store.close()


def _epoch_or_none(store: RedisStore) -> int | None:
    try:
        return store.epoch()
    except StoreUnavailable:
        return None
