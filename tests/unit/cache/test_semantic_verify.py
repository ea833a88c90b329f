"""The verifier's rules, on plain strings and similarities."""

from __future__ import annotations

import pytest

from ethos.cache.semantic import (
    DEFAULT_THRESHOLD,
    DEFAULT_THRESHOLD_SAME,
    Verifier,
    content_words,
    names_in,
    negated,
    numbers,
    same_subject,
)

PLANS = ["Free", "Starter", "Team", "Business", "Enterprise"]


def test_numbers_and_amounts():
    assert numbers("Can I add 5 users?") == {"5"}
    assert numbers("Can I add five users?") == {"5"}
    assert "unit:usd" in numbers("Does it cost $1,200 a year?")
    assert numbers("Does it cost $1,200 a year?") != numbers("Does it cost $1,300 a year?")
    assert numbers("is it 1.5 GB") != numbers("is it 15 GB")
    assert numbers("is it 10 %") == numbers("is it 10 percent")
    assert numbers("$10 or 10 euros") == {"10", "unit:usd", "unit:eur"}
    assert numbers("which one is better") == set()  # "one" is a pronoun here
    assert numbers("what are your plans") == set()


def test_negation():
    assert negated("Does the Team plan not include SSO?")
    assert negated("Why can't I log in?")
    assert not negated("Does the Team plan include SSO?")
    assert not negated("Isn't it true that it is not free?")  # two negations


def test_names_are_whole_words():
    assert names_in("How much is the Team plan?", PLANS) == {"Team"}
    assert names_in("What does the teamwork add-on do?", PLANS) == set()
    assert names_in("Free vs Business", PLANS) == {"Free", "Business"}
    assert names_in("Single sign-on for Acme Cloud", ["Acme Cloud"]) == {"Acme Cloud"}


@pytest.mark.parametrize(("text", "names"), [
    # a plan name that is also a common word, where it means the word
    ("How can I reach your support team?", set()),
    ("Can my team share templates?", set()),
    ("How long is the free trial?", set()),
    ("How do I grow my business?", set()),
    ("Do you answer during business hours?", set()),
    # and where it means the plan: a plan noun after it, or no common-word use around it
    ("Is there a free plan?", {"Free"}),
    ("Do you offer a free tier?", {"Free"}),
    ("What does my team plan cost?", {"Team"}),
    ("How much is Team?", {"Team"}),
    ("Is the Business plan right for a small business?", {"Business"}),
    ("Does the free trial include Team features?", {"Team"}),
])
def test_a_plan_name_that_is_a_common_word_counts_only_as_the_plan(text, names):
    assert names_in(text, PLANS) == names


def test_content_words_fold_price_phrasings():
    assert content_words("What are your pricing plans?") == content_words(
        "How much are your plans?"
    )
    assert "python" in content_words("How do I learn Python?")


def test_same_subject_allows_additions_not_substitutions():
    assert same_subject("How do I learn Python?", "What is the best way to learn Python?")
    assert same_subject("How do I learn Python?", "How do I learn Python quickly?")
    assert not same_subject("How do I learn Python?", "How do I learn Java?")


V = Verifier(PLANS)


@pytest.mark.parametrize(
    ("question", "candidate", "similarity", "reason"),
    [
        ("how much are your plans?", "What are your pricing plans?", 0.76, "ok"),
        ("How much is the Team plan?", "How much is the Business plan?", 0.97, "names"),
        ("How much is the Team plan?", "What are your pricing plans?", 0.95, "names"),
        ("Does the Team plan include SSO?", "Does the Team plan not include SSO?", 0.97,
         "negation"),
        ("Can I add 5 users?", "Can I add 50 users?", 0.98, "numbers"),
        ("Is it $10?", "Is it €10?", 0.98, "numbers"),
        ("How do I learn Python?", "How do I learn Java?", 0.85, "entity"),
        ("How do I learn Python?", "How do I learn Java?", 0.99, "ok"),
        ("How do I learn Python?", "What is the best way to learn Python?", 0.5, "threshold"),
        ("When was EthosPrompt founded?", "Where was EthosPrompt founded?", 0.98, "asks"),
        ("How many users can I add?", "How long can I add users for?", 0.95, "asks"),
        ("Who founded EthosPrompt?", "Whose idea was EthosPrompt, who founded it?", 0.95, "ok"),
        ("What year was EthosPrompt founded?", "When was EthosPrompt founded?", 0.95, "ok"),
        ("Can I import segments from HubSpot?", "Can I export segments to HubSpot?", 0.97,
         "contrast"),
        ("Is support open on Saturdays?", "Is support open on Mondays?", 0.98, "contrast"),
    ],
)
def test_verifier(question, candidate, similarity, reason):
    verdict = V.check(question, candidate, similarity)
    assert verdict.reason == reason
    assert verdict.ok == (reason == "ok")


