"""Answerers: the embedded knowledge-base answerer and any OpenAI-compatible LLM."""

from .base import Answer, Answerer, AnswererError, AnswererTimeout
from .kb_answerer import KnowledgeBaseAnswerer
from .knowledge import KnowledgeBase
from .llm import OpenAICompatibleAnswerer

__all__ = [
    "Answer",
    "Answerer",
    "AnswererError",
    "AnswererTimeout",
    "KnowledgeBase",
    "KnowledgeBaseAnswerer",
    "OpenAICompatibleAnswerer",
]
