"""The store contract: every backend (SQLite file, SQLite in memory, Redis, Firestore on its
emulator) passes it.

Time is passed in (``now``), so expiry is tested without sleeping; only Redis's own expiry
(its clock, not ours) is waited for, by polling.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator

import pytest

from ethos.cache.entry import Entry
from ethos.cache.keys import glob_matches
from ethos.cache.stores import Store, open_store
from ethos.cache.stores.sqlite import SQLiteStore

BACKENDS = [
    pytest.param("sqlite-file", id="sqlite-file"),
    pytest.param("sqlite-memory", id="sqlite-memory"),
    pytest.param("redis", id="redis", marks=pytest.mark.redis),
    pytest.param("firestore", id="firestore", marks=pytest.mark.firestore),
]


def _open(kind: str, request: pytest.FixtureRequest) -> Store:
    if kind == "sqlite-file":
        return SQLiteStore(request.getfixturevalue("tmp_path") / "cache.sqlite3")
    if kind == "sqlite-memory":
        return open_store("sqlite://:memory:")
    if kind == "firestore":  # the real emulator, a project of this test's own
        return open_store(request.getfixturevalue("firestore_url"))
    return open_store(request.getfixturevalue("redis_url"))


@pytest.fixture(params=BACKENDS)
def kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def store(kind: str, request: pytest.FixtureRequest) -> Iterator[Store]:
    s = _open(kind, request)
    yield s
    s.close()


@pytest.fixture
def second(kind: str, request: pytest.FixtureRequest) -> Iterator[Store]:
    """Another handle on the same data (another process, as far as the store can tell)."""
    if kind == "sqlite-memory":
        pytest.skip("an in-memory SQLite database is private to its connection")
    s = _open(kind, request)
    yield s
    s.close()


@pytest.fixture
def t0() -> float:
    # real time: Redis expires entries by its own clock too
    return float(int(time.time()))


def make(
    key: str,
    t0: float,
    *,
    namespace: str = "ns",
    format_version: int = 1,
    scope: str = "s1",
    sources: tuple[str, ...] = (),
    ttl_s: int = 0,
    embedding: bytes = b"",
    reply: str | None = None,
) -> Entry:
    return Entry(
        key=key,
        namespace=namespace,
        format_version=format_version,
        scope=scope,
        question=f"question of {key}",
        reply=reply if reply is not None else f"reply to {key}",
        sources=list(sources),
        created_at=t0,
        ttl_s=ttl_s,
        embedding=embedding,
        meta={"answerer": "kb", "n": 1},
    )


def keys_of(store: Store) -> set[str]:
    return {e.key for batch in store.scan() for e in batch}


# --- get / put ---------------------------------------------------------------------
def test_put_then_get_round_trips_every_field(store: Store, t0: float) -> None:
    e = make("ns:v1:s1:what-is-it:abc", t0, sources=("pricing.md", "plans.md"), ttl_s=3600,
             embedding=bytes(range(16)))
    store.put(e)
    got = store.get(e.key, t0 + 1)
    assert got == e
    assert got.hit_count == 0
    assert store.get("ns:v1:s1:other:abc", t0 + 1) is None


def test_put_replaces_and_hit_count_restarts(store: Store, t0: float) -> None:
    store.put(make("k", t0, reply="old", sources=("a.md",)))
    store.add_hits({"k": 3})
    assert store.get("k", t0).hit_count == 3
    store.put(make("k", t0, reply="new", sources=("b.md",)))
    got = store.get("k", t0)
    assert (got.reply, got.hit_count, got.sources) == ("new", 0, ["b.md"])
    assert store.count() == 1
    assert store.delete_by_source("a.md") == 0  # the old sources went with the old entry
    assert store.get("k", t0) is not None


# --- expiry ------------------------------------------------------------------------
def test_ttl_expiry_by_now(store: Store, t0: float) -> None:
    store.put(make("short", t0, ttl_s=60))
    store.put(make("forever", t0, ttl_s=0))
    assert store.get("short", t0 + 59.9) is not None
    assert store.get("short", t0 + 60) is None
    assert store.get("forever", t0 + 10 * 365 * 86400) is not None


def test_purge_expired(store: Store, t0: float) -> None:
    store.put(make("a", t0, ttl_s=10))
    store.put(make("b", t0, ttl_s=100))
    store.put(make("c", t0))
    assert store.purge_expired(t0 + 5) == 0
    assert store.purge_expired(t0 + 50) == 1
    assert keys_of(store) == {"b", "c"}


def leftovers(store: Store, kind: str) -> dict[str, int]:
    """What a backend keeps beside its entries (index rows, set members, records), by place;
    Firestore keeps nothing beside the entry's own document."""
    if kind.startswith("sqlite"):
        db = store._db()  # type: ignore[attr-defined]
        n = db.execute("SELECT count(*) FROM entry_sources").fetchone()[0]
        return {"entry_sources": n} if n else {}
    if kind == "redis":
        raw, p = store.client, store._p  # type: ignore[attr-defined]
        sets = sorted(raw.scan_iter(match=p + b"src:*")) + sorted(raw.scan_iter(match=p + b"vec:*"))
        out = {k.decode(): raw.scard(k) for k in sets}
        out |= {"puts": raw.zcard(p + b"puts"), "exp": raw.zcard(p + b"exp"), "idx": raw.hlen(p + b"idx")}
        return {k: v for k, v in out.items() if v}
    return {}


