"""Admission: which answered exchanges may be stored and shared with the next user.

A decision is a pure function of the exchange and a list of gates; each gate is a small
callable returning a :class:`Rejection` or None. The first rejection wins. The PII and
quality gates join the completeness gate defined here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

#: finish reasons of a complete answer
COMPLETE_FINISH_REASONS = frozenset({"stop"})


@dataclass(frozen=True, slots=True)
class Exchange:
    """One answered question, as admission sees it."""

    question: str  # the raw user message
    reply: str
    answerer: str  # "kb" or "llm:MODEL"
    finish_reason: str = "stop"  # stop | length | error | fallback | content_filter
    sources: tuple[str, ...] = ()
    source_texts: tuple[str, ...] = ()  # the passages the answer was grounded on
    retrieval_score: float | None = None  # best retrieval score (knowledge-base answerer)
    session_dependent: bool = False  # depends on earlier turns of a conversation
    extra: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why an exchange is not stored: the gate, a short machine reason, and detail."""

    gate: str  # completeness | pii | quality | request
    reason: str
    detail: str = ""


Gate = Callable[[Exchange], "Rejection | None"]


def completeness_gate(ex: Exchange) -> Rejection | None:
    """Only complete, non-empty, non-error answers."""
    if not ex.reply.strip():
        return Rejection("completeness", "empty", "the answer is empty")
    if ex.finish_reason == "error":
        return Rejection("completeness", "error", "the answerer reported an error")
    if ex.finish_reason == "fallback":
        return Rejection("completeness", "fallback", "the answer is the fallback text")
    if ex.finish_reason not in COMPLETE_FINISH_REASONS:
        return Rejection(
            "completeness", "truncated", f"finish_reason={ex.finish_reason}"
        )
    return None


def decide(ex: Exchange, gates: Sequence[Gate]) -> Rejection | None:
    """The first gate that rejects, or None when the exchange may be stored."""
    for gate in gates:
        r = gate(ex)
        if r is not None:
            return r
    return None


DEFAULT_GATES: tuple[Gate, ...] = (completeness_gate,)
