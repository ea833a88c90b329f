"""PII detection: recall and false positives per entity, speed, and the presidio baseline.

Same corpus, same run, for both tools:
* recall per entity on the PII half (a labelled span counts as found when a finding of the
  same entity overlaps it), and the false-positive rate per entity on the clean half
  (share of clean texts with at least one finding of that entity);
* latency per ~500-character text (texts of the corpus joined to 500 characters);
* the cache scan (``ethos.pii.scan_entries``) over 100,000 synthetic entries.

    .venv/bin/pip install -e '.[bench]'   # presidio-analyzer (no spaCy model needed)
    .venv/bin/python bench/pii_bench.py [--n 2000] [--seed 7] [--no-presidio] [--show-misses N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from pii_corpus.generate import ENTITY_TYPES, build_corpus  # noqa: E402

from ethos.pii import detect, scan_entries  # noqa: E402

CHECKSUM_ETC = ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS",
                "AU_TFN", "AU_MEDICARE", "AU_ABN", "AU_ACN", "US_SSN")
GOALS = {e: 0.99 for e in CHECKSUM_ETC} | {"PERSON": 0.90, "STREET_ADDRESS": 0.90}


def ours(text: str):
    return [(f.entity, f.start, f.end, f.score) for f in detect(text)]


@dataclass
class Result:
    name: str
    found: Counter
    total: Counter
    fp_texts: Counter  # entity -> clean texts with a finding of it
    fp_any: int
    clean_n: int
    misses: list
    fps: list


def evaluate(name: str, fn, corpus: list[dict]) -> Result:
    found, total, fp_texts = Counter(), Counter(), Counter()
    fp_any, clean_n, misses, fps = 0, 0, [], []
    for row in corpus:
        fs = fn(row["text"])
        if row["label"] == "pii":
            for s in row["spans"]:
                total[s["entity"]] += 1
                if any(e == s["entity"] and a < s["end"] and b > s["start"] for e, a, b, _ in fs):
                    found[s["entity"]] += 1
                else:
                    misses.append((s["entity"], row["text"][s["start"]:s["end"]], row["text"]))
        else:
            clean_n += 1
            ents = {e for e, *_ in fs}
            fp_texts.update(ents)
            if ents:
                fp_any += 1
                fps.append((sorted(ents), row["text"], [row["text"][a:b] for _, a, b, _ in fs]))
    return Result(name, found, total, fp_texts, fp_any, clean_n, misses, fps)


def timing_texts(corpus: list[dict], size: int = 500) -> list[str]:
    """Corpus texts (both halves, interleaved) joined and cut to ``size`` characters."""
    half = len(corpus) // 2
    order = [corpus[i // 2 + (i % 2) * half]["text"] for i in range(2 * half)]
    out, buf = [], ""
    for t in order:
        buf = f"{buf} {t}" if buf else t
        if len(buf) >= size:
            cut = buf[:size]
            out.append(cut[: cut.rfind(" ")] if " " in cut[size - 40 :] else cut)
            buf = ""
    return out


def latencies(fn, texts: list[str], repeat: int = 1) -> list[float]:
    for t in texts[:20]:
        fn(t)  # warm-up: lazy imports, regex caches
    out = []
    for t in texts:
        best = float("inf")
        for _ in range(repeat):
            t0 = time.perf_counter_ns()
            fn(t)
            best = min(best, time.perf_counter_ns() - t0)
        out.append(best / 1e6)
    return out


@dataclass
class _Entry:
    key: str
    question: str
    reply: str


def scan_speed(corpus: list[dict], n: int = 100_000, batch: int = 500) -> tuple[float, int]:
    texts = [r["text"] for r in corpus]
    clean = [r["text"] for r in corpus if r["label"] == "clean"]
    # a realistic store: most entries clean (admission keeps PII out), some leaks
    entries = [
        _Entry(f"k{i}", texts[i % len(texts)] if i % 50 == 0 else clean[i % len(clean)],
               clean[(i * 7) % len(clean)])
        for i in range(n)
    ]
    batches = [entries[i : i + batch] for i in range(0, n, batch)]
    t0, c0 = time.perf_counter(), time.process_time()
    leaks = sum(1 for _ in scan_entries(batches))
    return time.perf_counter() - t0, time.process_time() - c0, leaks


def pct(x: float) -> str:
    return f"{100 * x:5.1f}%"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--no-presidio", action="store_true")
    ap.add_argument("--show-misses", type=int, default=0)
    ap.add_argument("--scan-n", type=int, default=100_000)
    ap.add_argument("--json", dest="json_out", default=None, help="also write the figures here")
    a = ap.parse_args()

    corpus = build_corpus(a.n, a.seed)
    tools = [("ethos", ours)]
    if not a.no_presidio:
        from pii_presidio import presidio_detector

        tools.append(("presidio", presidio_detector()))
    results = [evaluate(name, fn, corpus) for name, fn in tools]
    ttexts = timing_texts(corpus)
    # best of 5 runs per text, for both tools: on a shared machine a single timing is mostly
    # the scheduler
    lat = {name: latencies(fn, ttexts, repeat=5) for name, fn in tools}

    n_pii = sum(1 for r in corpus if r["label"] == "pii")
    print(f"corpus: {len(corpus)} texts ({n_pii} with PII, {len(corpus) - n_pii} clean), seed {a.seed}, "
          f"{sum(results[0].total.values())} labelled entities\n")
    head = f"{'entity':20} {'n':>5}  " + "  ".join(f"{r.name + ' recall':>16} {'FP':>6}" for r in results)
    print(head + "   goal")
    for e in ENTITY_TYPES:
        cells = []
        for r in results:
            cells.append(f"{pct(r.found[e] / r.total[e]) if r.total[e] else '  n/a':>16} "
                         f"{pct(r.fp_texts[e] / r.clean_n):>6}")
        goal = GOALS.get(e)
        print(f"{e:20} {results[0].total[e]:5}  " + "  ".join(cells)
              + (f"   >= {goal:.0%}" if goal else ""))
    for r in results:
        tot_found, tot = sum(r.found.values()), sum(r.total.values())
        print(f"\n{r.name}: found {tot_found}/{tot} labelled entities ({pct(tot_found / tot)}); "
              f"clean texts with any finding: {r.fp_any}/{r.clean_n} ({pct(r.fp_any / r.clean_n)}; goal <= 1%)")
    print(f"\nlatency per text (best of 5 runs each), {len(ttexts)} texts of ~{statistics.mean(map(len, ttexts)):.0f} chars:")
    for name, xs in lat.items():
        q = statistics.quantiles(xs, n=100)
        print(f"  {name:9} p50 {statistics.median(xs):8.3f} ms   p95 {q[94]:8.3f} ms   mean {statistics.mean(xs):8.3f} ms")
    if len(lat) > 1:
        ratio = statistics.median(lat["presidio"]) / statistics.median(lat["ethos"])
        print(f"  presidio / ethos p50 ratio: {ratio:.1f}x (goal >= 10x; ethos p50 goal <= 0.3 ms)")
    secs, cpu, leaks = scan_speed(corpus, a.scan_n)
    print(f"\ncache scan: {a.scan_n:,} entries (question + reply) in {secs:.1f} s wall, "
          f"{cpu:.1f} s CPU ({a.scan_n / cpu:,.0f} entries per CPU-second, one core; "
          f"wall > CPU when the machine is busy), {leaks} leaking entries found")
    if a.show_misses:
        for r in results[:1]:
            print(f"\n{r.name} misses (first {a.show_misses}):")
            for m in r.misses[: a.show_misses]:
                print("  ", m[0], repr(m[1]), "|", repr(m[2])[:160])
            print(f"{r.name} false positives (first {a.show_misses}):")
            for f in r.fps[: a.show_misses]:
                print("  ", f[0], f[2], "|", repr(f[1])[:160])
    if a.json_out:
        Path(a.json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json_out).write_text(json.dumps({
            r.name: {"recall": {e: r.found[e] / r.total[e] for e in r.total},
                     "fp_rate": {e: r.fp_texts[e] / r.clean_n for e in ENTITY_TYPES},
                     "fp_texts": r.fp_any / r.clean_n,
                     "p50_ms": statistics.median(lat[r.name])} for r in results
        }, indent=2))
    try:
        import os

        print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end")
    except (AttributeError, OSError):
        pass
    cmd = " ".join(["python" if not sys.argv[0] else ".venv/bin/python", *sys.argv])
    print(f"\nreproduce: {cmd}")


if __name__ == "__main__":
    main()
