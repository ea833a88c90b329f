"""QQP pairs: precision and recall of "would be a hit" at the default settings, and curves.

Each labelled pair (text_a, text_b) is one question against one stored question: a hit is
the verifier accepting b for a at their cosine. Label 1 (duplicate) hits are right, label 0
(hard negative) hits are false hits. Cosine alone is shown in the same run for comparison.
QQP labels are noisy: ``--show-false N`` prints false hits to read before tuning anything.

    .venv/bin/python bench/semantic_qqp.py [--limit N] [--show-false N] [--split all|even|odd]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from semantic_common import KB_PLANS, command_line, embed_cached, load_qqp, norm_all

from ethos.cache.semantic import (
    DEFAULT_THRESHOLD,
    DEFAULT_THRESHOLD_SAME,
    MiniLMEmbedder,
    Verifier,
    content_words,
    names_in,
    negated,
    numbers,
    rephrased,
)
from ethos.cache.semantic.lexicon import asks_for
from ethos.cache.semantic.verify import NEGATION_OVERLAP

CURVE = [0.75, 0.78, 0.80, 0.82, 0.84, 0.86, 0.88, 0.90, 0.92, 0.94, 0.96]


def pr(hit: np.ndarray, label: np.ndarray) -> tuple[float, float, int, int]:
    tp = int((hit & label).sum())
    fp = int((hit & ~label).sum())
    p = tp / (tp + fp) if tp + fp else float("nan")
    r = tp / int(label.sum()) if label.sum() else float("nan")
    return p, r, tp, fp


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--limit", type=int, default=None, help="first N pairs only")
    ap.add_argument("--split", choices=["all", "even", "odd"], default="all",
                    help="even/odd pair indices (calibrate on one, check on the other)")
    ap.add_argument("--show-false", type=int, default=0, help="print N false hits")
    ap.add_argument("--show-missed", type=int, default=0, help="print N missed duplicates")
    ap.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    ap.add_argument("--threshold-same", type=float, default=DEFAULT_THRESHOLD_SAME)
    args = ap.parse_args()

    pairs = load_qqp(args.limit)
    if args.split != "all":
        pairs = pairs[(0 if args.split == "even" else 1)::2]
    a = norm_all([p["text_a"] for p in pairs])
    b = norm_all([p["text_b"] for p in pairs])
    label = np.array([p["label"] == 1 for p in pairs])
    emb = MiniLMEmbedder()
    va = embed_cached(a, emb, "qqp")
    vb = embed_cached(b, emb, "qqp")
    sim = (va * vb).sum(axis=1)

    verifier = Verifier(KB_PLANS, args.threshold, args.threshold_same)
    # The rules do not depend on the thresholds: evaluate them once, then sweep.
    # text_a is the question asked, text_b the stored one.
    na, nb = [numbers(x) for x in a], [numbers(y) for y in b]
    num_eq = np.array([not y or x == y for x, y in zip(na, nb)])
    names_eq = np.array([names_in(x, KB_PLANS) == names_in(y, KB_PLANS) for x, y in zip(a, b)])
    ca, cb = [content_words(x) for x in a], [content_words(y) for y in b]
    jac = np.array([len(x & y) / len(x | y) if x | y else 1.0 for x, y in zip(ca, cb)])
    neg_eq = np.array([negated(x) == negated(y) for x, y in zip(a, b)]) | (
        jac < NEGATION_OVERLAP)
    same = np.array([rephrased(x, y) for x, y in zip(a, b)])
    qa, qb = [asks_for(x) for x in a], [asks_for(y) for y in b]
    asks_eq = np.array([x is None or y is None or x == y for x, y in zip(qa, qb)])
    rules = num_eq & names_eq & asks_eq & neg_eq

    def verified(t: float, ts: float) -> np.ndarray:
        ts = min(ts, t)
        return (sim >= ts) & rules & ((sim >= t) | same)

    hit = np.array([verifier.check(x, y, float(s)).ok for x, y, s in zip(a, b, sim)])
    assert (hit == verified(verifier.threshold, verifier.threshold_same)).all()

    n = len(pairs)
    print(f"QQP pairs: {n} ({int(label.sum())} duplicates, {int((~label).sum())} hard"
          f" negatives), split={args.split}, model={emb.name}")
    p, r, tp, fp = pr(hit, label)
    print(f"\nDEFAULT (threshold={verifier.threshold}, threshold_same="
          f"{verifier.threshold_same}, verifier on): precision {p:.3f}  recall {r:.3f}"
          f"  ({tp} right hits, {fp} false hits)")
    for t in (0.85, 0.90, 0.95):
        p0, r0, tp0, fp0 = pr(sim >= t, label)
        print(f"  cosine alone >= {t:.2f}:           precision {p0:.3f}  recall {r0:.3f}"
              f"  ({tp0} right, {fp0} false)")
    refused = {
        "numbers": int((~num_eq & (sim >= verifier.threshold_same)).sum()),
        "names": int((~names_eq & (sim >= verifier.threshold_same)).sum()),
        "asks": int((~asks_eq & (sim >= verifier.threshold_same)).sum()),
        "negation": int((~neg_eq & (sim >= verifier.threshold_same)).sum()),
        "entity": int((rules & ~same & (sim >= verifier.threshold_same)
                       & (sim < verifier.threshold)).sum()),
    }
    print(f"  refused by rule (pairs above threshold_same): {refused}")

    print("\ncurve: threshold | cosine alone P R | verifier (threshold_same="
          f"{verifier.threshold_same}) P R")
    for t in CURVE:
        p0, r0, *_ = pr(sim >= t, label)
        p1, r1, *_ = pr(verified(t, verifier.threshold_same), label)
        print(f"  {t:.2f} | {p0:.3f} {r0:.3f} | {p1:.3f} {r1:.3f}")
    print(f"\ncurve: threshold_same | verifier (threshold={verifier.threshold}) P R")
    for ts in [0.70, 0.72, 0.75, 0.78, 0.80, 0.82, 0.85, 0.88]:
        p1, r1, *_ = pr(verified(verifier.threshold, ts), label)
        print(f"  {ts:.2f} | {p1:.3f} {r1:.3f}")

    rng = np.random.default_rng(0)
    for what, mask, k in (("false hits", hit & ~label, args.show_false),
                          ("missed duplicates", ~hit & label, args.show_missed)):
        idx = np.flatnonzero(mask)
        for i in rng.permutation(idx)[:k]:
            print(f"  [{what}] {sim[i]:.3f} | {pairs[i]['text_a']} | {pairs[i]['text_b']}")

    print(f"\nreproduce: {command_line()}")
    return 0 if (p >= 0.90 and r >= 0.40) else 1


if __name__ == "__main__":
    sys.exit(main())
