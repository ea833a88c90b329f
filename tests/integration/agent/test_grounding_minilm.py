"""The embedded answerer's abstention with the real all-MiniLM-L6-v2 model, on the questions
the issue quotes (bench/groundedness.py measures the full question set)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ethos.agent import KnowledgeBase, KnowledgeBaseAnswerer
from ethos.cache.semantic import MiniLMEmbedder

DATA = Path(__file__).resolve().parents[3] / "bench" / "data" / "groundedness.json"


@pytest.fixture(scope="module")
def answerer() -> KnowledgeBaseAnswerer:
    model = MiniLMEmbedder()
    model.load()
    return KnowledgeBaseAnswerer(KnowledgeBase.bundled(), embed=model.embed)


@pytest.mark.parametrize("q", [
    "Can I self-host EthosPrompt on my own Kubernetes cluster?",
    "What's the weather in Melbourne today?",
    "Can I pause my subscription?",
])
def test_questions_the_knowledge_base_does_not_answer_get_the_fallback(answerer, q):
    ans = answerer.compose(q)
    assert not ans.grounded and ans.sources == [] and ans.finish_reason == "fallback"


@pytest.mark.parametrize(("q", "source"), [
    ("What are your pricing plans?", "plans-and-pricing.md"),
    ("Do you support single sign-on?", "security-and-privacy.md"),
    ("Is SSO supported?", "security-and-privacy.md"),
    ("How do I contact support?", "support.md"),
])
def test_questions_it_answers_are_grounded_with_their_sources(answerer, q, source):
    ans = answerer.compose(q)
    assert ans.grounded and source in ans.sources


def test_the_question_set_is_labelled_and_split_as_the_bench_expects():
    rows = json.loads(DATA.read_text(encoding="utf-8"))
    for split in ("dev", "test"):
        for answerable in (True, False):
            assert sum(r["split"] == split and r["answerable"] is answerable for r in rows) >= 50
    assert len({r["q"].lower() for r in rows}) == len(rows)
    docs = {p.name for p in (Path(__file__).resolve().parents[3] / "src/ethos/agent/kb").glob("*.md")}
    assert all((r["source"] in docs) if r["answerable"] else r["source"] is None for r in rows)
