"""Start to semantic-ready with 100,000 stored entries: where the time goes, and the code at
HEAD (``git archive HEAD src``) against the working tree, in the same run (issue 20).

The store is filled once through the real store API (``Store.put``) with random unit vectors
of 384 dimensions (real MiniLM vectors cost minutes to compute and time the same); a SQLite
file in ``bench/.cache/`` and a key prefix of its own on Redis are kept between runs.

Then, per store, fresh processes start as ``ethos serve`` would start its semantic tier
(the real MiniLM model in ONNX Runtime, the real store) and report, from the moment the
process was started:

* ``model``: the embedding model loaded;
* ``first answer``: the first semantic lookup answered (``SemanticTier.nearest``), whatever
  searched it (the brute-force matrix answers while the graph is built: p50 ~8 ms at 100k);
* ``graph ready``: the HNSW graph answers (lookups at full speed, p50 ~1 ms);
* ``rows read``: rows read from the store for the index; ``graphs built``: full graph builds.

Queries are stored vectors plus a little noise (cosine ~0.93 to their entry, ~0 to the rest),
asked with the stored question: ``recall@1`` is the share whose own entry comes first from the
graph (random 384-d vectors are HNSW's worst case: each build misses some, differently); the
rest of a top-5 are near-ties, so top-5 is compared only between the graph built (cold) and the
same graph installed from its file (warm), which must agree exactly.

Modes: ``head`` (the committed code), ``cold`` (this tree, no persisted graph: it builds and
saves one), ``warm`` (this tree, the graph persisted by the run before it). The top-5
neighbours of 50 queries are compared between modes. ``--components`` times each step of the
committed code's start alone (store read, matrix, graph build, model load).

    .venv/bin/python bench/semantic_ready.py [--entries 100000] [--stores sqlite,redis]
        [--runs 1] [--components] [--redis-url redis://127.0.0.1:6379/15] [--drop]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / ".cache"
DIM = 384
NAMESPACE = "bench"
SCOPE = ("bench", 1, "ready-kb", "p", "k")  # Scope(namespace, fv, answerer, prompt, kb)
TTL_S = 30 * 86400
FILL_META = "bench_ready_filled"


def vectors(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((n, DIM), dtype=np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v


def question(i: int) -> str:
    return f"question number {i} about topic {i % 97}"


def store_url(kind: str, n: int, redis_url: str) -> str:
    if kind == "sqlite":
        return f"sqlite:///{CACHE / f'semantic-ready-{n}.sqlite3'}"
    sep = "&" if "?" in redis_url else "?"
    return f"{redis_url}{sep}prefix=ethos-bench-ready-{n}:"


def fill(kind: str, n: int, redis_url: str) -> None:
    """Put ``n`` entries of one scope through ``Store.put`` unless an earlier run did."""
    from ethos.cache import Entry, Scope
    from ethos.cache.keys import make_key
    from ethos.cache.stores import open_store

    CACHE.mkdir(parents=True, exist_ok=True)
    store = open_store(store_url(kind, n, redis_url), timeout_s=5.0)
    try:
        filled = store.get_meta(FILL_META)
        if filled is not None and time.time() - filled < TTL_S / 2 and store.count() >= n:
            return
        scope = Scope(*SCOPE)
        vecs = vectors(n)
        now = time.time()
        t0 = time.time()
        print(f"filling {kind} with {n} entries (once; kept for later runs) ...", file=sys.stderr)

        def put_range(lo: int, hi: int) -> None:
            for i in range(lo, hi):
                key, norm = make_key(scope, question(i))
                store.put(Entry(key, scope.namespace, scope.format_version, scope.digest, norm,
                                f"answer {i}", created_at=now, ttl_s=TTL_S,
                                embedding=vecs[i].tobytes()))

        workers = 1 if kind == "sqlite" else 8  # SQLite serialises writers anyway
        step = -(-n // workers)
        threads = [threading.Thread(target=put_range, args=(w * step, min(n, (w + 1) * step)))
                   for w in range(workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        store.set_meta(FILL_META, int(now))
        print(f"  filled in {time.time() - t0:.0f} s", file=sys.stderr)
    finally:
        store.close()


def drop(n: int, redis_url: str) -> None:
    """Remove what :func:`fill` keeps between runs."""
    import redis

    path = CACHE / f"semantic-ready-{n}.sqlite3"
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        p.unlink(missing_ok=True)
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"ethos-bench-ready-{n}:*", count=1000))
    for i in range(0, len(keys), 500):
        client.unlink(*keys[i:i + 500])
    client.close()
    print(f"removed {path} and {len(keys)} Redis keys")


# --- children: one fresh process per measurement ------------------------------------------
def child_components(url: str) -> dict:
    """Each step of the committed code's start, alone."""
    from ethos.cache import Scope
    from ethos.cache.semantic import MiniLMEmbedder, VectorIndex
    from ethos.cache.semantic import index as index_mod
    from ethos.cache.stores import open_store

    out: dict = {}
    t = time.perf_counter()
    emb = MiniLMEmbedder()
    emb.load()
    emb.embed(["warm up"])
    out["model_s"] = time.perf_counter() - t
    out["model_backend"] = emb.backend
    # only now: usearch imported before ONNX Runtime reads the model breaks it (see tier.py)
    from usearch.index import Index
    t = time.perf_counter()
    store = open_store(url, timeout_s=5.0)
    scope = Scope(*SCOPE)
    rows = store.scope_vectors(scope.namespace, scope.format_version, scope.digest, time.time())
    out["read_s"] = time.perf_counter() - t
    out["rows"] = len(rows)
    t = time.perf_counter()
    idx = VectorIndex(DIM, ann_threshold=10**12)
    idx.add_many(rows)
    out["matrix_s"] = time.perf_counter() - t
    matrix = idx._matrix[: len(rows)]  # noqa: SLF001 - the benchmark times the graph alone
    t = time.perf_counter()
    g = Index(ndim=DIM, metric="ip", dtype="f32", connectivity=index_mod.ANN_CONNECTIVITY,
              expansion_add=index_mod.ANN_EXPANSION_ADD,
              expansion_search=index_mod.ANN_EXPANSION_SEARCH)
    g.add(np.arange(len(rows), dtype=np.uint64), matrix, threads=0)
    out["graph_s"] = time.perf_counter() - t
    store.close()
    return out


