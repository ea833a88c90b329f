"""The verifier: may a stored answer be served for a new question? Pure functions.

The nearest neighbour in embedding space is only a candidate. Sentence embeddings are
close for questions that share a topic but ask different things ("pricing for enterprise"
and "pricing for startups", a question and its negation), and a wrong answer costs more
than a miss. So a candidate is served only when

1. the two questions agree on everything that changes the answer:
   * **numbers and amounts** (``5 users`` is not ``50 users``; ``$10`` is not ``€10``);
     a stored question naming no number is general and may serve one that does;
   * **plan and product names** of the knowledge base (``Team`` is not ``Business``);
   * **what is asked for**, when both name it: a time, a place, a person, a reason, a count,
     a duration (``when was it founded`` / ``where was it founded``);
   * **exclusive options**, when both name one of the same group (``import`` / ``export``,
     ``monthly`` / ``annual``, ``Saturday`` / ``Monday``: :data:`.lexicon.CONTRAST_GROUPS`);
   * **negation** (``does it include SSO`` / ``does it not include SSO``), compared when
     the two share most of their content words, where a negation is the difference;
2. their cosine similarity (one scale everywhere: -1 to 1, the dot product of unit
   vectors) reaches a threshold that depends on whether they ask about the same things:
   * the two are a pure **rephrasing**: the same *content words* (what is left after
     function words, stemmed) once a few synonyms are folded into one concept ("how
     much", "price", "pricing", "cost"), differing only by those: ``threshold_same``;
   * otherwise (the **entity asked about** may differ, "learn Python" / "learn Java"):
     ``threshold``, which is higher;
3. no other verified candidate is about as close (:meth:`Verifier.choose`): a question
   halfway between two stored questions is ambiguous, and guessing is how a cache lies.

The defaults were calibrated with ``bench/semantic_qqp.py`` and ``bench/semantic_mock.py``.

**With a pair model** (:mod:`.pair_model`, a cross-encoder that reads both questions together,
shipped in the package), step 2 changes for questions: a candidate needs only a cosine of ``floor`` (the
nearest few are candidates, recall first), passes the hard checks of step 1, and is then
served when the pair model's probability reaches ``p_min`` (p*). The model reads the nearest
:data:`PAIR_READ_MAX` candidates that pass, nearest first, one pair at a time; the first it
accepts is served (ranking by the model's probability instead served more wrong answers on
``mock_data``: 152 against 74 at p* 0.5); the model has read each pair whole, so the ambiguity
rule of step 3 is not applied. Until the model has loaded (or when it cannot load) the cosine
rules above decide, and they always decide for a text that is not a question
(:meth:`Verifier.reads_with_model`): the model was trained on questions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from ..keys import normalise
from .index import Neighbour
from .lexicon import (
    asks_for,
    content_words,
    contrasted,
    is_question,
    jaccard,
    names_in,
    negated,
    numbers,
    overlap,
    rephrased,
    same_subject,
    spelt_out,
)

#: cosine needed when the content words differ (a substituted entity)
DEFAULT_THRESHOLD = 0.90
#: cosine needed when both ask about the same content words (or one only adds some)
DEFAULT_THRESHOLD_SAME = 0.75

#: weight of content-word overlap when ranking verified candidates (cosine + w * overlap)
DEFAULT_RERANK_WEIGHT = 0.2
#: two verified candidates closer than this (in ranking score) make a question ambiguous
DEFAULT_MARGIN = 0.01
#: negation is compared only between questions sharing this much of their content words
NEGATION_OVERLAP = 0.5
#: with a pair model: the cosine a candidate needs to be read by it at all. 0.35, the highest
#: floor with the most recall on both dev halves (QQP's and the knowledge base's pairs, at the
#: model's p*; lower floors serve nothing more there): paraphrases in other words sit low ("Is
#: there a free plan?" / "Do you offer a free tier?" 0.48)
DEFAULT_FLOOR = 0.35
#: with a pair model: the nearest candidates passing the hard checks that it reads at most
PAIR_READ_MAX = 3

REASONS = ("ok", "threshold", "numbers", "names", "asks", "contrast", "negation", "entity",
           "ambiguous", "pair")


class PairScorer(Protocol):
    """What the verifier needs of a pair model (:class:`.pair_model.PairModel`)."""

    @property
    def loaded(self) -> bool: ...

    def score_pairs(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """Probability for each ``(stored, asked)`` pair that one answer serves both."""
        ...


@dataclass(frozen=True, slots=True)
class Verdict:
    """``ok``, or why the candidate was refused (one of :data:`REASONS`)."""

    ok: bool
    reason: str


class Verifier:
    """Checks nearest neighbours before one is served (see the module docstring).

    ``check`` judges one candidate; ``choose`` picks among the nearest few: the verified
    candidates are ranked by cosine plus ``rerank_weight`` times their content-word
    overlap, and when the best two are within ``margin`` of each other the question is
    ambiguous between two stored questions and nothing is served.
    """

    def __init__(self, names: Sequence[str] = (), threshold: float = DEFAULT_THRESHOLD,
                 threshold_same: float = DEFAULT_THRESHOLD_SAME, *,
                 rerank_weight: float = DEFAULT_RERANK_WEIGHT,
                 margin: float = DEFAULT_MARGIN,
                 pair_model: PairScorer | None = None, p_min: float = 0.5,
                 floor: float = DEFAULT_FLOOR) -> None:
        self.names = tuple(n for n in names if normalise(n))
        self.threshold = threshold
        self.threshold_same = min(threshold_same, threshold)
        self.rerank_weight = rerank_weight
        self.margin = margin
        #: the pair model, used once it has loaded; ``p_min`` is p*, ``floor`` the cosine a
        #: candidate needs before the model reads it
        self.pair_model = pair_model
        self.p_min = p_min
        self.floor = floor

    @property
    def uses_pair_model(self) -> bool:
        """True when the pair model decides (it is given and has loaded)."""
        return self.pair_model is not None and self.pair_model.loaded

    def reads_with_model(self, question: str) -> bool:
        """True when the pair model decides for ``question``: it has loaded, and the text is a
        question (:func:`.lexicon.is_question`), the kind of text it was trained on. For
        statements and instructions the cosine rules decide: on ``mock_data``'s documentation
        statements the model served 236 right answers where the rules served 657."""
        return self.uses_pair_model and is_question(question)

    def with_thresholds(self, threshold: float, threshold_same: float,
                        p_min: float | None = None, floor: float | None = None) -> Verifier:
        """This verifier with other thresholds (a namespace's calibration), sharing its model."""
        return Verifier(self.names, threshold, threshold_same, rerank_weight=self.rerank_weight,
                        margin=self.margin, pair_model=self.pair_model,
                        p_min=self.p_min if p_min is None else p_min,
                        floor=self.floor if floor is None else floor)

    def hard_check(self, question: str, candidate: str) -> Verdict:
        """Step 1 alone: numbers, names, what is asked for, exclusive options, negation (no
        cosine), on the two texts with their abbreviations spelt out."""
        return self._hard_check(spelt_out(question), spelt_out(candidate))

    def _hard_check(self, question: str, candidate: str) -> Verdict:
        qn, cn = numbers(question), numbers(candidate)
        # A stored question without numbers has a general answer, which also serves a
        # question with numbers; the reverse would answer a narrower question.
        if cn and qn != cn:
            return Verdict(False, "numbers")
        if names_in(question, self.names) != names_in(candidate, self.names):
            return Verdict(False, "names")
        qa, ca = asks_for(question), asks_for(candidate)
        if qa is not None and ca is not None and qa != ca:
            return Verdict(False, "asks")
        if contrasted(question, candidate):
            return Verdict(False, "contrast")
        cq, cc = content_words(question), content_words(candidate)
        # A negation changes the answer when it is the difference between two questions
        # about the same things; across different wordings it is usually rephrased
        # ("without streaming" / "in non-streaming mode").
        if negated(question) != negated(candidate) and jaccard(cq, cc) >= NEGATION_OVERLAP:
            return Verdict(False, "negation")
        return Verdict(True, "ok")

    def check(self, question: str, candidate: str, similarity: float) -> Verdict:
        """May ``candidate``'s answer be served for ``question`` at this cosine?"""
        question, candidate = spelt_out(question), spelt_out(candidate)
        if self.reads_with_model(question):
            served, refused = self._choose_by_model(
                question, [Neighbour(candidate, candidate, similarity)])
            return Verdict(True, "ok") if served is not None else Verdict(False, refused[-1])
        return self._check_by_rules(question, candidate, similarity)

    def _check_by_rules(self, question: str, candidate: str, similarity: float) -> Verdict:
        if similarity < self.threshold_same:
            return Verdict(False, "threshold")
        hard = self._hard_check(question, candidate)
        if not hard.ok:
            return hard
        cq, cc = content_words(question), content_words(candidate)
        # Below the main threshold only a pure rephrasing passes: measured on QQP, pairs
        # that merely share or add content words are no more often the same question.
        if similarity < self.threshold and not (
            cq == cc and content_words(question, fold=False) != content_words(
                candidate, fold=False)):
            return Verdict(False, "entity")
        return Verdict(True, "ok")

    def choose(self, question: str, neighbours: Sequence[Neighbour]
               ) -> tuple[Neighbour | None, list[str]]:
        """The neighbour to serve (one of ``neighbours``), or None; and the reasons candidates
        were refused. Abbreviations are spelt out on both sides first
        (:func:`.lexicon.spelt_out`), as the tier does before it embeds."""
        spelt = [replace(n, question=spelt_out(n.question)) for n in neighbours]
        chosen, refused = self._choose(spelt_out(question), spelt)
        if chosen is None:
            return None, refused
        return neighbours[next(i for i, n in enumerate(spelt) if n is chosen)], refused

    def _choose(self, question: str, neighbours: Sequence[Neighbour]
                ) -> tuple[Neighbour | None, list[str]]:
        if self.reads_with_model(question):
            return self._choose_by_model(question, neighbours)
        refused: list[str] = []
        passed: list[tuple[float, Neighbour]] = []
        cq = content_words(question)
        for n in sorted(neighbours, key=lambda n: -n.similarity):
            # the question was routed once above: the rules, not check()'s routing again
            verdict = self._check_by_rules(question, n.question, n.similarity)
            if verdict.ok:
                score = n.similarity + self.rerank_weight * jaccard(
                    cq, content_words(n.question))
                passed.append((score, n))
            else:
                refused.append(verdict.reason)
                if verdict.reason == "threshold":
                    break  # the rest are further away still
        if not passed:
            return None, refused
        passed.sort(key=lambda p: -p[0])
        if len(passed) > 1 and passed[0][0] - passed[1][0] < self.margin:
            refused.append("ambiguous")
            return None, refused
        return passed[0][1], refused

    def _choose_by_model(self, question: str, neighbours: Sequence[Neighbour]
                         ) -> tuple[Neighbour | None, list[str]]:
        refused: list[str] = []
        read: list[Neighbour] = []
        for n in sorted(neighbours, key=lambda n: -n.similarity):
            if n.similarity < self.floor:
                refused.append("threshold")
                break  # the rest are further away still
            verdict = self._hard_check(question, n.question)
            if not verdict.ok:
                refused.append(verdict.reason)
                continue
            read.append(n)
            if len(read) == PAIR_READ_MAX:
                break
        assert self.pair_model is not None
        # Nearest first, one pair at a time (the model reads each pair alone anyway): most hits
        # end at the nearest, and the first accepted ends the reading.
        for n in read:
            p = self.pair_model.score_pairs([(n.question, question)])[0]
            # as a Python float: numpy would compare a float32 with p* in float32, so a
            # probability a hair under p* would pass here and not in calibration
            if float(p) >= self.p_min:
                return n, refused
            refused.append("pair")
        return None, refused


__all__ = ["DEFAULT_FLOOR", "DEFAULT_MARGIN", "DEFAULT_RERANK_WEIGHT", "DEFAULT_THRESHOLD",
           "DEFAULT_THRESHOLD_SAME", "NEGATION_OVERLAP", "REASONS", "PairScorer", "Verdict",
           "Verifier",
           "content_words", "names_in", "negated", "numbers", "overlap", "rephrased",
           "same_subject"]
