"""Load and soak: a real local stack driven at a steady rate through its router while the
weights change and an emergency rollback happens; throughput, p50/p99, failed requests,
and the memory of every process over the run.

Starts ``ethos stack up`` on free ports in a temporary state dir (stopped at the end, also
on Ctrl-C or SIGTERM), then an open-loop generator (``--rate`` requests/s for ``--minutes``)
with a seeded, realistic mix (:mod:`loadsoak.mix`: repeated questions, paraphrases, new
questions, PII-bearing messages sent twice, and SSE streams read to their final event).
Schedule: 90/10 at 10 %, 50/50 at 17 %, 0/100 at 25 % of the run (traffic API with the
stack's admin key), ``ethos rollback emergency --yes`` at 55 %. RSS (VmRSS) of router,
blue, green (and any child) and of the generator itself every ``--rss-interval`` seconds.

    .venv/bin/python bench/load_soak.py --rate 20 --minutes 10 --seed 1
    .venv/bin/python bench/load_soak.py --rate 60 --minutes 3 --seed 2 --json out.json

Exit 1 when any request failed, the rollback did not end at 100 % blue, or a PII-bearing
message was served from the cache or found in the store.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadsoak.session import run_load  # noqa: E402
from loadsoak.stats import FLAT_DEFINITION, TAIL_MAX_SLOPE_MIB_MIN, TAIL_WINDOW_S  # noqa: E402

DATA = Path(os.environ.get("ETHOS_BENCH_DATA", Path(__file__).resolve().parents[2] / "shared/data/gptcache-benchmark"))


def caps() -> dict[str, object]:
    """The limits of the in-process structures that can grow with new questions, as the stack's
    processes get them: the settings read from this environment (the stack inherits it) and the
    code's constants. ``None``: no cap in the code (bounded by something else, said in the name)."""
    from ethos.cache.semantic import index as sem_index
    from ethos.rollout.router import windows
    from ethos.service import sessions
    from ethos.settings import Settings

    st = Settings()
    return {
        "memory tier entries (ETHOS_CACHE_MEMORY_ENTRIES)": st.cache_memory_entries,
        "memory tier bytes": None,
        "vector index live rows per scope (ETHOS_SEMANTIC_MAX_ROWS; held <= 2x with retired)":
            st.semantic_max_rows,
        "entry ttl s (rows also leave when their entries expire)": st.cache_ttl_s,
        "vector index: compaction after retired rows": sem_index.COMPACT_MIN_RETIRED,
        "expired-entry purge interval s / batch": (getattr(st, "cache_purge_interval_s", None),
                                                   getattr(st, "cache_purge_batch", None)),
        "session histories (MAX_SESSIONS) x turns": (sessions.MAX_SESSIONS, sessions.TURNS_KEPT),
        "router windows s (per revision; buckets per window)": windows.DEFAULT_WINDOWS,
        "message chars (label values never from user input)": __import__("ethos.settings").settings.MAX_MESSAGE_CHARS,
        "hit-count buffer: flushed every s / most keys kept while the store is down":
            (__import__("ethos.service.state").service.state.HIT_FLUSH_INTERVAL_S,
             getattr(__import__("ethos.cache.response_cache").cache.response_cache, "MAX_PENDING_HIT_KEYS", None)),
    }


def verdict(rep: dict) -> list[str]:
    """What failed the goals (empty: all held)."""
    bad = []
    if rep["overall"]["failed"]:
        bad.append(f"{rep['overall']['failed']} failed requests: {rep['overall']['failed_by_reason']}")
    if rep["final_weights"] != {"blue": 100, "green": 0}:
        bad.append(f"final weights {rep['final_weights']}")
    if rep["not_blue_after_rollback"]:
        bad.append(f"{rep['not_blue_after_rollback']} requests sent after the rollback answered by green")
    if rep["pii"]["exact_hits"] or rep["pii"]["leaks_in_replies"] or any(s and s["with_pii"] for s in rep["pii"]["entries_in_store"]):
        bad.append(f"PII: {rep['pii']}")
    rb = [e for e in rep["events"] if e["action"].startswith("rollback")]
    if not rb or rb[0]["exit_code"] != 0:
        bad.append(f"rollback: {rb}")
    return bad