def child_ready(url: str, mode: str, t_spawn: float, index_dir: str, n: int) -> dict:
    """Start a semantic tier as the service does and time it to its first answer and to
    its graph; then the neighbours of 50 queries."""
    out: dict = {"import_s": time.time() - t_spawn}
    from ethos.cache import Scope
    from ethos.cache.semantic import MiniLMEmbedder, SemanticTier
    from ethos.cache.stores import open_store

    class Steps(logging.Handler):  # the tier logs how long installing a saved index took
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage() == "semantic index installed from file":
                out["install_steps"] = {k: getattr(record, k) for k in
                                        ("load_s", "install_s", "catch_up_s")}

    logging.getLogger("ethos.cache.semantic.tier").addHandler(Steps())
    logging.getLogger("ethos.cache.semantic.tier").setLevel(logging.INFO)
    store = open_store(url, timeout_s=5.0)
    reads = {"n": 0}
    store.on_op(lambda kind, k: reads.__setitem__("n", reads["n"] + k) if kind == "reads" else None)
    scope = Scope(*SCOPE)
    sid = (scope.namespace, scope.format_version, scope.digest)
    if mode == "head":
        tier = SemanticTier(store, MiniLMEmbedder())
        tier.start()
    else:
        tier = SemanticTier(store, MiniLMEmbedder(), index_dir=index_dir)
        tier.start(scopes=[scope])
    tier.wait_ready(300)
    out["model_s"] = time.time() - t_spawn
    vecs = vectors(n)
    probe = np.random.default_rng(5).choice(n, 50, replace=False)
    noise = np.random.default_rng(6).standard_normal((50, DIM), dtype=np.float32) * 0.02
    queries = [(question(int(i)), (vecs[i] + noise[j]) / np.linalg.norm(vecs[i] + noise[j]))
               for j, i in enumerate(probe)]
    from ethos.cache.keys import make_key, normalise

    q0, v0 = queries[0]
    want = make_key(scope, q0)[0]
    deadline = time.time() + 300
    while True:  # lookups meanwhile see an index still being filled: misses, not waits
        match = tier.nearest(scope, normalise(q0), v0.astype(np.float32).tobytes(),
                             session_dependent=False)
        if (match is not None and match[0] == want) or time.time() > deadline:
            break
        time.sleep(0.005)
    out["first_answer_s"] = time.time() - t_spawn
    out["first_answer_ok"] = match is not None and match[0] == want
    index = tier._indexes[sid]  # noqa: SLF001 - the benchmark watches the graph
    while not index.uses_ann:
        time.sleep(0.02)
    out["graph_s"] = time.time() - t_spawn
    out["rows_read"] = reads["n"]
    out["graphs_built"] = getattr(index, "graphs_built", None)
    out["restored"] = getattr(index, "restored", None)
    out["expected"] = [make_key(scope, q)[0] for q, _ in queries]
    lat = []
    top = []
    for _, v in queries:
        t = time.perf_counter()
        hits = index.search(v, 5)
        lat.append(time.perf_counter() - t)
        top.append([h.key for h in hits])
    out["search_p50_ms"] = float(np.median(lat)) * 1000
    out["top5"] = top
    out["indexed"] = len(index)
    # a tier that saves its graph does so in the background after building it: let it finish
    wait = getattr(tier, "wait_saved", None)
    if wait is not None:
        t = time.time()
        wait(300)
        out["save_s"] = time.time() - t
    store.close()
    return out


