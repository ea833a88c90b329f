"""Memory of ``ethos serve`` on a machine's first start (no ONNX export yet) and on the next.

Each start gets the same fresh ``ETHOS_MODEL_CACHE``: the first exports the embedding model
(in a child process), the second finds the export. For each: the resident set size once
``/health`` says the semantic tier and the pair model are ready, and whether torch's library
is mapped into the service's process (``/proc/PID/maps``). Linux only; 127.0.0.1 only.

    .venv/bin/python bench/first_start_rss.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from ethos.rollout.stack.state import free_port

ETHOS = str(Path(sys.executable).parent / "ethos")


def start(models: Path, state: Path) -> tuple[float, bool, float]:
    """(RSS in MB once ready, torch mapped, seconds to ready)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETHOS_")}
    env.update({"ETHOS_MODEL_CACHE": str(models), "ETHOS_STATE_DIR": str(state)})
    t0 = time.monotonic()
    p = subprocess.Popen([ETHOS, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env,
                         cwd=state, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         stdin=subprocess.DEVNULL)
    try:
        while True:
            if p.poll() is not None:
                raise SystemExit(f"ethos serve exited with code {p.returncode}")
            if time.monotonic() - t0 > 600:
                raise SystemExit("not ready within 600 s")
            try:
                h = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).json()
                if h.get("semantic") == "ready" and h.get("pair_model") in ("ready", "off", None):
                    break
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.25)
        ready = time.monotonic() - t0
        time.sleep(2)  # let the warm-up settle
        status = Path(f"/proc/{p.pid}/status").read_text()
        rss_kb = int(next(ln.split()[1] for ln in status.splitlines() if ln.startswith("VmRSS:")))
        torch = "libtorch" in Path(f"/proc/{p.pid}/maps").read_text()
        return rss_kb / 1024, torch, ready
    finally:
        p.terminate()
        p.wait(30)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="ethos-rss-") as d:
        models = Path(d) / "models"
        rows = []
        for name in ("first start (exports the model)", "next start (finds the export)"):
            state = Path(d) / name.split()[0]
            state.mkdir()
            rss, torch, ready = start(models, state)
            rows.append((name, rss, torch, ready))
            print(f"{name:34s} RSS {rss:6.0f} MB   torch in the process: {'yes' if torch else 'no'}"
                  f"   ready after {ready:5.1f} s", flush=True)
    print("\nreproduce: .venv/bin/python bench/first_start_rss.py")
    return 1 if any(t for _, _, t, _ in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