def test_purge_is_bounded_and_spares_live_entries(store: Store, kind: str, t0: float) -> None:
    vec = bytes(range(8))
    expired = [f"ns:v1:s1:old-{i}:{i}" for i in range(7)]
    for i, k in enumerate(expired):
        store.put(make(k, t0, ttl_s=10 + i, sources=("shared.md", f"old-{i}.md"), embedding=vec))
    live = [f"ns:v1:s1:live-{i}:{i}" for i in range(3)]
    for k in live:
        store.put(make(k, t0, ttl_s=3600, sources=("shared.md",), embedding=vec))
    store.put(make("ns:v1:s1:forever:9", t0, sources=("shared.md",), embedding=vec))
    # expired, then put again with a longer life before any purge: it is live
    store.put(make("ns:v1:s1:again:8", t0, ttl_s=5, sources=("again.md",)))
    store.put(make("ns:v1:s1:again:8", t0, ttl_s=3600, sources=("again.md",)))
    survivors = {*live, "ns:v1:s1:forever:9", "ns:v1:s1:again:8"}
    now = t0 + 100
    before = store.ops.deletes

    assert store.purge_expired(now, limit=0) == 0
    # bounded: three per pass, the ones that expired first, then what is left
    assert store.purge_expired(now, limit=3) == 3
    assert store.ops.deletes - before == 3
    assert keys_of(store) == survivors | set(expired[3:])
    assert store.purge_expired(now, limit=3) == 3
    assert store.purge_expired(now, limit=3) == 1
    assert store.purge_expired(now, limit=3) == 0
    assert store.ops.deletes - before == 7

    assert keys_of(store) == survivors
    assert all(store.get(k, t0) is not None for k in survivors)
    assert {k for k, *_ in store.scope_vectors("ns", 1, "s1", t0)} == {*live, "ns:v1:s1:forever:9"}
    # what named the purged entries went with them; what names the live ones stays
    if kind.startswith("sqlite"):
        assert leftovers(store, kind) == {"entry_sources": 3 + 1 + 1}
    elif kind == "redis":
        p = store.prefix  # type: ignore[attr-defined]
        assert leftovers(store, kind) == {
            f"{p}src:shared.md": 4, f"{p}src:again.md": 1, f"{p}vec:ns:v1:s1": 4,
            "puts": 5, "exp": 4, "idx": 4,  # (only entries with a TTL have an expiry)
        }
    assert store.delete_by_source("old-0.md") == 0
    assert store.delete_by_source("again.md") == 1
    assert store.delete_by_source("shared.md") == 4


