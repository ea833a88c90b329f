"""What every answerer provides, and how it fails."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol


class AnswererError(Exception):
    """The answerer could not answer. ``status`` is the HTTP status to give the client."""

    def __init__(self, message: str, *, status: int = 502, retryable: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable


class AnswererTimeout(AnswererError):
    def __init__(self, message: str) -> None:
        super().__init__(message, status=504, retryable=True)


#: the reply when the knowledge base does not answer the question (an abstention): what the
#: assistant can help with, and how to reach sales and support
FALLBACK_TEXT = (
    "I can't answer that from what I know about EthosPrompt. I can help with our plans and"
    " pricing, features, integrations, security and privacy, and support. For anything else,"
    " our team can help: sales@ethosprompt.com for sales, support@ethosprompt.com or"
    " 1300 384 677 (+61 2 8000 4000 from overseas) for support."
)


@dataclass(slots=True)
class Answer:
    """A complete answer with what grounded it."""

    text: str
    sources: list[str] = field(default_factory=list)
    finish_reason: str = "stop"  # stop | length | fallback | content_filter
    retrieval_score: float | None = None
    source_texts: list[str] = field(default_factory=list)

    @property
    def grounded(self) -> bool:
        """False for an abstention: the knowledge base does not answer the question, and the
        reply is the honest fallback (never stored in the cache: its finish reason says so)."""
        return self.finish_reason != "fallback"


def abstention(retrieval_score: float | None = None) -> Answer:
    """The honest fallback: no sources, never cached."""
    return Answer(FALLBACK_TEXT, finish_reason="fallback", retrieval_score=retrieval_score)


class Answerer(Protocol):
    """Answers marketing questions. ``id``, ``prompt_version`` and ``kb_version`` scope the cache."""

    id: str
    prompt_version: str
    kb_version: str

    async def answer(self, question: str) -> Answer: ...

    def stream(self, question: str) -> AsyncIterator[str | Answer]:
        """Yield text deltas as they come, then the complete :class:`Answer` last."""
        ...

    async def aclose(self) -> None: ...
