"""What one pooled ``RouterClient`` saves over a new HTTP client per call, measured in one run.

`ethos router` runs as its own process (its revisions need not exist: only the admin routes are
called). Alternating per round, in this process:

- per call: ``GET /router/stats`` (parsed into ``RouterStats``) through one kept ``RouterClient``,
  against ``httpx.get`` per call (a new client, SSL context and connection each time: what the
  incident evidence, the drill and ``ethos stack status`` did before); ratio new-client / pooled;
- client setup: ``httpx.Client()`` (its own SSL context) against ``httpx.Client(verify=
  default_ssl_context())`` (the one context every client of a run shares now that
  ``KeepOpenTransport`` is gone); ratio;
- import: a fresh interpreter importing ``ethos.rollout.router.client`` against one importing the
  server too (what ``import ethos.rollout.router`` did before its names became lazy); ratio.

Figures are medians over rounds.

    .venv/bin/python bench/router_client_bench.py [--calls 200] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from router_bench import wait_ok  # noqa: E402

from ethos.rollout.router.client import RouterClient, default_ssl_context  # noqa: E402
from ethos.rollout.stack.state import free_port  # noqa: E402

ETHOS = [sys.executable, "-c", "from ethos.cli import main; main()"]


def per_call_ms(fn, calls: int) -> float:
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t0) * 1000.0 / calls


def import_ms(modules: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import {modules}"], check=True)
    return (time.perf_counter() - t0) * 1000.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        router = subprocess.Popen([*ETHOS, "router", "--listen", f"127.0.0.1:{port}", "--state-dir", tmp,
                                   "--revision", f"blue=http://127.0.0.1:{free_port()}",
                                   "--revision", f"green=http://127.0.0.1:{free_port()}"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_ok(f"{url}/router/health")
            pooled, fresh, setup_own, setup_shared, imp_client, imp_server = [], [], [], [], [], []
            with RouterClient(url) as client:
                client.stats()  # the connection is open: what a run's later calls find
                for _ in range(a.rounds):
                    pooled.append(per_call_ms(client.stats, a.calls))
                    fresh.append(per_call_ms(lambda: httpx.get(f"{url}/router/stats", timeout=5).json(), a.calls))
                    setup_own.append(per_call_ms(lambda: httpx.Client().close(), 20))
                    setup_shared.append(per_call_ms(lambda: httpx.Client(verify=default_ssl_context()).close(), 20))
                    imp_client.append(import_ms("ethos.rollout.router.client"))
                    imp_server.append(import_ms("ethos.rollout.router.client, ethos.rollout.router.server"))
        finally:
            router.terminate()
            router.wait(timeout=10)
    med = statistics.median
    print(f"GET /router/stats per call: pooled RouterClient {med(pooled):.3f} ms, new client per call "
          f"{med(fresh):.3f} ms: {med(fresh) / med(pooled):.1f}x")
    print(f"client setup: own SSL context {med(setup_own):.3f} ms, shared context {med(setup_shared):.3f} ms: "
          f"{med(setup_own) / med(setup_shared):.0f}x")
    print(f"fresh interpreter import: router client {med(imp_client):.0f} ms, client + server "
          f"{med(imp_server):.0f} ms: {med(imp_server) / med(imp_client):.2f}x")
    print(f"command: .venv/bin/python bench/{Path(__file__).name} --calls {a.calls} --rounds {a.rounds}")


if __name__ == "__main__":
    main()
