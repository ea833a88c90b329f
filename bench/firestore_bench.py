"""The Firestore store against a naive Firestore design, on the real emulator; and its hit
latency against Redis on the same machine.

Usage: .venv/bin/python bench/firestore_bench.py [--requests 2000] [--instances 4] [--big 10000]

Everything is counted by the stores' own operation counters (the numbers exported as
``ethos_store_operations_total``), priced at Firestore's multi-region list prices
(``ethos.cache.stores.pricing``). Billed operations = reads + writes + deletes (a query's
documents are already reads).

The naive design is the one a SQL schema translates to: every hit reads the entry and writes
its hit count back (one read + one write, no memory tier), and a glob invalidation reads every
document of the collection and filters them (no key-range query). It is :class:`NaiveStore`
below: the real store with those two operations replaced, so both run the same code otherwise.

Sections:
1. store operations per request, per path (exact hit from the store / from memory, semantic
   hit, miss + admit, hit-count flush), ours vs naive;
2. invalidating 100 and 10,000 entries of a collection that holds 2 x 10,100 (ours: the key
   range only; naive: every document);
3. a hit-heavy mix through real ResponseCaches (MiniLM semantic tier): ours as ethos runs it,
   ``--instances`` instances round-robin (memory tier 10,000), and ours without a memory tier
   (the worst case), against the naive design; everything the instances do in the background
   (epoch polls, hit flushes, vector index loads) is in the counts;
4. hit latency: ``store.get`` of a stored entry on the emulator and on Redis (the emulator is
   not production; the ratio only guards against an extra round trip);
5. cross-instance staleness: how long after a removal another instance's epoch moves;
6. ``find_nearest`` on the emulator: supported? same top-1 as exact search? how fast?
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

from ethos.cache.entry import Entry  # noqa: E402
from ethos.cache.gates.admission import Exchange  # noqa: E402
from ethos.cache.keys import Scope  # noqa: E402
from ethos.cache.response_cache import ResponseCache  # noqa: E402
from ethos.cache.stores import OpCounter, Store  # noqa: E402
from ethos.cache.stores.firestore import FirestoreStore, doc_id  # noqa: E402
from ethos.cache.stores.pricing import FIRESTORE_MULTI_REGION_USD_PER_100K, PRICES_AS_OF, PriceTable  # noqa: E402
from firestore_emulator import FirestoreEmulator  # noqa: E402

SCOPE = Scope("marketing", 1, "kb", "p1", "kb1")
PRICES = PriceTable.of(FIRESTORE_MULTI_REGION_USD_PER_100K)
PLANS = ["Free", "Starter", "Team", "Business", "Enterprise"]
TOPICS = ["cost per month", "include single sign-on", "include the API", "come with phone support",
          "allow unlimited seats", "include audit logs", "offer a yearly discount", "have a trial"]


class NaiveStore(FirestoreStore):
    """The naive design: a hit reads the entry and writes its hit count at once; a glob
    invalidation reads the whole collection."""

    def get(self, key: str, now: float):  # noqa: ANN201
        from google.cloud.firestore_v1 import Increment

        entry = super().get(key, now)
        if entry is not None:
            self._call(lambda: self._ref(key).update({"hits": Increment(1)}, **self._kw()))
            self._count("writes")
        return entry

    def add_hits(self, hits: dict[str, int]) -> None:
        pass  # already written, one by one

    def delete_matching_steps(self, pattern: str):  # noqa: ANN201
        from ethos.cache.keys import glob_matches

        examined = removed = 0
        last = None
        while True:
            q = self._entries.order_by("__name__").select(["key"]).limit(500)
            if last is not None:
                q = q.start_after(last)
            page = self._run_query(q)
            examined += len(page)
            hit = [s.reference for s in page if glob_matches(pattern, s.get("key"))]
            if hit:
                removed += self._delete_refs(hit)
            yield examined, removed
            if len(page) < 500:
                return
            last = page[-1]


# --- helpers ----------------------------------------------------------------------------
def snap(store: Store) -> OpCounter:
    o = store.ops
    return OpCounter(o.reads, o.writes, o.deletes, o.queries)


def diff(stores: list[Store], before: list[OpCounter]) -> dict[str, int]:
    out = {"reads": 0, "writes": 0, "deletes": 0, "queries": 0}
    for s, b in zip(stores, before, strict=True):
        for k in out:
            out[k] += getattr(s.ops, k) - getattr(b, k)
    return out


def billed(d: dict[str, float]) -> float:
    return d["reads"] + d["writes"] + d["deletes"]


def usd(d: dict[str, float]) -> float:
    return PRICES.cost({"read": d["reads"], "write": d["writes"], "delete": d["deletes"]})


def fmt(d: dict[str, float], per: float = 1.0) -> str:
    return (f"{d['reads'] / per:6.2f} r {d['writes'] / per:5.2f} w {d['deletes'] / per:5.2f} d"
            f" = {billed(d) / per:6.2f} billed, ${usd(d) / per * 1e6:7.3f}/1M")


def cache_on(store: Store, semantic, memory: int) -> ResponseCache:
    return ResponseCache(store, SCOPE, gates=(), semantic=semantic, memory_entries=memory)


def ask(cache: ResponseCache, q: str) -> str:
    lk = cache.lookup(q)
    if lk.result == "miss":
        cache.admit(lk, Exchange(question=q, reply=f"The answer to: {q}", answerer="kb"))
    return lk.result


def semantic_tier(store: Store, embedder):
    from ethos.cache.semantic import SemanticTier

    tier = SemanticTier(store, embedder, names=PLANS)
    tier.load()
    return tier


def fill(store: FirestoreStore, keys: list[str], t0: float) -> None:
    """Put many entries fast (batched writes, uncounted: setting up, not measuring)."""
    client = store.client
    for i in range(0, len(keys), 500):
        batch = client.batch()
        for k in keys[i : i + 500]:
            e = Entry(key=k, namespace="marketing", format_version=1, scope=SCOPE.digest, question=k,
                      reply="r", created_at=t0, ttl_s=86400)
            batch.set(store._entries.document(doc_id(k)), store._fields(e))  # noqa: SLF001
        batch.commit(timeout=120)


# --- 1. per path ---------------------------------------------------------------------------
def per_path(project: str, embedder) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for name, cls, memory in (("ours", FirestoreStore, 10000), ("naive", NaiveStore, 0)):
        writer = cls(project, collection=f"paths_{name}", timeout_s=5)
        reader = cls(project, collection=f"paths_{name}", timeout_s=5)
        w = cache_on(writer, semantic_tier(writer, embedder), memory)
        r = cache_on(reader, semantic_tier(reader, embedder), memory)
        base = "Does the Team plan include single sign-on?"
        other = "Does the Enterprise plan include audit logs?"
        assert ask(w, base) == "miss" and ask(w, other) == "miss"
        for i in range(20):
            ask(w, f"Does the Starter plan offer feature number {i}?")
        w.flush_hits()
        reader.epoch()  # the epoch is read at most once a second: counted in the mix, not here
        r.lookup_semantic(r.lookup_exact("warm up the vector index"))  # loads the scope's vectors
        rows: dict[str, dict] = {}

        def measure(label: str, question: str, admit: bool = False, reader=reader, r=r, rows=rows) -> None:
            b = [snap(reader)]
            res = ask(r, question) if admit else r.lookup(question).result
            rows[label] = {**diff([reader], b), "result": res}

        measure("exact hit (store)", base)
        measure("exact hit (memory)", base)
        measure("semantic hit (store)", "Are audit logs included in the Enterprise plan?")
        measure("semantic hit (memory)", "Is single sign-on included in the Team plan?")
        measure("miss + admit", "Does the Business plan include audit logs?", admit=True)
        for _ in range(50):  # 50 hits on 2 keys, then one flush
            r.lookup(base)
            r.lookup("Does the Business plan include audit logs?")
        b = [snap(reader)]
        r.flush_hits()
        if isinstance(reader, FirestoreStore):
            reader.flush_hits()
        rows["hit-count flush (100 more hits)"] = {**diff([reader], b), "result": "one write per key served"}
        out[name] = rows
        for c in (w, r):
            c.close()
    return out


# --- 2. invalidation -------------------------------------------------------------------------
def invalidation(project: str, big: int) -> dict[str, dict]:
    t0 = time.time()
    keys = ([f"marketing:v1:s:big-{i:06d}:{i:x}" for i in range(big)]
            + [f"marketing:v1:s:small-{i:04d}:{i:x}" for i in range(100)]
            + [f"marketing:v2:s:other-{i:06d}:{i:x}" for i in range(big)])
    out: dict[str, dict] = {}
    for name, cls in (("ours", FirestoreStore), ("naive", NaiveStore)):
        store = cls(project, collection=f"inval_{name}", timeout_s=5)
        fill(store, keys, t0)
        rows = {}
        for label, pattern, n in (("invalidate 100", "marketing:v1:s:small-*", 100),
                                  (f"invalidate {big:,}", "marketing:v1:s:big-*", big)):
            b = [snap(store)]
            t = time.perf_counter()
            removed = store.delete_matching(pattern)
            rows[label] = {**diff([store], b), "result": f"{removed} removed in {time.perf_counter() - t:.1f} s"}
            assert removed == n, (name, label, removed)
        out[name] = rows
        store.close()
    return out


# --- 3. the mix -----------------------------------------------------------------------------
def workload(n: int, seed: int = 7) -> list[tuple[str, str]]:
    """(kind, question): 80% repeats of 40 popular questions (Zipf), 5% paraphrases of them,
    15% new questions."""
    rng = random.Random(seed)
    popular = [f"Does the {p} plan {t}?" for p in PLANS for t in TOPICS][:40]
    weights = [1 / (i + 1) ** 0.8 for i in range(len(popular))]
    out = []
    for i in range(n):
        x = rng.random()
        if x < 0.80:
            out.append(("repeat", rng.choices(popular, weights)[0]))
        elif x < 0.85:
            q = rng.choices(popular, weights)[0]
            plan = next(p for p in PLANS if p in q)
            topic = q.split(f"{plan} plan ", 1)[1].rstrip("?")
            out.append(("paraphrase", f"For the {plan} plan, does it {topic}?"))
        else:
            out.append(("new", f"Do you support integration number {i} with tool {rng.randrange(10**6)}?"))
    return out


class SimClock:
    """The stores' clock (epoch polls, hit flushes): ``rate`` requests a second per instance,
    whatever speed the bench runs at."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def run_mix(project: str, embedder, design: str, instances: int, memory: int, load: list,
            rate: float) -> dict:
    cls = NaiveStore if design == "naive" else FirestoreStore
    clock = SimClock()
    stores = [cls(project, collection=f"mix_{design}_{memory}_{instances}", clock=clock, timeout_s=5)
              for _ in range(instances)]
    caches = [cache_on(s, semantic_tier(s, embedder), memory) for s in stores]
    before = [snap(s) for s in stores]
    results: dict[str, int] = {}
    t = time.monotonic()
    last_flush = 0.0
    # (the emulator has a long deadline here: this counts operations, it does not test faults)
    for i, (_, q) in enumerate(load):
        res = ask(caches[i % instances], q)
        results[res] = results.get(res, 0) + 1
        clock.t += 1.0 / (rate * instances)
        if clock.t - last_flush >= 1.0:  # as the service does, every second
            for c in caches:
                c.flush_hits()
            last_flush = clock.t
    seconds = time.monotonic() - t
    for c in caches:
        c.flush_hits()
    for s in stores:
        if isinstance(s, FirestoreStore):
            s.flush_hits()
    d = diff(stores, before)
    for c in caches:
        c.close()
    return {"ops": d, "results": results, "seconds": seconds, "simulated_s": clock.t}


