"""One small block of tests per quality rule, then the composed gate."""

from __future__ import annotations

import pytest

from ethos.cache.gates.admission import Exchange, decide
from ethos.cache.gates.quality import (
    QUALITY_REASONS,
    make_quality_gate,
    plans_in,
    prices_in,
    quality_gate,
    rule_empty,
    rule_error_text,
    rule_fallback,
    rule_personalised,
    rule_poorly_grounded,
    rule_refusal,
    rule_time_sensitive,
    rule_too_short,
    rule_truncated,
)

GOOD = (
    "The Team plan costs $49/month per seat and includes 20,000 requests, shared "
    "prompt libraries and SSO."
)
SOURCES = ("Team plan: $49 per seat per month. Includes 20,000 requests, SSO.",)


def ex(reply: str = GOOD, **kw) -> Exchange:
    kw.setdefault("answerer", "llm:test")
    kw.setdefault("source_texts", SOURCES)
    return Exchange(question=kw.pop("question", "How much is Team?"), reply=reply, **kw)


def test_good_answer_passes_every_rule() -> None:
    assert quality_gate(ex()) is None
    assert quality_gate(ex(answerer="kb", retrieval_score=12.0)) is None


def test_empty() -> None:
    assert rule_empty(ex("  \n")).reason == "empty"
    assert rule_empty(ex()) is None


@pytest.mark.parametrize("reply", ["Yes.", "It is $49.", "See pricing page"])
def test_too_short(reply: str) -> None:
    assert rule_too_short(ex(reply)).reason == "too_short"


def test_too_short_thresholds() -> None:
    assert rule_too_short(ex("Yes, it does include SSO.")) is None
    assert rule_too_short(ex("Yes, it does include SSO."), min_chars=100).reason == "too_short"


@pytest.mark.parametrize(
    ("reply", "finish"),
    [
        (GOOD, "length"),
        ("The Team plan costs $49/month per seat and includes", "stop"),
        ("Here is the embed code:\n```html\n<script src=x>", "stop"),
        ("Plans compared, with prices for each of them:", "stop"),
        ("The Team plan includes SSO, audit logs,", "stop"),
    ],
)
def test_truncated(reply: str, finish: str) -> None:
    assert rule_truncated(ex(reply, finish_reason=finish)).reason == "truncated"


@pytest.mark.parametrize(
    "reply",
    [
        GOOD,
        "Plans:\n- Free: 100 chats\n- Team: $49/month",
        "| Plan | Price |\n|---|---|\n| Team | $49 |",
        "Sure, it works with Slack 🎉",
        'It says "ready" (see the docs)',
        "All prices are on https://ethosprompt.com/pricing",
        "Write to support@ethosprompt.com",
    ],
)
def test_not_truncated(reply: str) -> None:
    assert rule_truncated(ex(reply)) is None


def test_kb_passages_are_not_judged_mid_sentence() -> None:
    assert rule_truncated(ex("Team plan: $49 per seat per month", answerer="kb")) is None
    assert rule_truncated(ex(GOOD, answerer="kb", finish_reason="length")).reason == "truncated"


@pytest.mark.parametrize(
    "reply",
    [
        "An error occurred while generating the answer. Please retry.",
        "Something went wrong on our side, sorry about that!",
        "Error code 503: service unavailable.",
        "Traceback (most recent call last): File x",
    ],
)
def test_error_text(reply: str) -> None:
    assert rule_error_text(ex(reply)).reason == "error_text"


def test_error_finish_reason_and_clean() -> None:
    assert rule_error_text(ex(finish_reason="error")).reason == "error_text"
    assert rule_error_text(ex("Errors in your prompts are flagged by the linter.")) is None
    assert rule_error_text(ex("Rate limits: 60 requests/minute on Team, 600 on Business.")) is None
    assert rule_error_text(ex("Rate limit exceeded. Please retry in 30 seconds.")).reason == "error_text"


def test_fallback() -> None:
    assert rule_fallback(ex(finish_reason="fallback")).reason == "fallback"
    assert rule_fallback(ex("I'm having trouble answering right now. Please try again in a moment.")).reason == "fallback"
    assert rule_fallback(ex("Custom fallback text here."), fallback_texts=["custom fallback"]).reason == "fallback"
    assert rule_fallback(ex()) is None


