"""Readable, scoped cache keys.

A key reads ``namespace:vFORMAT:SCOPE:slug-of-the-question:HASH`` where

* ``namespace`` partitions tenants or features (``marketing``),
* ``vFORMAT`` is the cache-format version of the code that wrote the entry,
* ``SCOPE`` is a short hash of everything else that changes an answer: the answerer and
  model, its system prompt, and the knowledge-base version,
* the slug is the normalised question, truncated, so that globs such as
  ``marketing:*:*pricing*`` select entries by what they are about,
* ``HASH`` is a hash of the full normalised question (the slug may be truncated).
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
import unicodedata
from dataclasses import dataclass

SLUG_MAX_CHARS = 80
#: a namespace (also its OpenAPI ``pattern``)
NAMESPACE_REGEX = r"^[a-z0-9][a-z0-9_-]{0,62}$"
_NAMESPACE_RE = re.compile(NAMESPACE_REGEX[1:-1])
# Keep what changes the meaning of a question: letters, digits, currency, percent, and
# the separators inside a number ("1,200", "4.5"). Everything else is punctuation.
_NUMBER_SEP_RE = re.compile(r"(?<=\d)[.,](?=\d)")
_DROP_RE = re.compile(r"[^\w\s$€£¥%\x00]", re.UNICODE)  # \x00: a protected separator
_SPACE_RE = re.compile(r"\s+")
PATTERN_MAX_CHARS = 256
# A key pattern is made of: characters keys can hold (matched literally), the wildcards
# `*` (any run) and `?` (one character), and classes `[abc]`, `[a-z]`, `[!abc]` of such
# characters. Anything else (a space, a quote, `;`, `\\`, `^`, `{`, `/`, a control character,
# a '[' that opens no class, a stray ']') is refused, so no store syntax can reach a store.
# (escapes, not characters: the same text is read by Python and by JSON Schema validators;
# non-ASCII as one negated class, which fuzzers generate from quickly)
_PATTERN_LITERAL = r"A-Za-z0-9_:.$%\-\u00a3\u00a5"
_PATTERN_NON_ASCII = r"[^\x00-\xbf]"
#: the whole syntax as a regular expression (also the OpenAPI ``pattern`` of ``key_pattern``)
KEY_PATTERN_REGEX = (
    rf"^(?:[{_PATTERN_LITERAL}*?!]|{_PATTERN_NON_ASCII}"
    rf"|\[!?(?:[{_PATTERN_LITERAL}*?]|{_PATTERN_NON_ASCII})+\])+$"
)
_PATTERN_RE = re.compile(KEY_PATTERN_REGEX[1:-1])


class InvalidPattern(ValueError):
    """A key pattern that is empty, too long, or uses characters keys never contain."""


def normalise(text: str) -> str:
    """Case, width, whitespace and punctuation folded; numbers and currency kept."""
    t = unicodedata.normalize("NFKC", text).casefold().replace("\x00", " ")
    t = t.replace("’", "'").replace("'", "")
    t = _NUMBER_SEP_RE.sub("\x00", t)  # protect 1,200 and 4.5
    t = _DROP_RE.sub(" ", t)
    t = t.replace("\x00", ".")
    t = t.replace("_", " ")
    return _SPACE_RE.sub(" ", t).strip()


def slug(normalised: str) -> str:
    """The readable part of a key: words joined by '-', at most SLUG_MAX_CHARS."""
    s = normalised.replace(" ", "-").replace(":", "-")
    return s[:SLUG_MAX_CHARS].rstrip("-")


def validate_namespace(namespace: str) -> str:
    """``namespace`` if it is one (NAMESPACE_REGEX, nothing after it), else ValueError."""
    if not _NAMESPACE_RE.fullmatch(namespace):  # not match(): '$' also matches before a "\n"
        raise ValueError(
            "namespace must be 1-63 lowercase letters, digits, '-' or '_', starting with a"
            " letter or digit"
        )
    return namespace


@dataclass(frozen=True, slots=True)
class Scope:
    """Everything besides the question that decides which answer is right."""

    namespace: str
    format_version: int
    answerer: str  # e.g. "kb" or "llm:gpt-4o-mini"
    prompt_version: str  # hash of the system prompt
    kb_version: str  # hash of the knowledge base

    @property
    def digest(self) -> str:
        raw = f"{self.answerer}\x1f{self.prompt_version}\x1f{self.kb_version}"
        return hashlib.sha256(raw.encode()).hexdigest()[:10]

    @property
    def prefix(self) -> str:
        """The key prefix shared by every entry of this scope."""
        return f"{self.namespace}:v{self.format_version}:{self.digest}:"


def make_key(scope: Scope, question: str) -> tuple[str, str]:
    """Return ``(key, normalised_question)`` for a question in a scope."""
    norm = normalise(question)
    h = hashlib.sha256(norm.encode()).hexdigest()[:16]
    return f"{scope.prefix}{slug(norm) or 'empty'}:{h}", norm


def parse_pattern(key_pattern: str) -> str:
    """Turn the admin ``key_pattern`` into a glob over keys; ``all`` means every key.

    Only :data:`KEY_PATTERN_REGEX` is accepted (at most PATTERN_MAX_CHARS characters, no
    surrounding space), so a pattern can never carry SQL or Redis syntax through to a store.
    Raises InvalidPattern saying what is wrong.
    """
    p = key_pattern
    if not p:
        raise InvalidPattern("key_pattern is empty; use 'all' or a glob such as 'marketing:*'")
    if len(p) > PATTERN_MAX_CHARS:
        raise InvalidPattern(f"key_pattern is longer than {PATTERN_MAX_CHARS} characters")
    if p.lower() == "all":
        return "*"
    if not _PATTERN_RE.fullmatch(p):
        raise InvalidPattern(
            "key_pattern may hold only letters, digits and _ : - . $ % £ ¥ €, the wildcards"
            " * and ?, and classes such as [abc], [a-z] or [!abc]"
        )
    return p


def glob_matches(pattern: str, key: str) -> bool:
    """Case-sensitive glob match, the same semantics every store implements."""
    return fnmatch.fnmatchcase(key, pattern)
