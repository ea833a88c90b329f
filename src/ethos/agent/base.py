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


@dataclass(slots=True)
class Answer:
    """A complete answer with what grounded it."""

    text: str
    sources: list[str] = field(default_factory=list)
    finish_reason: str = "stop"  # stop | length | fallback | content_filter
    retrieval_score: float | None = None
    source_texts: list[str] = field(default_factory=list)


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
