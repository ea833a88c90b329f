"""The verifier with a pair model: the floor and hard checks first, then the model's probability
decides; per-namespace p*; the tier loading the model (a scripted scorer, no I/O)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from ethos.cache import Exchange, ResponseCache, Scope
from ethos.cache.keys import normalise
from ethos.cache.semantic import HashingEmbedder, Neighbour, SemanticTier, Verifier
from ethos.cache.semantic.calibrate import (
    Pair,
    calibrate_pairs,
    format_pair_thresholds,
    parse_pair_floors,
    parse_pair_settings,
    parse_pair_thresholds,
)
from ethos.cache.semantic.lexicon import spelt_out
from ethos.cache.stores.sqlite import SQLiteStore
from ethos.settings import Settings

PLANS = ["Free", "Starter", "Team", "Business", "Enterprise"]


def as_read(text: str) -> str:
    """A question as the verifier hands it to the model (abbreviations spelt out), normalised."""
    return normalise(spelt_out(text))


class ScriptedPairModel:
    """Probabilities by (stored, asked), compared as the verifier reads and the cache normalises
    questions; 0.0 for pairs it was not told about. Records calls."""

    def __init__(self, probs: dict[tuple[str, str], float], *, loaded: bool = True,
                 threshold: float = 0.8) -> None:
        self.probs = {(as_read(a), as_read(b)): p for (a, b), p in probs.items()}
        self._loaded = loaded
        self.threshold = threshold
        self.calls: list[list[tuple[str, str]]] = []
        self.name = "scripted"

    @property
    def loaded(self) -> bool:
        return self._loaded

    def load(self) -> None:
        self._loaded = True

    def score_pairs(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        self.calls.append(list(pairs))
        return np.array([self.probs.get((as_read(a), as_read(b)), 0.0) for a, b in pairs],
                        dtype=np.float32)


def n(question: str, similarity: float, key: str | None = None) -> Neighbour:
    return Neighbour(key or question, question, similarity)


ASKED = "Is SSO supported?"


def test_the_model_decides_what_the_cosine_rules_would_refuse():
    # cosine 0.45: far below both cosine thresholds, yet the same question
    pm = ScriptedPairModel({("Do you support single sign-on?", ASKED): 0.97})
    v = Verifier(PLANS, pair_model=pm, p_min=0.9, floor=0.4)
    assert v.check(ASKED, "Do you support single sign-on?", 0.45).ok
    assert not Verifier(PLANS).check(ASKED, "Do you support single sign-on?", 0.45).ok
    assert v.check(ASKED, "Do you support SAML?", 0.8).reason == "pair"  # model says 0.0


def test_the_floor_and_the_hard_checks_come_first_and_the_model_never_reads_those_pairs():
    pm = ScriptedPairModel({})
    v = Verifier(PLANS, pair_model=pm, p_min=0.5, floor=0.4)
    assert v.check("How many users on the Team plan?", "How many users on the Starter plan?",
                   0.95).reason == "names"
    assert v.check("Can I add 5 users?", "Can I add 50 users?", 0.97).reason == "numbers"
    assert v.check("Does the Team plan include SSO?", "Does the Team plan not include SSO?",
                   0.96).reason == "negation"
    assert v.check("When was it founded?", "Where was it founded?", 0.9).reason == "asks"
    assert v.check(ASKED, "What is your refund policy?", 0.39).reason == "threshold"
    assert pm.calls == []


def test_statements_and_instructions_go_by_the_cosine_rules_even_with_the_model():
    stored = "The Team plan includes approval workflows."
    asked = "Approval workflows are included in the Team plan."
    pm = ScriptedPairModel({(stored, asked): 0.0, ("Write a tagline for a sale", "Write a tagline for our sale"): 1.0})
    v = Verifier(PLANS, pair_model=pm, p_min=0.5, floor=0.0)
    assert not v.reads_with_model(asked) and v.reads_with_model("approval workflows on Team?")
    assert v.reads_with_model("does the Team plan include approval workflows")  # no mark
    # the model would refuse (0.0); the rules serve a pure rephrasing at this cosine
    assert v.check(asked, stored, 0.93).ok
    assert Verifier(PLANS).check(asked, stored, 0.93).ok
    # and the rules refuse what they refuse, whatever the model says (1.0)
    verdict = v.check("Write a tagline for our sale", "Write a tagline for a sale", 0.5)
    assert verdict.reason == "threshold"
    served, _ = v.choose(asked, [n(stored, 0.93)])
    assert served is not None and served.question == stored
    assert pm.calls == []

def test_abbreviations_are_spelt_out_for_the_model_and_the_neighbour_comes_back_as_given():
    pm = ScriptedPairModel({("Can I pay with American Express?", "Do you take Amex?"): 0.95})
    v = Verifier(PLANS, pair_model=pm, p_min=0.9, floor=0.4)
    given = n("Can I pay with American Express?", 0.69, key="k1")
    best, refused = v.choose("Do you take Amex?", [given])
    assert best is given and refused == []
    assert pm.calls == [[("Can I pay with American Express?", "Do you take american express?")]]
    # the hard checks read them spelt out too: "MS Teams" names the product "Microsoft Teams"
    names = Verifier(["Microsoft Teams"])
    assert names.hard_check("Is there an MS Teams integration?", "Do you work with Microsoft Teams?").ok


def test_choose_reads_the_candidates_one_at_a_time_and_serves_the_nearest_it_accepts():
    pm = ScriptedPairModel({("Do you support single sign-on?", ASKED): 0.93,
                            ("Can I log in with SSO?", ASKED): 0.97,
                            ("Do you support SAML?", ASKED): 0.2})
    v = Verifier(PLANS, pair_model=pm, p_min=0.9, floor=0.4)
    best, refused = v.choose(ASKED, [n("Can I log in with SSO?", 0.5),
                                     n("Do you support SAML?", 0.8),
                                     n("Is the Team plan cheaper?", 0.55),
                                     n("Do you support single sign-on?", 0.6),
                                     n("What is the weather?", 0.1)])
    assert best is not None and best.question == "Do you support single sign-on?"
    # nearest first, one pair per call, among those that passed the hard checks (names kept
    # one out); the first accepted ends the reading, so the third is never read. The model
    # reads abbreviations spelt out; what is served is the neighbour as given.
    assert [[q for q, _ in c] for c in pm.calls] == [
        ["Do you support SAML?"], ["Do you support single sign-on?"]]
    assert sorted(refused) == ["names", "pair"]
    assert v.choose(ASKED, [n("Do you support SAML?", 0.8), n("What is the weather?", 0.1)]) == (
        None, ["threshold", "pair"])


def test_a_hit_on_the_nearest_reads_one_pair_and_at_most_three_are_read():
    pm = ScriptedPairModel({("A?", ASKED): 0.95})
    v = Verifier(PLANS, pair_model=pm, p_min=0.9)
    assert v.choose(ASKED, [n("A?", 0.9), n("B?", 0.8)])[0] is not None
    assert pm.calls == [[("A?", spelt_out(ASKED))]]  # the model reads "single sign on"
    pm.calls.clear()
    best, refused = v.choose(ASKED, [n(f"Q{c}?", 0.9 - i / 100) for i, c in enumerate("ABCDE")])
    assert best is None and sum(len(c) for c in pm.calls) == 3 and refused == ["pair"] * 3


def test_two_accepted_candidates_are_not_ambiguous():
    pm = ScriptedPairModel({("A?", ASKED): 0.95, ("B?", ASKED): 0.99})
    v = Verifier(PLANS, pair_model=pm, p_min=0.9)
    best, refused = v.choose(ASKED, [n("A?", 0.8), n("B?", 0.8)])
    assert best is not None and best.question == "A?" and refused == []


def test_nothing_at_p_star_serves_nothing():
    pm = ScriptedPairModel({("A?", ASKED): 0.89})
    v = Verifier(PLANS, pair_model=pm, p_min=0.9)
    assert v.choose(ASKED, [n("A?", 0.99)]) == (None, ["pair"])
    assert v.with_thresholds(0.9, 0.75, 0.85).choose(ASKED, [n("A?", 0.99)])[0] is not None


def test_until_the_model_has_loaded_the_cosine_rules_decide():
    pm = ScriptedPairModel({("What are your pricing plans?", "What are your pricing plans please?"): 0.0},
                           loaded=False)
    v = Verifier(PLANS, pair_model=pm, p_min=0.9)
    assert not v.uses_pair_model
    assert v.check("What are your pricing plans please?", "What are your pricing plans?", 0.95).ok
    pm.load()
    assert v.check("What are your pricing plans please?", "What are your pricing plans?",
                   0.95).reason == "pair"


def _tier(pm, **kw) -> tuple[SemanticTier, SQLiteStore]:
    store = SQLiteStore(":memory:")
    tier = SemanticTier(store, HashingEmbedder(), names=PLANS, pair_model=pm, **kw)
    tier.load()
    return tier, store


def test_the_tier_serves_what_the_model_accepts_with_per_namespace_p_star():
    stored, asked = "What are your pricing plans?", "What are your pricing plans please?"
    pm = ScriptedPairModel({(stored, asked): 0.85}, loaded=False, threshold=0.8)
    tier, store = _tier(pm, pair_thresholds={"strict": 0.9})
    assert pm.loaded and tier.stats()["pair_model"] == "ready"
    assert tier.verifier.p_min == 0.8 and tier.verifiers["strict"].p_min == 0.9
    results = {}
    for ns in ("marketing", "strict"):
        c = ResponseCache(store, Scope(ns, 3, "kb", "p1", "kb1"), semantic=tier)
        lk = c.lookup(stored, namespace=ns)
        assert c.admit(lk, Exchange(stored, "Free, Starter, Team and more.", "kb")) is None
        results[ns] = c.lookup(asked, namespace=ns).result
    assert results == {"marketing": "semantic_hit", "strict": "miss"}
    assert tier.rejections["pair"] == 1


def test_a_namespace_with_its_own_floor_lets_the_model_read_a_farther_paraphrase():
    stored, asked = "How much is the Team plan?", "What does the Team plan cost?"  # hashing cosine 0.53
    pm = ScriptedPairModel({(stored, asked): 0.96}, threshold=0.8)
    tier, store = _tier(pm, pair_floors={"wide": 0.3, "narrow": 0.6}, pair_thresholds={"wide": 0.9})
    assert (tier.verifiers["wide"].floor, tier.verifiers["wide"].p_min) == (0.3, 0.9)
    assert (tier.verifiers["narrow"].floor, tier.verifiers["narrow"].p_min) == (0.6, 0.8)
    results = {}
    for ns in ("wide", "narrow"):
        c = ResponseCache(store, Scope(ns, 3, "kb", "p1", "kb1"), semantic=tier)
        c.admit(c.lookup(stored, namespace=ns), Exchange(stored, "Team is A$29 a user a month.", "kb"))
        results[ns] = c.lookup(asked, namespace=ns).result
    assert results == {"wide": "semantic_hit", "narrow": "miss"}
    assert tier.rejections["threshold"] >= 1  # the narrow namespace never let the model read it


def test_a_pair_model_that_cannot_load_leaves_the_rules_deciding_and_says_so():
    class Broken(ScriptedPairModel):
        def load(self) -> None:
            raise OSError("no such file")

    tier, store = _tier(Broken({}, loaded=False))
    assert tier.state == "ready"
    stats = tier.stats()
    assert stats["pair_model"] == "error" and "no such file" in str(stats["pair_model_error"])
    c = ResponseCache(store, Scope("marketing", 3, "kb", "p1", "kb1"), semantic=tier)
    lk = c.lookup("What are your pricing plans?")
    c.admit(lk, Exchange("What are your pricing plans?", "Free, Starter, Team and more.", "kb"))
    assert c.lookup("What are your pricing plans please?").result == "semantic_hit"


E = HashingEmbedder()
PAIRS = [
    Pair("How much is the Team plan?", "What does the Team plan cost?", True),
    Pair("How much is the Team plan?", "How much is the Business plan?", False),
    Pair("How do I reset my password?", "How can I reset my password?", True),
    Pair("How do I reset my password?", "How do I change my email address?", False),
    Pair("Which languages do you support?", "What languages are supported?", True),
    Pair("Can I pause my subscription?", "Can I cancel my subscription?", False),
    # statements: the cosine rules decide, at every p*
    Pair("Approval workflows come with the Team plan.",
         "The Team plan comes with approval workflows.", True),
    Pair("Refunds are given within 30 days.", "Refunds are given within 60 days.", False),
]
PROBS = {("How much is the Team plan?", "What does the Team plan cost?"): 0.96,
         ("How do I reset my password?", "How can I reset my password?"): 0.99,
         ("How do I reset my password?", "How do I change my email address?"): 0.7,
         ("Which languages do you support?", "What languages are supported?"): 0.85,
         ("Can I pause my subscription?", "Can I cancel my subscription?"): 0.93}


def _cos(p: Pair) -> float:
    return float(E.embed([p.stored])[0] @ E.embed([p.asked])[0])


@pytest.mark.parametrize("floor", [0.0, 0.5, 0.6])
def test_calibrating_p_star_agrees_with_the_verifier_at_every_point(floor):
    pm = ScriptedPairModel(PROBS)
    result = calibrate_pairs(PAIRS, E.embed, pm.score_pairs, names=PLANS, floor=floor,
                             min_precision=1.0)
    assert result.floor == floor and all(pt.floor == floor for pt in result.table)
    for pt in result.table:
        v = Verifier(PLANS, pair_model=pm, p_min=pt.p_min, floor=floor)
        served = [p for p in PAIRS if v.check(p.asked, p.stored, _cos(p)).ok]
        assert pt.served == len(served) and pt.wrong == sum(not p.same for p in served)
    # above 0.93 only right answers are served; the lowest such p* has the most recall; the
    # statement the cosine rules accept is served at every p*, the one they refuse at none
    assert result.best is not None and result.best.p_min == 0.94
    assert (result.best.served, result.best.wrong) == ((2, 0) if floor == 0.6 else (3, 0))
    assert all(pt.served >= 1 for pt in result.table)
    # the names check refuses the Team/Business pair before the model: never read
    assert all(("How much is the Team plan?", "How much is the Business plan?") not in c
               for c in pm.calls)


def test_calibrating_the_floor_too_takes_the_most_recall_and_the_higher_floor_on_a_tie():
    # hashing cosines: "What does the Team plan cost?" 0.53 and "What languages are
    # supported?" 0.51 (both the same question), "How do I change my email address?" 0.46
    # (another, p 0.7); the pause/cancel near-miss 0.80 has p 0.93
    pm = ScriptedPairModel(PROBS)
    result = calibrate_pairs(PAIRS, E.embed, pm.score_pairs, names=PLANS, floors=(0.3, 0.6, 0.5),
                             min_precision=1.0)
    got = {f: (b.p_min, b.served, b.recall) for f, b in result.by_floor if b is not None}
    assert [f for f, _ in result.by_floor] == [0.6, 0.5, 0.3]  # highest first
    assert got == {0.6: (0.94, 2, 0.5), 0.5: (0.94, 3, 0.75), 0.3: (0.94, 3, 0.75)}
    # 0.5 adds the Team paraphrase; 0.3 adds nothing at that precision: the higher floor stays
    assert result.best is not None and (result.best.floor, result.best.p_min) == (0.5, 0.94)
    assert result.floor == 0.5 and all(pt.floor == 0.5 for pt in result.table)
    # each pair reaching the lowest floor is read by the model once, not once per floor
    read = [pair for call in pm.calls for pair in call]
    assert len(read) == len(set(read)) == 5
    # the chosen point is what a verifier at that floor and p* serves
    v = Verifier(PLANS, pair_model=pm, p_min=0.94, floor=0.5)
    served = [p for p in PAIRS if v.check(p.asked, p.stored, _cos(p)).ok]
    assert (len(served), sum(not p.same for p in served)) == (result.best.served, result.best.wrong)


def test_no_p_star_reaching_the_precision_gives_none():
    pm = ScriptedPairModel({k: 0.99 for k in PROBS})
    result = calibrate_pairs(PAIRS, E.embed, pm.score_pairs, names=PLANS, floor=0.0,
                             min_precision=1.0)
    assert result.best is None and all(p.wrong > 0 for p in result.table)


def test_the_pair_setting_parses_and_refuses_what_cannot_work(monkeypatch, tmp_path):
    assert parse_pair_thresholds(" marketing=0.93, support=0.9 ") == {"marketing": 0.93, "support": 0.9}
    assert format_pair_thresholds({"b": 0.9, "a": 0.93}) == "a=0.93,b=0.9"
    # a namespace's own cosine floor after a slash; the others keep the default
    assert parse_pair_settings("m=0.9/0.3,s=0.8") == {"m": (0.9, 0.3), "s": (0.8, None)}
    assert parse_pair_thresholds("m=0.9/0.3,s=0.8") == {"m": 0.9, "s": 0.8}
    assert parse_pair_floors("m=0.9/0.3,s=0.8") == {"m": 0.3}
    assert format_pair_thresholds({"s": 0.8, "m": 0.9}, {"m": 0.3}) == "m=0.9/0.3,s=0.8"
    for bad, msg in (("marketing", "expected namespace="), ("m=high", "a probability"),
                     ("m=1", "between 0 and 1"), ("m=0.9,m=0.8", "given twice"),
                     ("m=0.9/low", "the floor is a cosine"), ("m=0.9/1", "from 0 \\(inclusive\\) to 1"),
                     ("m=0.9/-0.1", "from 0 \\(inclusive\\) to 1")):
        with pytest.raises(ValueError, match=msg):
            parse_pair_thresholds(bad)
    monkeypatch.setenv("ETHOS_SEMANTIC_PAIR_THRESHOLDS", "m=2")
    with pytest.raises(ValueError, match="ETHOS_SEMANTIC_PAIR_THRESHOLDS"):
        Settings()
    monkeypatch.setenv("ETHOS_SEMANTIC_PAIR_THRESHOLDS", "m=0.9")
    assert Settings().resolved_pair_thresholds() == {"m": 0.9}
    assert Settings().resolved_pair_floors() == {}
    monkeypatch.setenv("ETHOS_SEMANTIC_PAIR_THRESHOLDS", "m=0.9/0.35")
    assert (Settings().resolved_pair_thresholds(), Settings().resolved_pair_floors()) == (
        {"m": 0.9}, {"m": 0.35})
    monkeypatch.setenv("ETHOS_SEMANTIC_PAIR_THRESHOLDS", "m=0.9/2")
    with pytest.raises(ValueError, match="ETHOS_SEMANTIC_PAIR_THRESHOLDS"):
        Settings()
    monkeypatch.setenv("ETHOS_SEMANTIC_PAIR_THRESHOLDS", "m=0.9")
    monkeypatch.setenv("ETHOS_SEMANTIC_PAIR_MODEL", str(tmp_path / "missing.onnx"))
    with pytest.raises(ValueError, match="no model file at"):
        Settings()
    monkeypatch.setenv("ETHOS_SEMANTIC_PAIR_MODEL", "off")
    assert Settings().semantic_pair_model == "off"
