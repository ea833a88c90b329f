"""detect() and redact().

The candidate pass is a handful of compiled regexes, each skipping in C to where its kind
of candidate can start (digits, keywords, capitals, "@"); each candidate is then judged by
a small validator (checksum, phone shape, context words, name rules), overlaps are
resolved in favour of the surer finding, and the allow-list is applied last.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from . import checksums as ck
from . import patterns as P  # noqa: N812 - the patterns, read as P.EMAIL, P.CODE
from .allow import allow_set, fold_email, normalise
from .context import has_context, nearest_context
from .finding import Finding
from .folded import folded_findings
from .names import echoed_names, edge_names, person_at
from .numbers import classify_number
from .patterns import TRIGGER_KIND
from .words import STREET_TYPES_PLAIN

_PLAIN_TYPES = frozenset(STREET_TYPES_PLAIN)
# two colons around a hex group: the cheap test before the IPv6 pattern runs
_V6_HINT = re.compile(r":[0-9A-Fa-f]{0,4}:")
# what may stand between a trigger word and the name: "Thanks,\n Sarah", "Hi - Tom"
_NAME_GAP = frozenset(" \t,!.-–—:\n")
# triggers after which a name may be written in lower case
_STRONG_TRIGGERS = frozenset({"my name is", "my name's", "my name’s", "name:"})
_AT_BEFORE = re.compile(r"(?i)\bat\s+$")
_PASSPORT_SHAPE = re.compile(r"[A-Z]{1,2}\d{7}")
_STATE_OR_POSTCODE = re.compile(
    r"(?:\b(?:NSW|VIC|QLD|SA|WA|TAS|NT|ACT|Vic|Qld|Tas|nsw|vic|qld|tas)\b|\b\d{4}\s*$)"
)
_UNIT = re.compile(r"(?i)^(?:unit|flat|apt|apartment|suite|level|lvl|shop|lot|villa)")


def _iban_or_code(text: str, m: re.Match) -> Finding | None:
    s, e = m.start(), m.end()
    if m.group("iban") is not None:
        if ck.is_iban(text[s:e]):
            return Finding("IBAN_CODE", s, e, 1.0)
        return None
    return _code(text, s, e)


def _iban_or_code_folded(text: str, up: str, m: re.Match) -> Finding | None:
    s, e = m.start(), m.end()
    if m.group("iban") is not None:
        # in capitals the next word may have joined the code ("ES28… PLEASE"): drop it
        for _ in range(3):
            if ck.is_iban(up[s:e]):
                return Finding("IBAN_CODE", s, e, 1.0)
            cut = up.rfind(" ", s, e)
            if cut < 0:
                break
            e = cut
        return None
    ctx = nearest_context(text, s, e)
    if ctx == "AU_PASSPORT" and _PASSPORT_SHAPE.fullmatch(up, s, e):
        return Finding("AU_PASSPORT", s, e, 0.9)
    if ctx == "AU_DRIVERS_LICENCE":
        return Finding("AU_DRIVERS_LICENCE", s, e, 0.8)
    return None


def _code(text: str, s: int, e: int) -> Finding | None:
    ctx = nearest_context(text, s, e)
    if ctx == "AU_PASSPORT" and _PASSPORT_SHAPE.fullmatch(text[s:e]):
        return Finding("AU_PASSPORT", s, e, 0.9)
    if ctx == "AU_DRIVERS_LICENCE":
        return Finding("AU_DRIVERS_LICENCE", s, e, 0.8)
    return None


#: words without which no date is a date of birth (a cheap test before the context one)
_DOB_HINTS = ("born", "birth", "dob", "d.o.b", "d o b", "bday", "b'day")


def _date(text: str, s: int, e: int) -> Finding | None:
    low = text.lower()
    if not any(h in low for h in _DOB_HINTS):
        return None  # an event date, a renewal date…
    if nearest_context(text, s, e) == "DATE_OF_BIRTH":
        return Finding("DATE_OF_BIRTH", s, e, 0.9)
    return None


#: a number followed by one of these counts things ("7 hours port 8080"): not a street
_QUANTITY_WORDS = frozenset(
    "hours hrs minutes mins seconds secs days weeks months years times users seats people "
    "requests calls members staff students projects licences licenses gb mb tb".split()
)


def _addr(text: str, s: int, e: int) -> Finding | None:
    span = text[s:e]
    first = span.split(None, 2)[1:2]
    if first and first[0].lower() in _QUANTITY_WORDS:
        return None
    if _STATE_OR_POSTCODE.search(span) or _UNIT.match(span):
        return Finding("STREET_ADDRESS", s, e, 0.9)
    words = span.split()
    stype = words[-1].rstrip(".,").lower()
    named = all(w[:1].isupper() for w in words[1:])
    if stype in _PLAIN_TYPES and named:
        return Finding("STREET_ADDRESS", s, e, 0.8)
    if has_context(text, s, e, "STREET_ADDRESS", after=40, same_clause=True) or _AT_BEFORE.search(text, max(0, s - 6), s):
        return Finding("STREET_ADDRESS", s, e, 0.7)
    return None


_GROUP = re.compile(r"\+?\d+")
#: a failed run of more digit groups than this is not searched for a sub-run
MAX_GROUPS = 8
#: ... nor one of fewer digits than this (the shortest number we know has 6, plus a year)
MIN_RETRY_DIGITS = 10


# "june 20 2027": the day and year of a month-first date whose comma was folded away
_MONTH_BEFORE = re.compile(
    r"(?i)\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?[ \t]+$"
)
_DAY_YEAR = re.compile(r"\d{1,2}[ \t]+(?:19|20)\d{2}")


def _num(text: str, s: int, e: int, found: list[Finding]) -> None:
    """Classify the run; when the whole run is nothing, try its sub-runs of digit groups
    ("expiring 2029 0412 345 678" holds a phone number after a year)."""
    while e > s and text[e - 1] in ") ":
        e -= 1
    if e - s <= 8 and _DAY_YEAR.fullmatch(text, s, e) and _MONTH_BEFORE.search(text, max(0, s - 12), s):
        return  # a date (the month trigger judges it), not a number
    r = classify_number(text, s, e)
    if r:
        found.append(Finding(r[0], s, e, r[1]))
        return
    if e - s < MIN_RETRY_DIGITS:
        return
    groups = [(m.start(), m.end()) for m in _GROUP.finditer(text, s, e)]
    # only a long run can hold a whole number after or before another one
    if not 1 < len(groups) <= MAX_GROUPS or sum(b - a for a, b in groups) < MIN_RETRY_DIGITS:
        return
    i = 0
    while i < len(groups):
        for j in range(len(groups) - 1, i - 1, -1):
            if i == 0 and j == len(groups) - 1:
                continue
            a, b = groups[i][0], groups[j][1]
            r = classify_number(text, a, b)
            if r:
                found.append(Finding(r[0], a, b, r[1]))
                i = j
                break
        i += 1


def _digit_candidates(text: str, found: list[Finding]) -> None:
    for m in P.DIGIT_SCAN.finditer(text):
        kind = m.lastgroup
        if kind == "num":
            _num(text, m.start(), m.end(), found)
            continue
        f = _date(text, m.start(), m.end()) if kind == "date" else _addr(text, m.start(), m.end())
        if f is not None:
            found.append(f)


def _trigger_candidates(text: str, found: list[Finding]) -> None:
    low = text.lower()
    n = len(text)
    for m in P.TRIGGER.finditer(low):
        word = m.group()
        kind = TRIGGER_KIND.get(word if " " not in word and "\t" not in word else " ".join(word.split()))
        s = m.start()
        if kind == "person":
            # cheap test first: most triggers ("hi", "best", "me") are not followed by a name
            i = m.end()
            while i < n and text[i] in _NAME_GAP:
                i += 1
            if i >= n or not (text[i].isupper() or word in _STRONG_TRIGGERS):
                continue
            f = person_at(text, s, m.end())
        elif kind == "month":
            d = P.MONTH_DATE.match(text, s)
            f = _date(text, s, d.end()) if d else None
        elif kind == "unit":
            a = P.UNIT_ADDRESS.match(text, s)
            f = Finding("STREET_ADDRESS", s, a.end(), 0.9) if a else None
        elif kind == "pobox":
            a = P.POBOX.match(text, s)
            f = Finding("STREET_ADDRESS", s, a.end(), 0.9) if a else None
        else:
            f = None
        if f is not None:
            found.append(f)


# a letter right before two digits: where a lower-case code can start ("pa3562718",
# "gb58otli…"); the search skips in C from digit to digit
_LETTER_DIGIT = re.compile(r"\d(?<=[a-z]\d)\d")


def _code_candidates(text: str, found: list[Finding]) -> None:
    for m in P.CODE.finditer(text):
        s = m.start()
        if s and text[s - 1].isalnum():
            continue
        f = _iban_or_code(text, m)
        if f is not None:
            found.append(f)
    if not text.islower():
        return
    # a text without capitals (typed so, or folded by the cache) is also read in capitals:
    # "gb58otli22058791589062", "passport pa3562718" (each still needs its checksum or its
    # context word)
    up = text.upper()
    if len(up) != len(text):
        return
    last = -1
    for d in _LETTER_DIGIT.finditer(text):
        s = d.start() - 1
        if s > 0 and text[s - 1].isalpha():
            s -= 1
        if s <= last or (s and text[s - 1].isalnum()):
            continue
        code = P.CODE.match(up, s)
        if code is None:
            continue
        last = code.end()
        f = _iban_or_code_folded(text, up, code)
        if f is not None:
            found.append(f)


def _resolve(found: list[Finding]) -> list[Finding]:
    """Drop findings that overlap a stronger (then longer, then earlier) one."""
    if len(found) < 2:
        return found
    kept: list[Finding] = []
    for f in sorted(found, key=lambda f: (-f.score, -(f.end - f.start), f.start)):
        if all(f.end <= k.start or f.start >= k.end for k in kept):
            kept.append(f)
    kept.sort(key=lambda f: f.start)
    return kept


def detect(text: str, allow: Iterable[str] | None = None) -> list[Finding]:
    """Every piece of PII in ``text``, in order, minus the allow-list.

    ``allow``: items that are not PII (our own contacts); None means the default list
    plus ``$ETHOS_PII_ALLOW``. Pure, no I/O, no network.
    """
    found: list[Finding] = []
    if "@" in text:
        found.extend(Finding("EMAIL_ADDRESS", m.start(), m.end(), 1.0) for m in P.EMAIL.finditer(text))
    if ":" in text and _V6_HINT.search(text):
        for m in P.IPV6.finditer(text):
            v = m.group()
            if v.count(":") >= 2 and sum(c.isalnum() for c in v) >= 4 and ck.is_ip(v):
                found.append(Finding("IP_ADDRESS", m.start(), m.end(), 1.0))
    _digit_candidates(text, found)
    _code_candidates(text, found)
    _trigger_candidates(text, found)
    found.extend(edge_names(text))
    found.extend(folded_findings(text))
    found = _resolve(found)
    allowed = allow_set(allow)
    if allowed and found:
        found = [f for f in found if not _allowed(text[f.start : f.end], f.entity, allowed)]
    return found


def _allowed(value: str, entity: str, allowed: frozenset[str]) -> bool:
    if normalise(value) in allowed:
        return True
    # "support ethosprompt com", "support at ethosprompt dot com": a folded allowed address
    return entity == "EMAIL_ADDRESS" and "@" not in value and fold_email(value) in allowed


def detect_exchange(
    prompt: str, answer: str, allow: Iterable[str] | None = None
) -> dict[str, list[Finding]]:
    """Findings in the prompt and in the answer; the answer also gets the prompt's names."""
    p = detect(prompt, allow)
    a = detect(answer, allow)
    names = [prompt[f.start : f.end] for f in p if f.entity == "PERSON"]
    if names:
        a = _resolve(a + echoed_names(names, answer))
    return {"prompt": p, "answer": a}


def redact(text: str, findings: Iterable[Finding] | None = None, allow: Iterable[str] | None = None) -> str:
    """``text`` with each finding replaced by ``<ENTITY>`` (safe to log)."""
    fs = sorted(detect(text, allow) if findings is None else findings, key=lambda f: f.start)
    out, pos = [], 0
    for f in fs:
        if f.start < pos:
            continue
        out.append(text[pos : f.start])
        out.append(f"<{f.entity}>")
        pos = f.end
    out.append(text[pos:])
    return "".join(out)
