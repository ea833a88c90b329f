"""The default policy on synthetic traffic with a fake clock: false rollbacks and detection.

Same run, same policy (the runbook's default), evaluated every 5 s:
- healthy green and blue, 1 request/s each, lognormal latency (median 1.2 s, sigma 0.8) with a
  1% Pareto tail, TTFT median 0.4 s, 0.3% single errors: HOURS simulated hours -> rollbacks;
- the same with green's TTFT doubled from an onset: time to the standard rollback, per seed;
- router stats unreachable for 10 minutes: rollbacks and alerts;
- 10% errors on green at 10 requests/s: time to the emergency rollback, per seed.

    .venv/bin/python bench/guard_noise.py [--hours 24] [--seeds 5]
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import time

import numpy as np

from ethos.rollout.guard import load_policy
from ethos.rollout.guard.simulate import simulate, synthetic

WARMUP = 900.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--seeds", type=int, default=5)
    a = ap.parse_args()
    policy = load_policy()
    t0 = time.perf_counter()
    end = WARMUP + a.hours * 3600
    rng = np.random.default_rng(11)
    res = simulate(policy, {"blue": synthetic(rng, 0, end, 1.0), "green": synthetic(rng, 0, end, 1.0)}, WARMUP, end)
    print(f"healthy, {a.hours:g} h at 1 req/s, {res.evaluations} evaluations: "
          f"{res.rollbacks} rollbacks, {len(res.alerts)} alerts ({time.perf_counter() - t0:.0f} s to simulate)")

    ttft = []
    for seed in range(a.seeds):
        rng = np.random.default_rng(100 + seed)
        onset = WARMUP + 600.0
        e = onset + 3600.0
        tr = {"blue": synthetic(rng, 0, e, 1.0),
              "green": synthetic(rng, 0, e, 1.0, ttft_factor=lambda t, o=onset: np.where(t >= o, 2.0, 1.0))}
        r = simulate(policy, tr, WARMUP, e, stop_on_action=True)
        ttft.append(r.actions[0][0] - onset if r.actions else float("inf"))
    print(f"2x TTFT at 1 req/s: caught after {', '.join(f'{x:.0f}' for x in ttft)} s "
          f"(median {statistics.median(ttft):.0f} s; window 300 s, so {statistics.median(ttft) / 300:.2f} windows;"
          f" goal: within 3 windows)")

    rng = np.random.default_rng(7)
    e = WARMUP + 3600.0
    out = simulate(policy, {"blue": synthetic(rng, 0, e, 1.0), "green": synthetic(rng, 0, e, 1.0)}, WARMUP, e,
                   outages=((WARMUP + 600.0, WARMUP + 1200.0),))
    print(f"10-minute router outage: {out.rollbacks} rollbacks, {len(out.alerts)} alert(s)")

    err = []
    for seed in range(a.seeds):
        rng = np.random.default_rng(200 + seed)
        onset = WARMUP + 100.0 + seed * 1.3  # the onset falls at different points of the 5 s cycle
        e = onset + 120.0
        tr = {"blue": synthetic(rng, 0, e, 10.0),
              "green": synthetic(rng, 0, e, 10.0, error_rate_at=lambda t, o=onset: np.where(t >= o, 0.1, 0.003))}
        r = simulate(policy, tr, WARMUP, e, stop_on_action=True)
        err.append(r.actions[0][0] - onset if r.actions else float("inf"))
    print(f"10% errors at 10 req/s on green: emergency decided after {', '.join(f'{x:.1f}' for x in err)} s "
          f"(median {statistics.median(err):.1f} s, evaluation every 5 s)")
    print(f"reproduce: .venv/bin/python {shlex.join(['bench/guard_noise.py', *sys.argv[1:]])}")


if __name__ == "__main__":
    main()
