"""The question-disjoint QQP split that the pair model is trained and measured on."""

from __future__ import annotations

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))  # bench/ is scripts, not a package
from semantic_common import normalise, qqp_disjoint_split  # noqa: E402


def _pairs(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    qs = [f"question number {i}?" for i in range(n)]
    out = []
    for _ in range(2 * n):
        a, b = rng.sample(qs, 2)
        out.append({"text_a": a, "text_b": b, "label": rng.randint(0, 1)})
    # chains through case and spacing that normalise() folds: the same question
    out.append({"text_a": "Question  number 1?", "text_b": "what is new", "label": 0})
    return out


def _questions(pairs: list[dict]) -> set[str]:
    return {normalise(p[k]) for p in pairs for k in ("text_a", "text_b")}


def test_no_question_is_in_two_parts_and_no_pair_is_lost():
    # sparse: most questions in small groups, so all three parts get some
    pairs = [p for p in _pairs(3000, 1)][:1200]
    parts = qqp_disjoint_split(pairs)
    assert sum(len(v) for v in parts.values()) == len(pairs)
    qs = {name: _questions(v) for name, v in parts.items()}
    assert not qs["train"] & qs["dev"] and not qs["train"] & qs["test"] and not qs["dev"] & qs["test"]
    assert all(parts.values()), {k: len(v) for k, v in parts.items()}


def test_the_split_does_not_depend_on_the_order_of_the_file():
    pairs = _pairs(3000, 2)[:1500]
    shuffled = pairs[:]
    random.Random(9).shuffle(shuffled)
    key = lambda p: (p["text_a"], p["text_b"])  # noqa: E731
    a, b = qqp_disjoint_split(pairs), qqp_disjoint_split(shuffled)
    assert {k: sorted(map(key, v)) for k, v in a.items()} == {k: sorted(map(key, v)) for k, v in b.items()}


def test_a_chain_of_pairs_stays_in_one_part():
    chain = [{"text_a": f"q{i}", "text_b": f"q{i + 1}", "label": 1} for i in range(50)]
    parts = qqp_disjoint_split(chain)
    assert sorted(len(v) for v in parts.values()) == [0, 0, 50]
