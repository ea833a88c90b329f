"""Does the knowledge base answer this question? The answerers' abstention rule.

BM25 ranks passages, but its score says how many rare words a question shares with a
passage, not whether the passage answers it: "Is there an Android app?" shares "app" with the
Zapier paragraph. So a question is judged *grounded* from five features, weighed by a logistic
model fitted on the dev half of ``bench/data/groundedness.json`` (``bench/groundedness.py --fit``
prints the weights below and the figures on the held-out test half):

- ``cos_unit``: the best cosine between the question and one sentence of a passage (with its
  title), from the sentence embedding model (all-MiniLM-L6-v2, trained on question/answer
  pairs among others);
- ``cos_passage``: the best cosine between the question and a whole passage;
- ``bm25``: the best BM25 score, ``log1p``;
- ``covered``: the share of the question's content words (stemmed, stop words out) that occur
  anywhere in the knowledge base;
- ``unknown``: how many of its content words occur nowhere in it (at most 3): a question about
  Kubernetes, Android or the weather names what the knowledge base never mentions.

The embedding function is given by the caller (the service passes the semantic tier's model),
so this module loads no model itself; without one, the two cosine features are left out and a
second set of weights, fitted the same way without them, decides.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..text import STOPWORDS as BASE_STOPWORDS
from .knowledge import Hit, KnowledgeBase, Passage

#: texts -> L2-normalised float32 rows (the sentence embedding model), or None while the
#: model is not loaded
Embed = Callable[[list[str]], "np.ndarray | None"]

FEATURES = ("cos_unit", "cos_passage", "bm25", "covered", "unknown")
FEATURES_NO_EMBEDDING = ("bm25", "covered", "unknown")
#: fitted by ``bench/groundedness.py --fit`` on the dev half (see the module docstring)
WEIGHTS: dict[str, float] = {
    "bias": -2.763, "cos_unit": 3.377, "cos_passage": -0.414, "bm25": 0.598, "covered": 1.574,
    "unknown": -0.371,
}
WEIGHTS_NO_EMBEDDING: dict[str, float] = {
    "bias": -1.644, "bm25": 1.084, "covered": 1.367, "unknown": -0.467,
}
#: probability of being answerable under which the answerer abstains: the highest that sends at
#: most 3 % of dev's answerable questions to the fallback
THRESHOLD = 0.2764
THRESHOLD_NO_EMBEDDING = 0.2207

_WORD_RE = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_SENTENCE_RE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9])")
#: words that carry no topic: the verifier's, and chat's greetings, negations, the product's name
STOPWORDS = BASE_STOPWORDS | frozenset(
    """hi hello hey thanks thank ok okay yes no not dont doesnt isnt arent cant wont didnt
    there's it's i'm what's don't doesn't isn't can't won't let lets ethosprompt ethos offer
    offers provide provides available use using used able go going currently still already
    now""".split()
)


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether the knowledge base answers the question, with what was weighed."""

    grounded: bool
    probability: float
    features: dict[str, float]


def _stemmer() -> Callable[[str], str]:
    from ..text import stemmer

    return stemmer().stemWord


def content_words(text: str, stem: Callable[[str], str]) -> list[str]:
    """The question's topic words, stemmed, in order, each once."""
    out: list[str] = []
    for w in _WORD_RE.findall(text.lower()):
        w = w.split("'")[0]
        if w and w not in STOPWORDS and not w.isdigit():
            s = stem(w)
            if s not in out:
                out.append(s)
    return out


def sentences(passage: Passage) -> list[str]:
    """The passage cut at sentence ends, each prefixed with its title (the title says what
    "it" is about)."""
    parts = [p.strip() for p in _SENTENCE_RE.split(passage.text) if p.strip()]
    return [f"{passage.title}: {p}" for p in parts] or [passage.title]


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x > -60 else 0.0


