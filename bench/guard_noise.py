"""The default policy on synthetic traffic with a fake clock: false rollbacks and detection.

Same run, same traffic, two policies: the runbook's default ("sequential": the emergency error
rate also decided by its sequential test, looks every second while evidence builds) and the
same policy deciding on its windows alone ("windows only", what the guard did before), each
evaluated every 5 s:
- healthy green and blue, 1 request/s each, lognormal latency (median 1.2 s, sigma 0.8) with a
  1% Pareto tail, TTFT median 0.4 s, 0.3% single errors: HOURS simulated hours -> rollbacks;
- the same with green's TTFT doubled from an onset: time to the standard rollback, per seed;
- router stats unreachable for 10 minutes: rollbacks and alerts;
- 10% errors at 10 requests/s on green: time to the emergency rollback, per seed;
- the same over ONSETS onsets at random points of the 5 s cycle, with green already serving
  (0.3% errors before the onset) and with green taking its traffic at the onset (as in
  bench/guard_e2e.py): median, p90 and max onset -> decision.

    .venv/bin/python bench/guard_noise.py [--hours 24] [--seeds 5] [--onsets 200] [--source cloud-monitoring]

``--source cloud-monitoring``: the request signals (counts, error rates, latency) come from the
Cloud Monitoring source instead, reading over gRPC the Metric Service fake into which the same
traffic is written minute by minute as Cloud Run records it, each minute visible 30-240 s after
it ends (random); the source reads only whole minutes older than 240 s. The fault-onset case
then reports, per seed, onset -> decision and "data complete -> decision" (the end of the minute
that decided + 240 s -> the decision: at most one evaluation, 5 s); no ONSETS there.
"""

from __future__ import annotations

import argparse
import math
import shlex
import statistics
import sys
import time

import numpy as np

from ethos.rollout.guard import load_policy
from ethos.rollout.guard.simulate import SimResult, simulate, synthetic

WARMUP = 900.0


class _Monitoring:
    """simulate(...) with the Cloud Monitoring source over the Metric Service fake (fresh per run)."""

    def __init__(self, seed: int) -> None:
        from ethos.rollout.sources.cloudmonitoring import COUNT_SIGNALS, LATENCY_SIGNALS
        from ethos.rollout.sources.monitoring_fake import FakeMetricService

        self.now = 0.0
        self.rng = np.random.default_rng(seed)
        self.fake = FakeMetricService(clock=lambda: self.now).start()
        self.only = COUNT_SIGNALS | LATENCY_SIGNALS
        self.reads = 0

    def __call__(self, policy, traffic, start, end, **kw):  # noqa: ANN001, ANN003, ANN204
        from ethos.rollout.guard.simulate import publish_minutes
        from ethos.rollout.sources.cloudmonitoring import DEFAULT_LAG_S, CloudMonitoringSource, CloudRunService

        names = {"blue": "marketing-api-00012-xuv", "green": "marketing-api-00013-bod"}
        self.fake._series.clear()  # a fresh Cloud Monitoring for each run
        publish_minutes(self.fake, traffic, names, 0.0, end,
                        delay=lambda: float(self.rng.uniform(30.0, DEFAULT_LAG_S)))
        src = CloudMonitoringSource(CloudRunService("proj", "australia-southeast1", "marketing-api", names),
                                    client=self.fake.client())

        def tick(now: float) -> None:
            self.now = now

        try:
            return simulate(policy, traffic, start, end, sources=[src], from_sources=self.only,
                            before_step=tick, **kw)
        finally:
            self.reads += src.reads
            src.close()

    def close(self) -> None:
        self.fake.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--onsets", type=int, default=200,
                    help="onsets at random points of the 5 s cycle for the detection distribution (0: none)")
    ap.add_argument("--source", choices=["simulated", "cloud-monitoring"], default="simulated",
                    help="where the request signals come from (see the module docstring)")
    a = ap.parse_args()
    policy = load_policy()
    monitoring = _Monitoring(11) if a.source == "cloud-monitoring" else None
    try:
        _run(a, policy, monitoring)
    finally:
        if monitoring is not None:
            monitoring.close()


def _fmt(xs: list[float], digits: int = 1) -> str:
    return ", ".join(f"{x:.{digits}f}" for x in xs)


def _p90(xs: list[float]) -> float:
    """The nearest-rank 90th percentile (of 10 values, the 9th)."""
    s = sorted(xs)
    return s[max(0, math.ceil(0.9 * len(s)) - 1)]


def _errors(sim, policy, seed: int, onset: float, end: float, rps: float = 10.0,  # noqa: ANN001
            before: float | None = 0.003, start: float = WARMUP) -> tuple[float, SimResult]:
    """10% errors on green from ``onset`` (``before`` until then): onset -> emergency, and the run."""
    rng = np.random.default_rng(seed)
    green_from = 0.0 if before is not None else onset
    tr = {"blue": synthetic(rng, 0, end, rps),
          "green": synthetic(rng, green_from, end, rps,
                             error_rate_at=lambda t, o=onset: np.where(t >= o, 0.1, before or 0.0))}
    r = sim(policy, tr, start, end, stop_on_action=True)
    return (r.actions[0][0] - onset if r.actions else float("inf")), r