def test_redis_expires_entries_by_itself(store: Store, kind: str) -> None:
    if kind != "redis":
        pytest.skip("Redis's own expiry")
    store.put(make("soon", time.time() - 58.5, ttl_s=60, sources=("d.md",), embedding=b"v"))
    store.put(make("stays", time.time(), sources=("d.md",), embedding=b"v"))
    assert store.count() == 2
    deadline = time.monotonic() + 8
    while store.count() > 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert store.count() == 1
    # Redis removed the hash, not what names it: purge_expired does, from the entry's record
    names = {"src:d.md": 2, "vec:ns:v1:s1": 2, "puts": 2, "exp": 1, "idx": 1}
    prefix = store.prefix  # type: ignore[attr-defined]
    assert leftovers(store, kind) == {(prefix + k if ":" in k else k): n for k, n in names.items()}
    assert store.purge_expired(time.time()) == 1
    names = {"src:d.md": 1, "vec:ns:v1:s1": 1, "puts": 1}
    assert leftovers(store, kind) == {(prefix + k if ":" in k else k): n for k, n in names.items()}
    assert store.purge_expired(time.time()) == 0
    assert store.delete_by_source("d.md") == 1


def test_redis_put_after_expiry_unlinks_what_named_the_old_entry(store: Store, kind: str, t0: float) -> None:
    if kind != "redis":
        pytest.skip("Redis's record of the sets that name an entry")
    store.put(make("k", t0, ttl_s=60, sources=("old.md", "both.md"), embedding=b"v"))
    store._call(store.client.unlink, store._hkey("k"))  # type: ignore[attr-defined]  # as Redis's expiry does
    store.put(make("k", t0, ttl_s=60, scope="s2", sources=("both.md", "new.md"), embedding=b"w"))
    prefix = store.prefix  # type: ignore[attr-defined]
    expected = {"src:both.md": 1, "src:new.md": 1, "vec:ns:v1:s2": 1, "puts": 1, "exp": 1, "idx": 1}
    assert leftovers(store, kind) == {(prefix + k if ":" in k else k): n for k, n in expected.items()}


# --- pattern invalidation ----------------------------------------------------------
KEYS = [
    "marketing:v1:abc:what-are-your-pricing-plans:1",
    "marketing:v1:abc:pricing-for-startups:2",
    "marketing:v2:abc:pricing-for-enterprise:3",
    "marketing:v1:def:how-do-i-reset-my-password:4",
    "support:v1:abc:pricing:5",
    "marketing:v1:abc:café-au-lait:6",
    "marketing:v1:abc:x:7",
]
PATTERNS = [
    "*",
    "marketing:*",
    "marketing:v1:*pricing*",
    "marketing:v[12]:abc:*",
    "marketing:v[!1]:*",
    "[!m]*",
    "marketing:v1:abc:caf?-*",
    "marketing:v1:abc:?:*",
    "*:[a-d]??:*",
    "marketing:v1:abc:café*",
    "nothing-matches-*",
    "marketing:v1:abc:x:7",
]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_delete_matching_is_fnmatch(store: Store, t0: float, pattern: str) -> None:
    for k in KEYS:
        store.put(make(k, t0))
    expected = {k for k in KEYS if glob_matches(pattern, k)}
    assert store.delete_matching(pattern) == len(expected)
    assert keys_of(store) == set(KEYS) - expected


# Characters that are syntax somewhere (SQL quoting and LIKE, Redis MATCH, shells) but data
# here. Backslash is left out: keys never hold one and parse_pattern refuses it.
ODD_KEYS = [
    "ns:it's-a-test:1",
    "ns:100%-off:2",
    "ns:a_c:3",
    "ns:abc:4",
    "ns:drop;table:5",
    "ns:^caret:6",
    "ns:br]acket:7",
    "ns:star*key:8",
    "ns:q?mark:9",
    "ns:open[bracket:10",
]
ODD_PATTERNS = [
    "ns:it's*",
    "ns:100%*",
    "ns:a_c:*",
    "ns:a%c:*",
    "ns:*;*",
    "ns:[^a]*",  # fnmatch: '^' or 'a'; not a negation
    "ns:[!^a]*",
    "ns:^*",
    "ns:*]*",
    "ns:br[]]acket:*",
    "ns:star[*]key:*",
    "ns:q[?]mark:*",
    "ns:open[[]bracket:*",
    "ns:open[bracket:*",  # no closing ']': a literal '['
    "ns:*'; DELETE FROM entries; --",
]


