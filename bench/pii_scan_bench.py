"""The cost of the periodic PII scan (issue 15): entries scanned per CPU-second, and the p99
latency it adds to chat requests while a full pass runs.

1. A store of ``--entries`` synthetic entries (keys and normalised questions from
   ``make_key``, texts from the PII benchmark's generator; ``--pii`` of them with personal
   data in the reply, as a leak past the gate would be) is put through the store API.
2. One full pass of :class:`~ethos.cache.scan.periodic.PeriodicLeakScan` with no pauses:
   entries per CPU-second of the scanning thread (and per wall second), leaks found.
3. A revision (the ASGI app of ``ethos serve``, served by uvicorn on 127.0.0.1 in this
   process, on that store, its own scan off) answers chat requests sent one at a time by a
   client in *another* process (so the client's timing does not share this GIL): first
   with no scan, then while the revision's scan runs full passes over and over, as its
   scan loop does (one batch in a worker thread, then a pause for the CPU share). Same
   questions, same cache state (hits after a warm-up), same run: p50/p99 and their ratio.

    .venv/bin/python bench/pii_scan_bench.py [--entries 20000] [--pii 0.03] [--requests 3000]
        [--batch 500] [--cpu-share 0.2] [--store sqlite|redis://127.0.0.1:6379/0]

About a minute with the defaults.
"""

from __future__ import annotations

import argparse
import json
import random
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
from pii_corpus.generate import build_corpus  # noqa: E402

from ethos.cache import Entry, Scope, make_key, open_store  # noqa: E402
from ethos.cache.scan.periodic import FULL, PeriodicLeakScan, ScanSchedule  # noqa: E402
from servers import ServerThread  # noqa: E402

QUESTIONS = [
    "What are your pricing plans?", "Do you integrate with HubSpot?", "Is there a free trial?",
    "How much is the Team plan?", "Do you support SSO?", "What languages do you support?",
    "Can I cancel anytime?", "Do you offer discounts for charities?", "What is the API limit?",
    "How do approvals work?",
]

CLIENT = r"""
import json, sys, time, httpx
url, n, qs = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
out = []
with httpx.Client(timeout=30) as c:
    for i in range(n):
        t = time.perf_counter()
        r = c.post(url + "/api/ai/marketing-chat", json={"message": qs[i % len(qs)]})
        out.append(time.perf_counter() - t)
        assert r.status_code == 200, r.text
print(json.dumps(out))
"""


def _tag(i: int) -> str:
    out = ""
    while True:
        i, r = divmod(i, 26)
        out += "abcdefghijklmnopqrstuvwxyz"[r]
        if not i:
            return "ref " + out


def build_store(url: str, n: int, pii_share: float, seed: int = 7):
    """``n`` entries through ``Store.put``; a share ``pii_share`` of them hold PII."""
    rng = random.Random(seed)
    corpus = build_corpus(2000, seed)
    pii = [r["text"] for r in corpus if r["label"] == "pii"]
    clean = [r["text"] for r in corpus if r["label"] == "clean"]
    scope = Scope("marketing", 1, "bench", "p", "k")
    store = open_store(url)
    leaks = 0
    now = time.time()
    for i in range(n):
        leaking = rng.random() < pii_share
        q = f"{rng.choice(clean)} {_tag(i)}"  # unique, and no digits a detector could read
        reply = rng.choice(clean)
        if leaking:
            reply = f"Thanks, noted: {rng.choice(pii)} {reply}"
            leaks += 1
        key, norm = make_key(scope, q)
        store.put(Entry(key=key, namespace="marketing", format_version=1, scope=scope.digest,
                        question=norm, reply=reply, created_at=now, ttl_s=86400))
    return store, leaks


def full_pass_rate(store, batch: int) -> dict:
    """One full pass without pauses, timed by the scanning thread's CPU clock."""
    scan = PeriodicLeakScan(lambda: store, ScanSchedule(60, 3600), batch=batch, cpu_share=1.0)
    w0, c0 = time.perf_counter(), time.thread_time()
    scan.run_pass(FULL)
    cpu, wall = time.thread_time() - c0, time.perf_counter() - w0
    return {"scanned": scan.scanned, "leaking": len(scan.leaking), "cpu_s": cpu, "wall_s": wall,
            "per_cpu_s": scan.scanned / cpu if cpu else float("inf"), "per_wall_s": scan.scanned / wall}


