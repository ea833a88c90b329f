"""In-process exact lookup on a 100,000-entry SQLite store (goal, issue 2: p50 <= 100 us).

Measures the whole exact tier (normalise, key, epoch check, SQLite read, format check) with
the memory tier off, so every lookup reads SQLite; and, for comparison, with the memory tier.

    .venv/bin/python bench/lookup_sqlite.py [--entries 100000] [--lookups 20000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from ethos.cache import Entry, ResponseCache, Scope, make_key
from ethos.cache.stores.sqlite import SQLiteStore

WORDS = ("plan price team business seat invoice refund trial integration hubspot canva "
         "slack sso saml audit storage voice template campaign approval analytics api "
         "limit language support phone email hours onboarding discount charity").split()


def questions(n: int, rng: random.Random) -> list[str]:
    return [f"{' '.join(rng.choices(WORDS, k=8))} {i}?" for i in range(n)]


def fill(store: SQLiteStore, scope: Scope, qs: list[str]) -> None:
    now = time.time()
    db = store._db  # bulk load in one transaction; the API path is measured elsewhere
    db.execute("BEGIN")
    for q in qs:
        key, norm = make_key(scope, q)
        e = Entry(key=key, namespace=scope.namespace, format_version=scope.format_version,
                  scope=scope.digest, question=norm, reply="A" * 600,
                  sources=["plans-and-pricing.md"], created_at=now, ttl_s=86400)
        db.execute(
            "INSERT INTO entries(key, scope, question, format_version, created_at, expires_at,"
            " hit_count, data, embedding) VALUES (?,?,?,?,?,?,0,?,x'')",
            (key, e.scope, norm, e.format_version, now, now + 86400, e.to_json()))
    db.execute("COMMIT")


def measure(fn, qs: list[str]) -> list[float]:
    out = []
    for q in qs:
        t = time.perf_counter_ns()
        fn(q)
        out.append((time.perf_counter_ns() - t) / 1000)
    return out


def pct(xs: list[float], p: float) -> float:
    return statistics.quantiles(xs, n=100)[int(p) - 1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--lookups", type=int, default=20_000)
    args = ap.parse_args()
    rng = random.Random(7)
    scope = Scope("marketing", 1, "kb", "p", "k")
    qs = questions(args.entries, rng)
    with tempfile.TemporaryDirectory() as d:
        store = SQLiteStore(Path(d) / "cache.sqlite3")
        t = time.perf_counter()
        fill(store, scope, qs)
        print(f"filled {store.count():,} entries in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        asked = rng.choices(qs, k=args.lookups)
        cold = ResponseCache(store, scope, memory_entries=0)
        hot = ResponseCache(store, scope, memory_entries=args.entries)
        misses = [f"not stored {i}" for i in range(args.lookups)]
        for c in (cold, hot):
            measure(c.lookup_exact, asked[:2000])  # warm the page cache / memory tier
        r_cold = measure(cold.lookup_exact, asked)
        r_hot = measure(hot.lookup_exact, asked)
        r_miss = measure(cold.lookup_exact, misses)
        assert cold.lookup_exact(asked[0]).result == "hit"
        store.close()
    print(f"exact lookup on a {args.entries:,}-entry SQLite store, {args.lookups:,} lookups each:")
    for name, r in (("SQLite read (memory tier off)", r_cold), ("memory tier hit", r_hot),
                    ("miss (SQLite read)", r_miss)):
        print(f"  {name:32s} p50 {statistics.median(r):6.1f} us   p99 {pct(r, 99):6.1f} us")
    print(f"  goal: p50 <= 100 us with every lookup reading SQLite -> "
          f"{'met' if statistics.median(r_cold) <= 100 else 'NOT met'}")
    print(f"reproduce: .venv/bin/python bench/lookup_sqlite.py --entries {args.entries}"
          f" --lookups {args.lookups}")


if __name__ == "__main__":
    main()