@pytest.mark.parametrize("pattern", ODD_PATTERNS)
def test_metacharacters_are_data(store: Store, t0: float, pattern: str) -> None:
    for k in ODD_KEYS:
        store.put(make(k, t0))
    expected = {k for k in ODD_KEYS if glob_matches(pattern, k)}
    assert store.delete_matching(pattern) == len(expected)
    assert keys_of(store) == set(ODD_KEYS) - expected


def test_random_globs_select_what_fnmatch_selects(store: Store, t0: float) -> None:
    """Seeded random keys and patterns over the characters that are syntax somewhere."""
    rng = random.Random(4)
    alphabet = "ab^]![*?-é:%_'"
    keys = {"".join(rng.choice(alphabet) for _ in range(rng.randint(1, 5))) for _ in range(150)}
    for k in keys:
        store.put(make(k, t0))
    for _ in range(200):
        pattern = "".join(rng.choice(alphabet + "**??[[]]") for _ in range(rng.randint(1, 6)))
        got = {e.key for batch in store.scan(pattern) for e in batch}
        assert got == {k for k in keys if glob_matches(pattern, k)}, pattern


def test_odd_keys_round_trip(store: Store, t0: float) -> None:
    for k in ODD_KEYS:
        store.put(make(k, t0))
    for k in ODD_KEYS:
        assert store.get(k, t0).key == k


def test_delete_keys_takes_keys_literally(store: Store, t0: float) -> None:
    for k in ("ns:a*b", "ns:axxb", "ns:a?b", "ns:aqb", "ns:[x]", "ns:x"):
        store.put(make(k, t0))
    assert store.delete_keys(["ns:a*b", "ns:a?b", "ns:[x]", "ns:missing"]) == 3
    assert keys_of(store) == {"ns:axxb", "ns:aqb", "ns:x"}


def test_delete_by_source(store: Store, t0: float) -> None:
    store.put(make("a", t0, sources=("pricing.md", "plans.md")))
    store.put(make("b", t0, sources=("plans.md",)))
    store.put(make("c", t0))
    store.put(make("d", t0, sources=("it's 100%;.md",)))
    assert store.delete_by_source("pricing.md") == 1
    assert keys_of(store) == {"b", "c", "d"}
    assert store.delete_by_source("plans.md") == 1
    assert store.delete_by_source("plans.md") == 0
    assert store.delete_by_source("it's 100%;.md") == 1
    assert keys_of(store) == {"c"}


# --- hits, scan, vectors -----------------------------------------------------------
def test_add_hits_ignores_missing_keys(store: Store, t0: float) -> None:
    store.put(make("a", t0))
    store.add_hits({"a": 2, "missing": 5})
    store.add_hits({"a": 1})
    store.add_hits({})
    assert store.get("a", t0).hit_count == 3
    assert store.get("missing", t0) is None
    assert store.count() == 1


def test_scan_in_batches(store: Store, t0: float) -> None:
    keys = {f"ns:v1:s1:q-{i}:{i}" for i in range(1234)} | {f"other:v1:s1:q:{i}" for i in range(7)}
    for k in keys:
        store.put(make(k, t0))
    store.add_hits({"ns:v1:s1:q-5:5": 4})
    batches = list(store.scan(batch=100))
    assert all(0 < len(b) <= 100 for b in batches)
    seen = [e.key for b in batches for e in b]
    assert len(seen) == len(set(seen)) == len(keys)
    assert set(seen) == keys
    assert {e.key: e.hit_count for b in batches for e in b}["ns:v1:s1:q-5:5"] == 4
    only = {e.key for b in store.scan("other:*", batch=3) for e in b}
    assert only == {k for k in keys if k.startswith("other:")}
    assert list(store.scan("nothing:*")) == []


