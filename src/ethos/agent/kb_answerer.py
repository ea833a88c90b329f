"""The embedded answerer: replies from the bundled knowledge base, offline."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import AsyncIterator

from .base import FALLBACK_TEXT as FALLBACK_TEXT  # re-exported: the reply of an abstention
from .base import Answer, abstention
from .grounding import Embed, Grounding
from .knowledge import KnowledgeBase

#: BM25 score under which no passage is trusted to answer, whatever the grounding judges
MIN_ANSWER_SCORE = 1.0
#: a second passage is added when it scores at least this share of the best one
SECOND_PASSAGE_SHARE = 0.9
#: version of the way replies are composed; part of the cache scope
COMPOSER_VERSION = "kb-2"
#: words per streamed chunk
STREAM_CHUNK_WORDS = 4


class KnowledgeBaseAnswerer:
    """Answers with the best-ranked passages of the knowledge base and names their sources."""

    id = "kb"

    def __init__(self, kb: KnowledgeBase | None = None, *, embed: Embed | None = None,
                 grounding: Grounding | None = None) -> None:
        """``embed``: the sentence embedding model (texts -> unit rows; may return None while
        it loads) that :class:`Grounding` judges with; without it, words and BM25 alone."""
        self.kb = kb or KnowledgeBase.bundled()
        self.kb_version = self.kb.version
        self.prompt_version = hashlib.sha256(COMPOSER_VERSION.encode()).hexdigest()[:8]
        self.grounding = grounding or Grounding(self.kb, embed)
        # compose() runs in worker threads (it embeds the question: milliseconds of CPU that
        # would hold up the event loop); the stemmers it uses are not thread-safe
        self._compose_lock = threading.Lock()

    def _compose_in_thread(self, question: str) -> Answer:
        with self._compose_lock:
            return self.compose(question)

    def compose(self, question: str) -> Answer:
        hits = self.kb.search(question, k=3)
        best = hits[0].score if hits else 0.0
        if not hits or best < MIN_ANSWER_SCORE or not self.grounding.judge(question, hits).grounded:
            return abstention(best)
        chosen = [hits[0]]
        for h in hits[1:2]:
            if h.score >= SECOND_PASSAGE_SHARE * hits[0].score and h.passage.text not in (
                c.passage.text for c in chosen
            ):
                chosen.append(h)
        text = "\n\n".join(h.passage.text for h in chosen)
        sources = list(dict.fromkeys(h.passage.source for h in chosen))
        return Answer(
            text,
            sources=sources,
            retrieval_score=hits[0].score,
            source_texts=[h.passage.text for h in chosen],
        )

    async def answer(self, question: str) -> Answer:
        return await asyncio.to_thread(self._compose_in_thread, question)

    async def stream(self, question: str) -> AsyncIterator[str | Answer]:
        ans = await asyncio.to_thread(self._compose_in_thread, question)
        for chunk in chunk_text(ans.text):
            yield chunk
        yield ans

    async def aclose(self) -> None:
        return None


def chunk_text(text: str, words: int = STREAM_CHUNK_WORDS) -> list[str]:
    """Split a reply into stream chunks that concatenate back to exactly ``text``."""
    parts = text.split(" ")
    chunks = []
    for i in range(0, len(parts), words):
        piece = " ".join(parts[i : i + words])
        chunks.append(piece if i + words >= len(parts) else piece + " ")
    return chunks or [""]
