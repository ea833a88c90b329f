"""Cached answers over HTTP against a bare FastAPI endpoint, in the same run.

Both apps are served the same way (uvicorn, one worker, same flags) on 127.0.0.1 and driven
by wrk with the same body; rounds alternate to spread machine noise over both.
Goal (issue 2): ethos's cached throughput at least 70% of the bare endpoint's.

    .venv/bin/python bench/http_cached.py [--seconds 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
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

QUESTION = "What are your pricing plans?"
BARE_APP = '''
from fastapi import FastAPI
app = FastAPI()
REPLY = {"reply": "Our pricing plans are Free, Starter, Team, Business and Enterprise.",
         "cache": "hit", "revision": "blue", "sources": ["plans-and-pricing.md"]}
@app.post("/api/ai/marketing-chat")
async def chat():
    return REPLY
'''


def wait(url: str) -> None:
    for _ in range(300):
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


def start(cmd: list[str], cwd: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen(cmd, cwd=cwd, env={**os.environ, **env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--env", action="append", default=[], metavar="K=V",
                    help="extra ETHOS_* settings for the ethos process")
    args = ap.parse_args()
    bindir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as d:
        Path(d, "bare.py").write_text(BARE_APP)
        bp, ep = free_port(), free_port()
        uv = [str(bindir / "uvicorn"), "--host", "127.0.0.1", "--log-level", "warning",
              "--no-access-log"]
        bare = start([*uv, "--port", str(bp), "bare:app"], d, {})
        ethos = start([str(bindir / "ethos"), "serve", "--port", str(ep)], d,
                      {"ETHOS_STATE_DIR": d, **dict(e.split("=", 1) for e in args.env)})
        try:
            bare_url = f"http://127.0.0.1:{bp}/api/ai/marketing-chat"
            ethos_url = f"http://127.0.0.1:{ep}/api/ai/marketing-chat"
            wait(f"http://127.0.0.1:{bp}/docs")
            wait(f"http://127.0.0.1:{ep}/health")
            # measure the steady state: not while the embedding model loads in the background
            for _ in range(600):
                if httpx.get(f"http://127.0.0.1:{ep}/health").json()["semantic"] != "loading":
                    break
                time.sleep(0.1)
            r = httpx.post(ethos_url, json={"message": QUESTION})
            r = httpx.post(ethos_url, json={"message": QUESTION})
            assert r.headers["X-Cache"] == "HIT", r.headers
            body = {"message": QUESTION}
            res: dict[str, list[dict]] = {"bare": [], "ethos": []}
            loadgen.run(bare_url, body, seconds=1, connections=args.connections)  # warm up
            loadgen.run(ethos_url, body, seconds=1, connections=args.connections)
            for _ in range(args.rounds):
                res["bare"].append(loadgen.run(bare_url, body, seconds=args.seconds,
                                               connections=args.connections))
                res["ethos"].append(loadgen.run(ethos_url, body, seconds=args.seconds,
                                                connections=args.connections))
        finally:
            for p in (bare, ethos):
                p.terminate()
                p.wait(10)
    med = {k: {m: statistics.median(x[m] for x in v) for m in ("rps", "p50_ms", "p99_ms")}
           for k, v in res.items()}
    errors = sum(x["errors"] for v in res.values() for x in v)
    ratio = med["ethos"]["rps"] / med["bare"]["rps"]
    print(f"cached answers over HTTP, {args.rounds} alternating rounds of {args.seconds:g} s,"
          f" {args.connections} connections (wrk), medians:")
    for k in ("bare", "ethos"):
        m = med[k]
        label = "bare FastAPI constant" if k == "bare" else "ethos cached (HIT)  "
        print(f"  {label}  {m['rps']:8.0f} req/s   p50 {m['p50_ms']:.2f} ms   p99 {m['p99_ms']:.2f} ms")
    print(f"  ratio ethos/bare throughput: {ratio:.2f}  (goal >= 0.70)   errors: {errors}")
    print(f"reproduce: .venv/bin/python bench/http_cached.py --seconds {args.seconds:g}"
          f" --rounds {args.rounds} --connections {args.connections}")


if __name__ == "__main__":
    main()
