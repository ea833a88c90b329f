"""Per-namespace thresholds: the pairs file, the grid, the chosen point, the setting."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from ethos.cache.semantic import HashingEmbedder
from ethos.cache.semantic.calibrate import (
    GRID,
    Pair,
    calibrate,
    format_thresholds,
    load_pairs,
    parse_thresholds,
)
from ethos.cache.semantic.verify import Verifier
from ethos.settings import Settings

E = HashingEmbedder()
NAMES = ["Free", "Team", "Business"]
PAIRS = [
    Pair("How much is the Team plan?", "What does the Team plan cost?", True),
    Pair("How much is the Team plan?", "How much is the Business plan?", False),
    Pair("Can I add 5 users?", "Can I add 50 users?", False),
    Pair("Does the Team plan include SSO?", "Does the Team plan not include SSO?", False),
    Pair("What are your pricing plans?", "What are your pricing plans please?", True),
    Pair("How do I reset my password?", "How can I reset my password?", True),
    Pair("How do I reset my password?", "How do I change my email address?", False),
    Pair("Which languages do you support?", "What languages are supported?", True),
]


def test_the_grid_agrees_with_the_verifier_at_every_point():
    result = calibrate(PAIRS, E.embed, names=NAMES, min_precision=0.0)
    vecs = {t: E.embed([t])[0] for p in PAIRS for t in (p.stored, p.asked)}
    for pt in result.table:
        v = Verifier(NAMES, pt.threshold, pt.threshold_same)
        served = [p for p in PAIRS
                  if v.check(p.asked, p.stored, float(vecs[p.stored] @ vecs[p.asked])).ok]
        assert pt.served == len(served)
        assert pt.wrong == sum(not p.same for p in served)
    assert [p.threshold for p in result.table] == sorted(GRID, reverse=True)


def test_the_chosen_point_keeps_the_precision_with_the_most_recall():
    rng = random.Random(5)
    pairs = PAIRS * 3
    rng.shuffle(pairs)
    result = calibrate(pairs, E.embed, names=NAMES, min_precision=1.0)
    assert result.best is not None and result.best.precision == 1.0 and result.best.wrong == 0
    assert result.best.recall == max(p.recall for p in result.table if p.precision >= 1.0)
    # the hard checks refuse the number, name and negation near-misses whatever the cosine
    loose = calibrate(PAIRS, E.embed, names=NAMES, min_precision=0.0).table[-1]  # threshold 0.50
    assert loose.threshold == 0.5 and loose.wrong <= 1


def test_no_point_reaching_the_precision_gives_none():
    right = Pair("Which languages do you support?", "What languages are supported?", True)
    wrong = Pair("How do I reset my password?", "How can I reset my password?", False)
    cos = {p: float(E.embed([p.stored])[0] @ E.embed([p.asked])[0]) for p in (right, wrong)}
    assert cos[wrong] >= cos[right]  # whatever serves the right one serves the wrong one too
    result = calibrate([right, wrong], E.embed, min_precision=0.9)
    assert result.best is None
    assert all(p.precision <= 0.5 or p.served == 0 for p in result.table)


@pytest.mark.parametrize(("content", "error"), [
    ("", "holds no pairs"),
    ("[]", "holds no pairs"),
    ('[{"a": "x", "b": "y", "label": 1}]', "both labels"),
    ('[{"a": "x", "label": 1}]', 'item 1 needs the two questions'),
    ('[{"a": "x", "b": "y", "label": "yes"}]', 'item 1 needs "label"'),
    ("[1]", "item 1 is not an object"),
    ("{not json", "neither a JSON list nor JSON lines"),
])
def test_a_bad_pairs_file_is_refused_naming_the_problem(tmp_path, content, error):
    f = tmp_path / "pairs.json"
    f.write_text(content)
    with pytest.raises(ValueError, match=error):
        load_pairs(f)


def test_pairs_as_a_list_or_as_json_lines(tmp_path):
    items = [{"a": "x", "b": "y", "label": 1}, {"a": "x", "b": "z", "label": 0}]
    (tmp_path / "a.json").write_text(json.dumps(items))
    (tmp_path / "b.jsonl").write_text("\n".join(map(json.dumps, items)) + "\n")
    assert load_pairs(tmp_path / "a.json") == load_pairs(tmp_path / "b.jsonl") == [
        Pair("x", "y", True), Pair("x", "z", False)]
    with pytest.raises(ValueError, match="cannot read"):
        load_pairs(tmp_path / "missing.json")


def test_the_setting_parses_and_refuses_what_cannot_work(monkeypatch):
    assert parse_thresholds("") == {}
    assert parse_thresholds("marketing=0.88/0.72, support=0.9") == {
        "marketing": (0.88, 0.72), "support": (0.9, 0.75)}
    assert format_thresholds({"b": (0.9, 0.75), "a": (0.88, 0.72)}) == "a=0.88/0.72,b=0.9/0.75"
    for bad, msg in (("marketing", "expected namespace="), ("m=abc", "numbers"),
                     ("m=1.5", "from 0 to 1"), ("m=0.8/0.9", "may not exceed"),
                     ("m=0.9,m=0.8", "given twice")):
        with pytest.raises(ValueError, match=msg):
            parse_thresholds(bad)
    monkeypatch.setenv("ETHOS_SEMANTIC_THRESHOLDS", "m=0.8/0.9")
    with pytest.raises(ValueError, match="ETHOS_SEMANTIC_THRESHOLDS"):
        Settings()
    monkeypatch.setenv("ETHOS_SEMANTIC_THRESHOLDS", "m=0.9/0.8")
    assert Settings().resolved_semantic_thresholds() == {"m": (0.9, 0.8)}


def test_a_namespace_with_its_own_thresholds_uses_them():
    from ethos.cache import Exchange, ResponseCache, Scope
    from ethos.cache.semantic import SemanticTier
    from ethos.cache.stores.sqlite import SQLiteStore

    store = SQLiteStore(":memory:")
    tier = SemanticTier(store, E, names=NAMES, thresholds={"strict": (0.999, 0.999)})
    tier.load()
    asked = "What are your pricing plans please?"
    results = {}
    for ns in ("marketing", "strict"):
        c = ResponseCache(store, Scope(ns, 3, "kb", "p1", "kb1"), semantic=tier)
        lk = c.lookup("What are your pricing plans?", namespace=ns)
        assert c.admit(lk, Exchange("What are your pricing plans?", "Free, Starter, Team and more.", "kb")) is None
        results[ns] = c.lookup(asked, namespace=ns).result
    assert results == {"marketing": "semantic_hit", "strict": "miss"}
    assert float(np.float32(0.999)) < 1


def test_the_chosen_point_is_its_thresholds_row_of_the_table():
    result = calibrate(PAIRS, E.embed, names=NAMES, min_precision=1.0)
    assert result.best in result.table
