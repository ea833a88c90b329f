"""Does a question lean on earlier turns of the conversation?

"How much is that?", "and the other one?", "what about it" mean nothing alone: their answer
depends on what was said before. Such a question, asked in a session with history, is never
stored and never matched semantically, so one user's follow-up is never served another's
answer. The rule is biased towards "yes": a wrong "yes" costs one cache miss, a wrong "no"
can hand out someone else's answer.
"""

from __future__ import annotations

import re

from ..keys import normalise

# Pronouns that point back at something named earlier. ("there" is left out: "is there a
# free plan" is existential, not a reference.)
_ANAPHORA = frozenset(
    "it its itself they them their theirs themselves he him his she her hers".split()
)
# Words that, in a question, point at an earlier turn on their own.
_BACK_REFERENCES = frozenset(
    "former latter aforementioned above previous previously earlier mentioned".split()
)
# Openers that continue a previous question ("and for teams?", "what about SSO?").
_CONTINUATIONS = (
    "and ", "but ", "also ", "so ", "then ", "or ", "what about", "how about", "same ",
    "ok and", "okay and", "what else", "anything else", "why not", "how so",
)
# After "this"/"that"/"these"/"those", a word like these means the demonstrative stands
# alone ("how much is that", "is that included") rather than naming a noun ("that plan").
_FUNCTION_AFTER_DEMONSTRATIVE = frozenset(
    "is are was were does do did cost costs include includes mean means work works one"
    " ones for with in on at to of too also again instead then".split()
)
_DEMONSTRATIVES = frozenset("this that these those".split())
# "the other one", "the cheaper one", "which one": the thing is named elsewhere.
_ONE_RE = re.compile(r"\b(the|this|that|which|other|another|first|second|third|last|cheaper|"
                     r"bigger|smaller|larger|better|best|same)\s+(one|ones)\b")
_THE_SAME_RE = re.compile(r"\b(the|that|this)\s+(other|same|former|latter|previous|first|"
                          r"second|last)\b(?!\s+(time|step|thing|day|month|year|week)s?\b)")
_YOU_SAID_RE = re.compile(r"\byou\s+(said|mentioned|told|wrote|just|listed|suggested|meant)\b")
# Nouns after "that": "plans that include SSO" is a relative clause, not a reference.
_RELATIVE_BEFORE = frozenset("plan plans product products feature features one ones way".split())

#: a question this short with no noun of its own is an ellipsis ("why?", "how much?")
_SHORT_WORDS = 2
_QUESTION_WORDS = frozenset(
    "why how what when where who which really sure ok okay much many more less cost price"
    " yes no thanks please".split()
)


def depends_on_history(question: str) -> bool:
    """True when the question needs earlier turns to be understood."""
    t = normalise(question)
    words = t.split()
    if not words:
        return True
    if any(t.startswith(c) or t == c.strip() for c in _CONTINUATIONS):
        return True
    if len(words) <= _SHORT_WORDS and all(w in _QUESTION_WORDS for w in words):
        return True
    if any(w in _ANAPHORA or w in _BACK_REFERENCES for w in words):
        return True
    if _ONE_RE.search(t) or _THE_SAME_RE.search(t) or _YOU_SAID_RE.search(t):
        return True
    for i, w in enumerate(words):
        if w not in _DEMONSTRATIVES:
            continue
        nxt = words[i + 1] if i + 1 < len(words) else None
        prev = words[i - 1] if i else None
        if w == "that" and prev is not None and prev in _RELATIVE_BEFORE:
            continue  # relative clause
        if nxt is None or nxt in _FUNCTION_AFTER_DEMONSTRATIVE:
            return True
    return False
