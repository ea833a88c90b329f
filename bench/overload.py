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
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
from semantic_common import load_qqp

ETHOS = str(Path(sys.executable).parent / "ethos")
CHAT = "/api/ai/marketing-chat"


def questions() -> list[str]:
    """Distinct real questions (QQP's), so that every request is a miss that costs what a new
    question costs: the embedding, the nearest stored questions, the pair model when one of
    them is close, the answerer."""
    seen: dict[str, None] = {}
    for p in load_qqp():
        for q in (p["text_a"], p["text_b"]):
            seen.setdefault(q.strip(), None)
    return [q for q in seen if 10 <= len(q) <= 300]


QUESTIONS: list[str] = []


def question(i: int) -> str:
    return QUESTIONS[i % len(QUESTIONS)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Revision:
    """``ethos serve`` on a free port of 127.0.0.1, in a fresh state directory."""

    def __init__(self, env: dict[str, str], cpus: str = "") -> None:
        self.dir = tempfile.TemporaryDirectory(prefix="ethos-overload-")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        e = {k: v for k, v in os.environ.items() if not k.startswith("ETHOS_")}
        e.update({"ETHOS_STATE_DIR": self.dir.name, "ETHOS_ADMIN_API_KEY": "bench-key", **env})
        if "ETHOS_MODEL_CACHE" in os.environ:
            e["ETHOS_MODEL_CACHE"] = os.environ["ETHOS_MODEL_CACHE"]
        pin = ["taskset", "-c", cpus] if cpus else []
        self.proc = subprocess.Popen([*pin, ETHOS, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                                     env=e, cwd=self.dir.name, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)

    def wait_ready(self, timeout: float = 300) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise SystemExit(f"ethos serve exited with code {self.proc.returncode}")
            try:
                h = httpx.get(f"{self.url}/health", timeout=2).json()
                if h.get("semantic") == "ready" and h.get("pair_model") in ("ready", "off", None):
                    return
            except (httpx.HTTPError, json.JSONDecodeError):
                pass
            time.sleep(0.5)
        raise SystemExit("the revision did not become ready")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.dir.cleanup()


@dataclass
class Result:
    sent_at: float
    status: int | None  # None: the client gave up
    latency: float


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


class RawClient:
    """A minimal HTTP/1.1 client over asyncio streams, with a pool of kept-alive connections.

    httpx costs about a millisecond of CPU per request; at a few hundred requests a second the
    load generator then falls behind its own schedule, and the figures measure it instead of
    the revision. This one sends prebuilt bytes and reads only the status and the body length.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    @staticmethod
    def request(message: str) -> bytes:
        body = json.dumps({"message": message}).encode()
        return (f"POST {CHAT} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode() + body

    async def post(self, message: str) -> int:
        conn = self.idle.pop() if self.idle else await asyncio.open_connection("127.0.0.1", self.port)
        reader, writer = conn
        try:
            writer.write(self.request(message))
            status_line = await reader.readline()
            if not status_line:
                raise ConnectionError("closed")
            length, keep = 0, True
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
                elif name.lower() == "connection" and "close" in value.lower():
                    keep = False
            await reader.readexactly(length)
        except BaseException:
            writer.close()  # a client that gives up closes its connection
            raise
        if keep:
            self.idle.append(conn)
        else:
            writer.close()
        return int(status_line.split()[1])

    def close(self) -> None:
        for _, w in self.idle:
            w.close()
        self.idle.clear()


async def one(client: RawClient, i: int, timeout: float) -> Result:
    """One request with a deadline on the whole exchange."""
    t0 = time.monotonic()
    try:
        async with asyncio.timeout(timeout):
            status = await client.post(question(i))
        return Result(t0, status, time.monotonic() - t0)
    except TimeoutError:
        return Result(t0, None, time.monotonic() - t0)
    except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError, IndexError):
        return Result(t0, 0, time.monotonic() - t0)


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
