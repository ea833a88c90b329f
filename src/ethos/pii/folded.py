"""Recognisers for text whose case and punctuation were folded away.

The cache keeps questions normalised (``ethos.cache.keys.normalise``: case, punctuation and
``@`` folded), so ``jane.citizen@gmail.com`` is stored as ``jane citizen gmail com``,
``Hi Sarah,`` as ``hi sarah`` and ``fe80:0:…`` as ``fe80 0 …``. A scan of stored entries has
to find what the gate finds in raw text, so these recognisers read the folded forms. Each
one asks for structure or context, never a loose shape:

* e-mail: a name-like token, a domain token and a top-level domain (``com``, a country
  suffix, or a known mail provider; a weaker one such as ``net``/``org`` needs a mail word
  near: "email", "contact", "cc" …), or ``name at domain dot com``;
* IPv6: eight hexadecimal groups, valid as an address, mixing digits and letters;
* PERSON (text without capitals only): the phrases the raw recogniser knows ("my name's",
  "dear", "thanks", "Mr", "I'm … and", "this is … from", "to me … please") followed by a
  word that is no common word.

Numbers, dates, codes and addresses need no recogniser of their own: the candidate pass
reads their folded forms (separators turned to spaces, lower-case codes).
"""

from __future__ import annotations

import ipaddress
import re

from .finding import Finding
from .words import COMMON_WORDS, NAME_STOP, NOT_NAMES, alternation

#: top-level domains that make ``x y com`` an address whatever the words around
_STRONG_TLDS = frozenset({"com"})
#: ones that also name ordinary things ("net of GST", "product info"): need a mail word near
_WEAK_TLDS = frozenset({"net", "org", "edu", "gov", "info", "biz", "io"})
#: country suffixes after a generic one ("com au", "net au", "co uk")
_COUNTRY = frozenset({"au", "uk", "nz", "ca", "sg", "ie", "za", "in", "us", "de", "fr", "jp", "hk"})
#: top-level domains of the ``name at domain dot tld`` form
_DOT_TLDS = _STRONG_TLDS | _WEAK_TLDS | _COUNTRY | frozenset({"co", "me", "ai", "app", "dev"})
#: mail providers: ``jane gmail com`` is an address even after a weak top-level domain
PROVIDERS = frozenset(
    """
    gmail googlemail hotmail outlook live msn yahoo ymail icloud me mac aol gmx proton
    protonmail bigpond optusnet iinet tpg internode westnet dodo fastmail zoho mail yandex
    example
    """.split()
)
# (a literal blank first: the search skips in C from blank to blank)
_TLD_RX = re.compile(
    r" (?:com|net|org|edu|gov|info|biz|io|co)(?: (?:au|uk|nz|ca|sg|ie|za|in|us"
    r"|de|fr|jp|hk))?(?![a-z0-9])"
)
_TLD_HINT = re.compile(r" (?:com?|net|org|edu|gov|info|biz|io|dot)(?![a-z0-9])")
_LOCAL = re.compile(r"[a-z0-9][a-z0-9+\-.]*")
_DOMAIN = re.compile(r"[a-z0-9][a-z0-9\-]*")
_AT_DOT = re.compile(
    r"(?<![a-z0-9])([a-z0-9][a-z0-9+\-]*) at ([a-z0-9][a-z0-9\-]*(?: dot [a-z0-9][a-z0-9\-]*)*)"
    r" dot ([a-z]{2,4})(?![a-z0-9])"
)
#: words that introduce an address ("my email is", "reach me on", "cc", "e: …")
_MAIL_WORDS = re.compile(
    r"(?<![a-z])(?:e ?mail|mail|contact|cc|bcc|reach|write|send|e|address|inbox)(?![a-z])"
)
#: words before a site name rather than a mailbox ("visit example com")
_NOT_LOCAL = NAME_STOP | frozenset(
    "visit see via www http https go site website web page online check open on at dot us"
    # sub-domains of a site ("app.ethosprompt.com", "blog.example.org"), not mailboxes
    " app apps docs doc api status blog portal dashboard login auth cdn shop store console"
    " admin beta staging dev developer developers cloud community forum careers jobs"
    " learn academy static assets files download downloads lists m".split()
)


def _mail_word_near(low: str, s: int, e: int) -> bool:
    return bool(_MAIL_WORDS.search(low, max(0, s - 40), s)) or bool(
        re.match(r" (?:is|as) (?:my|our|the) (?:work |personal |)(?:e ?mail|address)", low[e : e + 40])
    )


