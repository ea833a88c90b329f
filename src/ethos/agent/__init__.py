"""Answerers: the embedded knowledge-base answerer and any OpenAI-compatible LLM."""

from .base import Answer, Answerer, AnswererError, AnswererTimeout
from .kb_answerer import KnowledgeBaseAnswerer
from .knowledge import KnowledgeBase


def __getattr__(name: str):
    # httpx (and what it imports) is only needed when a real LLM is configured.
    if name == "OpenAICompatibleAnswerer":
        from .llm import OpenAICompatibleAnswerer

        return OpenAICompatibleAnswerer
    raise AttributeError(name)


__all__ = [
    "Answer",
    "Answerer",
    "AnswererError",
    "AnswererTimeout",
    "KnowledgeBase",
    "KnowledgeBaseAnswerer",
    "OpenAICompatibleAnswerer",
]
