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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..keys import normalise
from .index import Neighbour
from .lexicon import (
    asks_for,
    content_words,
    jaccard,
    names_in,
    negated,
    numbers,
    overlap,
    rephrased,
    same_subject,
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

REASONS = ("ok", "threshold", "numbers", "names", "asks", "negation", "entity", "ambiguous")


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
                 margin: float = DEFAULT_MARGIN) -> None:
        self.names = tuple(n for n in names if normalise(n))
        self.threshold = threshold
        self.threshold_same = min(threshold_same, threshold)
        self.rerank_weight = rerank_weight
        self.margin = margin

    def check(self, question: str, candidate: str, similarity: float) -> Verdict:
        """May ``candidate``'s answer be served for ``question`` at this cosine?"""
        if similarity < self.threshold_same:
            return Verdict(False, "threshold")
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
        cq, cc = content_words(question), content_words(candidate)
        # A negation changes the answer when it is the difference between two questions
        # about the same things; across different wordings it is usually rephrased
        # ("without streaming" / "in non-streaming mode").
        if negated(question) != negated(candidate) and jaccard(cq, cc) >= NEGATION_OVERLAP:
            return Verdict(False, "negation")
        # Below the main threshold only a pure rephrasing passes: measured on QQP, pairs
        # that merely share or add content words are no more often the same question.
        if similarity < self.threshold and not (
            cq == cc and content_words(question, fold=False) != content_words(
                candidate, fold=False)):
            return Verdict(False, "entity")
        return Verdict(True, "ok")

    def choose(self, question: str, neighbours: Sequence[Neighbour]
               ) -> tuple[Neighbour | None, list[str]]:
        """The neighbour to serve, or None; and the reasons candidates were refused."""
        refused: list[str] = []
        passed: list[tuple[float, Neighbour]] = []
        cq = content_words(question)
        for n in sorted(neighbours, key=lambda n: -n.similarity):
            verdict = self.check(question, n.question, n.similarity)
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




__all__ = ["DEFAULT_MARGIN", "DEFAULT_RERANK_WEIGHT", "DEFAULT_THRESHOLD",
           "DEFAULT_THRESHOLD_SAME", "NEGATION_OVERLAP", "REASONS", "Verdict", "Verifier",
           "content_words", "names_in", "negated", "numbers", "overlap", "rephrased",
           "same_subject"]
