"""VectorIndex: brute force and HNSW search over unit vectors; SemanticTier reset."""

from __future__ import annotations

import numpy as np
import pytest

from ethos.cache.semantic import HashingEmbedder, VectorIndex, l2_normalise

E = HashingEmbedder()


def _index(texts, **kw):
    idx = VectorIndex(E.dim, **kw)
    vecs = E.embed(texts)
    for i, t in enumerate(texts):
        idx.add(f"k{i}", t, vecs[i].tobytes())
    return idx


def test_add_and_search_returns_the_true_cosine():
    texts = ["what are your pricing plans", "how do i reset my password", "is there a free plan"]
    idx = _index(texts)
    q = E.embed(["what are your pricing plans please"])[0]
    hits = idx.search(q, k=2)
    assert [h.key for h in hits][0] == "k0"
    assert hits[0].question == texts[0]
    assert hits[0].similarity == pytest.approx(float(E.embed([texts[0]])[0] @ q), abs=1e-5)
    assert hits[0].similarity >= hits[1].similarity
    assert len(idx) == 3


def test_empty_index_and_bad_dimension():
    idx = VectorIndex(E.dim)
    assert idx.search(E.embed(["x"])[0]) == []
    with pytest.raises(ValueError):
        idx.add("k", "q", np.zeros(3, dtype=np.float32).tobytes())


def test_replacing_a_key_keeps_one_row():
    idx = _index(["alpha beta", "gamma delta"])
    idx.add("k0", "gamma delta", E.embed(["gamma delta"])[0])
    assert len(idx) == 2
    hits = idx.search(E.embed(["gamma delta"])[0], k=5)
    assert sorted(h.key for h in hits) == ["k0", "k1"]
    assert all(h.similarity == pytest.approx(1.0, abs=1e-5) for h in hits)


def test_add_many_keeps_newer_rows():
    idx = _index(["alpha beta"])
    newer = E.embed(["alpha beta"])[0]
    added = idx.add_many([("k0", "stale", E.embed(["zzz"])[0]), ("k9", "x y", newer)])
    assert added == 1
    assert idx.search(newer, k=1)[0].question in {"alpha beta", "x y"}


def test_ann_above_the_threshold_agrees_with_brute_force():
    rng = np.random.default_rng(7)
    vecs = l2_normalise(rng.normal(size=(300, 32)))
    brute = VectorIndex(32, ann_threshold=10_000)
    ann = VectorIndex(32, ann_threshold=100, background=False)
    for i, v in enumerate(vecs):
        brute.add(f"k{i}", str(i), v)
        ann.add(f"k{i}", str(i), v)
    assert ann.uses_ann and not brute.uses_ann
    q = l2_normalise(vecs[42] + 0.1 * rng.normal(size=32))
    assert ann.search(q, 1)[0].key == brute.search(q, 1)[0].key == "k42"
    # rows added after the graph was built are searchable too
    extra = l2_normalise(rng.normal(size=32))
    ann.add("new", "new", extra)
    assert ann.search(extra, 1)[0].key == "new"