def _run(a: argparse.Namespace, policy, monitoring: _Monitoring | None) -> None:  # noqa: ANN001
    sim = monitoring if monitoring is not None else simulate
    if monitoring is not None:
        print("request signals from the Cloud Monitoring source (gRPC Metric Service fake, 240 s lag)")
    policies = {"sequential": policy, "windows only": policy.without_sequential()}
    print(f"policies: sequential (default: {_describe(policy)}) vs windows only (the same without it)")

    end = WARMUP + a.hours * 3600
    for name, pol in policies.items():
        t0 = time.perf_counter()
        rng = np.random.default_rng(11)
        res = sim(pol, {"blue": synthetic(rng, 0, end, 1.0), "green": synthetic(rng, 0, end, 1.0)}, WARMUP, end)
        print(f"[{name}] healthy, {a.hours:g} h at 1 req/s, {res.evaluations} evaluations: "
              f"{res.rollbacks} rollbacks, {len(res.alerts)} alerts ({time.perf_counter() - t0:.0f} s to simulate)")

    for name, pol in policies.items():
        ttft = []
        for seed in range(a.seeds):
            rng = np.random.default_rng(100 + seed)
            onset = WARMUP + 600.0
            e = onset + 3600.0
            tr = {"blue": synthetic(rng, 0, e, 1.0),
                  "green": synthetic(rng, 0, e, 1.0, ttft_factor=lambda t, o=onset: np.where(t >= o, 2.0, 1.0))}
            r = sim(pol, tr, WARMUP, e, stop_on_action=True)
            ttft.append(r.actions[0][0] - onset if r.actions else float("inf"))
        print(f"[{name}] 2x TTFT at 1 req/s: caught after {_fmt(ttft, 0)} s "
              f"(median {statistics.median(ttft):.0f} s; window 300 s, so {statistics.median(ttft) / 300:.2f} windows;"
              f" goal: within 3 windows)")

    for name, pol in policies.items():
        rng = np.random.default_rng(7)
        e = WARMUP + 3600.0
        out = sim(pol, {"blue": synthetic(rng, 0, e, 1.0), "green": synthetic(rng, 0, e, 1.0)}, WARMUP, e,
                  outages=((WARMUP + 600.0, WARMUP + 1200.0),))
        print(f"[{name}] 10-minute router outage: {out.rollbacks} rollbacks, {len(out.alerts)} alert(s)")

    for name, pol in policies.items():
        err = []
        after_complete = []
        reason = ""
        for seed in range(a.seeds):
            # the onset falls at different points of the 5 s cycle (and, on Cloud Monitoring, of the minute)
            onset = WARMUP + 100.0 + seed * (1.3 if monitoring is None else 13.7)
            x, r = _errors(sim, pol, 200 + seed, onset, onset + (120.0 if monitoring is None else 900.0))
            err.append(x)
            if r.actions and r.last is not None:
                reason = r.last.decision.reason
            if monitoring is not None and r.actions:
                from ethos.rollout.sources.cloudmonitoring import DEFAULT_LAG_S, complete_end

                decided = r.actions[0][0]
                after_complete.append(decided - (complete_end(decided) + DEFAULT_LAG_S))
        print(f"[{name}] 10% errors at 10 req/s on green: emergency decided after {_fmt(err)} s "
              f"(median {statistics.median(err):.1f} s, max {max(err):.1f} s; evaluation every "
              f"{pol.interval_s:g} s" + (f", {pol.look_s:g} s while evidence builds)" if pol.look_s < pol.interval_s else ")"))
        if reason:
            print(f"  last decision: {reason}")
        if monitoring is not None:
            print(f"  data complete (minute end + 240 s) -> decision: {_fmt(after_complete)} s "
                  f"(max {max(after_complete, default=float('nan')):.1f} s; one evaluation = {pol.interval_s:g} s)")

    if monitoring is None and a.onsets > 0:
        rng = np.random.default_rng(3)
        phases = rng.uniform(0.0, policy.interval_s, a.onsets)
        for case, before in (("green serving before the onset", 0.003), ("green taking its traffic at the onset", None)):
            for name, pol in policies.items():
                t0 = time.perf_counter()
                xs = []
                for i, ph in enumerate(phases):
                    onset = WARMUP + 100.0 + float(ph)
                    # the evaluations start 30 s before the onset (the windows are full: traffic from 0)
                    x, _ = _errors(sim, pol, 10_000 + i, onset, onset + 120.0, before=before,
                                   start=WARMUP + 70.0)
                    xs.append(x)
                late = sum(1 for x in xs if x > 15.0)
                print(f"[{name}] 10% errors at 10 req/s, {case}, {a.onsets} onsets: onset -> decision "
                      f"median {statistics.median(xs):.1f} s, p90 {_p90(xs):.1f} s, max {max(xs):.1f} s; "
                      f"over 15 s: {late} ({time.perf_counter() - t0:.0f} s to simulate)")
    if monitoring is not None:
        print(f"Cloud Monitoring reads in all runs: {monitoring.reads}")
    print(f"reproduce: .venv/bin/python {shlex.join(['bench/guard_noise.py', *sys.argv[1:]])}")


def _describe(policy) -> str:  # noqa: ANN001
    seq = [f"{t.name} against a normal {t.sequential.normal:.2%}, {t.sequential.alpha:g} false alarms/day"
           for t in policy.triggers if t.sequential is not None]
    return "; ".join(seq) + f"; fast looks every {policy.look_s:g} s"


if __name__ == "__main__":
    main()
