"""PERSON: names people give about themselves, greet with, or sign off with.

No model: a name is recognised by the phrase around it ("my name is …", "I'm …",
"this is … from …", "Hi …,", "Thanks, …" at the end, "Mr …"), and a name found in a
prompt is looked for again in the answer (:func:`echoed_names`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .finding import Finding
from .words import NAME_STOP, NOT_NAMES

_CAP = r"(?:[A-Z](?:[a-z]+(?:[A-Z][a-z]+)?|['’][A-Z][a-z]+)(?:-[A-Z][a-z]+)?)"
_PARTICLE = r"(?:van|von|de|der|den|da|di|du|la|le|del|dos|bin|al)"
_INITIAL = r"(?:[A-Z]\.)"
NAME_CAP = re.compile(
    rf"[ \t]*((?:{_CAP}|{_INITIAL})(?:[ \t]+(?:{_PARTICLE}[ \t]+)?(?:{_CAP}|{_INITIAL})){{0,2}})"
)
NAME_ANY = re.compile(r"[ \t]*[:\-]?[ \t]*([A-Za-z][A-Za-z'’\-]*(?:[ \t]+[A-Za-z][A-Za-z'’\-]*){0,2})")
_GAP = re.compile(r"[ \t]*[,!.\-–—]*[ \t]*\n?")
# what may follow a name so that the phrase was really about a name
_AFTER_THIS_IS = re.compile(r"[ \t]*(?:from\b|here\b|at\b|with\b|speaking\b|calling\b|of\b|[,.!;:\n(]|$)")
_AFTER_ITS = re.compile(r"[ \t]*,?[ \t]*(?:from|here|speaking|calling|again)\b")
_AFTER_GREETING = re.compile(r"[ \t]*(?:[,!.:;\n]|$|[-–—])")
_AFTER_SIGNOFF = re.compile(r"[ \t]*(?:[.!,;:)(|\n]|$|[-–—])")
# "Sarah here, …" at the start of the text or of a sentence
_HERE = re.compile(rf"(?:^|(?<=[.!?\n])[ \t]*|(?<=[.!?][ \t]))((?:{_CAP})(?:[ \t]+{_CAP})?)[ \t]+here\b[ \t]*[,.!:;\-–—]")
# "- Sarah" alone on the last line (a sign-off; not an item of a list)
_DASH_LINE = re.compile(rf"(?m)^[ \t]*[-–—~][ \t]*((?:{_CAP})(?:[ \t]+{_CAP})?)[ \t.!]*\s*\Z")
_BULLET = re.compile(r"^[ \t]*(?:[-*•+–—~]|\d+[.)])")

_STRONG = ("my name is", "my name's", "my name’s", "name:")
_SELF = ("i am", "i'm", "i’m", "im")
_THIS_IS = ("this is", "it's", "it’s")
_GREET = ("hi", "hello", "hey", "dear", "g'day", "gday", "good morning", "good afternoon",
          "good evening")
_SIGNOFF = ("thanks", "thank you", "thx", "cheers", "regards", "best", "sincerely", "ta")
_HONORIFIC = ("mr", "mrs", "ms", "miss", "dr", "prof")
# "send it to me, Sarah Walker, please": a name set off by commas after "me"
_VOCATIVE = ("me",)
_BEFORE_VOCATIVE = re.compile(r"[ \t]*,[ \t]*")
_AFTER_VOCATIVE = re.compile(r"[ \t]*(?:[,.!?]|$|please\b)")


def _norm_trigger(t: str) -> str:
    return " ".join(t.lower().rstrip(".").replace("\t", " ").split()).replace(" :", ":")


def _good_cap(name: str, after_i_am: bool = False) -> bool:
    first = name.split()[0].lower().rstrip(".")
    if first in NOT_NAMES or len(first) < 2:
        return False
    # "I'm Looking", "I am Thinking": a capitalised verb form is not a name
    return not (after_i_am and len(name.split()) == 1 and first.endswith("ing"))


def _trim_cap(text: str, m: re.Match) -> tuple[int, int] | None:
    """The span of the capitalised name, dropping trailing non-name words."""
    toks = list(re.finditer(r"\S+", m.group(1)))
    while toks and toks[-1].group().lower().rstrip(".") in NOT_NAMES:
        toks.pop()
    if not toks:
        return None
    base = m.start(1)
    return base + toks[0].start(), base + toks[-1].end()


def person_at(text: str, trig_start: int, trig_end: int) -> Finding | None:
    """A PERSON finding after the trigger phrase ``text[trig_start:trig_end]``, or None."""
    trig = _norm_trigger(text[trig_start:trig_end])
    pos = trig_end
    if trig in _STRONG:
        m = NAME_ANY.match(text, pos)
        if not m:
            return None
        toks = list(re.finditer(r"[^\s]+", m.group(1)))
        kept = []
        for t in toks:
            w = t.group().lower().strip(".,!'’")
            if w in NAME_STOP or w in NOT_NAMES:
                break
            kept.append(t)
        if not kept:
            return None
        base = m.start(1)
        return Finding("PERSON", base + kept[0].start(), base + kept[-1].end(), 0.9)
    if trig in _VOCATIVE:
        g = _BEFORE_VOCATIVE.match(text, pos)
        if not g:
            return None
        m = NAME_CAP.match(text, g.end())
        if m and _good_cap(m.group(1)) and _AFTER_VOCATIVE.match(text, m.end(1)):
            return Finding("PERSON", m.start(1), m.end(1), 0.6)
        return None
    if trig in _HONORIFIC:
        if not text[trig_start].isupper():
            return None
        m = NAME_CAP.match(text, pos)
        if m and _good_cap(m.group(1)):
            return Finding("PERSON", trig_start, m.end(1), 0.8)
        return None
    broke_line = False
    if trig in _SIGNOFF:
        g = _GAP.match(text, pos)
        if g:
            pos = g.end()
            broke_line = "\n" in g.group() and "," in g.group()
    m = NAME_CAP.match(text, pos)
    if not m or not _good_cap(m.group(1), after_i_am=trig in _SELF):
        return None
    span = _trim_cap(text, m)
    if span is None:
        return None
    after = span[1]
    if trig in _SELF:
        return Finding("PERSON", span[0], span[1], 0.7)
    if trig in _THIS_IS:
        # "It's Slack, not Teams" is not a name; "It's Sarah from Acme" is
        after_rx = _AFTER_THIS_IS if trig == "this is" else _AFTER_ITS
        return Finding("PERSON", *span, 0.7) if after_rx.match(text, after) else None
    if trig in _GREET:
        return Finding("PERSON", *span, 0.7) if _AFTER_GREETING.match(text, after) else None
    if trig in _SIGNOFF:
        # "Regards,\nName" is a sign-off whatever follows; "Thanks Name" needs an end
        if broke_line or _AFTER_SIGNOFF.match(text, after):
            return Finding("PERSON", *span, 0.7)
    return None


def edge_names(text: str) -> list[Finding]:
    """'Sarah here, …' opening a sentence, and '- Sarah' alone on a line."""
    out = []
    if " here" in text:
        for m in _HERE.finditer(text):
            if _good_cap(m.group(1)):
                out.append(Finding("PERSON", m.start(1), m.end(1), 0.7))
    if "-" in text or "—" in text or "–" in text or "~" in text:
        dash = _DASH_LINE.search(text, max(0, len(text) - 80))
        if dash and _good_cap(dash.group(1)):
            before = text[: dash.start()].rstrip("\n").rsplit("\n", 1)[-1]
            if not _BULLET.match(before):
                out.append(Finding("PERSON", dash.start(1), dash.end(1), 0.7))
    return out


def echoed_names(names: Iterable[str], answer: str) -> list[Finding]:
    """Where the answer repeats a name found in the prompt (each word of it, whole words)."""
    words = set()
    for name in names:
        for w in re.findall(r"[A-Za-z][A-Za-z'’\-]+", name):
            if w.lower() not in NOT_NAMES and w.lower() not in NAME_STOP:
                words.add(w[0].upper() + w[1:])
    if not words:
        return []
    rx = re.compile(r"\b(?:" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + r")\b")
    return [Finding("PERSON", m.start(), m.end(), 0.8) for m in rx.finditer(answer)]
