"""`ethos serve` from start to a 200 on /health (goal, issue 2: under 2 s).

    .venv/bin/python bench/startup.py [--runs 5]
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

from ethos.rollout.stack.state import free_port


def once(ethos: str, cwd: str) -> float:
    port = free_port()
    t0 = time.monotonic()
    p = subprocess.Popen([ethos, "serve", "--port", str(port)], cwd=cwd,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         env={**os.environ})
    try:
        while True:
            if p.poll() is not None:
                raise RuntimeError("ethos serve exited")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=0.5).status_code == 200:
                    return time.monotonic() - t0
            except httpx.HTTPError:
                time.sleep(0.01)
    finally:
        p.terminate()
        p.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    ethos = str(Path(sys.executable).parent / "ethos")
    with tempfile.TemporaryDirectory() as d:
        once(ethos, d)  # first run compiles bytecode; not counted
        times = [once(ethos, d) for _ in range(args.runs)]
    print(f"ethos serve start to 200 on /health over {args.runs} runs:"
          f" median {statistics.median(times):.2f} s, max {max(times):.2f} s (goal < 2 s)")
    print(f"reproduce: .venv/bin/python bench/startup.py --runs {args.runs}")


if __name__ == "__main__":
    main()
