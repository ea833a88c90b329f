"""Overload: a surge above capacity, then normal traffic. Does the revision recover?

One revision (``ethos serve``, embedded defaults: SQLite, the semantic tier, the knowledge-base
answerer) is started twice in the same run, once with load shedding as shipped
(``ETHOS_MAX_CONCURRENT`` etc., :mod:`ethos.service.capacity`) and once with it off
(``ETHOS_MAX_CONCURRENT=0``). Each run:

1. **capacity**: closed loop, a few clients, every question new (a miss: semantic lookup and
   the answerer): answers per second;
2. **surge**: open loop at ``--surge`` times that capacity for ``--surge-s`` seconds;
3. **after**: open loop at ``--after`` times capacity for ``--after-s`` seconds.

Clients give up after ``--client-timeout`` seconds, as a browser or an upstream would. A
request *succeeds* when it is answered 200 in time. Printed per phase: success share, 503s,
client timeouts, p50 of successes; and the **recovery time**: from the end of the surge to the
first second after which every later second has >= 90 % of its requests succeed.

Traffic goes only to 127.0.0.1; the run stops by itself.

    .venv/bin/python bench/overload.py [--surge 2.5] [--surge-s 20] [--after 0.5] [--after-s 30]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field

import httpx
import numpy as np
from revision import QUESTIONS, RawClient, Result, Revision, one, questions


@dataclass
class Phase:
    name: str
    results: list[Result] = field(default_factory=list)

    def summary(self) -> dict:
        n = len(self.results)
        ok = [r for r in self.results if r.status == 200]
        return {"requests": n, "succeeded": len(ok) / n if n else 0.0,
                "shed_503": sum(r.status == 503 for r in self.results),
                "client_timeouts": sum(r.status is None for r in self.results),
                "p50_ms": float(np.median([r.latency for r in ok])) * 1000 if ok else None}


async def closed_loop(port: int, seconds: float, clients: int, start: int) -> float:
    """Answers per second with ``clients`` each sending the next question when answered."""
    done = 0
    end = time.monotonic() + seconds
    c = RawClient(port)

    async def worker(k: int) -> None:
        nonlocal done
        i = start + k * 10_000
        while time.monotonic() < end:
            r = await one(c, i, 60)
            i += 1
            done += r.status == 200

    t0 = time.monotonic()
    await asyncio.gather(*(worker(k) for k in range(clients)))
    c.close()
    return done / (time.monotonic() - t0)


async def open_loop(c: RawClient, plan: list[tuple[float, float]], timeout: float,
                    start: int) -> tuple[list[Result], float]:
    """Requests at each ``(rate, seconds)`` of ``plan`` in turn, each sent on time whatever
    became of the earlier ones; the results, and when the first phase's sending ended."""
    tasks = []
    t0 = time.monotonic()
    at, k, first_end = t0, 0, t0
    for n_phase, (rate, seconds) in enumerate(plan):
        for j in range(int(rate * seconds)):
            delay = at + j / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(c, start + k, timeout)))
            k += 1
        at += seconds
        if n_phase == 0:
            first_end = at
    return list(await asyncio.gather(*tasks)), first_end


def recovery_s(after: list[Result], surge_end: float, horizon: float) -> float | None:
    """Seconds from the end of the surge to the first second after which every later second
    has >= 90 % of its requests succeed; None when that never happens."""
    by_second: dict[int, list[bool]] = defaultdict(list)
    for r in after:
        by_second[int(r.sent_at - surge_end)].append(r.status == 200)
    seconds = sorted(s for s in by_second if 0 <= s < horizon)
    good = {s: np.mean(by_second[s]) >= 0.9 for s in seconds}
    for s in seconds:
        if all(good[t] for t in seconds if t >= s):
            return float(s)
    return None


async def scenario(port: int, capacity: float, a: argparse.Namespace, start: int
                   ) -> tuple[Phase, Phase, float | None]:
    c = RawClient(port)
    results, surge_end = await open_loop(
        c, [(capacity * a.surge, a.surge_s), (capacity * a.after, a.after_s)], a.client_timeout, start)
    c.close()
    surge = Phase("surge", [r for r in results if r.sent_at < surge_end])
    after = Phase("after", [r for r in results if r.sent_at >= surge_end])
    return surge, after, recovery_s(after.results, surge_end, a.after_s)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--surge", type=float, default=2.5, help="surge rate, times capacity")
    ap.add_argument("--surge-s", type=float, default=20.0)
    ap.add_argument("--after", type=float, default=0.5, help="rate after the surge, times capacity")
    ap.add_argument("--after-s", type=float, default=30.0)
    ap.add_argument("--client-timeout", type=float, default=3.0)
    ap.add_argument("--capacity-s", type=float, default=10.0)
    ap.add_argument("--server-cpus", default="0" if (os.cpu_count() or 1) >= 2 else "",
                    help="taskset CPU list of the revision (default: CPU 0, the load generator"
                    " on the others, so that it does not take the revision's CPU); '' for none")
    a = ap.parse_args()
    QUESTIONS.extend(questions())
    if a.server_cpus:
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)) - {int(c) for c in a.server_cpus.split(",")}
                             or {0})
    command = " ".join([".venv/bin/python", "bench/overload.py", *sys.argv[1:]])
    rows = []
    capacity: float | None = None
    for name, env in (("shedding on (defaults)", {}), ("shedding off", {"ETHOS_MAX_CONCURRENT": "0"})):
        rev = Revision(env, a.server_cpus)
        try:
            print(f"{name}: starting a revision on {rev.url} ...", flush=True)
            rev.wait_ready()
            measured = asyncio.run(closed_loop(rev.port, a.capacity_s, 4, 0))
            capacity = capacity or measured  # both runs get the first run's rates
            print(f"  capacity (closed loop, 4 clients, all misses): {measured:.1f} answers/s;"
                  f" surge at {capacity * a.surge:.1f}/s for {a.surge_s:g} s, then"
                  f" {capacity * a.after:.1f}/s for {a.after_s:g} s", flush=True)
            surge, after, rec = asyncio.run(scenario(rev.port, capacity, a, 50_000))
            shed = {line.split('reason="')[1].split('"')[0]: float(line.rsplit(" ", 1)[1])
                    for line in httpx.get(f"{rev.url}/metrics", timeout=30).text.splitlines()
                    if line.startswith("ethos_requests_shed_total{")}
            print(f"  shed by the revision: {shed or 'none'}", flush=True)
            rows.append((name, measured, surge.summary(), after.summary(), rec))
        finally:
            rev.stop()
    print(f"\n{'':24s} {'phase':6s} {'requests':>8s} {'succeeded':>9s} {'503':>6s} {'timed out':>9s} {'p50 ms':>8s}")
    for name, _, s, f, _ in rows:
        for phase, d in (("surge", s), ("after", f)):
            p50 = f"{d['p50_ms']:.0f}" if d["p50_ms"] is not None else "-"
            print(f"{name:24s} {phase:6s} {d['requests']:8d} {d['succeeded']:9.1%} {d['shed_503']:6d}"
                  f" {d['client_timeouts']:9d} {p50:>8s}")
    print()
    for name, _, _, _, rec in rows:
        print(f"recovery after the surge, {name}: " + (f"{rec:.0f} s" if rec is not None
                                                       else f"not within {a.after_s:g} s"))
    on, off = rows[0], rows[1]
    print(f"successes after the surge: on {on[3]['succeeded']:.1%}, off {off[3]['succeeded']:.1%};"
          f" during it: on {on[2]['succeeded']:.1%}, off {off[2]['succeeded']:.1%}")
    print(f"\nreproduce: {command}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
