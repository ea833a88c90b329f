"""ONNX Runtime threads when two revisions share a machine (the local blue/green stack).

Blue and green (``ethos serve``, embedded defaults) run at once, first with ONNX Runtime's own
thread choice (``ETHOS_ONNX_THREADS`` unset: one intra-op thread per core), then with one
thread per call (``ETHOS_ONNX_THREADS=1``), in the same run, alternately ``--rounds`` times:

- **both busy**: a closed loop of ``--clients`` clients on each revision at once, every
  question new (a cache miss: the embedding, the pair model when a stored question is close,
  the answerer): answers per second of the two together;
- **one alone**: one client on blue while green idles: p50 of one answer.

Traffic goes only to 127.0.0.1; the run stops by itself.

    .venv/bin/python bench/onnx_threads.py [--rounds 2] [--seconds 15] [--clients 4]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

import numpy as np
from revision import QUESTIONS, RawClient, Revision, one, questions


async def busy(ports: list[int], seconds: float, clients: int, start: int) -> float:
    """Answers per second of all ``ports`` together, ``clients`` closed-loop clients on each."""
    done = 0
    end = time.monotonic() + seconds

    async def worker(c: RawClient, i: int) -> None:
        nonlocal done
        while time.monotonic() < end:
            r = await one(c, i, 60)
            i += 1
            done += r.status == 200

    conns = [RawClient(p) for p in ports]
    t0 = time.monotonic()
    await asyncio.gather(*(worker(c, start + k * 20_000 + n * 5_000)
                           for k, c in enumerate(conns) for n in range(clients)))
    for c in conns:
        c.close()
    return done / (time.monotonic() - t0)


async def alone(port: int, n: int, start: int) -> float:
    c = RawClient(port)
    lat = []
    for i in range(n):
        r = await one(c, start + i, 60)
        if r.status == 200:
            lat.append(r.latency)
    c.close()
    return float(np.median(lat)) * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--clients", type=int, default=4)
    a = ap.parse_args()
    command = " ".join([".venv/bin/python", "bench/onnx_threads.py", *sys.argv[1:]])
    QUESTIONS.extend(questions())
    results: dict[str, list[tuple[float, float]]] = {"default": [], "1": []}
    for r in range(a.rounds):
        for label, env in (("default", {}), ("1", {"ETHOS_ONNX_THREADS": "1"})):
            revs = [Revision({**env, "ETHOS_REVISION": name}) for name in ("blue", "green")]
            try:
                for rev in revs:
                    rev.wait_ready()
                base = 100_000 * (1 + 2 * r + (label == "1"))
                rate = asyncio.run(busy([rev.port for rev in revs], a.seconds, a.clients, base))
                p50 = asyncio.run(alone(revs[0].port, 200, base + 60_000))
            finally:
                for rev in revs:
                    rev.stop()
            results[label].append((rate, p50))
            print(f"round {r + 1}, ONNX threads {label:7s}: both busy {rate:6.1f} answers/s;"
                  f" one alone p50 {p50:5.1f} ms", flush=True)
    d, o = np.array(results["default"]), np.array(results["1"])
    print(f"\nmean over {a.rounds} rounds: both busy {d[:, 0].mean():.1f} (default) vs {o[:, 0].mean():.1f}"
          f" (1 thread) answers/s: x{o[:, 0].mean() / d[:, 0].mean():.2f};"
          f" one alone p50 {d[:, 1].mean():.1f} vs {o[:, 1].mean():.1f} ms: x{o[:, 1].mean() / d[:, 1].mean():.2f}")
    print(f"reproduce: {command}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
