"""Grounding: does the knowledge base answer the question? (no model: a stub embedding)"""

from __future__ import annotations

import numpy as np
import pytest

from ethos.agent import KnowledgeBase, KnowledgeBaseAnswerer
from ethos.agent.base import FALLBACK_TEXT
from ethos.agent.grounding import FEATURES, FEATURES_NO_EMBEDDING, Grounding, content_words, sentences

DOCS = {
    "plans.md": "# Plans\n\n## Team plan\n\nThe Team plan costs $49 per user per month. It includes"
                " approval workflows.\n\n## Free plan\n\nThe Free plan costs nothing.\n",
    "support.md": "# Support\n\n## Contact\n\nEmail support@example.com. Phone support runs 9 to 5.\n",
}


@pytest.fixture
def kb() -> KnowledgeBase:
    return KnowledgeBase(DOCS)


class StubModel:
    """Unit rows from a word hash; None until ``ready`` (a model still loading). Counts texts."""

    def __init__(self, ready: bool = True) -> None:
        self.ready = ready
        self.texts = 0

    def __call__(self, texts: list[str]):
        if not self.ready:
            return None
        self.texts += len(texts)
        out = np.zeros((len(texts), 64), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                out[i, hash(w) % 64] += 1.0
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


def test_content_words_drop_stop_words_and_stem_once():
    stem = Grounding(KnowledgeBase(DOCS)).__dict__["_stem"]
    assert content_words("How much does the Team plan cost? Plans, costs!", stem) == ["team", "plan", "cost"]
    assert content_words("Is there an app?", stem) == ["app"]
    assert content_words("What is it?", stem) == []


def test_sentences_carry_their_title(kb):
    team = next(p for p in kb.passages if p.title == "Team plan")
    assert sentences(team) == ["Team plan: The Team plan costs $49 per user per month.",
                               "Team plan: It includes approval workflows."]


def test_words_the_knowledge_base_never_mentions_count_against(kb):
    g = Grounding(kb)
    f = g.measure("Can I run it on Kubernetes with Android phones?", kb.search("kubernetes android", 3))
    assert f["unknown"] == 2 and f["covered"] == 0.5  # run and phone are in it (support runs 9 to 5)
    f = g.measure("Kubernetes, Docker, Android or iPhone?", [])
    assert f["unknown"] == 3 and f["covered"] == 0.0 and f["bm25"] == 0.0  # capped at 3
    f = g.measure("How much is the Team plan?", kb.search("How much is the Team plan?", 3))
    assert f["unknown"] == 0 and f["covered"] == 1.0 and f["bm25"] > 0


def test_without_a_model_the_cosines_are_left_out(kb):
    f = Grounding(kb).measure("team plan price", kb.search("team plan price", 3))
    assert set(f) == set(FEATURES_NO_EMBEDDING)


def test_a_model_still_loading_is_not_waited_for_and_its_vectors_are_computed_once(kb):
    model = StubModel(ready=False)
    g = Grounding(kb, model)
    q = "What does the Team plan cost?"
    assert set(g.measure(q, kb.search(q, 3))) == set(FEATURES_NO_EMBEDDING)
    model.ready = True
    f = g.measure(q, kb.search(q, 3))
    assert set(f) == set(FEATURES) and -1.0 <= f["cos_unit"] <= 1.0
    units = model.texts
    g.measure(q, kb.search(q, 3))
    assert model.texts == units + 1  # only the question the second time


def test_without_warm_on_use_only_warm_embeds_the_knowledge_base(kb):
    model = StubModel()
    g = Grounding(kb, model)
    g.warm_on_use = False  # as the service sets it: its background task warms
    q = "What does the Team plan cost?"
    assert set(g.measure(q, kb.search(q, 3))) == set(FEATURES_NO_EMBEDDING)
    assert model.texts == 0  # neither the knowledge base nor the question was embedded
    assert g.warm()
    units = model.texts
    assert units > 1 and set(g.measure(q, kb.search(q, 3))) == set(FEATURES)
    assert model.texts == units + 1


def test_the_weights_decide_and_must_be_complete(kb):
    q = "What does the Team plan cost?"
    hits = kb.search(q, 3)
    always = {"bias": 50.0, **{k: 0.0 for k in FEATURES}}
    never = {"bias": -50.0, **{k: 0.0 for k in FEATURES}}
    assert Grounding(kb, StubModel(), weights=always).judge(q, hits).grounded
    verdict = Grounding(kb, StubModel(), weights=never).judge(q, hits)
    assert not verdict.grounded and verdict.probability < 1e-6 and set(verdict.features) == set(FEATURES)
    with pytest.raises(ValueError, match="lack cos_passage"):
        Grounding(kb, weights={"bias": 0.0, "cos_unit": 1.0, "bm25": 1.0, "covered": 1.0, "unknown": 1.0})


def test_the_answerer_abstains_when_the_grounding_says_no(kb):
    never = {"bias": -50.0, **{k: 0.0 for k in FEATURES_NO_EMBEDDING}}
    ans = KnowledgeBaseAnswerer(kb, grounding=Grounding(kb, weights_no_embedding=never)).compose(
        "What does the Team plan cost?")
    assert not ans.grounded and ans.finish_reason == "fallback" and ans.sources == []
    assert ans.text == FALLBACK_TEXT
    assert "sales@ethosprompt.com" in FALLBACK_TEXT and "support@ethosprompt.com" in FALLBACK_TEXT
    ans = KnowledgeBaseAnswerer(kb).compose("What does the Team plan cost?")
    assert ans.grounded and ans.sources == ["plans.md"] and "$49" in ans.text


def test_a_judgement_does_not_wait_for_the_knowledge_base_being_embedded(kb):
    import threading

    release = threading.Event()
    inner = StubModel()

    def slow(texts):
        if len(texts) > 1:  # the knowledge base's sentences: held until released
            release.wait(10)
        return inner(texts)

    g = Grounding(kb, slow)
    warming = threading.Thread(target=g.warm)
    warming.start()
    try:
        q = "What does the Team plan cost?"
        for _ in range(100):  # until the warm-up holds the lock
            if g._lock.locked():
                break
            threading.Event().wait(0.01)
        assert set(g.measure(q, kb.search(q, 3))) == set(FEATURES_NO_EMBEDDING)
    finally:
        release.set()
        warming.join(10)
    assert set(g.measure(q, kb.search(q, 3))) == set(FEATURES)


async def _answer(a, q):
    return await a.answer(q)


def test_the_answerer_composes_off_the_event_loop(kb):
    import asyncio
    import threading

    seen = []
    a = KnowledgeBaseAnswerer(kb)
    real = a.compose
    a.compose = lambda q: seen.append(threading.current_thread()) or real(q)  # type: ignore[method-assign]
    ans = asyncio.run(_answer(a, "What does the Team plan cost?"))
    assert ans.grounded and seen and seen[0] is not threading.main_thread()
