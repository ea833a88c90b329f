"""The guard, end to end: a faulty green under steady traffic, rolled back by itself.

Each run: `ethos stack up` (router + blue + green on 127.0.0.1; green started with
ETHOS_FAULTS=error_rate=0.1, at weight 0 so it starts healthy-looking with no traffic),
20 requests/s through the router, `ethos guard --interval 5s --exit-after-action`. After a
warm-up, the fault's onset is the moment green takes half the traffic (PUT /router/traffic
blue=50,green=50). Measured: onset -> the guard's decision (from its history), onset ->
traffic 100% blue (polled on /router/traffic every 20 ms), the procedure's own time, and
after it the cache (a question cached during the warm-up is a MISS) and the client errors.
Goal (issue 6): onset -> traffic shifted under 15 s with a 5 s interval; (issue 20): p90 of
onset -> 100% blue under 15 s.

``--compare`` alternates, run by run, the default policy with the same policy deciding on its
windows alone (``Policy.without_sequential()``: no sequential test, no fast looks; what the guard
did before them), so both meet the same machine load.

    .venv/bin/python bench/guard_e2e.py [--runs 3] [--rps 20] [--interval 5s] [--via library,command] [--compare]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from ethos.rollout.guard import load_policy
from ethos.rollout.stack.state import free_base_port

ETHOS = str(Path(sys.executable).parent / "ethos")
QUESTIONS = [
    "What are your pricing plans?",
    "How much is the Team plan?",
    "Do you offer a free trial?",
    "Which languages do you support?",
    "How do I cancel my subscription?",
    "Is my data encrypted?",
    "Can I export my prompts?",
    "Do you have an API?",
]
PROBE = "Do you offer discounts for nonprofits?"  # asked only in the warm-up


@dataclass
class Traffic:
    """Requests sent at a fixed rate in a thread: (sent at, status, revision)."""

    url: str
    rps: float
    results: list[tuple[float, int, str]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=200)) as c:
            pending: set[asyncio.Task[None]] = set()
            i = 0
            start = time.monotonic()
            while not self.stop.is_set():
                q = QUESTIONS[i % len(QUESTIONS)]
                t = asyncio.create_task(self._one(c, q))
                pending.add(t)
                t.add_done_callback(pending.discard)
                i += 1
                await asyncio.sleep(max(0.0, start + i / self.rps - time.monotonic()))
            if pending:
                await asyncio.wait(pending, timeout=30)

    async def _one(self, c: httpx.AsyncClient, q: str) -> None:
        t = time.time()
        try:
            r = await c.post(f"{self.url}/api/ai/marketing-chat", json={"message": q})
            self.results.append((t, r.status_code, r.headers.get("x-revision", "?")))
        except httpx.HTTPError:
            self.results.append((t, 0, "?"))


def ask(url: str, q: str) -> str:
    r = httpx.post(f"{url}/api/ai/marketing-chat", json={"message": q}, timeout=30)
    return r.headers.get("x-cache", "?")


def drill(workdir: Path, *, rps: float = 20.0, interval: str = "5s", warmup_s: float = 20.0,
          fault: str = "error_rate=0.1", timeout_s: float = 120.0, via: str = "library",
          policy: Path | None = None) -> dict[str, Any]:
    """One run; returns the measured figures. Stops every process it started. ``policy``: a
    policy file for the guard (default: the runbook's)."""
    state = workdir / "state"
    env = {**os.environ, "ETHOS_STATE_DIR": str(state)}
    env.pop("ETHOS_ROUTER_URL", None)
    base = free_base_port()
    up = subprocess.run([ETHOS, "stack", "up", "--base-port", str(base), "--state-dir", str(state),
                         "--weights", "blue=100,green=0", "--green-env", f"ETHOS_FAULTS={fault}", "--json"],
                        env=env, capture_output=True, text=True, timeout=180)
    if up.returncode != 0:
        raise RuntimeError(f"stack up failed: {up.stderr[-2000:]}")
    stack = json.loads(up.stdout.strip().splitlines()[-1])
    router = stack["router"]
    key_file = json.loads((state / "stack.json").read_text()).get("admin_key_file")
    key = os.environ.get("ETHOS_ADMIN_API_KEY") or Path(key_file).read_text().strip()
    guard_out = (workdir / "guard.jsonl").open("w")
    guard = None
    traffic = Traffic(router, rps)
    th = threading.Thread(target=traffic.run, name="traffic", daemon=True)
    try:
        ask(router, PROBE)
        probe_warm = ask(router, PROBE)  # HIT: cached
        th.start()
        guard = subprocess.Popen([ETHOS, "guard", "--state-dir", str(state), "--interval", interval,
                                  "--exit-after-action", "--json", "--via", via,
                                  *(["--policy", str(policy)] if policy is not None else [])],
                                 env=env, stdout=guard_out, stderr=subprocess.STDOUT, start_new_session=True)
        time.sleep(warmup_s)
        onset = time.time()
        r = httpx.put(f"{router}/router/traffic", json={"blue": 50, "green": 50},
                      headers={"X-Admin-API-Key": key}, timeout=5)
        r.raise_for_status()
        shifted = None
        while time.time() - onset < timeout_s:
            w = httpx.get(f"{router}/router/traffic", timeout=5).json()["weights"]
            if w.get("blue") == 100:
                shifted = time.time()
                break
            time.sleep(0.02)
        try:
            code = guard.wait(timeout=30)
        except subprocess.TimeoutExpired:
            code = None
        time.sleep(2.0)  # traffic after the shift: blue only
        traffic.stop.set()
        th.join(timeout=40)
        probe_after = ask(router, PROBE)
        weights = httpx.get(f"{router}/router/traffic", timeout=5).json()["weights"]
    finally:
        traffic.stop.set()
        if guard is not None and guard.poll() is None:
            os.killpg(guard.pid, signal.SIGTERM)
            guard.wait(10)
        guard_out.close()
        subprocess.run([ETHOS, "stack", "down", "--state-dir", str(state)], env=env,
                       capture_output=True, timeout=60)
    hist = [json.loads(x) for x in (state / "guard" / "history.jsonl").read_text().splitlines()]
    acted = [h for h in hist if h.get("outcome")]
    decided = acted[0]["t"] if acted else None
    outcome = acted[0]["outcome"] if acted else {}
    res = traffic.results
    after = [x for x in res if shifted and x[0] > shifted + 0.5]
    during = [x for x in res if x[0] >= onset and (shifted is None or x[0] <= shifted)]
    return {
        "via": via,
        "policy": "windows only" if policy is not None else "sequential",
        "onset_to_decision_s": round(decided - onset, 2) if decided else None,
        "onset_to_shift_s": round(shifted - onset, 2) if shifted else None,
        "procedure_s": round(outcome.get("duration_s", 0.0), 2),
        "trigger": acted[0]["decision"]["trigger"] if acted else None,
        "decision_reason": acted[0]["decision"]["reason"] if acted else None,
        "rollback_id": outcome.get("rollback_id"),
        "guard_exit": code,
        "final_weights": weights,
        "probe_before": probe_warm,
        "probe_after": probe_after,
        "requests": len(res),
        "errors_between_onset_and_shift": sum(1 for x in during if x[1] >= 500 or x[1] == 0),
        "requests_between_onset_and_shift": len(during),
        "errors_after_shift": sum(1 for x in after if x[1] >= 500 or x[1] == 0),
        "green_after_shift": sum(1 for x in after if x[2] == "green"),
        "evaluations": len(hist),
    }


def _p90(xs: list[float]) -> float:
    """The nearest-rank 90th percentile (of 10 values, the 9th)."""
    s = sorted(xs)
    return s[max(0, math.ceil(0.9 * len(s)) - 1)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rps", type=float, default=20.0)
    ap.add_argument("--interval", default="5s")
    ap.add_argument("--warmup", type=float, default=20.0)
    ap.add_argument("--via", default="library,command",
                    help="how the guard runs the procedure, alternating per run: library, command or both")
    ap.add_argument("--compare", action="store_true",
                    help="alternate the default policy with the same policy on its windows alone")
    a = ap.parse_args()
    vias = a.via.split(",")
    runs = []
    with tempfile.TemporaryDirectory(prefix="ethos-guard-e2e-policy-") as pd:
        windows_only = Path(pd) / "windows-only.yaml"
        windows_only.write_text(yaml.safe_dump(load_policy().without_sequential().to_dict()))
        policies: list[Path | None] = [None, windows_only] if a.compare else [None]
        modes = [(via, pol) for via in vias for pol in policies]
        for i in range(a.runs * len(modes)):
            via, pol = modes[i % len(modes)]
            with tempfile.TemporaryDirectory(prefix="ethos-guard-e2e-") as d:
                r = drill(Path(d), rps=a.rps, interval=a.interval, warmup_s=a.warmup, via=via, policy=pol)
                runs.append(r)
                print(f"run {i + 1}: " + json.dumps(r), flush=True)
    print()
    print(f"guard e2e, {a.runs} runs per mode, {a.rps:g} req/s through the router, green error_rate=0.1 "
          f"at 50%, interval {a.interval}:")
    med: dict[str, float] = {}
    for via in vias:
        for name in (["sequential", "windows only"] if a.compare else ["sequential"]):
            rs = [r for r in runs if r["via"] == via and r["policy"] == name]
            shift = [r["onset_to_shift_s"] for r in rs if r["onset_to_shift_s"] is not None]
            dec = [r["onset_to_decision_s"] for r in rs if r["onset_to_decision_s"] is not None]
            proc = [r["procedure_s"] for r in rs]
            print(f"  --via {via}, policy: {name}" + (" (default)" if name == "sequential" else ""))
            if shift:
                if name == "sequential":
                    med[via] = statistics.median(proc)
                print(f"    onset -> traffic 100% blue: median {statistics.median(shift):.2f} s, "
                      f"p90 {_p90(shift):.2f} s (min {min(shift):.2f}, max {max(shift):.2f}; "
                      f"{sum(1 for x in shift if x > 15)} of {len(shift)} over 15 s); goal p90 <= 15 s")
                print(f"    all: {', '.join(f'{x:.1f}' for x in sorted(shift))}")
            if len(shift) < len(rs):
                print(f"    NOT shifted within the run: {len(rs) - len(shift)} of {len(rs)}")
            if dec:
                print(f"    onset -> guard decision:    median {statistics.median(dec):.2f} s, p90 {_p90(dec):.2f} s")
            print(f"    procedure (emergency rollback, as the guard ran it): median {statistics.median(proc):.2f} s")
            print(f"    cache after: {[r['probe_after'] for r in rs]} (before: {[r['probe_before'] for r in rs]}); "
                  f"final weights: {[r['final_weights'] for r in rs]}")
            if rs and rs[-1]["decision_reason"]:
                print(f"    last decision: {rs[-1]['decision_reason']}")
    if "library" in med and "command" in med and med["library"] > 0:
        print(f"  procedure time, command / library: {med['command'] / med['library']:.2f}x")
    print(f"reproduce: .venv/bin/python {shlex.join(['bench/guard_e2e.py', *sys.argv[1:]])}")


if __name__ == "__main__":
    main()
