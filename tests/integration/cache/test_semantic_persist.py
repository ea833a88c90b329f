"""A semantic tier restarted on a real store (a SQLite file, a real Redis, the Firestore
emulator) installs the index its predecessor saved: the same nearest neighbours, no full read,
no graph built.

Counted, never timed: full reads of the scope (``scope_vectors`` calls), rows read from the
store, graphs built.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ethos.cache import Entry, Scope
from ethos.cache.keys import make_key
from ethos.cache.semantic import HashingEmbedder, SemanticTier
from ethos.cache.stores import Store, open_store

E = HashingEmbedder()
SCOPE = Scope("ns", 1, "kb", "p1", "kb1")
OTHER = Scope("ns", 1, "kb", "p1", "kb2")  # another scope in the same store
SID = (SCOPE.namespace, SCOPE.format_version, SCOPE.digest)
N = 400


def question(i: int) -> str:
    return f"how do I set up feature {i} with option {i % 11} on plan {i % 5}"


def put(store: Store, i: int, scope: Scope = SCOPE) -> str:
    key, norm = make_key(scope, question(i))
    store.put(Entry(key, scope.namespace, scope.format_version, scope.digest, norm, f"a{i}",
                    created_at=1_000_000.0, ttl_s=0,
                    embedding=E.embed([norm])[0].astype(np.float32).tobytes()))
    return key


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis),
                        pytest.param("firestore", marks=pytest.mark.firestore)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cache.sqlite3'}"
    if request.param == "firestore":  # the real emulator, a project of this test's own
        return str(request.getfixturevalue("firestore_url"))
    return str(request.getfixturevalue("redis_url"))


def start(url: str, index_dir: Path) -> tuple[SemanticTier, Store, dict[str, int]]:
    store = open_store(url)
    counts = {"full_reads": 0, "rows_read": 0}
    full = store.scope_vectors

    def scope_vectors(*a, **kw):
        counts["full_reads"] += 1
        return full(*a, **kw)

    store.scope_vectors = scope_vectors  # type: ignore[method-assign]
    store.on_op(lambda kind, n: counts.__setitem__("rows_read", counts["rows_read"] + n)
                if kind == "reads" else None)
    tier = SemanticTier(store, E, ann_threshold=100, index_dir=index_dir)
    tier.load()
    return tier, store, counts


def neighbours(tier: SemanticTier) -> list[list[str]]:
    index = tier._index(SID)
    assert index is not None
    probes = [question(i) for i in range(0, N, 37)] + ["feature 12 on plan 3", "option 4"]
    return [[n.key for n in index.search(E.embed([p])[0], 5)] for p in probes]


def test_a_restarted_tier_finds_the_same_neighbours_without_a_rebuild(url, tmp_path):
    index_dir = tmp_path / "index"
    tier, store, counts = start(url, index_dir)
    for i in range(N):
        put(store, i)
    for i in range(50):
        put(store, i, OTHER)
    neighbours(tier)  # loads the index; its graph is built in the background, then saved
    assert tier.wait_saved(60)
    index = tier._index(SID)
    assert index is not None and index.uses_ann
    assert index.graphs_built == 1 and counts["full_reads"] == 1
    before = neighbours(tier)  # from the graph, as the next tier's will be
    store.close()

    tier2, store2, counts2 = start(url, index_dir)
    assert neighbours(tier2) == before
    index2 = tier2._index(SID)
    assert index2 is not None
    assert tier2.loads == {"file": 1}
    assert counts2["full_reads"] == 0 and index2.graphs_built == 0
    assert counts2["rows_read"] < 10  # the mark, the position, an empty catch-up
    assert len(index2) == N

    # entries put since are caught up (only they are read); a removal means a full rebuild
    new = put(store2, N)
    put(store2, 7, OTHER)
    store2.close()
    tier3, store3, counts3 = start(url, index_dir)
    index3 = tier3._index(SID)
    assert index3 is not None and tier3.loads == {"file": 1} and counts3["full_reads"] == 0
    assert counts3["rows_read"] < 10
    assert index3.search(E.embed([question(N)])[0], 1)[0].key == new
    gone, _ = make_key(SCOPE, question(37))
    assert store3.delete_keys([gone]) == 1
    store3.close()

    tier4, store4, counts4 = start(url, index_dir)
    index4 = tier4._index(SID)
    assert index4 is not None and tier4.loads == {"store": 1} and counts4["full_reads"] == 1
    assert gone not in {k for keys in neighbours(tier4) for k in keys}
    assert len(index4) == N  # N + 1 put, 1 removed
    assert tier4.wait_saved(60)
    store4.close()
