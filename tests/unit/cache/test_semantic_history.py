"""depends_on_history: follow-ups that mean nothing without earlier turns."""

from __future__ import annotations

import pytest

from ethos.cache.semantic import depends_on_history


@pytest.mark.parametrize(
    "question",
    [
        "and the other one?",
        "And for teams?",
        "what about it",
        "What about the Business plan?",
        "how much is that?",
        "Is it free?",
        "Can I cancel it anytime?",
        "Which one is cheaper?",
        "the cheaper one",
        "Does that include SSO?",
        "How much do they cost?",
        "why?",
        "How much?",
        "like you said earlier",
        "what did you mention before about the former",
        "",
    ],
)
def test_follow_ups(question):
    assert depends_on_history(question)


@pytest.mark.parametrize(
    "question",
    [
        "What are your pricing plans?",
        "how much are your plans?",
        "How much is the Team plan?",
        "Does the Team plan include SSO?",
        "Which plans include SSO?",
        "Show me the plans that include SSO",
        "Is there a free plan?",
        "How do I export my data to CSV?",
        "What does that plan cost per seat?",
    ],
)
def test_standalone_questions(question):
    assert not depends_on_history(question)
