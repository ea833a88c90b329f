import pytest

from ethos.agent.kb_answerer import FALLBACK_TEXT, KnowledgeBaseAnswerer, chunk_text
from ethos.agent.knowledge import KnowledgeBase


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.bundled()


def test_bundled_kb_has_every_topic(kb):
    assert set(kb.documents) == {
        "plans-and-pricing.md", "features.md", "integrations.md",
        "security-and-privacy.md", "support.md", "company.md",
    }
    assert kb.plan_names() == ["Free", "Starter", "Team", "Business", "Enterprise"]
    assert "HubSpot" in kb.product_names()


@pytest.mark.parametrize(
    ("question", "title"),
    [
        ("What are your pricing plans?", "Pricing plans at a glance"),
        ("How much is the Team plan?", "Team plan"),
        ("Do you integrate with HubSpot?", "CRM integrations: HubSpot and Salesforce"),
        ("Is my content used to train models?", "Is my content used to train models?"),
        ("How do I contact support?", "How to contact support"),
        ("Do you support SSO?", "Single sign-on and access control"),
    ],
)
def test_search_ranks_the_right_passage_first(kb, question, title):
    assert kb.search(question)[0].passage.title == title


def test_kb_version_changes_with_any_document():
    a = KnowledgeBase({"a.md": "# A\n\n## One\n\nText one."})
    b = KnowledgeBase({"a.md": "# A\n\n## One\n\nText one changed."})
    assert a.version != b.version


def test_empty_kb_is_refused():
    with pytest.raises(ValueError):
        KnowledgeBase({})


def test_answer_cites_its_sources(kb):
    ans = KnowledgeBaseAnswerer(kb).compose("What are your pricing plans?")
    assert "$49 per user per month" in ans.text
    assert ans.sources == ["plans-and-pricing.md"]
    assert ans.finish_reason == "stop"
    assert ans.retrieval_score and ans.retrieval_score > 1


def test_unanswerable_question_gets_the_fallback(kb):
    ans = KnowledgeBaseAnswerer(kb).compose("hello there")
    assert ans.text == FALLBACK_TEXT
    assert ans.finish_reason == "fallback"
    assert ans.sources == []


@pytest.mark.parametrize("text", ["", "one", "a b c d e f g h i", "Free ($0), Starter ($19 per month)."])
def test_chunks_concatenate_back(text):
    assert "".join(chunk_text(text, 3)) == text
