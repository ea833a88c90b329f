"""The allow-list: contact details we publish ourselves are not a user's PII.

Items are compared in a normal form, so ``1300 384 677``, ``1300-384-677`` and
``+61 1300 384 677`` are one entry, and e-mail addresses ignore case.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from functools import lru_cache

_NON_DIGIT = re.compile(r"\D+")
_BLANKS = re.compile(r"\s+")

#: the knowledge base's own contacts
DEFAULT_ALLOW: tuple[str, ...] = (
    "support@ethosprompt.com",
    "sales@ethosprompt.com",
    "privacy@ethosprompt.com",
    "1300 384 677",
    "+61 2 8000 4000",
)
#: comma-separated extra items
ENV_VAR = "ETHOS_PII_ALLOW"


def normalise(value: str) -> str:
    """The comparison form: e-mails lowercased, numbers as national digits, else words."""
    v = value.strip()
    if "@" in v:
        return v.lower()
    digits = _NON_DIGIT.sub("", v)
    if digits and len(digits) * 2 >= len(_BLANKS.sub("", v)):
        # "61 2 8000 4000": "+61 2 8000 4000" with its "+" folded away (cache keys)
        folded_plus = len(digits) in (11, 12) and digits.startswith("61") and v[:1].isdigit()
        if v.lstrip().startswith(("+61", "0061")) or folded_plus:
            digits = digits[2:] if digits.startswith("61") else digits[4:]
            digits = digits if digits.startswith("0") else "0" + digits
            if digits.startswith(("01300", "01800", "013")):
                digits = digits[1:]
        return digits
    return " ".join(v.lower().split())


_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def fold_email(value: str) -> str:
    """An address as the cache keeps it ("support@ethosprompt.com" -> "support ethosprompt
    com"; "support at ethosprompt dot com" -> the same): how folded findings are compared."""
    words = _NON_ALNUM.sub(" ", value.lower()).split()
    if "@" not in value and len(words) > 3:
        words = [w for i, w in enumerate(words) if w not in ("at", "dot") or i == 0]
    return " ".join(words)


@lru_cache(maxsize=32)
def _compile(items: tuple[str, ...]) -> frozenset[str]:
    out = {normalise(i) for i in items if i.strip()}
    out |= {fold_email(i) for i in items if "@" in i}
    return frozenset(out)


@lru_cache(maxsize=4)
def _default(env_value: str) -> frozenset[str]:
    extra = tuple(s for s in env_value.split(",") if s.strip())
    return _compile(DEFAULT_ALLOW + extra)


def allow_set(allow: Iterable[str] | None = None) -> frozenset[str]:
    """The normalised allow-list: ``allow`` as given, or the default plus ``$ETHOS_PII_ALLOW``."""
    if allow is None:
        return _default(os.environ.get(ENV_VAR, ""))
    if isinstance(allow, frozenset) and all(isinstance(x, str) for x in allow):
        return _compile(tuple(sorted(allow)))
    return _compile(tuple(allow))