def test_thresholds_are_on_the_cosine_scale():
    assert -1.0 <= DEFAULT_THRESHOLD_SAME <= DEFAULT_THRESHOLD <= 1.0
    v = Verifier(threshold=0.8, threshold_same=0.95)  # same never above the other
    assert v.threshold_same == 0.8


def test_a_general_stored_question_serves_a_numbered_one():
    assert V.check("Can I add 5 users?", "Can I add users?", 0.95).ok
    assert V.check("Can I add users?", "Can I add 5 users?", 0.95).reason == "numbers"


def test_negation_counts_between_like_questions_only():
    assert V.check("Is there no free plan?", "Is there a free plan?", 0.97).reason == "negation"
    # rephrased negation across different wording is not a different question
    assert V.check("download tar archives without streaming",
                   "download and extract tar archives in non streaming mode", 0.92).ok


def _n(key, question, sim):
    from ethos.cache.semantic import Neighbour

    return Neighbour(key, question, sim)


def test_choose_skips_a_refused_neighbour_for_a_verified_one():
    best, refused = V.choose(
        "What does the Team plan cost?",
        [_n("b", "What does the Business plan cost?", 0.97),
         _n("t", "How much is the Team plan?", 0.93)],
    )
    assert best is not None and best.key == "t"
    assert refused == ["names"]


def test_choose_refuses_an_ambiguous_question():
    v = Verifier(PLANS, margin=0.02)
    best, refused = v.choose(
        "how do i learn python",
        [_n("a", "how do i learn python fast", 0.931), _n("b", "how do i learn python well",
                                                           0.930)],
    )
    assert best is None and refused == ["ambiguous"]


def test_choose_stops_below_the_threshold():
    best, refused = V.choose("x y", [_n("a", "x y", 0.2), _n("b", "x y", 0.1)])
    assert best is None and refused == ["threshold"]


def test_asks_for_names_the_specific_thing_asked_or_none():
    from ethos.cache.semantic.lexicon import asks_for

    assert asks_for("When was it founded?") == "when"
    assert asks_for("Whom do I contact?") == "who"
    assert asks_for("How many seats are there, and when?") == "how many"
    assert asks_for("What does the Team plan cost?") is None
    assert asks_for("How much is it?") is None and asks_for("How do I export?") is None


@pytest.mark.parametrize(
    ("a", "b", "contrasted"),
    [
        ("What's the monthly price of Starter?", "What's the annual price of Starter?", True),
        ("How many countries do your customers come from?",
         "How many countries do your staff work from?", True),
        ("Is support open on Saturdays?", "Is support open on a Saturday?", False),
        ("Can I add users mid-month?", "Can I remove users mid-month?", True),
        ("How do I remove a user?", "How can I delete a user?", False),  # one option
        # one option said two ways is the same option
        ("Is there a discount for paying yearly?", "Do I save anything with annual billing?",
         False),
        # a text naming no option of the group is left to the other checks
        ("What does Starter cost?", "What does Starter cost monthly?", False),
        # naming both options against one of them shares that one
        ("Can I enable or disable caching?", "How do I disable caching?", False),
        ("How do I sign in?", "How do I log out?", False),  # only the words listed count
        # units of time are options too: "within two business days" is not "within two hours"
        ("Do you reply within two business days?", "Do you reply within two hours?", True),
        ("How many generations per month?", "How many generations a month?", False),
    ],
)
def test_contrasted_needs_different_options_of_one_group_on_both_sides(a, b, contrasted):
    from ethos.cache.semantic.lexicon import contrasted as is_contrasted

    assert is_contrasted(a, b) is contrasted
    assert is_contrasted(b, a) is contrasted


@pytest.mark.parametrize(("text", "spelt"), [
    ("Is SSO supported?", "Is single sign on supported?"),
    ("Do you take AMEX?", "Do you take american express?"),
    ("Is there an MS Teams integration?", "Is there an microsoft teams integration?"),
    ("SLAs and FAQs", "service level agreements and frequently asked questions"),
    # not abbreviations of these: milliseconds, a degree, part of a longer word or name
    ("p95 under 200 ms", "p95 under 200 ms"),
    ("Should I do an MS in the US?", "Should I do an MS in the US?"),
    ("ssosettings and sso-enabled", "ssosettings and sso-enabled"),
])
def test_abbreviations_are_spelt_out(text: str, spelt: str) -> None:
    from ethos.cache.semantic.lexicon import spelt_out

    assert spelt_out(text) == spelt
    assert spelt_out(spelt) == spelt  # idempotent: the verifier may read a text twice
