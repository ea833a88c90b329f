"""Context words: the few words around a candidate that say what it is.

A nine-digit number may be a tax file number, a company number or nothing; a date is a
date of birth only when the writer says so. The closest keyword before the candidate
(within :data:`WINDOW` characters) decides; a keyword just after it is the fallback.
Keywords are matched as word prefixes in the lowercased window by one trie regex.
"""

from __future__ import annotations

import re

from .words import alternation

#: how far before a candidate we look for a keyword (characters)
WINDOW = 48
#: how far after a candidate ("123 456 782 is my TFN")
WINDOW_AFTER = 24

KEYWORDS: dict[str, tuple[str, ...]] = {
    "AU_TFN": ("tfn", "tax file"),
    "AU_ACN": ("acn", "company number", "company no", "australian company"),
    "AU_ABN": ("abn", "business number", "business no", "australian business"),
    "AU_MEDICARE": ("medicare",),
    "US_SSN": ("ssn", "social security", "soc sec"),
    "AU_PASSPORT": ("passport",),
    "AU_DRIVERS_LICENCE": ("licence", "license", "licen", "dl", "driver's", "drivers",
                           "driver", "rego"),
    "DATE_OF_BIRTH": ("born", "dob", "d.o.b", "date of birth", "birth date", "birthdate",
                      "birthday", "bday", "b'day", "birth"),
    "CREDIT_CARD": ("card", "visa", "mastercard", "amex", "cc"),
    "PHONE_NUMBER": ("phone", "telephone", "mobile", "mob", "cell", "call", "ring", "tel",
                     "ph", "landline", "text", "sms", "whatsapp", "contact", "reach me",
                     "fax", "number"),
    "STREET_ADDRESS": ("address", "live at", "live in", "located at", "deliver", "ship",
                       "send", "post", "office is at", "office at", "moved to", "move to",
                       "at"),
}
_KIND = {w: entity for entity, words in KEYWORDS.items() for w in words}
_RE = re.compile(alternation(set(_KIND), word_start=True))


def _hits(text: str, a: int, b: int) -> list[tuple[int, int, str]]:
    window = text[a:b].lower()
    return [(a + m.start(), a + m.end(), _KIND[" ".join(m.group().split())])
            for m in _RE.finditer(window)]


def context_before(text: str, start: int, window: int = WINDOW) -> str | None:
    """The entity named by the keyword closest before ``start``, or None.

    "number" alone is weak: it only names a phone when nothing more specific is near.
    """
    found = None
    for _, _, entity in _hits(text, max(0, start - window), start):
        if entity == "PHONE_NUMBER" and found not in (None, "PHONE_NUMBER", "STREET_ADDRESS"):
            continue
        found = entity
    return found


def has_context(text: str, start: int, end: int, entity: str, window: int = WINDOW) -> bool:
    """True when a keyword for ``entity`` is within ``window`` chars before or a few after."""
    for s, e, ent in _hits(text, max(0, start - window), min(len(text), end + WINDOW_AFTER)):
        if ent == entity and (e <= start or s >= end):
            return True
    return False
