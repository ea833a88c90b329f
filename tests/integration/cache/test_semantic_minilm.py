"""The semantic tier with the real all-MiniLM-L6-v2 model (offline, from its PyPI package)."""

from __future__ import annotations

import pytest

from ethos.cache import Exchange, ResponseCache, Scope
from ethos.cache.semantic import MiniLMEmbedder, SemanticTier
from ethos.cache.stores.sqlite import SQLiteStore

pytestmark = pytest.mark.slow

PLANS = ["Free", "Starter", "Team", "Business", "Enterprise"]
SCOPE = Scope("marketing", 3, "kb", "p1", "kb1")


@pytest.fixture(scope="module")
def model() -> MiniLMEmbedder:
    m = MiniLMEmbedder()
    m.load()
    return m


class Counting:
    """The model, counting what it is asked to embed."""

    def __init__(self, model: MiniLMEmbedder) -> None:
        self.model, self.name, self.texts = model, model.name, []

    @property
    def dim(self) -> int:
        return self.model.dim

    def embed(self, texts):
        self.texts += list(texts)
        return self.model.embed(texts)


def _cache(path, model) -> tuple[ResponseCache, Counting]:
    store = SQLiteStore(path)
    emb = Counting(model)
    tier = SemanticTier(store, emb, names=PLANS)
    tier.start()
    assert tier.wait_ready(60), tier.error
    return ResponseCache(store, SCOPE, semantic=tier), emb


def _ask(cache: ResponseCache, q: str):
    lk = cache.lookup(q)
    if lk.result == "miss":
        assert cache.admit(lk, Exchange(q, f"answer to {q}", "kb")) is None
    return lk


def test_mayas_three_questions(tmp_path, model):
    cache, _ = _cache(tmp_path / "c.db", model)
    first = _ask(cache, "What are your pricing plans?")
    assert first.result == "miss"
    assert _ask(cache, "What are your pricing plans?").result == "hit"
    para = _ask(cache, "how much are your plans?")
    assert para.result == "semantic_hit"
    assert para.entry.key == first.key
    assert 0.0 < para.similarity <= 1.0
    assert _ask(cache, "How much is the Team plan?").result == "miss"
    assert _ask(cache, "How much is the Business plan?").result == "miss"
    assert _ask(cache, "Is there no free plan?").result == "miss"
    cache.close()


def test_a_restart_reads_stored_vectors_instead_of_re_embedding(tmp_path, model):
    path = tmp_path / "c.db"
    cache, _ = _cache(path, model)
    first = _ask(cache, "What are your pricing plans?")
    _ask(cache, "How do I export my data?")
    cache.close()

    again, emb = _cache(path, model)
    emb.texts.clear()  # the warm-up call
    lk = again.lookup("how much are your plans?")
    assert lk.result == "semantic_hit"
    assert lk.entry.key == first.key
    # only the new question was embedded: the stored ones came from the file
    assert emb.texts == ["how much are your plans"]
    again.close()


def test_import_does_not_load_torch():
    import subprocess
    import sys

    code = ("import sys, ethos.cache.semantic;"
            " assert 'torch' not in sys.modules and 'sentence_transformers' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
