"""Lexical facts of a question, as pure functions: numbers, negation, names, content words.

The verifier (:mod:`.verify`) and the match features (:mod:`.features`) compare questions
with these. Kept small and general; the embedding does the rest.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from ...text import STOPWORDS
from ..keys import normalise

NEGATIONS = frozenset(
    "not no non never nobody nothing nowhere neither nor without cannot cant dont doesnt"
    " didnt isnt arent wasnt werent wont wouldnt shouldnt couldnt hasnt havent hadnt"
    " aint mustnt neednt".split()
)
NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        "zero _ two three four five six seven eight nine ten eleven twelve thirteen"
        " fourteen fifteen sixteen seventeen eighteen nineteen twenty".split()
    )
    if w != "_"  # "one" is mostly a pronoun ("which one"), so it is not read as 1
}
NUMBER_WORDS.update({"thirty": "30", "forty": "40", "fifty": "50", "sixty": "60",
                      "seventy": "70", "eighty": "80", "ninety": "90", "hundred": "100",
                      "hundreds": "100", "thousand": "1000", "thousands": "1000",
                      "million": "1e6", "millions": "1e6", "billion": "1e9",
                      "billions": "1e9", "dozen": "12", "dozens": "12", "half": "0.5",
                      "twice": "2", "double": "2", "triple": "3"})
NUMBER_RE = re.compile(r"\d+(?:\.\d+)?")

#: abbreviations customers type for what is usually spelt out (and the other way round), from
#: general business usage, not from any test set. The embedding model reads "SSO" and "single
#: sign-on" as far apart (cosine 0.45 for "Is SSO supported?" / "Do you support single
#: sign-on?"; 0.90 once spelt out), so both sides of a comparison are spelt out first
#: (:func:`spelt_out`). Only unambiguous ones: "ms" alone is also milliseconds, "MS" a degree.
#: Written as the cache normalises text (:func:`..keys.normalise` drops hyphens).
ABBREVIATIONS = {
    "sso": "single sign on",
    "mfa": "multi factor authentication",
    "2fa": "two factor authentication",
    "amex": "american express",
    "dpa": "data processing agreement",
    "nda": "non disclosure agreement",
    "sla": "service level agreement",
    "slas": "service level agreements",
    "faq": "frequently asked questions",
    "faqs": "frequently asked questions",
    "seo": "search engine optimisation",
    "crm": "customer relationship management",
    "cms": "content management system",
    "roi": "return on investment",
    "ms teams": "microsoft teams",
    "ms word": "microsoft word",
    "ms excel": "microsoft excel",
    "ms office": "microsoft office",
    "ms outlook": "microsoft outlook",
}
_ABBREVIATION_RE = re.compile(
    r"(?<![\w-])(" + "|".join(sorted(map(re.escape, ABBREVIATIONS), key=len, reverse=True))
    + r")(?![\w-])", re.IGNORECASE)


def spelt_out(text: str) -> str:
    """``text`` with the abbreviations of :data:`ABBREVIATIONS` spelt out ("Is SSO supported?"
    -> "Is single sign on supported?"); everything else as it was. Idempotent."""
    return _ABBREVIATION_RE.sub(lambda m: ABBREVIATIONS[m.group(1).lower()], text)
CURRENCIES = {
    "$": "usd", "usd": "usd", "dollar": "usd", "dollars": "usd", "€": "eur", "eur": "eur",
    "euro": "eur", "euros": "eur", "£": "gbp", "gbp": "gbp", "pound": "gbp", "pounds": "gbp",
    "¥": "jpy", "yen": "jpy", "jpy": "jpy", "inr": "inr", "rupee": "inr", "rupees": "inr",
    "rs": "inr", "%": "percent", "percent": "percent",
}
CURRENCY_RE = re.compile(r"[$€£¥%]|\b(?:" + "|".join(
    sorted((k for k in CURRENCIES if k.isalpha()), key=len, reverse=True)) + r")\b")

# Phrases folded into one concept before content words are compared: different words,
# same question. Kept small and general; the embedding does the rest.
CONCEPTS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p), c)
    for p, c in (
        (r"\bhow much\b|\bhow expensive\b|\bprices?\b|\bpricing\b|\bpriced\b|\bcosts?\b"
         r"|\bcosting\b|\bfees?\b|\bcharges?\b", " price "),
        (r"\bsubscriptions?\b|\btiers?\b|\bplans?\b", " plan "),
        (r"\bhow do i\b|\bhow can i\b|\bhow to\b|\bways? to\b|\bhow should i\b"
         r"|\bwhat should i do to\b|\bwhat can i do to\b|\bsteps? to\b", " "),
        (r"\bbest\b|\bgood\b|\bgreat\b|\btop\b|\bideal\b|\bgreatest\b|\bfinest\b", " best "),
        (r"\bworst\b|\bbad\b|\bterrible\b", " worst "),
    )
)


#: Words that name one of several exclusive options: two questions that each name a different
#: option of one group ask different things ("import from HubSpot" / "export to HubSpot",
#: "monthly" / "annual price", "on Saturdays" / "on Mondays"), however close their wording.
#: Each group lists its options; words separated by "=" are one option said differently.
#: Kept to options no one uses for each other; plurals are folded ("saturdays").
CONTRAST_GROUPS: tuple[tuple[str, ...], ...] = (
    ("import", "export"),
    ("upload", "download"),
    ("buy=purchase", "sell"),
    ("add", "remove=delete"),
    ("upgrade", "downgrade"),
    ("enable", "disable"),
    ("encrypt", "decrypt"),
    ("inbound=incoming", "outbound=outgoing"),
    ("input", "output"),
    ("login=signin", "logout=signout"),
    ("before", "after"),
    ("minimum", "maximum"),
    ("lowest", "highest"),
    ("cheapest", "priciest"),
    ("fastest", "slowest"),
    ("oldest", "newest"),
    ("public", "private"),
    ("internal", "external"),
    ("online", "offline"),
    ("male=man=men", "female=woman=women"),
    ("customer=client", "staff=employee"),
    ("hourly", "daily", "weekly", "fortnightly", "monthly", "quarterly",
     "annual=annually=yearly"),
    ("second", "minute", "hour", "day", "week", "fortnight", "month", "year"),
    ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
     "weekday", "weekend"),
    ("january", "february", "march", "april", "june", "july", "august", "september",
     "october", "november", "december"),
)
_CONTRAST: dict[str, tuple[int, int]] = {
    word: (g, o)
    for g, options in enumerate(CONTRAST_GROUPS)
    for o, option in enumerate(options)
    for word in option.split("=")
}


def _options(text: str) -> dict[int, frozenset[int]]:
    found: dict[int, set[int]] = {}
    for w in normalise(text).split():
        hit = _CONTRAST.get(w)
        if hit is None and w.endswith("s"):
            hit = _CONTRAST.get(w[:-1])
        if hit is not None:
            found.setdefault(hit[0], set()).add(hit[1])
    return {g: frozenset(o) for g, o in found.items()}


def contrasted(a: str, b: str) -> bool:
    """True when both texts name options of one :data:`CONTRAST_GROUPS` group, and none in
    common. A text naming no option of the group is not contrasted ("What does Starter
    cost?" / "What does Starter cost monthly?" is left to the other checks), nor is one
    naming both ("enable or disable caching" / "disable caching")."""
    oa, ob = _options(a), _options(b)
    return any(not oa[g] & ob[g] for g in oa.keys() & ob.keys())


def _stemmer():
    from ethos.text import stemmer

    return stemmer()


_STEM = _stemmer()


def stem(word: str) -> str:
    return _STEM.stemWord(word)


#: what a question asks for when it names it: a time, a place, a person, a reason, a count, a
#: duration, a frequency. ("what", "which", "how" and "how much" ask for anything: a price,
#: a name, a year; they are left out, so "What year ..." may match "When ...".)
_ASKS_RE = re.compile(r"\b(who|whom|whose|when|where|why|how many|how long|how often)\b")


def asks_for(text: str) -> str | None:
    """The first specific thing the question asks for (``who``, ``when``, ``where``, ``why``,
    ``how many``, ``how long``, ``how often``), or None."""
    m = _ASKS_RE.search(normalise(text))
    if m is None:
        return None
    w = m.group(1)
    return "who" if w in ("whom", "whose") else w


#: how a question opens when it carries no question mark: an interrogative, or an auxiliary
#: verb put first ("can I ...", "is there ...", "doesnt it ...")
_QUESTION_RE = re.compile(
    r"^(?:what|whats|how|hows|why|when|where|wheres|who|whos|whom|whose|which|can|could|do"
    r"|does|did|is|are|was|were|will|would|should|shall|may|might|must|have|has|had|am|any"
    r"|anyone|anybody|isnt|arent|wasnt|dont|doesnt|didnt|cant|wont|wouldnt|shouldnt"
    r"|couldnt|havent|hasnt)\b")


def is_question(text: str) -> bool:
    """True when the text asks something: it holds a question mark, or it opens the way a
    question does. Statements and instructions ("Write a tagline for ...") are not."""
    return "?" in text or bool(_QUESTION_RE.match(normalise(text)))


def numbers(text: str) -> frozenset[str]:
    """The numbers (digits or number words) and currency/percent units a question names."""
    t = normalise(text)
    found = {_canon_number(m) for m in NUMBER_RE.findall(t)}
    found |= {NUMBER_WORDS[w] for w in t.split() if w in NUMBER_WORDS}
    found |= {"unit:" + CURRENCIES[m] for m in CURRENCY_RE.findall(t)}
    return frozenset(found)


def _canon_number(s: str) -> str:
    # Trailing zeros stay: normalise() writes "1,200" and "1.2" alike as "1.200"/"1.2",
    # and those must differ. "1.50" against "1.5" is then a miss, never a wrong answer.
    return s.lstrip("0") or "0"


def negated(text: str) -> bool:
    """True when the text carries an odd number of negations.

    A leading "yes"/"no" that answers something else and "not only" do not negate, so
    neither counts. ("none" is left out: in technical text it is mostly the value None.)
    """
    words = normalise(text).split()
    # "No, it doesn't exist": the "no" answers, the rest negates. "No alternative is
    # mentioned" negates by its "no". Tell them apart by a second negation.
    if len(words) > 1 and words[0] == "yes" or (
        words[:1] == ["no"] and any(w in NEGATIONS for w in words[1:])
    ):
        words = words[1:]
    n = 0
    for i, w in enumerate(words):
        if w in NEGATIONS and not (w == "not" and i + 1 < len(words)
                                    and words[i + 1] in ("only", "just")):
            n += 1
    return n % 2 == 1


#: what follows a plan's name when the plan is meant ("the team plan", "free tier users")
_PLAN_NOUNS = (r"(?:plans?|tiers?|subscriptions?|editions?|packages?|users?|seats?|customers?|"
               r"workspaces?|accounts?|levels?|versions?|options?)")
#: where a plan name that is also a common word means the word: "your support team", "my
#: team", "the free trial", "a small business", "business hours". General English, not a list
#: of test questions; a plan noun after the word ("my team plan", "small business plan") keeps
#: it a plan.
COMMON_WORD_USES = (
    ("team", re.compile(r"\b(?:my|our|your|their|his|her|whole|entire|support|sales|marketing|"
                        r"success|security|legal|design|engineering|product|content|creative|"
                        rf"dev|it|ops) team(?! {_PLAN_NOUNS}\b)")),
    ("free", re.compile(r"\bfree (?:trials?|of charge)\b")),
    ("business", re.compile(r"\b(?:a|an|my|our|your|their|small|own|local|online|family) "
                            rf"business(?:es)?\b(?! {_PLAN_NOUNS}\b)")),
    ("business", re.compile(r"\bbusiness (?:hours|days?|email|address|model|owners?)\b")),
)


def names_in(text: str, names: Iterable[str]) -> frozenset[str]:
    """Which of the knowledge base's plan/product ``names`` the question mentions; a name that
    is also a common word is not counted where it means the word (:data:`COMMON_WORD_USES`)."""
    t = f" {normalise(text)} "
    for word, pattern in COMMON_WORD_USES:
        # the word upper-cased: normalised names are lower-case, so it no longer matches
        t = pattern.sub(_upper_case(word), t)
    return frozenset(n for n in names if f" {normalise(n)} " in t)


def _upper_case(word: str) -> Callable[[re.Match[str]], str]:
    return lambda m: m.group(0).replace(word, word.upper())


def content_words(text: str, *, fold: bool = True) -> frozenset[str]:
    """What the question is about: stemmed words left after function words and numbers,
    with the synonyms of the concept table folded into one word unless ``fold`` is off."""
    t = f" {normalise(text)} "
    if fold:
        for pattern, concept in CONCEPTS:
            t = pattern.sub(concept, t)
    return frozenset(
        stem(w) for w in t.split()
        if w not in STOPWORDS and w not in NEGATIONS and not NUMBER_RE.fullmatch(w)
        and w not in NUMBER_WORDS
    )


def rephrased(a: str, b: str) -> bool:
    """True when the two questions use the same content words once the concept table's
    synonyms are folded ("how much" / "pricing" / "cost"), and differ only by those."""
    ca, cb = content_words(a), content_words(b)
    return bool(ca) and ca == cb and content_words(a, fold=False) != content_words(
        b, fold=False)


def same_subject(a: str, b: str) -> bool:
    """True when the content words are the same, or one side only adds to the other."""
    ca, cb = content_words(a), content_words(b)
    return ca <= cb or cb <= ca


def overlap(a: str, b: str) -> float:
    """Jaccard overlap of the two questions' content words (0 to 1)."""
    ca, cb = content_words(a), content_words(b)
    return len(ca & cb) / len(ca | cb) if ca | cb else 1.0


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0

__all__ = ["asks_for", "COMMON_WORD_USES", "CONCEPTS", "CONTRAST_GROUPS", "contrasted", "CURRENCIES", "NEGATIONS",
           "NUMBER_RE", "NUMBER_WORDS", "STOPWORDS", "content_words", "is_question", "jaccard", "names_in", "negated", "numbers", "overlap",
           "rephrased", "same_subject", "stem"]