# --- 4. latency ---------------------------------------------------------------------------
def latency(project: str, redis_url: str, n: int) -> dict[str, list[float]]:
    from ethos.cache.stores.redis import RedisStore

    t0 = time.time()
    e = Entry(key="marketing:v1:s:latency:1", namespace="marketing", format_version=1, scope="s",
              question="latency", reply="x" * 400, created_at=t0, ttl_s=3600, embedding=bytes(1536))
    out = {}
    for name, store in (("firestore emulator", FirestoreStore(project, collection="latency", timeout_s=5)),
                        ("redis", RedisStore.from_url(redis_url, prefix=f"bench-latency-{os.getpid()}:"))):
        store.put(e)
        for _ in range(200):
            store.get(e.key, t0)
        times = []
        for _ in range(n):
            t = time.perf_counter()
            got = store.get(e.key, t0)
            times.append(time.perf_counter() - t)
            assert got is not None
        store.delete_keys([e.key])
        store.close()
        out[name] = times
    return out


# --- 5. staleness --------------------------------------------------------------------------
def staleness(project: str, rounds: int) -> list[float]:
    a = FirestoreStore(project, collection="stale", timeout_s=5)
    b = FirestoreStore(project, collection="stale", timeout_s=5)
    t0 = time.time()
    out = []
    rng = random.Random(1)
    for i in range(rounds):
        a.put(Entry(key=f"k{i}", namespace="n", format_version=1, scope="s", question="q", reply="r",
                    created_at=t0))
        before = b.epoch()
        time.sleep(rng.random())  # removals land anywhere in b's poll interval
        t = time.monotonic()
        a.delete_keys([f"k{i}"])
        while b.epoch() == before:  # b under traffic: every lookup asks for the epoch
            time.sleep(0.001)
        out.append(time.monotonic() - t)
    a.close()
    b.close()
    return out