def test_scope_vectors(store: Store, t0: float) -> None:
    vec = bytes(range(8))
    store.put(make("ns:v1:s1:a:1", t0, embedding=vec))
    store.put(make("ns:v1:s1:b:2", t0, embedding=vec[::-1], ttl_s=100))
    store.put(make("ns:v1:s1:novec:3", t0))
    store.put(make("ns:v1:s1:expired:4", t0, embedding=vec, ttl_s=10))
    store.put(make("ns:v1:s2:other-scope:5", t0, scope="s2", embedding=vec))
    store.put(make("ns:v2:s1:other-format:6", t0, format_version=2, embedding=vec))
    store.put(make("nx:v1:s1:other-ns:7", t0, namespace="nx", embedding=vec))
    got = sorted(store.scope_vectors("ns", 1, "s1", t0 + 50))
    assert got == [
        ("ns:v1:s1:a:1", "question of ns:v1:s1:a:1", vec, float("inf")),
        ("ns:v1:s1:b:2", "question of ns:v1:s1:b:2", vec[::-1], t0 + 100),
    ]
    # replaced without a vector, removed: gone from the scope
    store.put(make("ns:v1:s1:a:1", t0))
    store.delete_keys(["ns:v1:s1:b:2"])
    assert store.scope_vectors("ns", 1, "s1", t0 + 50) == []
    assert [k for k, *_ in store.scope_vectors("ns", 1, "s2", t0)] == ["ns:v1:s2:other-scope:5"]


def test_count_and_stats(store: Store, t0: float) -> None:
    assert store.count() == 0
    for i in range(25):
        store.put(make(f"k{i}", t0, reply="x" * 200))
    assert store.count() == 25
    st = store.stats()
    assert st.entries == 25
    assert st.size_bytes > 0
    assert st.backend == store.backend


def test_meta_is_shared(store: Store, kind: str, request: pytest.FixtureRequest) -> None:
    assert store.get_meta("pii_leaks") is None
    store.set_meta("pii_leaks", 3)
    store.set_meta("pii_leaks", 2)
    assert store.get_meta("pii_leaks") == 2
    if kind != "sqlite-memory":
        other = _open(kind, request)
        try:
            assert other.get_meta("pii_leaks") == 2
        finally:
            other.close()


def test_ping(store: Store) -> None:
    assert store.ping() is True


# --- the epoch ---------------------------------------------------------------------
def test_epoch_moves_on_every_removal_and_not_on_puts(store: Store, t0: float) -> None:
    e = store.epoch()
    for i in range(5):
        store.put(make(f"k{i}", t0, sources=("s.md",) if i == 1 else (), ttl_s=10 if i == 2 else 0))
    store.add_hits({"k0": 1})
    assert store.epoch() == e
    removals = [
        lambda: store.delete_matching("k0"),
        lambda: store.delete_by_source("s.md"),
        lambda: store.delete_keys(["k3"]),
        lambda: store.delete_matching("k2"),
        lambda: store.delete_matching("*"),
    ]
    seen = {e}
    for remove in removals:
        assert remove() == 1
        now = store.epoch()
        assert now not in seen
        seen.add(now)


def test_purging_expired_entries_leaves_the_epoch(store: Store, t0: float) -> None:
    """An expired entry is a miss in every tier already: its purge must not make every memory
    tier and vector index of every process drop what it holds."""
    store.put(make("old", t0, ttl_s=10))
    store.put(make("new", t0))
    e = store.epoch()
    assert store.purge_expired(t0 + 20) == 1
    assert store.epoch() == e
    assert store.get("new", t0 + 20) is not None


def test_removal_reaches_another_handle(store: Store, second: Store, t0: float) -> None:
    store.put(make("a", t0))
    assert second.get("a", t0) is not None
    before = second.epoch()
    store.delete_matching("a")
    deadline = time.monotonic() + 5  # pub/sub for Redis: poll instead of sleeping
    while second.epoch() == before and time.monotonic() < deadline:
        time.sleep(0.005)
    assert second.epoch() != before
    assert second.get("a", t0) is None


