"""QQP pairs: precision and recall of "would be a hit" at the default settings, and curves.

With the pair model (the one shipped in the package, or ``--pair-model``), the figure of issue
19 is measured on the ``test`` part of the question-disjoint split (:func:`qqp_disjoint_split`;
the model was trained on ``train`` and its p* chosen on ``dev``): precision and recall at the
model's p*, the curve over p*, and the cosine rules on the same pairs.

Each labelled pair (text_a, text_b) is one question against one stored question: a hit is
the verifier accepting b for a at their cosine. Label 1 (duplicate) hits are right, label 0
(hard negative) hits are false hits. Cosine alone is shown in the same run for comparison.
QQP labels are noisy: ``--show-false N`` prints false hits to read before tuning anything.

    .venv/bin/python bench/semantic_qqp.py [--limit N] [--show-false N] [--split all|even|odd]
    .venv/bin/python bench/semantic_qqp.py --pair-model off     # the cosine rules only
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from semantic_common import (
    KB_PLANS,
    add_pair_model_option,
    command_line,
    embed_cached,
    load_pair_model,
    load_qqp,
    norm_all,
    qqp_disjoint_split,
)

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
from ethos.cache.semantic.calibrate import Pair, pair_probabilities
from ethos.cache.semantic.lexicon import asks_for, contrasted
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
    add_pair_model_option(ap)
    args = ap.parse_args()
    pair_model = load_pair_model(args.pair_model)

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
    options_ok = np.array([not contrasted(x, y) for x, y in zip(a, b)])
    rules = num_eq & names_eq & asks_eq & options_ok & neg_eq

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
        "contrast": int((~options_ok & (sim >= verifier.threshold_same)).sum()),
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

    ok = p >= 0.90 and r >= 0.40
    if pair_model is not None:
        ok = test_split(pair_model, emb, verifier, args.show_false)
    print(f"\nreproduce: {command_line()}")
    return 0 if ok else 1


PAIR_CURVE = [0.50, 0.60, 0.70, 0.80, 0.85, 0.90, 0.93, 0.95, 0.97, 0.98, 0.99]


def test_split(pair_model, emb, rules: Verifier, show_false: int) -> bool:
    """Issue 19's figure: the pair model on the QQP test split at its p*, with the curve."""
    test = qqp_disjoint_split(load_qqp())["test"]
    a = norm_all([p["text_a"] for p in test])  # asked
    b = norm_all([p["text_b"] for p in test])  # stored
    label = np.array([p["label"] == 1 for p in test])
    v = Verifier(KB_PLANS, pair_model=pair_model, p_min=pair_model.threshold)
    sim, cand, prob = pair_probabilities(
        [Pair(y, x, bool(lab)) for x, y, lab in zip(a, b, label)],
        lambda texts: embed_cached(texts, emb, "qqp"), pair_model.score_pairs, names=KB_PLANS,
        floor=v.floor)
    idx = np.flatnonzero(cand)
    print(f"\nQQP TEST SPLIT (question-disjoint, never trained or tuned on): {len(test)} pairs"
          f" ({int(label.sum())} duplicates); pair model {pair_model.name}, cosine floor"
          f" {v.floor:g}, {len(idx)} pairs reach it and pass the hard checks")
    p, r, tp, fp = pr(cand & (prob >= v.p_min), label)
    print(f"  pair model at its p* {v.p_min:g}: precision {p:.3f}  recall {r:.3f}  ({tp} right"
          f" hits, {fp} false hits)   goal: P >= 0.92 at R >= 0.40")
    rp, rr, rtp, rfp = pr(np.array([rules.check(x, y, float(c)).ok for x, y, c in zip(a, b, sim)]),
                          label)
    print(f"  cosine rules (threshold={rules.threshold}, threshold_same={rules.threshold_same}),"
          f" same pairs: precision {rp:.3f}  recall {rr:.3f}  ({rtp} right, {rfp} false)")
    print("  curve: p* | precision recall")
    for t in sorted({*PAIR_CURVE, round(v.p_min, 3)}):
        cp, cr, *_ = pr(cand & (prob >= t), label)
        print(f"    {t:.3f} | {cp:.3f} {cr:.3f}{'   <- p*' if t == round(v.p_min, 3) else ''}")
    false = np.flatnonzero(cand & (prob >= v.p_min) & ~label)
    for i in np.random.default_rng(0).permutation(false)[:show_false]:
        print(f"  [test false hit] p={prob[i]:.3f} cos={sim[i]:.3f} | {test[i]['text_a']} |"
              f" {test[i]['text_b']}")
    return p >= 0.92 and r >= 0.40


if __name__ == "__main__":
    sys.exit(main())