class Grounding:
    """Judges questions against one knowledge base. Thread-safe; the passages' vectors are
    computed once, by :meth:`warm` or, while :attr:`warm_on_use` is true, on the first
    judgement the model can serve."""

    def __init__(self, kb: KnowledgeBase, embed: Embed | None = None, *,
                 weights: dict[str, float] | None = None,
                 weights_no_embedding: dict[str, float] | None = None,
                 threshold: float = THRESHOLD,
                 threshold_no_embedding: float = THRESHOLD_NO_EMBEDDING) -> None:
        self.kb = kb
        self.embed = embed
        self.weights = dict(weights or WEIGHTS)
        self.weights_no_embedding = dict(weights_no_embedding or WEIGHTS_NO_EMBEDDING)
        for w, names in ((self.weights, FEATURES), (self.weights_no_embedding, FEATURES_NO_EMBEDDING)):
            missing = [f for f in ("bias", *names) if f not in w]
            if missing:
                raise ValueError(f"grounding weights lack {', '.join(missing)}")
        self.threshold = threshold
        self.threshold_no_embedding = threshold_no_embedding
        self._stem = _stemmer()
        self.vocabulary = frozenset(
            w for p in kb.passages for w in content_words(f"{p.title} {p.text}", self._stem))
        #: embed the knowledge base inside the first judgement that can (about 1.5 s of CPU
        #: on two cores). The service turns it off and warms in the background instead, so
        #: that no request pays for it; judgements until then go without the cosines.
        self.warm_on_use = True
        self._lock = threading.Lock()
        self._units: np.ndarray | None = None  # sentence vectors
        self._passages: np.ndarray | None = None  # passage vectors

    def _vectors(self, texts: list[str]) -> np.ndarray | None:
        if self.embed is None:
            return None
        out = self.embed(texts)
        return None if out is None else np.asarray(out, dtype=np.float32)

    def warm(self, *, wait: bool = True) -> bool:
        """Embed the knowledge base's sentences and passages now (about 1.5 s on 2 cores);
        False while there is no model to do it with, or, with ``wait=False``, while another
        thread is doing it (a judgement then goes without the cosines rather than wait)."""
        if self._units is not None:
            return True
        if not self._lock.acquire(blocking=wait):
            return False
        try:
            if self._units is not None:
                return True
            units = self._vectors([u for p in self.kb.passages for u in sentences(p)])
            whole = self._vectors([f"{p.title}: {p.text}" for p in self.kb.passages])
            if units is None or whole is None:
                return False
            self._passages, self._units = whole, units  # _units last: it says "warm"
            return True
        finally:
            self._lock.release()

    def measure(self, question: str, hits: Sequence[Hit]) -> dict[str, float]:
        """The features of ``question`` given its BM25 ``hits``; the cosine ones only when
        the model answers."""
        words = content_words(question, self._stem)
        known = [w for w in words if w in self.vocabulary]
        f = {
            "bm25": math.log1p(max((h.score for h in hits), default=0.0)),
            "covered": len(known) / len(words) if words else 0.0,
            "unknown": float(min(3, len(words) - len(known))),
        }
        if self._units is not None or (self.warm_on_use and self.warm(wait=False)):
            q = self._vectors([question])
            if q is not None:
                assert self._units is not None and self._passages is not None
                f["cos_unit"] = float(np.max(self._units @ q[0]))
                f["cos_passage"] = float(np.max(self._passages @ q[0]))
        return f

    def probability(self, features: dict[str, float]) -> float:
        """P(answerable), with the model's features when they are there."""
        w = self.weights if "cos_unit" in features else self.weights_no_embedding
        names = FEATURES if "cos_unit" in features else FEATURES_NO_EMBEDDING
        return _sigmoid(w["bias"] + sum(w[k] * features[k] for k in names))

    def judge(self, question: str, hits: Sequence[Hit]) -> Verdict:
        f = self.measure(question, hits)
        p = self.probability(f)
        t = self.threshold if "cos_unit" in f else self.threshold_no_embedding
        return Verdict(p >= t, p, f)


__all__ = ["Grounding", "Verdict", "FEATURES", "FEATURES_NO_EMBEDDING", "WEIGHTS",
           "WEIGHTS_NO_EMBEDDING", "THRESHOLD", "content_words", "sentences", "Embed"]
