"""Shared by the semantic benchmarks: the data sets and an on-disk embedding cache.

Embedding the 161k QQP questions takes minutes on two cores, so vectors are kept in
``bench/.cache/`` (gitignored), keyed by the exact text embedded. Texts are normalised the
way the cache normalises questions before embedding them.
"""

from __future__ import annotations

import gzip
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from ethos.cache.keys import normalise  # noqa: E402

DATA = Path(os.environ.get("ETHOS_BENCH_DATA", ROOT.parent / "shared/data/gptcache-benchmark"))
CACHE = ROOT / "bench" / ".cache"

#: the service's knowledge-base names, which the verifier compares
KB_PLANS = ["Free", "Starter", "Team", "Business", "Enterprise"]


def load_qqp(limit: int | None = None) -> list[dict]:
    with gzip.open(DATA / "qqp_pairs.json.gz", "rt") as f:
        pairs = json.load(f)
    return pairs[:limit] if limit else pairs


#: shares of the question-disjoint QQP split, in tenths: train, dev, test
QQP_SPLIT_TENTHS = {"train": 8, "dev": 1, "test": 1}


def qqp_disjoint_split(pairs: list[dict]) -> dict[str, list[dict]]:
    """QQP split so that no question (after :func:`normalise`) is in two parts.

    Pairs that share a question, directly or through a chain, form one group (union-find), and
    a group goes whole to train, dev or test by a hash of its first question in sorted order:
    the same split on every machine and Python, whatever the order of the file. A model
    trained on ``train`` has never seen a ``test`` question, so its test figures are not
    memory. About 8 : 1 : 1 of the groups (QQP has a few large groups, so the pair counts vary
    a little around that).
    """
    import hashlib

    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    keys = [(normalise(p["text_a"]), normalise(p["text_b"])) for p in pairs]
    for a, b in keys:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    bounds, edge = [], 0
    for name, tenths in QQP_SPLIT_TENTHS.items():
        edge += tenths
        bounds.append((edge, name))
    out: dict[str, list[dict]] = {name: [] for name in QQP_SPLIT_TENTHS}
    for p, (a, _) in zip(pairs, keys):
        root = find(a)  # the smallest question of the group: its name, whatever the order
        tenth = int(hashlib.sha256(root.encode()).hexdigest()[:8], 16) % 10
        out[next(name for edge, name in bounds if tenth < edge)].append(p)
    return out


def load_mock() -> list[dict]:
    with open(DATA / "mock_data.json") as f:
        return json.load(f)


def embed_cached(texts: list[str], embedder, name: str) -> np.ndarray:
    """Vectors for ``texts`` (already normalised), embedding only those not cached yet."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"{name}-{embedder.name}.npz"
    known: dict[str, int] = {}
    old_texts: list[str] = []
    old_vecs = np.zeros((0, embedder.dim), dtype=np.float32)
    if path.exists():
        z = np.load(path, allow_pickle=False)
        old_texts = [str(t) for t in z["texts"]]
        old_vecs = z["vecs"]
        known = {t: i for i, t in enumerate(old_texts)}
    missing = sorted({t for t in texts if t not in known})
    if missing:
        t0 = time.time()
        print(f"embedding {len(missing)} texts (cached: {len(known)}) ...", file=sys.stderr)
        step = 4096
        saved = time.time()
        for i in range(0, len(missing), step):
            chunk = missing[i : i + step]
            vecs = embedder.embed(chunk)
            for j, t in enumerate(chunk):
                known[t] = len(old_texts) + j
            old_texts = old_texts + chunk
            old_vecs = np.concatenate([old_vecs, vecs])
            if time.time() - saved > 60 or i + step >= len(missing):
                _save(path, old_texts, old_vecs)  # an interrupted run keeps its work
                saved = time.time()
            print(f"  {min(i + step, len(missing))}/{len(missing)}"
                  f" {time.time() - t0:.0f}s", file=sys.stderr)
    return old_vecs[[known[t] for t in texts]]


def _save(path: Path, texts: list[str], vecs: np.ndarray) -> None:
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, texts=np.array(texts), vecs=vecs)
    tmp.replace(path)


def norm_all(texts: list[str]) -> list[str]:
    return [normalise(t) for t in texts]


def command_line() -> str:
    return "cd " + str(ROOT) + " && .venv/bin/python " + " ".join(
        [os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:]
    )


def add_pair_model_option(ap) -> None:
    """``--pair-model``: the pair model the verifier reads last (default: the shipped one)."""
    ap.add_argument("--pair-model", default="", metavar="PATH|off",
                    help="pair model (int8 ONNX with its card beside it); default: the one shipped"
                         " in the package; 'off': the cosine rules only")


def load_pair_model(value: str):
    """The PairModel a ``--pair-model`` value names, loaded; None for 'off' (or when the package
    ships none and none was named)."""
    from ethos.cache.semantic.pair_model import configured, model_file

    pm = configured(value)
    if pm is None:
        if value and value.strip().lower() != "off":
            raise SystemExit(f"no pair model at {model_file(value)}")
        if not value:
            print("(the package ships no pair model: the cosine rules only; `make verifier` trains one)")
        return None
    pm.load()
    return pm
