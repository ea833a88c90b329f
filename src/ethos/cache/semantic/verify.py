"""The verifier: may a stored answer be served for a new question? Pure functions.

The nearest neighbour in embedding space is only a candidate. Sentence embeddings are
close for questions that share a topic but ask different things ("pricing for enterprise"
and "pricing for startups", a question and its negation), and a wrong answer costs more
than a miss. So a candidate is served only when

1. the two questions agree on everything that changes the answer:
   * **numbers and amounts** (``5 users`` is not ``50 users``; ``$10`` is not ``€10``);
     a stored question naming no number is general and may serve one that does;
   * **plan and product names** of the knowledge base (``Team`` is not ``Business``);
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

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from ..keys import normalise
from .index import Neighbour

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

REASONS = ("ok", "threshold", "numbers", "names", "negation", "entity", "ambiguous")

_NEGATIONS = frozenset(
    "not no non never nobody nothing nowhere neither nor without cannot cant dont doesnt"
    " didnt isnt arent wasnt werent wont wouldnt shouldnt couldnt hasnt havent hadnt"
    " aint mustnt neednt".split()
)
_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        "zero _ two three four five six seven eight nine ten eleven twelve thirteen"
        " fourteen fifteen sixteen seventeen eighteen nineteen twenty".split()
    )
    if w != "_"  # "one" is mostly a pronoun ("which one"), so it is not read as 1
}
_NUMBER_WORDS.update({"thirty": "30", "forty": "40", "fifty": "50", "sixty": "60",
                      "seventy": "70", "eighty": "80", "ninety": "90", "hundred": "100",
                      "hundreds": "100", "thousand": "1000", "thousands": "1000",
                      "million": "1e6", "millions": "1e6", "billion": "1e9",
                      "billions": "1e9", "dozen": "12", "dozens": "12", "half": "0.5",
                      "twice": "2", "double": "2", "triple": "3"})
_NUMBER_RE = re.compile(r"\d+(?:\.\d+)?")
_CURRENCIES = {
    "$": "usd", "usd": "usd", "dollar": "usd", "dollars": "usd", "€": "eur", "eur": "eur",
    "euro": "eur", "euros": "eur", "£": "gbp", "gbp": "gbp", "pound": "gbp", "pounds": "gbp",
    "¥": "jpy", "yen": "jpy", "jpy": "jpy", "inr": "inr", "rupee": "inr", "rupees": "inr",
    "rs": "inr", "%": "percent", "percent": "percent",
}
_CURRENCY_RE = re.compile(r"[$€£¥%]|\b(?:" + "|".join(
    sorted((k for k in _CURRENCIES if k.isalpha()), key=len, reverse=True)) + r")\b")

# Phrases folded into one concept before content words are compared: different words,
# same question. Kept small and general; the embedding does the rest.
_CONCEPTS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p), c)
    for p, c in (
        (r"\bhow much\b|\bhow expensive\b|\bprices?\b|\bpricing\b|\bpriced\b|\bcosts?\b"
         r"|\bcosting\b|\bfees?\b|\bcharges?\b", " price "),
        (r"\bsubscriptions?\b|\btiers?\b|\bplans?\b", " plan "),
        (r"\bhow do i\b|\bhow can i\b|\bhow to\b|\bways? to\b|\bhow should i\b"
         r"|\bwhat should i do to\b|\bwhat can i do to\b|\bsteps? to\b", " "),
        (r"\bbest\b|\bgood\b|\bgreat\b|\btop\b|\bideal\b|\bgreatest\b|\bfinest\b", " best "),
        (r"\bworst\b|\bbad\b|\bterrible\b", " worst "),
    )
)

_STOPWORDS = frozenset(
    """a an the and or but if then so of to in on at by for with about from into onto over
    under as than this that these those it its is are was were be been being am do does did
    doing done have has had having can could will would shall should may might must i me my
    mine we us our ours you your yours he him his she her they them their what which who whom
    whose when where why how there here some any each every all both more most other such
    only own same just also very really quite too much many lot lots get got getting make
    made one ones someone something anything thing things way ways possible actually ever
    people person please tell know want need like anyone anybody someone else whats hows
    whos im ive id youre theres thats""".split()
)


def _stemmer():
    import Stemmer  # PyStemmer: Snowball English, in C

    return Stemmer.Stemmer("english")


_STEM = _stemmer()


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return _STEM.stemWord(word)


@dataclass(frozen=True, slots=True)
class Verdict:
    """``ok``, or why the candidate was refused (one of :data:`REASONS`)."""

    ok: bool
    reason: str


def numbers(text: str) -> frozenset[str]:
    """The numbers (digits or number words) and currency/percent units a question names."""
    t = normalise(text)
    found = {_canon_number(m) for m in _NUMBER_RE.findall(t)}
    found |= {_NUMBER_WORDS[w] for w in t.split() if w in _NUMBER_WORDS}
    found |= {"unit:" + _CURRENCIES[m] for m in _CURRENCY_RE.findall(t)}
    return frozenset(found)


def _canon_number(s: str) -> str:
    # Trailing zeros stay: normalise() writes "1,200" and "1.2" alike as "1.200"/"1.2",
    # and those must differ. "1.50" against "1.5" is then a miss, never a wrong answer.
    return s.lstrip("0") or "0"


def negated(text: str) -> bool:
    """True when the text carries an odd number of negations.

    A leading "yes"/"no" that answers something else and "not only" do not negate, so
    neither counts. ("none" is left out: in technical text it is mostly the value None.)
    """
    words = normalise(text).split()
    # "No, it doesn't exist": the "no" answers, the rest negates. "No alternative is
    # mentioned" negates by its "no". Tell them apart by a second negation.
    if len(words) > 1 and words[0] == "yes" or (
        words[:1] == ["no"] and any(w in _NEGATIONS for w in words[1:])
    ):
        words = words[1:]
    n = 0
    for i, w in enumerate(words):
        if w in _NEGATIONS and not (w == "not" and i + 1 < len(words)
                                    and words[i + 1] in ("only", "just")):
            n += 1
    return n % 2 == 1


def names_in(text: str, names: Iterable[str]) -> frozenset[str]:
    """Which of the knowledge base's plan/product ``names`` the question mentions."""
    t = f" {normalise(text)} "
    return frozenset(n for n in names if f" {normalise(n)} " in t)


