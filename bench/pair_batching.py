"""Why the pair model reads each pair alone: its probabilities in a batch, against alone.

The shipped pair model is int8 with dynamically quantised activations: ONNX Runtime's
``DynamicQuantizeLinear`` takes one scale over its whole input tensor, so in a batch a pair's
probability depends on the pairs beside it and on their padding. This reads the first
``--pairs`` pairs of the QQP test split (question-disjoint; ``semantic_common``) three ways in
the same run, with the same session and tokenizer:

* alone, as :meth:`ethos.cache.semantic.pair_model.PairModel.score_pairs` does;
* in batches of 64, padded to the longest, as calibration and the benchmarks read them before;
* in batches of 2, as serving read the second and third candidates before;

and prints how far the batched probabilities are from the alone ones, how many pairs land on
the other side of p*, and the time per pair of each way.

    .venv/bin/python bench/pair_batching.py [--pairs 1500]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from semantic_common import command_line, load_qqp, qqp_disjoint_split

from ethos.cache.semantic import pair_model


def batched(model: pair_model.PairModel, pairs: list[tuple[str, str]], size: int) -> np.ndarray:
    """The probabilities of ``pairs`` read ``size`` at a time, padded to each batch's longest."""
    tok = model._tokenizer  # the model's own tokenizer (truncation as served), padded here
    out: list[float] = []
    for i in range(0, len(pairs), size):
        enc = tok.encode_batch(pairs[i:i + size])
        width = max(len(e.ids) for e in enc)

        def pad(rows: list[list[int]], width: int = width) -> np.ndarray:
            return np.array([r + [0] * (width - len(r)) for r in rows], dtype=np.int64)

        feeds = {"input_ids": pad([e.ids for e in enc]),
                 "attention_mask": pad([e.attention_mask for e in enc]),
                 "token_type_ids": pad([e.type_ids for e in enc])}
        logits = model._session.run(None, {k: v for k, v in feeds.items() if k in model._inputs})[0]
        out.extend((1 / (1 + np.exp(-np.asarray(logits, dtype=np.float64).reshape(-1)))).tolist())
    return np.array(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=int, default=1500)
    a = ap.parse_args()
    model = pair_model.configured("")
    if model is None:
        print("the package ships no pair model", file=sys.stderr)
        return 2
    model.load()
    test = qqp_disjoint_split(load_qqp())["test"][:a.pairs]
    pairs = [(p["text_b"], p["text_a"]) for p in test]  # (stored, asked)
    t = time.perf_counter()
    alone = model.score_pairs(pairs).astype(np.float64)
    per_pair = {"alone": (time.perf_counter() - t) / len(pairs)}
    got = {}
    for size in (64, 2):
        t = time.perf_counter()
        got[size] = batched(model, pairs, size)
        per_pair[f"batches of {size}"] = (time.perf_counter() - t) / len(pairs)
    p_star = model.threshold
    print(f"{len(pairs)} QQP test pairs, pair model {model.name}, p* {p_star:g}")
    for size, p in got.items():
        d = np.abs(p - alone)
        flips = int(np.sum((p >= p_star) != (alone >= p_star)))
        print(f"  batches of {size:2d} vs alone: |difference| max {d.max():.3f}, mean {d.mean():.4f},"
              f" p99 {np.quantile(d, 0.99):.3f}; on the other side of p*: {flips}"
              f" ({flips / len(pairs):.1%})")
    print("  time per pair: " + ", ".join(f"{k} {v * 1000:.2f} ms" for k, v in per_pair.items()))
    print(f"\nreproduce: {command_line()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