# --- 6. find_nearest -------------------------------------------------------------------------
def vector_search(project: str, n: int = 500, queries: int = 50, dim: int = 384) -> dict:
    from google.cloud import firestore
    from google.cloud.firestore_v1 import FieldFilter
    from google.cloud.firestore_v1.base_vector_query import DistanceMeasure
    from google.cloud.firestore_v1.vector import Vector

    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((n, dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    client = firestore.Client(project=project)
    col = client.collection("vectors")
    for i in range(0, n, 250):
        batch = client.batch()
        for j in range(i, min(i + 250, n)):
            batch.set(col.document(f"v{j}"), {"scope": "s1" if j % 2 == 0 else "s2", "emb": Vector(vecs[j].tolist())})
        batch.commit(timeout=120)
    agree = 0
    times = []
    for _ in range(queries):
        q = rng.standard_normal(dim).astype(np.float32)
        q /= np.linalg.norm(q)
        sims = vecs @ q
        sims[1::2] = -np.inf  # the pre-filter: scope s1 only
        want = f"v{int(np.argmax(sims))}"
        t = time.perf_counter()
        got = (col.where(filter=FieldFilter("scope", "==", "s1"))
               .find_nearest(vector_field="emb", query_vector=Vector(q.tolist()),
                             distance_measure=DistanceMeasure.COSINE, limit=5).get())
        times.append(time.perf_counter() - t)
        agree += bool(got) and got[0].id == want
    client.close()
    return {"agree": agree, "queries": queries, "ms": times, "n": n}


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--instances", type=int, default=4)
    ap.add_argument("--big", type=int, default=10000)
    ap.add_argument("--rate", type=float, default=20.0, help="requests/s per instance (the stores' clock)")
    ap.add_argument("--latency-n", type=int, default=2000)
    ap.add_argument("--redis-url", default=os.environ.get("ETHOS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
    args = ap.parse_args()

    from ethos.cache.semantic.embedders import MiniLMEmbedder

    emulator = FirestoreEmulator().start()
    os.environ["FIRESTORE_EMULATOR_HOST"] = emulator.host
    try:
        embedder = MiniLMEmbedder()
        embedder.load()
        print(f"Firestore store vs a naive Firestore design (emulator {emulator.host}); prices: Firestore"
              f" multi-region list ({PRICES_AS_OF}): read/write/delete ${PRICES.usd_per_100k['read']}/"
              f"${PRICES.usd_per_100k['write']}/${PRICES.usd_per_100k['delete']} per 100k")
        print("\n1. store operations per request, by path (one instance's lookup)")
        paths = per_path("bench-paths", embedder)
        for label in paths["ours"]:
            o, n = paths["ours"][label], paths["naive"][label]
            print(f"  {label:36s} ours  {fmt(o)}  [{o['result']}]")
            print(f"  {'':36s} naive {fmt(n)}  [{n['result']}]")

        print(f"\n2. invalidation in a collection of {2 * args.big + 100:,} entries")
        inv = invalidation("bench-inval", args.big)
        for label in inv["ours"]:
            o, n = inv["ours"][label], inv["naive"][label]
            print(f"  {label:20s} ours  {fmt(o)}; {o['queries']} queries  [{o['result']}]")
            print(f"  {'':20s} naive {fmt(n)}; {n['queries']} queries  [{n['result']}]")

        load = workload(args.requests)
        kinds = {k: sum(1 for x, _ in load if x == k) for k in ("repeat", "paraphrase", "new")}
        print(f"\n3. a hit-heavy mix of {args.requests:,} requests ({kinds}), real ResponseCaches,"
              f" MiniLM semantic tier, {args.rate:g} requests/s per instance on the stores' clock;"
              " background work (epoch polls, hit flushes, index loads) included")
        runs = {
            f"ours, {args.instances} instances, memory tier on": run_mix(
                "bench-mix", embedder, "ours", args.instances, 10000, load, args.rate),
            "ours, 1 instance, no memory tier (worst case)": run_mix(
                "bench-mix", embedder, "ours", 1, 0, load, args.rate),
            "naive, 1 instance, no memory tier": run_mix("bench-mix", embedder, "naive", 1, 0, load, args.rate),
        }
        naive = runs["naive, 1 instance, no memory tier"]["ops"]
        for label, r in runs.items():
            d = r["ops"]
            print(f"  {label:48s} {fmt(d, args.requests)} per request; {r['results']};"
                  f" {r['simulated_s']:.0f} s simulated, {r['seconds']:.0f} s run")
            print(f"  {'':48s} billed ops {billed(d) / billed(naive):.2f} x naive, cost {usd(d) / usd(naive):.2f} x naive")

        print(f"\n4. hit latency, store.get of a stored entry ({args.latency_n} gets after 200 warm-up)")
        lat = latency("bench-latency", args.redis_url, args.latency_n)
        for name, xs in lat.items():
            print(f"  {name:20s} p50 {statistics.median(xs) * 1e3:6.2f} ms  p95 {pct(xs, 95) * 1e3:6.2f} ms"
                  f"  p99 {pct(xs, 99) * 1e3:6.2f} ms")
        f, r = lat["firestore emulator"], lat["redis"]
        print(f"  emulator / redis: p50 {statistics.median(f) / statistics.median(r):.1f}x,"
              f" p95 {pct(f, 95) / pct(r, 95):.1f}x (one round trip each; the emulator is not production)")

        print("\n5. cross-instance staleness: a removal on A until B's epoch moves (B polls at most once a second)")
        st = staleness("bench-stale", 20)
        print(f"  20 removals: median {statistics.median(st) * 1e3:.0f} ms, max {max(st) * 1e3:.0f} ms"
              " (bound: epoch_poll_s 1 s + one read)")

        print("\n6. find_nearest on the emulator (scope pre-filter, cosine, 384 dimensions)")
        vs = vector_search("bench-vectors")
        print(f"  supported: yes; top-1 equal to exact search in {vs['agree']}/{vs['queries']} queries over"
              f" {vs['n']} vectors; p50 {statistics.median(vs['ms']) * 1e3:.1f} ms per query")
    finally:
        emulator.stop()
    print(f"\ncommand: .venv/bin/python bench/firestore_bench.py --requests {args.requests}"
          f" --instances {args.instances} --big {args.big} --rate {args.rate:g}; {os.cpu_count()} cores,"
          f" load average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
