"""The router's cost: throughput through the router as a ratio of direct, and p50 added latency.

One upstream (a real `ethos serve` answering a cached question, or with ``--upstream minimal``
a bare ASGI app, the hardest case for the ratio) and `ethos router` in front of it, each its own
process; wrk (its own process) drives both in the same run, alternating per round.

- throughput: wrk with ``--connections`` (default 16) connections; ratio router / direct.
- added latency: wrk with 1 connection (no queueing); router p50 - direct p50.
Figures are medians over rounds. Goals (issue 5): ratio >= 0.60, p50 added < 1 ms.

    .venv/bin/python bench/router_bench.py [--upstream serve|minimal] [--seconds 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import loadgen  # noqa: E402

from ethos.rollout.stack.state import free_port  # noqa: E402

QUESTION = {"message": "What are your pricing plans?"}
MINIMAL_APP = r'''
import json, sys, uvicorn
BODY = json.dumps({"reply": "Our pricing plans are Free, Starter, Team, Business and Enterprise.",
                   "cache": "hit", "revision": "blue", "sources": ["plans-and-pricing.md"]}).encode()
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]})
    await send({"type": "http.response.body", "body": BODY})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False,
            loop="uvloop", http="httptools")
'''


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc), seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_ok(url: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} not healthy within {timeout:g}s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--upstream", choices=["serve", "minimal"], default="serve")
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    args = ap.parse_args()
    loadgen.require_wrk()
    load_before = os.getloadavg()[0]

    ethos = [sys.executable, "-c", "from ethos.cli import main; main()"]
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        up_port, router_port = free_port(), free_port()
        env = {**os.environ, "ETHOS_STATE_DIR": tmp, "ETHOS_CACHE_URL": f"sqlite:///{tmp}/cache.sqlite3",
               "ETHOS_ADMIN_API_KEY": "bench-key"}
        log = open(Path(tmp) / "procs.log", "ab")
        try:
            if args.upstream == "serve":
                cmd = [*ethos, "serve", "--port", str(up_port), "--revision", "blue"]
                health = f"http://127.0.0.1:{up_port}/health"
            else:
                cmd = [sys.executable, "-c", MINIMAL_APP, str(up_port)]
                health = None
            procs.append(subprocess.Popen(cmd, env=env, stdout=log, stderr=log))
            upstream = f"http://127.0.0.1:{up_port}"
            procs.append(subprocess.Popen(
                [*ethos, "router", "--listen", f"127.0.0.1:{router_port}", "--state-dir", tmp,
                 "--revision", f"blue={upstream}", "--revision", f"green={upstream}"],
                env=env, stdout=log, stderr=log))
            router = f"http://127.0.0.1:{router_port}"
            if health:
                wait_ok(health)
            else:
                wait_ok_post(upstream)
            wait_ok(f"{router}/router/health")
            chat = "/api/ai/marketing-chat"
            for _ in range(20):  # fill the cache and warm both paths
                httpx.post(upstream + chat, json=QUESTION, timeout=30).raise_for_status()
                httpx.post(router + chat, json=QUESTION, timeout=30).raise_for_status()

            rounds = []
            for i in range(args.rounds):
                order = [("direct", upstream), ("router", router)]
                if i % 2:
                    order.reverse()
                r: dict[str, dict] = {}
                for name, base in order:
                    cpu0 = [cpu_seconds(p.pid) for p in procs]
                    r[f"{name}_tp"] = loadgen.run(base + chat, QUESTION, seconds=args.seconds,
                                                  connections=args.connections)
                    cpu1 = [cpu_seconds(p.pid) for p in procs]
                    n = max(1, r[f"{name}_tp"]["requests"])
                    # CPU per request does not depend on what else the machine runs: the steady figure.
                    r[f"{name}_cpu_us"] = {"upstream": (cpu1[0] - cpu0[0]) / n * 1e6,
                                           "router": (cpu1[1] - cpu0[1]) / n * 1e6}
                    r[f"{name}_lat"] = loadgen.run(base + chat, QUESTION, seconds=args.seconds, connections=1)
                rounds.append(r)
                print(f"round {i + 1}: direct {r['direct_tp']['rps']:.0f} rps, router {r['router_tp']['rps']:.0f} rps; "
                      f"p50 @1 conn: direct {r['direct_lat']['p50_ms']:.3f} ms, router {r['router_lat']['p50_ms']:.3f} ms",
                      flush=True)
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
            log.close()

    errors = sum(x["errors"] for r in rounds for x in r.values() if "errors" in x)
    ratio = statistics.median(r["router_tp"]["rps"] / r["direct_tp"]["rps"] for r in rounds)
    added = statistics.median(r["router_lat"]["p50_ms"] - r["direct_lat"]["p50_ms"] for r in rounds)
    direct_rps = statistics.median(r["direct_tp"]["rps"] for r in rounds)
    router_rps = statistics.median(r["router_tp"]["rps"] for r in rounds)
    up_cpu = statistics.median(r["direct_cpu_us"]["upstream"] for r in rounds)
    router_cpu = statistics.median(r["router_cpu_us"]["router"] for r in rounds)
    print()
    print(f"upstream: {args.upstream} ({'ethos serve, cached answer' if args.upstream == 'serve' else 'bare ASGI app'})")
    print(f"throughput ({args.connections} connections): direct {direct_rps:.0f} rps, router {router_rps:.0f} rps, "
          f"ratio {ratio:.2f} (goal >= 0.60: {'PASS' if ratio >= 0.60 else 'FAIL'})")
    print(f"p50 added latency (1 connection): {added:.3f} ms (goal < 1 ms: {'PASS' if added < 1.0 else 'FAIL'})")
    print(f"CPU per request: upstream {up_cpu:.0f} us, router {router_cpu:.0f} us "
          f"(router / upstream {router_cpu / up_cpu:.2f}; independent of other load)")
    print(f"failed requests: {errors}; median of {args.rounds} rounds of {args.seconds:g} s; {os.cpu_count()} cores; "
          f"load average before/after: {load_before:.1f}/{os.getloadavg()[0]:.1f} (other work on the machine skews both paths)")
    print("reproduce: .venv/bin/python bench/router_bench.py " + " ".join(
        [f"--upstream {args.upstream}", f"--seconds {args.seconds:g}", f"--rounds {args.rounds}",
         f"--connections {args.connections}"]))
    if args.json:
        print(json.dumps({"upstream": args.upstream, "throughput_ratio": round(ratio, 3),
                          "p50_added_ms": round(added, 3), "direct_rps": round(direct_rps),
                          "router_rps": round(router_rps), "errors": errors,
                          "upstream_cpu_us": round(up_cpu), "router_cpu_us": round(router_cpu),
                          "loadavg_before": round(load_before, 2)}))


def wait_ok_post(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.post(url + "/api/ai/marketing-chat", json=QUESTION, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} not answering within {timeout:g}s")


if __name__ == "__main__":
    main()