def content_words(text: str, *, fold: bool = True) -> frozenset[str]:
    """What the question is about: stemmed words left after function words and numbers,
    with the synonyms of the concept table folded into one word unless ``fold`` is off."""
    t = f" {normalise(text)} "
    if fold:
        for pattern, concept in _CONCEPTS:
            t = pattern.sub(concept, t)
    return frozenset(
        _stem(w) for w in t.split()
        if w not in _STOPWORDS and w not in _NEGATIONS and not _NUMBER_RE.fullmatch(w)
        and w not in _NUMBER_WORDS
    )


def rephrased(a: str, b: str) -> bool:
    """True when the two questions use the same content words once the concept table's
    synonyms are folded ("how much" / "pricing" / "cost"), and differ only by those."""
    ca, cb = content_words(a), content_words(b)
    return bool(ca) and ca == cb and content_words(a, fold=False) != content_words(
        b, fold=False)


def same_subject(a: str, b: str) -> bool:
    """True when the content words are the same, or one side only adds to the other."""
    ca, cb = content_words(a), content_words(b)
    return ca <= cb or cb <= ca


def overlap(a: str, b: str) -> float:
    """Jaccard overlap of the two questions' content words (0 to 1)."""
    ca, cb = content_words(a), content_words(b)
    return len(ca & cb) / len(ca | cb) if ca | cb else 1.0


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
        cq, cc = content_words(question), content_words(candidate)
        # A negation changes the answer when it is the difference between two questions
        # about the same things; across different wordings it is usually rephrased
        # ("without streaming" / "in non-streaming mode").
        if negated(question) != negated(candidate) and _jaccard(cq, cc) >= NEGATION_OVERLAP:
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
                score = n.similarity + self.rerank_weight * _jaccard(
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


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0
