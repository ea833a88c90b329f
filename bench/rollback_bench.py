"""Emergency rollback wall time on a local stack with 100,000 cached entries.

Starts a real stack (`ethos stack up`: router + blue + green sharing one SQLite cache), and for
each run: puts green at 100%, fills the shared cache with N entries directly through
``SQLiteStore`` + ``Entry``, then times ``ethos rollback emergency --yes --json`` as an operator
runs it (a new process: interpreter start, imports, every step, journal fsyncs). In the same run
it times the procedure on an empty cache, so the cost of the entries shows as a difference.
Goal (issue 5): under 2 s with 100,000 entries (the runbook's budget is 60 s).

    .venv/bin/python bench/rollback_bench.py [--entries 100000] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ethos.rollout.stack.state import free_base_port

ROOT = Path(__file__).resolve().parent.parent
ETHOS = str(Path(sys.executable).parent / "ethos")
KEY = "bench-admin-key"


def ethos(state: Path, *args: str) -> subprocess.CompletedProcess:
    # The incident report written after a rollback is follow-up work, not the rollback: off here.
    env = {**os.environ, "ETHOS_ADMIN_API_KEY": KEY, "ETHOS_NO_AUTO_INCIDENT": "1"}
    for k in ("ETHOS_SLACK_WEBHOOK_URL", "ETHOS_NOTIFY_WEBHOOK_URL", "ETHOS_ROUTER_URL"):
        env.pop(k, None)
    return subprocess.run([ETHOS, *args, "--state-dir", str(state)], capture_output=True, text=True,
                          env=env, cwd=state.parent, stdin=subprocess.DEVNULL, timeout=600)


def fill(cache_path: str, n: int) -> float:
    """Put ``n`` entries into the shared SQLite cache; returns seconds taken."""
    from ethos.cache.entry import Entry
    from ethos.cache.stores.sqlite import SQLiteStore

    store = SQLiteStore(cache_path, timeout_s=5.0)
    # Only this bench connection skips fsync: filling is set-up, not what is measured.
    store._db.execute("PRAGMA synchronous=OFF")
    t0, now = time.perf_counter(), time.time()
    reply = "Our plans are Free, Starter, Team, Business and Enterprise. " * 4
    for i in range(n):
        store.put(Entry(key=f"marketing:v1:bench:{i:06d}", namespace="marketing", format_version=1,
                        scope="bench", question=f"bench question number {i}", reply=reply,
                        sources=["plans-and-pricing.md"], created_at=now, ttl_s=86400))
    count = store.count()
    store.close()
    if count < n:
        raise RuntimeError(f"cache holds {count} entries, expected {n}")
    return time.perf_counter() - t0


def one_run(state: Path, router: str, cache_path: str, n: int) -> dict:
    from ethos.rollout.traffic import LocalRouterTraffic

    LocalRouterTraffic(router, KEY).set_weights({"blue": 0, "green": 100})
    fill_s = fill(cache_path, n) if n else 0.0
    t0 = time.perf_counter()
    r = ethos(state, "rollback", "emergency", "--yes", "--json", "--reason", "bench")
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"rollback failed ({r.returncode}): {r.stdout}{r.stderr}")
    out = json.loads(r.stdout)
    steps = {s["name"]: s for s in out["steps"]}
    removed = sum(int(s["values"].get("removed", 0)) for k, s in steps.items() if k.startswith("invalidate_cache:"))
    if removed < n:
        raise RuntimeError(f"rollback removed {removed} entries, expected {n}")
    return {"wall_s": wall, "procedure_s": out["elapsed_s"], "fill_s": fill_s, "removed": removed,
            "shift_s": steps["shift_traffic"]["duration_s"],
            "invalidate_s": sum(s["duration_s"] for k, s in steps.items() if k.startswith("invalidate_cache:"))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    command = f".venv/bin/python bench/rollback_bench.py --entries {args.entries} --runs {args.runs}"

    with tempfile.TemporaryDirectory(prefix="ethos-rollback-bench-") as tmp:
        state = Path(tmp) / ".ethos"
        up = ethos(state, "stack", "up", "--base-port", str(free_base_port()), "--weights", "blue=0,green=100",
                   "--json")
        try:
            if up.returncode != 0:
                raise SystemExit(f"ethos stack up failed: {up.stdout}{up.stderr}")
            stack = json.loads((state / "stack.json").read_text())
            cache_url = stack["cache_url"]
            if not cache_url.startswith("sqlite:///"):
                raise SystemExit(f"the stack's cache is not SQLite: {cache_url}")
            cache_path = cache_url[len("sqlite:///"):]
            empty, full = [], []
            for i in range(args.runs):
                empty.append(one_run(state, stack["router"], cache_path, 0))
                full.append(one_run(state, stack["router"], cache_path, args.entries))
                f = full[-1]
                print(f"run {i + 1}/{args.runs}: {args.entries} entries: wall {f['wall_s']:.3f} s, "
                      f"procedure {f['procedure_s']:.3f} s (invalidate {f['invalidate_s']:.3f} s, "
                      f"shift {f['shift_s']:.3f} s); empty cache: wall {empty[-1]['wall_s']:.3f} s "
                      f"[fill {f['fill_s']:.1f} s]", flush=True)
        finally:
            ethos(state, "stack", "down")

    def med(rows: list[dict], k: str) -> float:
        return statistics.median(r[k] for r in rows)

    wall, wall0 = med(full, "wall_s"), med(empty, "wall_s")
    print()
    print(f"emergency rollback, local stack, {args.entries} cached entries, median of {args.runs} runs:")
    print(f"  command wall time   {wall:.3f} s   (goal < 2 s; runbook budget 60 s)  "
          f"{'PASS' if wall < 2.0 else 'FAIL'}")
    print(f"  procedure time      {med(full, 'procedure_s'):.3f} s   (first step to last, in the command)")
    print(f"  cache invalidation  {med(full, 'invalidate_s'):.3f} s   (both revisions; {args.entries} removed)")
    print(f"  traffic shift       {med(full, 'shift_s'):.3f} s")
    print(f"  same, empty cache   {wall0:.3f} s wall; entries cost {wall - wall0:+.3f} s "
          f"(ratio {wall / wall0:.2f}x)")
    print(f"  min/max wall        {min(r['wall_s'] for r in full):.3f} / {max(r['wall_s'] for r in full):.3f} s")
    print(f"reproduce: cd {shlex.quote(str(ROOT))} && {command}")


if __name__ == "__main__":
    main()
