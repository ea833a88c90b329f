"""Memory of ``ethos serve`` on a machine's first start (no ONNX export yet) and on the next.

Each start gets the same fresh ``ETHOS_MODEL_CACHE``: the first exports the embedding model
(in a child process), the second finds the export. For each: the resident set size once
``/health`` says the semantic tier and the pair model are ready, and whether torch's library
is mapped into the service's process (``/proc/PID/maps``). Linux only; 127.0.0.1 only.

    .venv/bin/python bench/first_start_rss.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from revision import Revision


def start(models: Path) -> tuple[float, bool, float]:
    """(RSS in MB once ready, torch mapped, seconds to ready), for a start with ``models`` as
    its model cache."""
    t0 = time.monotonic()
    rev = Revision({"ETHOS_MODEL_CACHE": str(models)})
    try:
        rev.wait_ready(timeout=600, poll=0.25)
        ready = time.monotonic() - t0
        time.sleep(2)  # let the warm-up settle
        pid = rev.proc.pid
        status = Path(f"/proc/{pid}/status").read_text()
        rss_kb = int(next(ln.split()[1] for ln in status.splitlines() if ln.startswith("VmRSS:")))
        torch = "libtorch" in Path(f"/proc/{pid}/maps").read_text()
        return rss_kb / 1024, torch, ready
    finally:
        rev.stop()


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="ethos-rss-") as d:
        models = Path(d) / "models"
        rows = []
        for name in ("first start (exports the model)", "next start (finds the export)"):
            rss, torch, ready = start(models)
            rows.append((name, rss, torch, ready))
            print(f"{name:34s} RSS {rss:6.0f} MB   torch in the process: {'yes' if torch else 'no'}"
                  f"   ready after {ready:5.1f} s", flush=True)
    print("\nreproduce: .venv/bin/python bench/first_start_rss.py")
    return 1 if any(t for _, _, t, _ in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
