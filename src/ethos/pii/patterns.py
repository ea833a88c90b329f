"""The candidate pass: a few compiled regexes, each starting with a literal or a character
class so the regex engine skips in C to the places where a candidate can begin.

* ``DIGIT_SCAN`` finds digit candidates and says which kind each is: a date, a street
  address, or a number.
* ``TRIGGER`` finds, in the lowercased text, the words that introduce a name, a
  month-first date, a unit-prefixed address or a post-office box.
* ``CODE`` finds letter+digit codes (IBAN, passport, licence); ``EMAIL`` runs only when
  the text holds an ``@``.

What a candidate *is* gets decided afterwards by small validators (checksums, context
words, name rules).
"""

from __future__ import annotations

import re

from .words import (
    MONTHS,
    STATES_OTHER,
    STATES_UPPER,
    STREET_TYPES_AMBIGUOUS,
    STREET_TYPES_PLAIN,
    alternation,
)

_MONTH = "(?i:" + alternation(MONTHS) + r")\.?"
_STREET_TYPE = "(?i:" + alternation(set(STREET_TYPES_PLAIN) | set(STREET_TYPES_AMBIGUOUS)) + ")"
_STATE = "(?:" + alternation(STATES_UPPER + STATES_OTHER) + ")"
_WORD = r"[A-Za-z][A-Za-z'’\-]*+"  # possessive: a word is never split (no backtracking blow-up)
# "Carlton VIC 3053", ", Reedside, TAS, 2909", " NSW 2000", " 3053"
_TAIL = (
    rf"(?:(?:[ \t]*,?[ \t]*\n?[ \t]*(?:{_WORD}\.?[ \t]*){{0,3}}?,?[ \t]*(?:{_STATE}\b"
    r"(?:,?[ \t]*\d{4}\b)?|(?:sa|wa|nt|act),?[ \t]*\d{4}\b))|(?:,?[ \t]+\d{4}\b))?"
)
_STREET = (
    r"(?:\d{1,4}[A-Za-z]?[ \t]*/[ \t]*)?\d{1,5}[A-Za-z]?(?:[ \t]*-[ \t]*\d{1,5})?,?[ \t]+"
    rf"(?:{_WORD}[ \t]+){{1,3}}?{_STREET_TYPE}\b\.?{_TAIL}"
)

_EMAIL_SRC = (
    r"[A-Za-z0-9][A-Za-z0-9._%+\-]*@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}"
)
#: IPv6 candidates (validated by ``ipaddress``); runs only when the text holds "::" or
#: a colon between hex digits
_IPV6_SRC = r"(?<![\w:.])(?:[0-9A-Fa-f]{1,4})?(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:])"
#: IBAN (checked first) or passport / licence code; the word start is checked by the caller
_CODE_SRC = (
    r"[A-Z](?:[A-Z]\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?\b(?P<iban>)"
    r"|[A-Z]?\d{5,9}\b)"
)

_DIGITAL = (
    r"(?P<date>(?:"
    rf"\d{{1,2}}(?:st|nd|rd|th)?(?:[ \t]+of)?[ \t\-]+{_MONTH},?[ \t\-]+(?:19|20)?\d{{2}}"
    r"|\d{1,2}[/.\-]\d{1,2}[/.\-](?:19|20)?\d{2}"
    r"|(?:19|20)\d{2}[/.\-]\d{1,2}[/.\-]\d{1,2}"
    # the same with its separators folded to spaces (how the cache keeps "26/08/2005")
    r"|(?:\d{1,2}[ ]\d{1,2}[ ](?:19|20)?\d{2}|(?:19|20)\d{2}[ ]\d{1,2}[ ]\d{1,2})(?![ ]?\d)"
    r")(?!\.?\d))"
    rf"|(?P<addr>{_STREET})"
    # a number worth a look has 6+ digits (or is a dotted quad): shorter ones are skipped
    # inside the regex engine instead of in Python
    r"|(?P<num>(?:\+[ \t]?|\([ \t]?)?(?=(?:[ .\-()]{0,3}\d){6}|\d{1,3}(?:\.\d{1,3}){3})"
    r"\d(?:(?:[ .\-]|[ ]?[()][ .\-]?|[ ]?\)[ ]?\([ ]?|[ ]-[ ])?\d)*\)?)"
)
#: the digit pass: a date, an address or a number, starting where a number can start
#: (not inside a word, not after "$", "1,", "v", "#"…: "$49", "1,200", "v2.3" are not PII)
_DIGIT_SCAN_SRC = r"(?=[\d+(])(?<![\w$€£¥.,/:#@\-+])(?:" + _DIGITAL + ")"

PERSON_TRIGGERS = (
    "my name is", "my name's", "my name’s", "name:", "i am", "i'm", "i’m", "im", "this is",
    "it's", "it’s", "hi", "hello", "hey", "dear", "g'day", "gday", "good morning",
    "good afternoon", "good evening", "thanks", "thank you", "thx", "cheers", "regards",
    "best", "sincerely", "ta", "mr", "mrs", "ms", "miss", "dr", "prof", "me",
)
UNIT_TRIGGERS = ("unit", "flat", "apt", "apartment", "suite", "level", "lvl", "shop", "lot", "villa")
POBOX_TRIGGERS = (
    "po box", "p.o. box", "p.o box", "p o box", "gpo box", "g.p.o. box", "locked bag",
    "private bag", "post office box",
)
#: trigger word (blanks collapsed) -> what it introduces
TRIGGER_KIND: dict[str, str] = {
    **{t: "person" for t in PERSON_TRIGGERS},
    **{t: "month" for t in MONTHS},
    **{t: "unit" for t in UNIT_TRIGGERS},
    **{t: "pobox" for t in POBOX_TRIGGERS},
}
_TRIGGER_SRC = alternation(set(TRIGGER_KIND), word_start=True) + r"(?:(?<=:)|(?![a-z0-9]))"

_MONTH_DATE_SRC = rf"{_MONTH}[ \t]+\d{{1,2}}(?:st|nd|rd|th)?,?[ \t]+(?:19|20)\d{{2}}\b"
_UNIT_ADDRESS_SRC = (
    r"(?i:unit|flat|apt|apartment|suite|level|lvl|shop|lot|villa)\.?[ \t]*\d+[A-Za-z]?,?[ \t]+"
    + _STREET
)
_POBOX_SRC = (
    r"(?i:p\.?[ \t]?o\.?[ \t]?box|g\.?p\.?o\.?[ \t]+box|post[ \t]+office[ \t]+box"
    rf"|locked[ \t]+bag|private[ \t]+bag)[ \t]*\d{{1,6}}{_TAIL}"
)


#: the regexes above, compiled on first use (compiling them all takes tens of ms, which
#: ``import ethos.pii`` should not cost)
#: (the sources are kept under private names, so that the public names exist only as the
#: compiled patterns ``__getattr__`` returns)
_SOURCES: dict[str, str] = {
    "EMAIL": _EMAIL_SRC, "IPV6": _IPV6_SRC, "CODE": _CODE_SRC, "DIGIT_SCAN": _DIGIT_SCAN_SRC,
    "TRIGGER": _TRIGGER_SRC, "MONTH_DATE": _MONTH_DATE_SRC, "UNIT_ADDRESS": _UNIT_ADDRESS_SRC,
    "POBOX": _POBOX_SRC,
}


def __getattr__(name: str) -> re.Pattern[str]:
    if name in _SOURCES:
        rx = re.compile(_SOURCES[name])
        globals()[name] = rx
        return rx
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
