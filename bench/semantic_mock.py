"""GPTCache's mock_data.json: store the origins, ask the paraphrases; correct/wrong/missed.

Runs the real path: a ResponseCache over in-memory SQLite with a SemanticTier (MiniLM,
default threshold and verifier). Each origin is stored with itself as the answer; an answer
is correct when the matched origin's text equals the pair's origin. Cosine alone (nearest
neighbour above a threshold) is shown in the same run for comparison.

    .venv/bin/python bench/semantic_mock.py [--show-wrong N]
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
    load_mock,
    load_pair_model,
    norm_all,
)

from ethos.cache import Exchange, ResponseCache, Scope
from ethos.cache.semantic import (
    DEFAULT_THRESHOLD,
    DEFAULT_THRESHOLD_SAME,
    MiniLMEmbedder,
    SemanticTier,
)
from ethos.cache.stores.sqlite import SQLiteStore


class CachedEmbedder:
    """The model, answering from the benchmark's embedding cache when it can."""

    def __init__(self, model: MiniLMEmbedder, texts: list[str]) -> None:
        self.model = model
        self.name = model.name
        self.known = dict(zip(texts, embed_cached(texts, model, "mock"), strict=True))

    @property
    def dim(self) -> int:
        return self.model.dim

    def embed(self, texts: list[str]) -> np.ndarray:
        if all(t in self.known for t in texts):
            return np.stack([self.known[t] for t in texts])
        return self.model.embed(texts)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--show-wrong", type=int, default=0, help="print N wrong answers")
    ap.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    ap.add_argument("--threshold-same", type=float, default=DEFAULT_THRESHOLD_SAME)
    ap.add_argument("--p-min", type=float, default=None, help="p* (default: the model's card)")
    add_pair_model_option(ap)
    args = ap.parse_args()
    pair_model = load_pair_model(args.pair_model)

    pairs = load_mock()
    origins = [p["origin"] for p in pairs]
    similars = [p["similar"] for p in pairs]
    model = MiniLMEmbedder()
    embedder = CachedEmbedder(model, norm_all(origins) + norm_all(similars))
    store = SQLiteStore(":memory:")
    tier = SemanticTier(store, embedder, names=KB_PLANS, threshold=args.threshold,
                        threshold_same=args.threshold_same, pair_model=pair_model)
    if args.p_min is not None:
        tier.verifier.p_min = args.p_min
    tier.load()
    scope = Scope("bench", 1, "kb", "p", "k")
    cache = ResponseCache(store, scope, semantic=tier, gates=())
    for o in origins:  # every origin is stored, even one close to another
        cache.admit(cache.lookup_exact(o), Exchange(o, o, "kb"))

    correct = wrong = missed = 0
    wrongs: list[tuple[float, str, str, str]] = []
    for p in pairs:
        lk = cache.lookup(p["similar"])
        if lk.entry is None:
            missed += 1
        elif lk.entry.reply == p["origin"]:
            correct += 1
        else:
            wrong += 1
            wrongs.append((lk.similarity or 1.0, p["similar"], lk.entry.reply, p["origin"]))

    # cosine alone over the same vectors, for comparison
    ov = embedder.embed(norm_all(sorted(set(origins))))
    uniq = sorted(set(origins))
    sv = embedder.embed(norm_all(similars))
    sims = sv @ ov.T
    best = sims.argmax(axis=1)
    best_sim = sims.max(axis=1)
    ok = np.array([uniq[j] == p["origin"] for j, p in zip(best, pairs)])

    print(f"mock_data.json: {len(pairs)} pairs, {len(set(origins))} distinct origins stored,"
          f" model={model.name}")
    v = tier.verifier
    how = (f"pair model {pair_model.name}, p*={v.p_min:g}, cosine floor {v.floor:g}"
           if v.uses_pair_model else f"threshold={v.threshold}, threshold_same={v.threshold_same}")
    print(f"DEFAULT ({how}, verifier on): correct {correct}  wrong {wrong}  missed {missed}")
    print(f"  verifier refusals: {dict(tier.rejections)}")
    for t in (0.80, 0.85, 0.90, 0.95):
        hit = best_sim >= t
        print(f"  cosine alone >= {t:.2f}: correct {int((hit & ok).sum())}  wrong"
              f" {int((hit & ~ok).sum())}  missed {int((~hit).sum())}")
    for s, asked, got, want in sorted(wrongs)[: args.show_wrong]:
        print(f"  [wrong] {s:.3f} asked: {asked}\n      got: {got}\n     want: {want}")
    print(f"\nreproduce: {command_line()}")
    return 0 if correct >= 870 and wrong <= 30 else 1


if __name__ == "__main__":
    sys.exit(main())