def latencies(url: str, n: int) -> list[float]:
    out = subprocess.run([sys.executable, "-c", CLIENT, url, str(n), json.dumps(QUESTIONS)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def pct(xs: list[float], p: int) -> float:
    return statistics.quantiles(xs, n=100)[p - 1]


class ScanLoop(threading.Thread):
    """The revision's scan loop (``AppState._leak_scan_loop``): a step, then its pause; a new
    full pass as soon as one ends, until stopped."""

    def __init__(self, scan: PeriodicLeakScan) -> None:
        super().__init__(daemon=True, name="bench-pii-scan")
        self.scan, self.stop_ = scan, threading.Event()
        self.passes = 0

    def run(self) -> None:
        c0 = time.thread_time()
        w0 = time.perf_counter()
        while not self.stop_.is_set():
            if self.scan.state.running is None:
                self.scan.state.full_due_at = 0.0  # full passes back to back
                self.passes += 1
            delay = self.scan.step()
            self.stop_.wait(min(delay, 0.5))
        self.cpu_share = (time.thread_time() - c0) / (time.perf_counter() - w0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=20_000)
    ap.add_argument("--pii", type=float, default=0.03, help="share of entries holding PII")
    ap.add_argument("--requests", type=int, default=3000, help="chat requests per phase")
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--cpu-share", type=float, default=0.2)
    ap.add_argument("--store", default="sqlite", help="sqlite (a temporary file) or a redis:// URL")
    a = ap.parse_args()
    cmd = "  .venv/bin/python bench/pii_scan_bench.py " + shlex.join(sys.argv[1:])

    from ethos.service import create_app
    from ethos.settings import Settings

    with tempfile.TemporaryDirectory() as d:
        if a.store == "sqlite":
            url = f"sqlite:///{Path(d) / 'cache.sqlite3'}"
        else:
            sep = "&" if "?" in a.store else "?"
            url = f"{a.store}{sep}prefix=ethos-bench-{uuid.uuid4().hex[:8]}:"
        t = time.perf_counter()
        store, planted = build_store(url, a.entries, a.pii)
        print(f"store: {store.count():,} entries ({planted} with PII) in {store.backend},"
              f" built in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        try:
            rate = full_pass_rate(store, a.batch)
            settings = Settings(state_dir=Path(d), cache_url=url, semantic_enabled=False,
                                pii_scan_interval_s=0)
            app = create_app(settings, access_log=False)
            with ServerThread(app) as srv:
                latencies(srv.url, 3 * len(QUESTIONS))  # warm-up: every question cached
                base = latencies(srv.url, a.requests)
                st = app.state.ethos
                scan = PeriodicLeakScan(lambda: st.cache.store, ScanSchedule(60, 3600),
                                        batch=a.batch, cpu_share=a.cpu_share)
                loop = ScanLoop(scan)
                loop.start()
                during = latencies(srv.url, a.requests)
                loop.stop_.set()
                loop.join()
        finally:
            if a.store != "sqlite":
                store.delete_matching("*")
            store.close()

    b50, b99 = pct(base, 50) * 1000, pct(base, 99) * 1000
    d50, d99 = pct(during, 50) * 1000, pct(during, 99) * 1000
    print(f"\nPII scan bench: {a.entries:,} entries ({planted} with PII, {rate['leaking']} found),"
          f" {store.backend} store, batch {a.batch}")
    print(f"  full pass, no pauses : {rate['per_cpu_s']:,.0f} entries per CPU-second"
          f" ({rate['cpu_s']:.2f} CPU s; {rate['per_wall_s']:,.0f} entries per wall second)")
    print(f"  during the scan      : {loop.passes} full pass(es) begun, {scan.scanned:,} entries read,"
          f" CPU share of the scan thread {loop.cpu_share:.2f} (budget {a.cpu_share})")
    print(f"  chat, no scan        : p50 {b50:.2f} ms  p99 {b99:.2f} ms  ({len(base)} requests)")
    print(f"  chat, scan running   : p50 {d50:.2f} ms  p99 {d99:.2f} ms  ({len(during)} requests)")
    print(f"  added p99            : {d99 - b99:+.2f} ms  (ratio {d99 / b99:.2f}x; p50 ratio {d50 / b50:.2f}x)")
    print(f"reproduce with:\n{cmd}")


if __name__ == "__main__":
    main()