def test_close_leaves_no_threads(kind: str, request: pytest.FixtureRequest) -> None:
    before = set(threading.enumerate())
    s = _open(kind, request)
    s.ping()
    s.close()
    assert set(threading.enumerate()) - before == set()


# --- positions: what is new since a marker (the periodic PII scan) ---------------------
def _since_all(store: Store, after: int, batch: int = 500) -> tuple[list[str], int]:
    keys: list[str] = []
    while True:
        got, nxt = store.scan_since(after, batch)
        keys.extend(e.key for e in got)
        if nxt == after:
            return keys, after
        after = nxt


def _in_put_order(store: Store, keys: list[str], expected: list[str]) -> bool:
    """SQLite and Redis number their puts; Firestore orders by the put's server time, then by
    document id, and puts within one tick of the emulator's clock (a millisecond) may come in
    either order. Every store returns each key once."""
    if store.backend == "firestore":
        return len(keys) == len(set(keys)) and sorted(keys) == sorted(expected)
    return keys == expected


def test_scan_since_reads_what_was_put_after_a_position(store: Store, t0: float) -> None:
    assert store.position() == 0
    assert store.scan_since(0) == ([], 0)
    for i in range(5):
        store.put(make(f"old{i}", t0))
    mark = store.position()
    assert mark >= 5
    assert _in_put_order(store, _since_all(store, 0)[0], [f"old{i}" for i in range(5)])
    assert store.scan_since(mark) == ([], mark)
    for i in range(7):
        store.put(make(f"new{i}", t0))
    store.add_hits({"new1": 2})
    got, nxt = store.scan_since(mark, batch=3)
    assert len(got) == 3
    if store.backend != "firestore":
        assert [e.key for e in got] == ["new0", "new1", "new2"]
    by_key = {e.key: e for e in got}
    assert all(e.reply == f"reply to {e.key}" for e in got)
    assert "new1" not in by_key or by_key["new1"].hit_count == 2
    rest, end = _since_all(store, nxt, batch=3)
    assert _in_put_order(store, [e.key for e in got] + rest, [f"new{i}" for i in range(7)])
    assert end == store.position() > nxt > mark


def test_scan_since_sees_a_replaced_entry_again_and_skips_removed_ones(
    store: Store, t0: float
) -> None:
    for k in ("a", "b", "c"):
        store.put(make(k, t0))
    mark = store.position()
    store.put(make("a", t0, reply="replaced"))  # put again: new since the mark
    store.put(make("d", t0))
    store.delete_keys(["d"])
    keys, end = _since_all(store, mark, batch=1)
    assert keys == ["a"]
    assert end > mark
    assert store.scan_since(end) == ([], end)
    store.put(make("e", t0))  # positions never go back, even after a removal
    assert _since_all(store, end)[0] == ["e"]


def test_positions_are_shared(store: Store, second: Store, t0: float) -> None:
    mark = second.position()
    store.put(make("x", t0))
    assert second.position() > mark
    assert [e.key for e in second.scan_since(mark)[0]] == ["x"]


def test_redis_purge_leaves_a_live_entry_whose_score_is_stale(store: Store, kind: str, t0: float) -> None:
    """The purge script reads the entry's own expiry before removing anything: a score in
    ``P exp`` that says otherwise (a put racing the read of the due keys) removes nothing."""
    if kind != "redis":
        pytest.skip("Redis's expiry index")
    store.put(make("k", t0, ttl_s=3600, sources=("a.md",), embedding=b"v"))
    raw, p = store.client, store._p  # type: ignore[attr-defined]
    raw.zadd(p + b"exp", {b"k": t0 + 1})
    assert store.purge_expired(t0 + 50) == 0
    assert store.get("k", t0 + 50) is not None
    assert raw.zscore(p + b"exp", b"k") == t0 + 3600
    assert store.delete_by_source("a.md") == 1