def emails(low: str) -> list[Finding]:
    """``name domain com`` and ``name at domain dot com`` in the lowercased ``low``."""
    out: list[Finding] = []
    if " dot " in low and " at " in low:
        for m in _AT_DOT.finditer(low):
            if m.group(3) in _DOT_TLDS and m.group(1) not in _NOT_LOCAL:
                out.append(Finding("EMAIL_ADDRESS", m.start(), m.end(), 0.9))
    for m in _TLD_RX.finditer(low):
        s, e = m.start() + 1, m.end()
        words = m.group().split()
        tld, has_cc = words[0], len(words) > 1
        pre = low[max(0, s - 80) : s]
        toks = pre.split()
        if len(toks) < 2 or not pre.endswith(" ") or pre[-2] == " ":
            continue
        local, domain = toks[-2], toks[-1]
        if not _DOMAIN.fullmatch(domain) or domain in ("dot", "at"):
            continue  # the "at … dot" form is judged above
        if local == "at":  # "jane at gmail com" (not "available at example com")
            if len(toks) < 3 or toks[-3] in COMMON_WORDS or toks[-3] in NOT_NAMES:
                continue
            local = toks[-3]
            start = s - len(local) - len(domain) - 5
        else:
            start = s - len(local) - len(domain) - 2
        if start < 0 or low[start : start + len(local)] != local or not _LOCAL.fullmatch(local):
            continue  # words separated by more than one blank
        if local in _NOT_LOCAL or domain in _NOT_LOCAL or domain in NOT_NAMES - PROVIDERS:
            continue
        if domain.isdigit() and local.isdigit():
            continue
        strong = tld in _STRONG_TLDS or has_cc or domain in PROVIDERS
        if not strong and (tld == "co" or not _mail_word_near(low, start, e)):
            continue
        out.append(Finding("EMAIL_ADDRESS", start, e, 0.9 if strong else 0.8))
    return out


_V6_SPACED = re.compile(r"(?<![\w.])[0-9a-f]{1,4}(?: [0-9a-f]{1,4}){7}(?![\w.])")


#: three groups in a row, one starting with a digit: the cheap test before _V6_SPACED
_V6_HINT = re.compile(r"\d[0-9a-f]{0,3} [0-9a-f]{1,4} [0-9a-f]{1,4} [0-9a-f]{1,4} ")


def ipv6(low: str) -> list[Finding]:
    """A full IPv6 address with its colons folded to spaces."""
    out: list[Finding] = []
    pos = 0
    while (hint := _V6_HINT.search(low, pos)) is not None:
        # the address holds the hint: look only around it
        m = _V6_SPACED.search(low, max(0, hint.start() - 15), min(len(low), hint.end() + 30))
        if m is None:
            pos = hint.end()
            continue
        pos = m.end()
        if pos < len(low) and (low[pos].isalnum() or low[pos] in "._"):
            continue  # cut by the window: more groups follow
        groups = m.group().split()
        with_digit = sum(any(c.isdigit() for c in g) for g in groups)
        with_letter = sum(any(c.isalpha() for c in g) for g in groups)
        if with_digit >= 4 and with_letter >= 2:
            try:
                ipaddress.IPv6Address(":".join(groups))
            except ValueError:
                continue
            out.append(Finding("IP_ADDRESS", m.start(), m.end(), 0.9))
    return out


