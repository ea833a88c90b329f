"""Drive an HTTP endpoint on 127.0.0.1 with wrk and return throughput and latency.

wrk (Debian package ``wrk``) runs in its own process, so the load generator is not the
bottleneck of a Python server on the other core. Only loopback addresses are accepted.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

_LUA = """
wrk.method = "POST"
wrk.body = %s
wrk.headers["Content-Type"] = "application/json"
done = function(summary, latency, requests)
  io.write(string.format(
    'JSON{"requests":%%d,"duration_us":%%d,"errors":%%d,"non2xx":%%d,"p50_us":%%d,"p99_us":%%d,"mean_us":%%f}\\n',
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, latency:percentile(50), latency:percentile(99), latency.mean))
end
"""


def require_wrk() -> str:
    path = shutil.which("wrk")
    if not path:
        raise SystemExit("this benchmark needs wrk: apt-get install -y wrk")
    return path


def run(url: str, body: dict, *, seconds: float = 5, connections: int = 16,
        threads: int = 1) -> dict:
    """Load ``url`` with POSTs of ``body``; returns rps, p50/p99 (ms), errors."""
    host = urlsplit(url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError("load is only ever sent to loopback addresses")
    wrk = require_wrk()
    with tempfile.TemporaryDirectory() as d:
        script = Path(d) / "post.lua"
        script.write_text(_LUA % json.dumps(json.dumps(body)))
        out = subprocess.run(
            [wrk, "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s",
             "-s", str(script), url],
            capture_output=True, text=True, timeout=seconds + 30, check=True,
        ).stdout
    line = next(x for x in out.splitlines() if x.startswith("JSON"))
    r = json.loads(line[4:])
    return {
        "rps": r["requests"] / (r["duration_us"] / 1e6),
        "p50_ms": r["p50_us"] / 1000,
        "p99_ms": r["p99_us"] / 1000,
        "requests": r["requests"],
        "errors": r["errors"] + r["non2xx"],
    }
