"""The knowledge base: markdown documents split into passages, ranked with BM25.

Each ``##`` section of a document is one passage. The knowledge-base version is a hash of
every document, so a changed document changes the cache scope of every answer.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

_HEADING_RE = re.compile(r"^(#{1,3})\s+(.*)$")
_PLAN_RE = re.compile(r"^([A-Z][A-Za-z]+) plan$")
# Questions say "how much"; documents say "costs" and "price".
_EXPANSIONS = {
    "much": "cost price", "cost": "price", "price": "cost", "pricing": "cost price",
    "sso": "single sign-on saml", "gdpr": "privacy compliance",
}
# A passage whose title the question names outright ("the Team plan") ranks first.
_TITLE_NAMED_BOOST = 1.5
# Ranking: titles count three times; weak length normalisation because passages are short
# sections of similar size and the long ones are the complete ones.
_TITLE_WEIGHT = 3
_BM25_B = 0.4


@dataclass(frozen=True, slots=True)
class Passage:
    source: str  # document file name
    title: str
    text: str


@dataclass(frozen=True, slots=True)
class Hit:
    passage: Passage
    score: float


def _split(source: str, markdown: str) -> list[Passage]:
    passages: list[Passage] = []
    title, doc_title = "", ""
    lines: list[str] = []

    def flush() -> None:
        body = " ".join(" ".join(lines).split())
        if body:
            passages.append(Passage(source, title or doc_title, body))

    for line in markdown.splitlines():
        m = _HEADING_RE.match(line)
        if m:
            flush()
            lines = []
            if len(m.group(1)) == 1:
                doc_title = m.group(2).strip()
                title = doc_title
            else:
                title = m.group(2).strip()
        else:
            lines.append(line.strip())
    flush()
    return passages


class KnowledgeBase:
    """Passages of a folder of markdown documents, searchable with BM25."""

    def __init__(self, documents: dict[str, str]) -> None:
        if not documents:
            raise ValueError("the knowledge base has no documents")
        self.documents = dict(sorted(documents.items()))
        digest = hashlib.sha256()
        for name, text in self.documents.items():
            digest.update(name.encode() + b"\0" + text.encode() + b"\0")
        self.version = digest.hexdigest()[:12]
        self.passages = [p for name, text in self.documents.items() for p in _split(name, text)]
        self._bm25: Any | None = None  # a bm25s.BM25, built by warm() (bm25s ships no types)
        self._lock = threading.Lock()

    def warm(self) -> None:
        """Build the ranking index now (it is otherwise built by the first search).

        bm25s pulls in numpy and scipy, which take most of a second to import; the service
        calls this off the start-up path so that it is healthy at once.
        """
        with self._lock:
            if self._bm25 is not None:
                return
            import bm25s

            from ..text import stemmer

            self._bm25s = bm25s
            self._stemmer = stemmer()
            corpus = [" ".join([p.title] * _TITLE_WEIGHT + [p.text]) for p in self.passages]
            index = bm25s.BM25(b=_BM25_B)
            index.index(self._tokenize(corpus), show_progress=False)
            self._bm25 = index

    def _tokenize(self, texts: list[str], *, as_strings: bool = False):
        # Queries go in as strings: token ids of a fresh tokenisation would not match the
        # index's vocabulary.
        return self._bm25s.tokenize(
            texts, stopwords="en", stemmer=self._stemmer, show_progress=False,
            return_ids=not as_strings,
        )

    @classmethod
    def bundled(cls) -> KnowledgeBase:
        root = resources.files("ethos.agent") / "kb"
        docs = {p.name: p.read_text(encoding="utf-8") for p in root.iterdir() if p.name.endswith(".md")}
        return cls(docs)

    @classmethod
    def from_dir(cls, path: Path) -> KnowledgeBase:
        if not path.is_dir():
            raise ValueError(f"knowledge-base directory {path} does not exist")
        docs = {p.name: p.read_text(encoding="utf-8") for p in sorted(path.glob("*.md"))}
        return cls(docs)

    def search(self, query: str, k: int = 3) -> list[Hit]:
        if self._bm25 is None:
            self.warm()
        index = self._bm25
        if index is None:  # warm() always builds it
            raise RuntimeError("the knowledge-base index was not built")
        words = query.lower().split()
        query = " ".join(words + [_EXPANSIONS[w.strip("?.,!")] for w in words
                                  if w.strip("?.,!") in _EXPANSIONS])
        tokens = self._tokenize([query], as_strings=True)
        if not tokens or not tokens[0]:
            return []
        idx, scores = index.retrieve(
            tokens, k=min(k + 3, len(self.passages)), show_progress=False
        )
        lowered = query.lower()
        hits = []
        for i, s in zip(idx[0], scores[0], strict=True):
            if s <= 0:
                continue
            p = self.passages[int(i)]
            boost = _TITLE_NAMED_BOOST if p.title.lower() in lowered else 1.0
            hits.append(Hit(p, float(s) * boost))
        hits.sort(key=lambda h: -h.score)
        return hits[:k]

    def plan_names(self) -> list[str]:
        """Plan names, from headings such as ``## Team plan``."""
        names = []
        for p in self.passages:
            m = _PLAN_RE.match(p.title)
            if m:
                names.append(m.group(1))
        return names

    def product_names(self) -> list[str]:
        """Integration and product names, from headings such as ``## CRM integrations: A and B``."""
        names: list[str] = []
        for p in self.passages:
            if ":" in p.title:
                tail = p.title.split(":", 1)[1]
                for part in re.split(r",|\band\b", tail):
                    part = part.strip()
                    if part and part[0].isupper():
                        names.append(part)
        return names