_NAME_WORD = r"[a-z][a-z'\-]+"
#: trigger phrase -> kind; the words after it are read by _NAMES_AFTER
_PERSON_TRIGGERS = {
    **dict.fromkeys(("my names", "my name is", "my name s"), "strong"),
    "name": "label",
    **dict.fromkeys(("dear", "hi", "hello", "hey", "gday", "good morning", "good afternoon"), "greet"),
    **dict.fromkeys(("thanks", "thank you", "cheers", "regards", "many thanks", "ta", "thx",
                     "sincerely", "best"), "sign"),
    **dict.fromkeys(("mr", "mrs", "ms", "miss", "dr", "prof"), "hon"),
    **dict.fromkeys(("i am", "im"), "self"),
    **dict.fromkeys(("this is", "its"), "this"),
    "to me": "voc",
}
_PERSON_RX = re.compile(alternation(set(_PERSON_TRIGGERS), word_start=True) + "(?= )")
_NAMES_AFTER = re.compile(rf" ({_NAME_WORD})(?: ({_NAME_WORD}))?")
#: "john here quick question": a name before "here" and more words
_HERE_RX = re.compile(rf"(?<![a-z0-9'])({_NAME_WORD}) here [a-z]")
#: how many words of a name each kind reads
_ONE_WORD = frozenset({"greet", "hon", "here"})
#: words before "name" that make it a noun rather than a form label ("company name x")
_NOT_LABEL = NAME_STOP - {"and", "also"} | frozenset(
    "same full first last middle user file brand domain company display plan product business"
    " team account sender nick pet family given legal trading project field new real whats"
    " good great your their his her its".split()
)
#: "55 ms": a unit after a number, not "Ms"
_NUMBER_BEFORE = re.compile(r"\d[a-z%]* $")
#: what follows a name after "I'm" / "this is" / "to me" (else the words were no name)
_AFTER_SELF = frozenset("and from the at with here of".split())
_AFTER_THIS = frozenset("from here at with speaking calling again".split())
_STREET_BEFORE_DR = re.compile(r"\d+[a-z]? [a-z]+(?: [a-z]+)? $")


def _name_like(word: str) -> bool:
    w = word.strip("'-")
    return (
        len(w) >= 2
        and w not in NOT_NAMES
        and w not in NAME_STOP
        and w not in COMMON_WORDS
        and not w.endswith("ing")
    )


_WORD_AFTER = re.compile(r" ([a-z0-9]+)")


def _next_word(low: str, pos: int) -> str | None:
    m = _WORD_AFTER.match(low, pos)
    return m.group(1) if m else None


def _person_matches(low: str):
    """(kind, trigger start, trigger, first name word match) for each trigger in ``low``."""
    for m in _PERSON_RX.finditer(low):
        trig = " ".join(m.group().split())
        n = _NAMES_AFTER.match(low, m.end())
        if n is not None:
            yield _PERSON_TRIGGERS[trig], m.start(), trig, n
    if " here " in low:
        for m in _HERE_RX.finditer(low):
            yield "here", m.start(), "", m


def persons(low: str) -> list[Finding]:
    """Names after the phrases that introduce them, in a text without capitals."""
    out = []
    for g0, t_start, trig, n in _person_matches(low):
        words = [w for w in n.groups() if w]
        if g0 in _ONE_WORD:
            words = words[:1]
        if not _name_like(words[0]):
            continue
        if len(words) > 1 and not _name_like(words[1]):
            words = words[:1]
        s = n.start(1)
        e = s + len(" ".join(words))
        after = _next_word(low, e)
        if g0 == "strong":
            score = 0.9
        elif g0 == "label":
            before = low[max(0, t_start - 24) : t_start].split()
            if (before and before[-1] in _NOT_LABEL) or after == "of":
                continue
            score = 0.7
        elif g0 == "greet":
            score = 0.7
        elif g0 == "sign":
            if trig == "best" and after is not None:
                continue  # "best plan for us": only a sign-off at the very end
            if after is not None and after not in COMMON_WORDS and after not in NAME_STOP:
                continue
            score = 0.7
        elif g0 == "hon":
            if _NUMBER_BEFORE.search(low, max(0, t_start - 12), t_start):
                continue  # "55 ms across": a unit
            if trig == "dr" and _STREET_BEFORE_DR.search(low, max(0, t_start - 40), t_start):
                continue  # "12 smith dr …"
            s, score = t_start, 0.8
        elif g0 == "self":
            if after is not None and after not in _AFTER_SELF:
                continue
            score = 0.7
        elif g0 == "this":
            if after not in _AFTER_THIS:
                continue
            score = 0.7
        elif g0 == "here":
            score = 0.6
        else:  # "to me gary salinas please"
            if after != "please":
                continue
            score = 0.6
        out.append(Finding("PERSON", s, e, score))
    return out


def folded_findings(text: str) -> list[Finding]:
    """Everything the folded-form recognisers find in ``text`` (offsets into ``text``)."""
    low = text.lower()
    if len(low) != len(text):
        return []
    out: list[Finding] = []
    if _TLD_HINT.search(low):
        out.extend(emails(low))
    if text.islower():
        out.extend(ipv6(low))
        out.extend(persons(low))
    return out
