"""Context words: the few words around a candidate that say what it is.

A nine-digit number may be a tax file number, a company number or nothing; a date is a
date of birth only when the writer says so. The closest keyword before the candidate
(within :data:`WINDOW` characters) decides; a keyword just after it is the fallback.
Keywords are matched as word prefixes in the lowercased window by one trie regex.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from functools import cache

from .words import alternation

VERSION = "_VERSION"
#: keywords that name something only when nothing more specific is near
WEAK = frozenset({"number", "post", "send"})

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
    "AU_DRIVERS_LICENCE": ("licence", "license", "licences", "dl", "driver's", "drivers",
                           "driver", "rego"),
    "DATE_OF_BIRTH": ("born", "dob", "d.o.b", "d o b", "date of birth", "birth date", "birthdate",
                      "birthday", "bday", "b'day", "birth"),
    "CREDIT_CARD": ("card", "visa", "mastercard", "amex", "cc"),
    "PHONE_NUMBER": ("phone", "telephone", "mobile", "mob", "cell", "call", "ring", "tel",
                     "ph", "landline", "text", "sms", "whatsapp", "contact", "reach me",
                     "fax", "number", "line", "direct line"),
    "STREET_ADDRESS": ("address", "postal", "live at", "live in", "located at", "deliver", "ship",
                       "send", "post", "office is at", "office at", "moved to"),
    # not PII: what makes "3.9.5.15" a version number rather than an IP address
    VERSION: ("version", "ver", "sdk", "build", "release", "released", "upgrade", "update",
              "patch", "firmware", "changelog", "v", "install", "installer", "download",
              "app", "client"),
}
_KIND = {w: entity for entity, words in KEYWORDS.items() for w in words}


@cache
def _keywords_re() -> re.Pattern[str]:
    # compiled on first use, to keep ``import ethos.pii`` cheap
    return re.compile(alternation(set(_KIND), word_start=True) + r"(?![a-z])")


# a sentence or line break between a keyword and a candidate
# (not the dot of "no.", "nr.", "D.O.B.")
_BREAK = re.compile(
    r"(?i)\n|[;!?](?:\s|$)|(?<!\bno)(?<!\bnr)(?<!\bnum)(?<!\bd\.o\.b)(?<!\bapt)\.(?:\s|$)"
)
# what may stand between a candidate and a keyword naming it afterwards: "… is my TFN",
# "… (ABN)", "… - our ACN"
_AFTER_GAP = re.compile(
    r"(?i)(?:[ \t(\-–—,:=]|\bis\b|\bwas\b|\bare\b|\bmy\b|\bour\b|\bthe\b|\bhis\b|\bher\b"
    r"|\btheir\b|\bas\b|\bthat's\b)*"
)
# what may stand between a label and its value: "ACN number: ", "passport no. ", "TFN - "
_LABEL_GAP = re.compile(r"(?i)[ \t]*(?:(?:number|num|no\.?|nr\.?|#)[ \t]*)?[:\-–—=]?[ \t]*")
#: extra distance charged to a keyword across a sentence break, or after the candidate
BREAK_PENALTY = 24
AFTER_PENALTY = 4


# the keyword hits of the last text seen: detect() asks about several candidates of one
# text, so the text is searched once. A (text, hits) tuple is swapped atomically, so
# threads at worst recompute.
_last: tuple[str | None, list[tuple[int, int, str, bool]], list[int]] = (None, [], [])


def _all_hits(text: str) -> tuple[list[tuple[int, int, str, bool]], list[int]]:
    global _last
    t, hits, starts = _last
    if t is text:
        return hits, starts
    hits = []
    for m in _keywords_re().finditer(text.lower()):
        word = " ".join(m.group().split())
        hits.append((m.start(), m.end(), _KIND[word], word in WEAK))
    starts = [h[0] for h in hits]
    _last = (text, hits, starts)
    return hits, starts


def _hits(text: str, a: int, b: int) -> list[tuple[int, int, str, bool]]:
    """Keyword hits lying inside ``text[a:b]``."""
    hits, starts = _all_hits(text)
    if not hits:
        return []
    i = bisect_left(starts, a)
    out = []
    while i < len(hits) and hits[i][0] < b:
        if hits[i][1] <= b:
            out.append(hits[i])
        i += 1
    return out


def nearest_context(
    text: str,
    start: int,
    end: int,
    window: int = WINDOW,
    after: int = WINDOW_AFTER,
    same_clause: bool = False,
) -> str | None:
    """The entity named by the nearest keyword before ``start`` or after ``end``.

    Strong keywords ("TFN", "passport") beat weak ones ("number", "call") at any distance
    within the windows. A keyword after the candidate counts only in the same clause
    ("123 456 782 is my TFN", not "123 456 782. Date of birth: …"); one before it across a
    sentence break counts as farther away (or not at all with ``same_clause``).
    """
    best: tuple[int, int, str] | None = None  # (weak, distance, entity)
    for s, e, entity, weak in _hits(text, max(0, start - window), min(len(text), end + after)):
        if e <= start:
            # "Company Number: 087…": a label right before the candidate is as near as can be
            dist = 0 if _LABEL_GAP.fullmatch(text, e, start) else start - e
            if _BREAK.search(text, e, start):
                if same_clause:
                    continue
                dist += BREAK_PENALTY
        elif s >= end:
            # "… is my TFN", "… (ABN)": words between; not a label of what comes next
            gap = text[end:s]
            if not gap.strip() or not _AFTER_GAP.fullmatch(gap):
                continue
            dist = s - end + AFTER_PENALTY
        else:
            continue
        key = (int(weak), dist, entity)
        if best is None or key < best:
            best = key
    return best[2] if best else None


def has_context(
    text: str,
    start: int,
    end: int,
    entity: str,
    window: int = WINDOW,
    after: int = WINDOW_AFTER,
    same_clause: bool = False,
) -> bool:
    """True when a keyword for ``entity`` is within ``window`` chars before or ``after``
    after (with ``same_clause``: and no sentence break between)."""
    for s, e, ent, _ in _hits(text, max(0, start - window), min(len(text), end + after)):
        if ent != entity or not (e <= start or s >= end):
            continue
        if same_clause and _BREAK.search(text, *((e, start) if e <= start else (end, s + 1))):
            continue
        return True
    return False
