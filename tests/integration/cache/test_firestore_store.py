"""The Firestore store's cost model and fault handling, on the real emulator.

What the contract suite cannot see: how many documents each operation reads and writes (a
hit: one read, no write; an invalidation: only its key range), that an invalidation goes in
bounded steps and can be resumed, that ``expire_at`` is a timestamp a TTL policy can use,
that the epoch is polled no more than once per ``epoch_poll_s`` and never served staler, that
the mark a saved vector index is checked against is one read and changes with the cache, and
that the client is rebuilt after a connection failure. Time is a clock the test moves.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator

import pytest

from ethos.cache.entry import Entry
from ethos.cache.stores import OpCounter, StoreMissing, StoreUnavailable, open_store
from ethos.cache.stores import firestore as fs
from ethos.cache.stores.firestore import FirestoreStore

pytestmark = pytest.mark.firestore


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def make(key: str, t0: float, *, ttl_s: int = 0, sources: tuple[str, ...] = ()) -> Entry:
    return Entry(key=key, namespace="ns", format_version=1, scope="s1", question=f"q {key}",
                 reply=f"reply {key}", sources=list(sources), created_at=t0, ttl_s=ttl_s)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def stores(firestore_url: str, clock: Clock) -> Iterator[list[FirestoreStore]]:
    opened: list[FirestoreStore] = []

    def one(**kw) -> FirestoreStore:
        s = FirestoreStore.from_url(firestore_url, clock=clock, **kw)
        opened.append(s)
        return s

    yield one  # type: ignore[misc]
    for s in opened:
        s.close()


def delta(store: FirestoreStore, before: OpCounter) -> dict[str, int]:
    now = store.ops
    return {k: getattr(now, k) - getattr(before, k) for k in ("reads", "writes", "deletes", "queries")}


def snapshot(store: FirestoreStore) -> OpCounter:
    o = store.ops
    return OpCounter(o.reads, o.writes, o.deletes, o.queries)


def test_a_hit_is_one_read_and_hit_counts_are_batched(stores, clock) -> None:
    a, b = stores(), stores(hits_flush_s=10)
    t0 = time.time()
    for i in range(5):
        a.put(make(f"ns:k{i}", t0))
    before = snapshot(b)
    for _ in range(20):
        assert b.get("ns:k1", t0) is not None
    assert b.get("ns:missing", t0) is None
    assert delta(b, before) == {"reads": 21, "writes": 0, "deletes": 0, "queries": 0}

    # hits of 100 lookups over 3 keys, added each second for 9 s: nothing written yet
    before = snapshot(b)
    for _ in range(9):
        b.add_hits({"ns:k0": 5, "ns:k1": 4, "ns:k2": 2})
        clock.t += 1
    assert delta(b, before)["writes"] == 0
    assert b.get("ns:k0", t0).hit_count == 45  # this instance's unwritten hits are counted
    clock.t += 1
    b.add_hits({"ns:k0": 1, "ns:gone": 1})  # 10 s: one write per distinct key that exists
    assert delta(b, before)["writes"] == 3
    assert a.get("ns:k0", t0).hit_count == 46 and a.get("ns:k2", t0).hit_count == 18
    assert a.count() == 5  # the update for a missing key created nothing


def test_invalidation_reads_only_its_key_range_in_bounded_resumable_steps(stores, monkeypatch) -> None:
    store = stores()
    t0 = time.time()
    for i in range(60):
        store.put(make(f"ns:v1:price-{i:02d}", t0))
    for i in range(40):
        store.put(make(f"ns:v1:other-{i:02d}", t0))
    before = snapshot(store)
    assert store.delete_matching("ns:v1:price-1?") == 10
    d = delta(store, before)
    assert d["reads"] == 10 and d["deletes"] == 10 and d["queries"] == 1  # not the other 90
    assert d["writes"] == 1  # one epoch increment, in the same commit

    monkeypatch.setattr(fs, "PAGE", 8)
    monkeypatch.setattr(fs, "DELETE_BATCH", 3)
    steps = store.delete_matching_steps("ns:v1:price-*")
    progress = [next(steps), next(steps)]  # interrupted after two pages
    steps.close()
    assert progress == [(8, 8), (16, 16)]
    assert store.count() == 100 - 10 - 16
    before = snapshot(store)
    assert store.delete_matching("ns:v1:price-*") == 34  # run again: the rest
    assert delta(store, before)["reads"] == 34  # only what was left
    assert {e.key[:12] for b in store.scan() for e in b} == {"ns:v1:other-"}


def test_expire_at_is_a_timestamp_for_a_ttl_policy_and_is_checked_on_read(stores, firestore_project) -> None:
    from google.cloud import firestore

    store = stores()
    t0 = float(int(time.time()))
    store.put(make("ns:short", t0, ttl_s=60))
    store.put(make("ns:forever", t0))
    raw = firestore.Client(project=firestore_project).collection("cache")
    short = raw.document(fs.doc_id("ns:short")).get().to_dict()
    forever = raw.document(fs.doc_id("ns:forever")).get().to_dict()
    assert isinstance(short["expire_at"], dt.datetime)
    assert short["expire_at"].timestamp() == t0 + 60
    assert "expire_at" not in forever  # a TTL policy deletes only documents that have it
    assert store.get("ns:short", t0 + 59) is not None
    assert store.get("ns:short", t0 + 60) is None  # still stored, but a miss
    assert store.count() == 2
    assert store.purge_expired(t0 + 60) == 1 and store.count() == 1


def test_the_epoch_is_polled_at_most_once_per_interval_and_never_staler(stores, clock) -> None:
    a, b = stores(), stores(epoch_poll_s=1.0)
    t0 = time.time()
    a.put(make("ns:x", t0))
    e0 = b.epoch()
    before = snapshot(b)
    for _ in range(50):
        assert b.epoch() == e0
    assert delta(b, before)["reads"] == 0  # answered from memory within the interval
    a.delete_keys(["ns:x"])
    clock.t += 0.5
    assert b.epoch() == e0  # within the bound: may be stale
    clock.t += 0.6  # past the bound: the next call reads the state document
    assert b.epoch() != e0
    assert delta(b, before)["reads"] == 1
    assert b.staleness_bound_s() == pytest.approx(1.0 + b.timeout_s)


def test_a_removal_moves_the_local_epoch_at_once(stores) -> None:
    a = stores()
    t0 = time.time()
    a.put(make("ns:x", t0))
    e = a.epoch()
    assert a.delete_matching("ns:x") == 1
    assert a.epoch() != e  # no poll needed: the commit returned the new epoch


def test_meta_rides_on_the_epoch_read(stores, clock) -> None:
    a, b = stores(), stores()
    a.set_meta("pii_leaks", 2)
    b.epoch()
    before = snapshot(b)
    assert b.get_meta("pii_leaks") == 2 and b.get_meta("other") is None
    assert delta(b, before)["reads"] == 0


def test_the_index_mark_is_one_read_shared_by_every_instance_and_new_for_a_cache_made_anew(
        stores) -> None:
    a, b = stores(), stores()
    mark = a.index_mark()  # a new cache: its state document is made by the first to ask
    assert mark is not None and mark[1] == 0
    before = snapshot(b)
    assert b.index_mark() == mark and delta(b, before)["reads"] == 1
    a.put(make("ns:x", time.time()))
    assert a.delete_matching("ns:x") == 1
    assert b.index_mark() == (mark[0], 1)  # a removal moves the count, not the identity
    a._state_ref.delete()  # the cache made anew (its collections deleted)
    fresh = b.index_mark()
    assert fresh is not None and fresh[0] != mark[0] and fresh[1] == 0


def test_create_false_refuses_a_collection_that_holds_no_cache(firestore_url) -> None:
    with pytest.raises(StoreMissing, match="no ethos cache"):
        open_store(firestore_url, create=False)
    s = open_store(firestore_url)  # create=True: the state document is made on first use
    assert s.ping()
    s.close()
    open_store(firestore_url, create=False).close()


def test_without_credentials_the_error_names_them(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("FIRESTORE_EMULATOR_HOST", raising=False)
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("NO_GCE_CHECK", "True")
    with pytest.raises(StoreUnavailable, match="no Application Default Credentials"):
        open_store("firestore://some-project")


def test_the_client_is_rebuilt_after_a_connection_failure(firestore_emulator_factory, monkeypatch, clock) -> None:
    emulator = firestore_emulator_factory().start()
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", emulator.host)
    store = FirestoreStore("rebuild-test", clock=clock)
    try:
        t0 = time.time()
        store.put(make("ns:a", t0))
        first = store.client
        emulator.kill()
        with pytest.raises(StoreUnavailable) as err:
            store.get("ns:a", t0)
        assert err.value.kind == "unavailable"
        second = store.client  # a new channel for the next call
        assert second is not first
        with pytest.raises(StoreUnavailable):
            store.get("ns:a", t0)
        assert store.client is second  # at most one new client a second
        clock.t += fs.RECONNECT_AFTER_S
        assert store.client is not second
        emulator.start()  # empty again
        assert store.get("ns:a", t0) is None
        store.put(make("ns:a", t0))
        assert store.get("ns:a", t0) is not None
    finally:
        store.close()


def test_purge_is_bounded_and_never_deletes_an_entry_put_again_meanwhile(stores) -> None:
    store = stores()
    t0 = float(int(time.time()))
    for i, k in enumerate(("ns:a", "ns:b", "ns:c")):
        store.put(make(k, t0, ttl_s=10 + i))  # the order they expired in: the purge's order
    real = store._run_query

    def read_then_another_instance_puts_again(query):
        page = real(query)
        store.put(make("ns:a", t0 + 100, ttl_s=3600))  # between the purge's read and its delete
        return page

    store._run_query = read_then_another_instance_puts_again  # type: ignore[method-assign]
    before = snapshot(store)
    assert store.purge_expired(t0 + 50, limit=2) == 1  # read a and b; a had changed: b only
    d = delta(store, before)
    assert (d["queries"], d["reads"], d["deletes"]) == (1, 2, 1)
    store._run_query = real  # type: ignore[method-assign]
    assert store.get("ns:a", t0 + 150) is not None
    assert store.purge_expired(t0 + 50, limit=2) == 1  # c; a is live now
    assert {e.key for batch in store.scan() for e in batch} == {"ns:a"}
