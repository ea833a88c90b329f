"""Semantic lookup speed with 100,000 stored entries, against GPTCache in the same run.

Both sides get the same data (100,000 distinct QQP questions with their MiniLM vectors,
loaded without re-embedding) and the same embedding function (ethos's MiniLM embedder).
Each query is timed end to end, embedding included, alternately on each side:

* ethos: ``ResponseCache.lookup`` over a SQLite file, SemanticTier (index: HNSW above
  ANN_THRESHOLD), verifier on, with the pair model when there is one (the shipped model, or
  ``--pair-model``): the candidates that reach its cosine floor and pass the hard checks are
  read by it, nearest first, until one is accepted;
* GPTCache: its standard setup from its README and its own benchmark: a ``sqlite`` cache
  base + ``faiss`` vector base from ``get_data_manager``, ``SearchDistanceEvaluation``,
  ``gptcache.adapter.api.get``; similarity_threshold 0.95 on its 0-4 distance scale
  (squared L2 0.2, i.e. cosine 0.9).

It also prints brute force against HNSW by index size (how ANN_THRESHOLD was chosen).

    .venv/bin/python bench/semantic_speed.py [--entries 100000] [--queries 500]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np
from semantic_common import (
    KB_PLANS,
    add_pair_model_option,
    command_line,
    embed_cached,
    load_pair_model,
    load_qqp,
    norm_all,
)

from ethos.cache import Entry, ResponseCache, Scope
from ethos.cache.keys import make_key
from ethos.cache.semantic import MiniLMEmbedder, SemanticTier, VectorIndex
from ethos.cache.stores.sqlite import SQLiteStore


def p50(xs: list[float]) -> float:
    return float(np.median(xs)) * 1000


def p95(xs: list[float]) -> float:
    return float(np.percentile(xs, 95)) * 1000


def data(entries: int, queries: int):
    """Stored questions, their vectors, and query texts not stored (half paraphrases)."""
    pairs = load_qqp()
    a = norm_all([p["text_a"] for p in pairs])
    b = norm_all([p["text_b"] for p in pairs])
    seen: dict[str, None] = {}
    for t in a + b:
        seen.setdefault(t, None)
    uniq = list(seen)
    if len(uniq) < entries + queries:
        raise SystemExit(f"only {len(uniq)} distinct questions")
    stored = uniq[:entries]
    stored_set = set(stored)
    para = [y for x, y, p in zip(a, b, pairs)
            if p["label"] == 1 and x in stored_set and y not in stored_set]
    other = [t for t in uniq[entries:] if t not in set(para)]
    rng = np.random.default_rng(1)
    qs = list(rng.permutation(para)[: queries // 2]) + list(rng.permutation(other)[: queries
                                                                          - queries // 2])
    qs = [str(q) for q in rng.permutation(qs)]
    vecs = embed_cached(stored, MiniLMEmbedder(), "qqp")
    return stored, vecs, qs


def crossover(vecs: np.ndarray, probe: np.ndarray, sizes: list[int]) -> None:
    print("\nindex search alone, p50 ms: size | brute force (numpy) | HNSW (usearch)")
    for n in sizes:
        if n > len(vecs):
            break
        brute = VectorIndex(vecs.shape[1], ann_threshold=10**9)
        ann = VectorIndex(vecs.shape[1], ann_threshold=0, background=False)
        rows = [(str(i), "", vecs[i]) for i in range(n)]
        brute.add_many(rows)
        ann.add_many(rows)
        tb, ta = [], []
        for q in probe:
            t0 = time.perf_counter()
            brute.search(q, 5)
            t1 = time.perf_counter()
            ann.search(q, 5)
            t2 = time.perf_counter()
            tb.append(t1 - t0)
            ta.append(t2 - t1)
        print(f"  {n:>7} | {p50(tb):6.3f} | {p50(ta):6.3f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--no-crossover", action="store_true")
    add_pair_model_option(ap)
    args = ap.parse_args()
    pair_model = load_pair_model(args.pair_model)

    stored, vecs, queries = data(args.entries, args.queries)
    embedder = MiniLMEmbedder()
    embedder.load()
    tmp = tempfile.mkdtemp(prefix="ethos-speed-")

    # --- ethos ---------------------------------------------------------------------
    scope = Scope("bench", 1, "kb", "p", "k")
    store = SQLiteStore(os.path.join(tmp, "ethos.db"))
    t0 = time.time()
    now = time.time()
    for q, v in zip(stored, vecs):
        key, norm = make_key(scope, q)
        store.put(Entry(key, scope.namespace, scope.format_version, scope.digest, norm,
                        f"answer to {q}", created_at=now, ttl_s=86400,
                        embedding=v.astype(np.float32).tobytes()))
    load_s = time.time() - t0
    tier = SemanticTier(store, embedder, names=KB_PLANS, pair_model=pair_model)
    tier.load()
    cache = ResponseCache(store, scope, semantic=tier, gates=())
    t0 = time.time()
    cache.lookup("warm up the index")  # reads the stored vectors
    index = tier._indexes[(scope.namespace, scope.format_version, scope.digest)]
    while len(index) >= index.ann_threshold and not index.uses_ann:
        time.sleep(0.1)
    index_s = time.time() - t0

    # --- GPTCache, as its docs set it up ----------------------------------------------
    from gptcache import Cache, Config
    from gptcache.adapter.api import get as gpt_get
    from gptcache.manager import CacheBase, VectorBase, get_data_manager
    from gptcache.processor.pre import get_prompt
    from gptcache.similarity_evaluation.distance import SearchDistanceEvaluation

    def embed_fn(text: str, **_: object) -> np.ndarray:
        return embedder.embed([text])[0]

    dm = get_data_manager(
        CacheBase("sqlite", sql_url=f"sqlite:///{tmp}/gptcache.db"),
        VectorBase("faiss", dimension=embedder.dim, index_path=f"{tmp}/faiss.index"),
        max_size=args.entries * 2,
    )
    t0 = time.time()
    dm.import_data(stored, [f"answer to {q}" for q in stored], list(vecs), [None] * len(stored))
    gpt_load_s = time.time() - t0
    gpt = Cache()
    gpt.init(pre_embedding_func=get_prompt, embedding_func=embed_fn, data_manager=dm,
             similarity_evaluation=SearchDistanceEvaluation(),
             config=Config(similarity_threshold=0.95))

    # --- timed, alternating -----------------------------------------------------------
    for q in queries[:20]:  # warm-up
        cache.lookup(q)
        gpt_get(q, cache_obj=gpt)
    ours, theirs, emb_only = [], [], []
    our_hits = gpt_hits = 0
    for q in queries:
        t0 = time.perf_counter()
        lk = cache.lookup(q)
        t1 = time.perf_counter()
        r = gpt_get(q, cache_obj=gpt)
        t2 = time.perf_counter()
        embedder.embed([q])
        t3 = time.perf_counter()
        ours.append(t1 - t0)
        theirs.append(t2 - t1)
        emb_only.append(t3 - t2)
        our_hits += lk.result in ("hit", "semantic_hit")
        gpt_hits += r is not None

    print(f"semantic lookup with {len(stored)} entries, {len(queries)} queries (half"
          f" paraphrases of stored questions), {os.cpu_count()} cores, model {embedder.name},"
          f" load average {os.getloadavg()[0]:.1f} (other work on the machine slows both)")
    print(f"  ethos: store filled in {load_s:.1f}s; index from stored vectors"
          f" {index_s:.1f}s ({'HNSW' if index.uses_ann else 'brute force'});"
          f" GPTCache import {gpt_load_s:.1f}s")
    print(f"  embedding alone:   p50 {p50(emb_only):6.2f} ms  p95 {p95(emb_only):6.2f} ms")
    print(f"  ethos lookup:      p50 {p50(ours):6.2f} ms  p95 {p95(ours):6.2f} ms"
          f"  hits {our_hits}  (verifier: "
          f"{'pair model ' + pair_model.name if tier.verifier.uses_pair_model else 'cosine rules'})")
    print(f"  GPTCache get:      p50 {p50(theirs):6.2f} ms  p95 {p95(theirs):6.2f} ms"
          f"  hits {gpt_hits}")
    ratio = p50(theirs) / p50(ours)
    print(f"  ratio (GPTCache p50 / ethos p50): {ratio:.1f}x")
    if not args.no_crossover:
        probe = embedder.embed(queries[:200])
        crossover(vecs, probe, [1000, 5000, 10_000, 20_000, 50_000, 100_000])
    print(f"\nreproduce: {command_line()}")
    return 0 if p50(ours) <= 15 and ratio >= 4 else 1


if __name__ == "__main__":
    sys.exit(main())
