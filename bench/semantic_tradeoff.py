"""Can one default setting meet both semantic goals? QQP precision/recall and mock_data counts
over a grid of the verifier's settings, in one run.

For each (threshold, threshold_same, margin) the QQP pairs are judged as in
``semantic_qqp.py`` (one asked question against one stored question) and every mock_data
paraphrase is judged as in ``semantic_mock.py`` (the verifier choosing among the 5 nearest
stored origins, as the tier does). It prints the settings closest to each goal and how many
settings meet both: QQP precision >= 0.90 at recall >= 0.40, mock >= 850 correct and <= 30
wrong. Vectors come from the benchmarks' embedding cache (``bench/.cache``).

    .venv/bin/python bench/semantic_tradeoff.py [--qqp-limit N]
"""

from __future__ import annotations

import argparse
import itertools
import sys

import numpy as np
from semantic_common import KB_PLANS, command_line, embed_cached, load_mock, load_qqp, norm_all

from ethos.cache.semantic import MiniLMEmbedder, Neighbour, Verifier
from ethos.cache.semantic.tier import CANDIDATES

THRESHOLDS = [0.75, 0.78, 0.80, 0.82, 0.85, 0.88, 0.90, 0.92, 0.94, 0.96]
THRESHOLDS_SAME = [0.70, 0.75, 0.80, 0.85]
MARGINS = [0.0, 0.01, 0.02, 0.03]


def qqp_judge(limit: int | None, model: MiniLMEmbedder):
    pairs = load_qqp(limit)
    a = norm_all([p["text_a"] for p in pairs])
    b = norm_all([p["text_b"] for p in pairs])
    label = np.array([p["label"] == 1 for p in pairs])
    sim = (embed_cached(a, model, "qqp") * embed_cached(b, model, "qqp")).sum(axis=1)

    def judge(t: float, ts: float) -> tuple[float, float]:
        v = Verifier(KB_PLANS, t, ts)
        hit = np.array([s >= v.threshold_same and v.check(x, y, float(s)).ok
                        for x, y, s in zip(a, b, sim)])
        tp = int((hit & label).sum())
        return tp / max(1, int(hit.sum())), tp / int(label.sum())

    return judge


def mock_judge(model: MiniLMEmbedder):
    pairs = load_mock()
    origins = sorted({p["origin"] for p in pairs})
    norm_o = norm_all(origins)
    asked = norm_all([p["similar"] for p in pairs])
    sims = embed_cached(asked, model, "mock") @ embed_cached(norm_o, model, "mock").T
    top = np.argsort(-sims, axis=1)[:, :CANDIDATES]
    truth = [origins.index(p["origin"]) for p in pairs]
    cands = [[Neighbour(str(j), norm_o[j], float(sims[i, j])) for j in top[i]]
             for i in range(len(pairs))]

    def judge(t: float, ts: float, margin: float) -> tuple[int, int]:
        v = Verifier(KB_PLANS, t, ts, margin=margin)
        right = wrong = 0
        for i, q in enumerate(asked):
            best, _ = v.choose(q, cands[i])
            if best is not None:
                right += int(best.key) == truth[i]
                wrong += int(best.key) != truth[i]
        return right, wrong

    return judge


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--qqp-limit", type=int, default=None, help="first N QQP pairs only")
    args = ap.parse_args()
    model = MiniLMEmbedder()
    qqp, mock = qqp_judge(args.qqp_limit, model), mock_judge(model)

    rows = []
    qqp_cache: dict[tuple[float, float], tuple[float, float]] = {}
    grid = list(itertools.product(THRESHOLDS, THRESHOLDS_SAME, MARGINS))
    for n, (t, ts, m) in enumerate(grid, 1):
        if ts > t:
            continue
        if (t, ts) not in qqp_cache:
            qqp_cache[(t, ts)] = qqp(t, ts)
        p, r = qqp_cache[(t, ts)]
        right, wrong = mock(t, ts, m)
        rows.append((t, ts, m, p, r, right, wrong))
        if n % 20 == 0:
            print(f"  {n}/{len(grid)} settings", file=sys.stderr)

    both = [x for x in rows if x[3] >= 0.90 and x[4] >= 0.40 and x[5] >= 850 and x[6] <= 30]
    print(f"{len(rows)} settings (threshold x threshold_same x margin); meeting both goals:"
          f" {len(both)}")
    print("\nbest QQP precision among settings with mock >= 850 correct and <= 30 wrong:")
    ok_mock = sorted((x for x in rows if x[5] >= 850 and x[6] <= 30), key=lambda x: -x[3])
    for x in ok_mock[:5]:
        print("  threshold %.2f same %.2f margin %.2f | QQP P %.3f R %.3f | mock %d / %d" % x)
    if not ok_mock:
        print("  (none)")
    print("\nbest mock counts among settings with QQP recall >= 0.40, by precision:")
    for x in sorted((x for x in rows if x[4] >= 0.40), key=lambda x: -x[3])[:5]:
        print("  threshold %.2f same %.2f margin %.2f | QQP P %.3f R %.3f | mock %d / %d" % x)
    print(f"\nreproduce: {command_line()}")
    return 0 if both else 1


if __name__ == "__main__":
    sys.exit(main())