# --- the parent -------------------------------------------------------------------------
def head_tree() -> Path:
    """The committed ``src`` tree, unpacked into a temporary directory."""
    d = Path(tempfile.mkdtemp(prefix="ethos-head-"))
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "HEAD", "src"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(d)], input=archive, check=True)
    # compiled now, as the working tree's modules are already: no run pays for it
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(d / "src")], check=True)
    return d


def run_child(args: list[str], src: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src), "ETHOS_BENCH_T0": repr(time.time())}
    p = subprocess.run([sys.executable, __file__, *args], env=env, capture_output=True,
                       text=True, timeout=900)
    if p.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def found(r: dict) -> float:
    """Share of the queries whose own entry is the nearest (recall@1)."""
    return float(np.mean([bool(t) and t[0] == e for t, e in zip(r["top5"], r["expected"], strict=True)]))


def agreement(a: list[list[str]], b: list[list[str]], k: int) -> float:
    """Share of the top-``k`` keys two runs agree on, over the queries."""
    return float(np.mean([len(set(x[:k]) & set(y[:k])) / k for x, y in zip(a, b, strict=True)]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--stores", default="sqlite,redis")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--components", action="store_true")
    # a database of its own: 100,000 kept keys would slow every SCAN of the tests' database
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    ap.add_argument("--drop", action="store_true",
                    help="remove the kept SQLite file and Redis keys, and exit")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--index-dir", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child:
        if args.child == "components":
            res = child_components(args.url)
        else:
            res = child_ready(args.url, args.child, float(os.environ["ETHOS_BENCH_T0"]),
                              args.index_dir, args.entries)
        print(json.dumps(res))
        return 0

    sys.path.insert(0, str(ROOT / "src"))
    stores = [s for s in args.stores.split(",") if s]
    if args.drop:
        drop(args.entries, args.redis_url)
        return 0
    for kind in stores:
        fill(kind, args.entries, args.redis_url)
    head = head_tree()
    new = ROOT / "src"
    print(f"start to semantic-ready, {args.entries} entries of one scope, {DIM}-d random unit"
          f" vectors, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    ok = True
    try:
        for kind in stores:
            url = store_url(kind, args.entries, args.redis_url)
            print(f"\n[{kind}]")
            if args.components:
                c = run_child(["--child", "components", "--url", url], head / "src")
                print(f"  committed code, each step alone: model load ({c['model_backend']})"
                      f" {c['model_s']:.1f} s,"
                      f" read {c['rows']} rows {c['read_s']:.1f} s, matrix {c['matrix_s']:.2f} s,"
                      f" HNSW build {c['graph_s']:.1f} s")
            for run in range(args.runs):
                index_dir = tempfile.mkdtemp(prefix="ethos-index-")
                try:
                    common = ["--url", url, "--entries", str(args.entries), "--index-dir", index_dir]
                    res = {
                        "head": run_child(["--child", "head", *common], head / "src"),
                        "cold": run_child(["--child", "cold", *common], new),
                        "warm": run_child(["--child", "warm", *common], new),
                    }
                finally:
                    shutil.rmtree(index_dir, ignore_errors=True)
                print(f"  run {run + 1}: seconds from process start | model | first answer |"
                      f" graph ready | rows read | graphs built | search p50 ms |"
                      f" recall@1 | top-5 = cold's")
                for mode, r in res.items():
                    print(f"    {mode:5} | {r['model_s']:5.1f} | {r['first_answer_s']:6.1f} |"
                          f" {r['graph_s']:6.1f} | {r['rows_read']:>7} |"
                          f" {r['graphs_built'] if r['graphs_built'] is not None else '?':>3} |"
                          f" {r['search_p50_ms']:5.2f} |"
                          f" {found(r):.2f} |"
                          f" {agreement(res['cold']['top5'], r['top5'], 5):.2f}"
                          + (f" (then saved in {r['save_s']:.1f} s)" if r.get("save_s", 0) >= 0.05 else ""))
                    ok &= bool(r["first_answer_ok"]) and r["indexed"] == args.entries
                steps = res["warm"].get("install_steps")
                if steps:
                    print(f"    warm, installing the file: read + check + graph restore"
                          f" {steps['load_s']:.2f} s, matrix from the graph {steps['install_s']:.2f} s,"
                          f" catch-up {steps['catch_up_s']:.2f} s")
                h, w = res["head"], res["warm"]
                print(f"    graph ready: head {h['graph_s']:.1f} s -> warm {w['graph_s']:.1f} s"
                      f" ({h['graph_s'] / w['graph_s']:.1f}x faster); first answer"
                      f" {h['first_answer_s']:.1f} s -> {w['first_answer_s']:.1f} s")
    finally:
        shutil.rmtree(head, ignore_errors=True)
    print("\nreproduce: cd " + str(ROOT) + " && .venv/bin/python "
          + " ".join([os.path.relpath(sys.argv[0], ROOT), *sys.argv[1:]]))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