@pytest.mark.parametrize(
    "reply",
    [
        "I'm sorry, but I can't help with that request.",
        "I apologise for the confusion, the Team plan is $49/month.",
        "As an AI, I cannot give legal advice on GDPR.",
        "I don't have information about that product.",
        "Unfortunately, I can only answer questions about EthosPrompt.",
        "Sorry, I cannot share internal roadmaps.",
    ],
)
def test_refusal(reply: str) -> None:
    assert rule_refusal(ex(reply)).reason == "refusal"


def test_refusal_only_at_the_start() -> None:
    long = GOOD + " " * 200 + "Sorry, we do not ship printed manuals."
    assert rule_refusal(ex(long)) is None


@pytest.mark.parametrize(
    "reply",
    [
        "Your account is on the Team plan and renews next year.",
        "I've checked your order and it has shipped.",
        "I can see that you upgraded last week.",
        "You're currently on the Starter plan.",
        "Your subscription includes SSO.",
    ],
)
def test_personalised(reply: str) -> None:
    assert rule_personalised(ex(reply)).reason == "personalised"


def test_generic_your_is_fine() -> None:
    assert rule_personalised(ex("Your team can share prompt libraries on every paid plan.")) is None


@pytest.mark.parametrize(
    "reply",
    [
        "The Team plan is 20% off today only.",
        "This week we have a special on Business seats.",
        "Enterprise is currently on sale until 30 June.",
        "The offer ends Friday, so be quick.",
        "Sign up for a limited time at $39/month.",
        "Prices rise after March 31.",
    ],
)
def test_time_sensitive(reply: str) -> None:
    rule = rule_time_sensitive(ex(reply))
    if "after March" in reply:
        assert rule is None  # "after <date>" is a fact, not a countdown
    else:
        assert rule.reason == "time_sensitive"


def test_timeless_is_fine() -> None:
    assert rule_time_sensitive(ex("Version 2.3.1 was released on 12 March 2026.")) is None
    assert rule_time_sensitive(ex("You can cancel at any time, and keep access until you cancel.")) is None


def test_poorly_grounded_kb_score() -> None:
    assert rule_poorly_grounded(ex(answerer="kb", retrieval_score=0.2)).reason == "poorly_grounded"
    assert rule_poorly_grounded(ex(answerer="kb", retrieval_score=0.2), min_retrieval_score=0.1) is None
    assert rule_poorly_grounded(ex(answerer="kb", retrieval_score=None)) is None


def test_poorly_grounded_llm_prices_and_plans() -> None:
    assert rule_poorly_grounded(ex()) is None
    bad_price = ex("The Team plan costs $59/month per seat, billed monthly.")
    assert rule_poorly_grounded(bad_price).reason == "poorly_grounded"
    bad_plan = ex("The Premium plan costs $49/month.", )
    assert rule_poorly_grounded(bad_plan) is None  # not one of our plan names
    bad_plan = ex("The Business plan costs $49/month per seat.")
    r = rule_poorly_grounded(bad_plan)
    assert r.reason == "poorly_grounded" and "Business" in r.detail
    assert rule_poorly_grounded(ex("The Platinum tier costs $49/month.", ), plan_names=["Platinum"]).reason == "poorly_grounded"
    assert rule_poorly_grounded(ex(GOOD, source_texts=())).reason == "poorly_grounded"
    # no price and no plan: nothing to ground
    assert rule_poorly_grounded(ex("SSO works with Okta and Azure AD.", source_texts=())) is None


def test_price_and_plan_extraction() -> None:
    assert prices_in("$49/month, A$1,200.00 a year, AUD 15, 20 dollars, 9 per seat, 2.5k USD") == {
        "49", "1200", "15", "20", "9", "2500"
    }
    assert prices_in("10,000 requests and version 2.3.1") == set()
    assert plans_in("the Team plan, Business tier, plans: Free; our team is great") == {
        "Team", "Business", "Free"
    }


def test_gate_composition_order_and_reasons() -> None:
    assert QUALITY_REASONS[0] == "empty" and QUALITY_REASONS[-1] == "poorly_grounded"
    assert len(set(QUALITY_REASONS)) == 9
    assert quality_gate(ex("")).reason == "empty"
    assert quality_gate(ex("Sorry!")).reason == "too_short"
    gate = make_quality_gate(min_retrieval_score=50.0)
    assert gate(ex(answerer="kb", retrieval_score=12.0)).reason == "poorly_grounded"
    r = decide(ex("I'm sorry, I can't help with pricing questions here."), [quality_gate])
    assert r.gate == "quality" and r.reason in QUALITY_REASONS
