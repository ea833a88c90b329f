"""The packaged pair model (int8 ONNX, offline): its file, its checks, and what it decides on
the issue's own examples, in the semantic tier, the answerer and `ethos cache calibrate`."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ethos.agent import KnowledgeBase, KnowledgeBaseAnswerer
from ethos.cache import Exchange, ResponseCache, Scope
from ethos.cache.semantic import MiniLMEmbedder, SemanticTier
from ethos.cache.semantic.calibrate import load_calibration
from ethos.cache.semantic.pair import MANIFEST_FILE, MODEL_FILE, PairModel, PairModelError, models_dir
from ethos.cache.stores.sqlite import SQLiteStore

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
SCOPE = Scope("marketing", 3, "kb", "p1", "kb1")


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.bundled()


@pytest.fixture(scope="module")
def pair() -> PairModel:
    m = PairModel()
    m.load()
    return m


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    e = MiniLMEmbedder()
    e.load()
    return e


def test_the_model_file_is_small_int8_and_matches_its_manifest():
    f = models_dir() / MODEL_FILE
    manifest = json.loads((models_dir() / MANIFEST_FILE).read_text())
    assert f.stat().st_size <= 25 * 1024 * 1024
    assert hashlib.sha256(f.read_bytes()).hexdigest() == manifest["sha256"]
    assert manifest["seed"] and manifest["data"]["qqp"]["split"].startswith("question-disjoint")


def test_an_altered_model_file_is_refused(tmp_path):
    data = bytearray((models_dir() / MODEL_FILE).read_bytes())
    data[-100] ^= 0xFF
    (tmp_path / MODEL_FILE).write_bytes(bytes(data))
    (tmp_path / MANIFEST_FILE).write_text((models_dir() / MANIFEST_FILE).read_text())
    with pytest.raises(PairModelError) as e:
        PairModel(tmp_path / MODEL_FILE).load()
    assert "sha256" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(PairModelError, match="not found"):
        PairModel(tmp_path / "missing.onnx").load()


def _cache(embedder, pair, kb) -> ResponseCache:
    tier = SemanticTier(SQLiteStore(":memory:"), embedder,
                        names=[*kb.plan_names(), *kb.product_names()], pair=pair)
    tier.load()
    assert tier.stats()["verifier"] == "pair", tier.pair_error
    return ResponseCache(tier.store, SCOPE, semantic=tier)


def _store(cache: ResponseCache, q: str) -> None:
    lk = cache.lookup(q)
    assert lk.result == "miss"
    assert cache.admit(lk, Exchange(q, f"the answer to: {q}", "kb")) is None


def test_a_paraphrase_far_apart_in_cosine_is_served(embedder, pair, kb):
    cache = _cache(embedder, pair, kb)
    _store(cache, "Do you support single sign-on?")
    lk = cache.lookup("Is SSO supported?")
    assert lk.result == "semantic_hit", (lk.similarity, cache.semantic.rejections)
    assert lk.similarity is not None and lk.similarity < 0.75  # no cosine threshold got this


@pytest.mark.parametrize(("stored", "asked", "reason"), [
    ("How many users can I add on the Team plan?", "How many users can I add on the Starter plan?",
     "names"),
    ("How do I cancel my subscription?", "Can I pause my subscription?", "pair"),
    ("Can I add 5 users to the Team plan?", "Can I add 50 users to the Team plan?", "numbers"),
])
def test_near_misses_are_refused(embedder, pair, kb, stored, asked, reason):
    cache = _cache(embedder, pair, kb)
    _store(cache, stored)
    assert cache.lookup(asked).result == "miss"
    assert cache.semantic.rejections[reason] >= 1


@pytest.mark.parametrize("question", [
    "Can I self-host EthosPrompt on my own Kubernetes cluster?",
    "Is there an Android app?",
    "What's the weather in Melbourne today?",
])
def test_the_issues_unanswerable_questions_get_the_honest_fallback(kb, pair, question):
    ans = KnowledgeBaseAnswerer(kb, judge=pair).compose(question)
    assert ans.grounded is False and ans.sources == [] and ans.finish_reason == "fallback"


@pytest.mark.parametrize(("question", "source"), [
    ("How much does the Team plan cost?", "plans-and-pricing.md"),
    ("Is SSO supported?", "security-and-privacy.md"),
    ("Do you integrate with HubSpot?", "integrations.md"),
    ("How do I contact support?", "support.md"),
])
def test_answerable_questions_are_answered_with_their_source(kb, pair, question, source):
    ans = KnowledgeBaseAnswerer(kb, judge=pair).compose(question)
    assert ans.grounded is True and ans.sources[0] == source


def _ethos(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from ethos.cli import main; main()", *args],
        capture_output=True, text=True, timeout=600, cwd=ROOT, env={**os.environ, **(env or {})})


def test_calibrate_prints_the_table_and_writes_the_namespace(tmp_path):
    pairs = ROOT / "bench" / "data" / "kb_calibration_pairs.jsonl"
    out = tmp_path / "calibration.json"
    r = _ethos("cache", "calibrate", str(pairs), "--namespace", "marketing",
               "--target-precision", "0.9", "--write", str(out), "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["pairs"] == 60 and doc["positives"] == 30 and len(doc["table"]) >= 20
    chosen = doc["chosen"]
    assert chosen["precision"] >= 0.9
    _, spaces = load_calibration(out)
    assert spaces["marketing"].p_min == chosen["p_min"]
    assert spaces["marketing"].cosine_floor == chosen["cosine_floor"]
    text = _ethos("cache", "calibrate", str(pairs), "--namespace", "marketing")
    assert "cosine_floor  p_min  precision  recall" in text.stdout and "chosen" in text.stdout


def test_calibrate_refuses_a_bad_pairs_file_in_one_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text_a": "a", "text_b": "b"}\n')
    r = _ethos("cache", "calibrate", str(bad), "--namespace", "marketing")
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "needs text_a, text_b" in r.stderr


def test_the_service_uses_the_namespace_calibration(tmp_path):
    from ethos.service.state import AppState
    from ethos.settings import Settings

    cal = tmp_path / "calibration.json"
    cal.write_text(json.dumps({"default": {"p_min": 0.91, "cosine_floor": 0.42},
                               "namespaces": {"campaign-a": {"p_min": 0.99, "cosine_floor": 0.6}}}))
    state = AppState.build(Settings(state_dir=tmp_path, semantic_calibration=cal))
    try:
        v = state.cache.semantic.verifier
        assert v.calibration_for("campaign-a").p_min == 0.99
        assert v.calibration_for("marketing").p_min == 0.91
        assert state.answerer.judge is state.cache.semantic.pair
    finally:
        state.cache.close()