def print_report(rep: dict, command: str) -> None:
    o = rep["overall"]
    print(f"\nload: target {rep['target_rate']} req/s, achieved {rep['achieved_rate']} req/s; generator lag "
          f"p50 {rep['lag_ms']['p50']} ms, p99 {rep['lag_ms']['p99']} ms, max {rep['lag_ms']['max']} ms")
    print(f"load average at start {tuple(round(x, 1) for x in rep['loadavg_start_end'][0])}, "
          f"end {tuple(round(x, 1) for x in rep['loadavg_start_end'][1])}; {os.cpu_count()} cores")
    print(f"requests {o['requests']}, ok {o['ok']}, failed {o['failed']} {o['failed_by_reason'] or ''}")
    print(f"throughput {o['throughput_rps']} ok/s; latency p50 {o['p50_ms']} ms, p99 {o['p99_ms']} ms, "
          f"max {o['max_ms']} ms")
    print("\nphase       seconds  requests  failed  p50 ms   p99 ms   ok/s")
    for name, p in rep["phases"].items():
        print(f"{name:10s} {p['seconds']:8.1f} {p['requests']:9d} {p['failed']:7d} {p['p50_ms'] or 0:7.1f} "
              f"{p['p99_ms'] or 0:8.1f} {p['throughput_rps'] or 0:6.1f}")
    print("\nkind         requests  failed  p50 ms   p99 ms")
    for name, p in [*rep["by_kind"].items(), ("(streams)", rep["streams"])]:
        print(f"{name:12s} {p['requests']:8d} {p['failed']:7d} {p['p50_ms'] or 0:7.1f} {p['p99_ms'] or 0:8.1f}")
    print(f"\ncache answers by kind: {rep['cache']}")
    print(f"PII: {rep['pii']['sent']} PII-bearing requests (each message twice); exact cache hits "
          f"{rep['pii']['exact_hits']}, semantic hits (a clean neighbour's answer) {rep['pii']['semantic_hits']}, "
          f"replies holding another request's PII {rep['pii']['leaks_in_replies']}; store scans (before the rollback, at the end) "
          f"{rep['pii']['entries_in_store']}")
    for ex in rep["pii"]["served_from_cache_examples"]:
        print(f"  served from cache: {ex}")
    print("\nevents:")
    for e in rep["events"]:
        print("  " + json.dumps({k: v for k, v in e.items() if v not in ("", None)}))
    print(f"final weights {rep['final_weights']}; requests sent after the rollback answered by green: "
          f"{rep['not_blue_after_rollback']}")
    print(f"\nRSS (MiB), warm-up {rep['warmup_s']:.0f}s; {FLAT_DEFINITION.format(s=1, r=1.1, a=4)}")
    print("process       samples  first-min  post-warm-up  last-min   max    slope MiB/min  verdict")
    for name, r in rep["rss"].items():
        print(f"{name:13s} {r.get('samples', 0):7d} {r.get('first_min_median_mib') or 0:9.1f} "
              f"{r.get('post_warmup_median_mib') or 0:13.1f} {r.get('last_min_median_mib') or 0:9.1f} "
              f"{r.get('max_mib') or 0:6.1f} {r.get('slope_mib_per_min') or 0:14.3f}  {r['verdict']}")
    print(f"\nRSS slope over the last {TAIL_WINDOW_S / 60:.0f} minutes (least squares), pass when <= "
          f"{TAIL_MAX_SLOPE_MIB_MIN} MiB/min")
    print("process       samples  window-start MiB  end MiB  slope MiB/min  verdict")
    for name, r in rep.get("rss_last_30min", {}).items():
        print(f"{name:13s} {r.get('samples', 0):7d} {r.get('start_mib') or 0:17.1f} {r.get('end_mib') or 0:8.1f} "
              f"{r.get('slope_mib_per_min') or 0:14.4f}  {r['verdict']} (window {r.get('window_s', 0):.0f}s)")
    print("caps: " + "; ".join(f"{k} = {v}" for k, v in rep.get("caps", {}).items()))
    print("open file descriptors (first / max / last): " + "; ".join(
        f"{n} {v['first']}/{v['max']}/{v['last']}" for n, v in rep["open_fds"].items()))
    la = rep["loadavg_1m"]
    print(f"machine load average (1 min) during the run: min {la['min']}, median {la['median']}, max {la['max']}")
    print("CPU used (cores) per phase: " + "; ".join(
        f"{n} " + ", ".join(f"{p} {v}" for p, v in c.items() if v is not None) for n, c in rep["cpu_cores"].items()))
    ce = rep["cache_entries"]
    print(f"entries in the shared cache: max {ce['max']}, at the end {ce['end']} (the rollback clears it)")
    print(f"\nreproduce: {command}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=float, default=20.0, help="requests per second (open loop)")
    ap.add_argument("--minutes", type=float, default=2.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--stream-share", type=float, default=None, help="share of requests streamed (default 0.2)")
    ap.add_argument("--shares", default=None, metavar="repeat=0.5,paraphrase=0.15,new=0.25,pii=0.1",
                    help="shares of the draws (each PII draw is sent twice); new=0 keeps the set of questions closed")
    ap.add_argument("--no-semantic", action="store_true", help="revisions without the semantic tier")
    ap.add_argument("--rss-interval", type=float, default=5.0, help="seconds between RSS samples")
    ap.add_argument("--warmup", type=float, default=None, help="seconds left out of the RSS trend "
                    "(default 20 %% of the run, at most 120)")
    ap.add_argument("--keep-state", action="store_true", help="keep the stack's state dir (logs) after the run")
    ap.add_argument("--timeout", type=float, default=30.0, help="a request not answered in full within "
                    "this many seconds fails")
    ap.add_argument("--events-within", type=float, default=1.0, metavar="SHARE",
                    help="fit the weight changes and the rollback into this share of the run (0 to 1], so "
                         "that the rest is steady traffic: for a memory tail after the rollback refilled the cache")
    ap.add_argument("--json", type=Path, default=None, help="also write the report here")
    a = ap.parse_args()
    if not 0 < a.events_within <= 1:
        ap.error(f"--events-within must be more than 0 and at most 1, not {a.events_within}")
    command = shlex.join([".venv/bin/python", "bench/load_soak.py", *sys.argv[1:]])
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    print(f"{started}: {a.rate} req/s for {a.minutes} min, seed {a.seed}; data {DATA if DATA.exists() else 'KB only'}")
    try:
        rep = run_load(rate=a.rate, seconds=a.minutes * 60, seed=a.seed, semantic=not a.no_semantic,
                       data_dir=DATA if DATA.exists() else None, rss_interval_s=a.rss_interval,
                       warmup_s=a.warmup, stream_share=a.stream_share, keep_state=a.keep_state, timeout_s=a.timeout,
                       events_within=a.events_within,
                       shares={k: float(v) for k, v in (x.split("=") for x in a.shares.split(","))} if a.shares else None)
    except KeyboardInterrupt:
        print("interrupted; the stack was stopped", file=sys.stderr)
        raise SystemExit(130) from None
    rep["command"], rep["started"] = command, started
    try:
        rep["caps"] = {k: v for k, v in caps().items()}
    except Exception as e:  # noqa: BLE001 - a report without caps beats no report
        rep["caps"] = {"error": repr(e)}
    if a.json:
        a.json.write_text(json.dumps(rep, indent=1))
    print_report(rep, command)
    bad = verdict(rep)
    print("\nverdict: " + ("all goals held (0 failed requests, rollback to 100% blue, no PII stored, served or leaked)"
                          if not bad else "; ".join(bad)))
    raise SystemExit(1 if bad else 0)


if __name__ == "__main__":
    main()
