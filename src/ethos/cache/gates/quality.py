"""The quality gate: answers that must not be shared with the next user.

One small rule per reason; each takes the exchange and returns a :class:`Rejection` or
None. :func:`make_quality_gate` composes them in the order of :data:`QUALITY_REASONS`
(cheapest first). Pure: no I/O, no metrics (the service counts
``ethos_cache_quality_rejections_total{reason}`` from the returned reason).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from functools import partial

from .admission import Exchange, Gate, Rejection

#: reasons, in the order the rules run
QUALITY_REASONS: tuple[str, ...] = (
    "empty", "too_short", "truncated", "error_text", "fallback", "refusal",
    "personalised", "time_sensitive", "poorly_grounded",
)

#: an answer shorter than this (characters, after trimming) is not worth sharing
MIN_REPLY_CHARS = 24
#: ... nor one with fewer words than this
MIN_REPLY_WORDS = 4
#: refusal/apology phrases are looked for in the first this-many characters only: an answer
#: that helps and then says "sorry, we don't ship to Mars" is still an answer
REFUSAL_HEAD_CHARS = 160
#: knowledge-base answers whose best retrieval score is below this are not grounded enough.
#: The scale is the retriever's (bm25 here); the service sets the real value.
MIN_RETRIEVAL_SCORE = 1.0
#: the plan names of the knowledge base (the service passes the current list)
PLAN_NAMES: tuple[str, ...] = ("Free", "Starter", "Team", "Business", "Enterprise")
#: texts the service answers with when the answerer fails (matched case-insensitively)
FALLBACK_TEXTS: tuple[str, ...] = (
    "i'm having trouble answering right now",
    "i am having trouble answering right now",
    "please try again in a moment",
    "our assistant is temporarily unavailable",
    "we couldn't generate an answer",
)


def _rx(*phrases: str) -> re.Pattern[str]:
    return re.compile(r"(?i)\b(?:" + "|".join(phrases) + r")")


_REFUSAL = _rx(
    r"i'?m sorry", r"i am sorry", r"sorry,? (?:but )?i", r"(?:my )?apologies", r"i apologi[sz]e",
    r"i (?:can(?:no|')t|am unable to|'m unable to|am not able to|'m not able to) "
    r"(?:help|assist|answer|provide|share|do that|discuss)",
    r"as an ai", r"i don'?t have (?:access|information|enough information|that information)",
    r"i don'?t know", r"i'?m not sure (?:i can|about that)", r"i won'?t be able",
    r"unfortunately,? i (?:can|am|'m|don|do)",
)
_ERROR = _rx(
    r"an? (?:unexpected |internal )?error (?:occurred|has occurred|was encountered)",
    r"something went wrong", r"internal server error", r"traceback \(most recent call",
    r"exception:", r"rate limit exceeded", r"too many requests", r"request timed out",
    r"timed out while", r"service (?:is )?(?:temporarily )?unavailable", r"bad gateway",
    r"error code:? ?\d+", r"5\d\d (?:error|internal|bad gateway|service)", r"request failed",
    r"upstream error",
)
#: error messages are looked for in the first this-many characters: an answer *about*
#: errors ("if the service is unavailable, retry") goes on to explain
ERROR_HEAD_CHARS = 200
_PERSONAL = _rx(
    r"your (?:account|order|orders|subscription|invoice|invoices|bill|billing|payment|"
    r"card|booking|ticket|password|profile|details|current plan|refund|delivery|workspace "
    r"settings|usage this|trial ends|renewal date)",
    r"i(?:'ve| have) (?:checked|looked up|updated|reset|cancelled|refunded|found your)",
    r"i can see (?:that )?you", r"according to (?:your|our) records", r"you(?:'re| are) "
    r"currently (?:on|subscribed|paying|using)", r"you signed up", r"you(?:'ve| have) "
    r"(?:used|been charged|paid)",
)
_MONTH = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
          r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)")
_DAY = r"(?:mon|tues|wednes|thurs|fri|satur|sun)day"
_TIME = _rx(
    r"today\b", r"tonight\b", r"tomorrow\b", r"yesterday\b", r"this (?:week|weekend|month)\b",
    r"next (?:week|month)\b", r"right now\b", r"at the moment\b", r"currently on sale",
    r"on sale\b", r"(?:sale|offer|deal|promotion|promo|discount) ends", r"ends (?:soon|on|at)\b",
    r"limited[- ]time", r"for a limited", r"last chance", r"only \d+ (?:spots?|seats?|left)",
    r"flash sale", r"expires? (?:on|at|soon)\b",
    rf"(?:until|till|before|by|ends?) (?:the )?(?:\d{{1,2}}(?:st|nd|rd|th)? (?:of )?{_MONTH}"
    rf"|{_MONTH} \d{{1,2}}|\d{{1,2}}/\d{{1,2}}|{_DAY}|midnight|eofy|end of (?:the )?"
    r"(?:month|week|financial year))",
)
# a prose line ends with one of these when it is complete
_SENTENCE_END = tuple(".!?…)]}\"'`*_»”’>")
_LIST_OR_TABLE = re.compile(r"^\s*(?:[-*•+]|\d+[.)]|\||#)")
# an answer may end with a link or an address: "… at https://ethosprompt.com/pricing"
_LINK_END = re.compile(r"(?:https?://\S+|\S+@\S+\.\w+|www\.\S+)$")
# prices: "$49", "A$1,200.00", "AUD 1,200", "USD 15", "49 dollars", "49/month", "49 per seat"
_PRICE = re.compile(
    r"(?i)(?:(?:A|AU|US|NZ)?\$|\b(?:AUD|USD|NZD|EUR|GBP)\s?)\s?(\d[\d,]*(?:\.\d+)?)(k)?"
    r"|\b(\d[\d,]*(?:\.\d+)?)(k)?\s?(?:AUD|USD|dollars?)\b"
    r"|\b(\d[\d,]*(?:\.\d+)?)\s?(?:/|per\s+|a\s+)(?:month|mo|year|yr|annum|user|seat|member)\b"
)
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


# --- rules -----------------------------------------------------------------------------

def rule_empty(ex: Exchange) -> Rejection | None:
    """Nothing but whitespace."""
    return None if ex.reply.strip() else Rejection("quality", "empty", "the answer is empty")


def rule_too_short(
    ex: Exchange, min_chars: int = MIN_REPLY_CHARS, min_words: int = MIN_REPLY_WORDS
) -> Rejection | None:
    """Too short to be a useful shared answer."""
    text = ex.reply.strip()
    if len(text) < min_chars or len(text.split()) < min_words:
        return Rejection("quality", "too_short", f"{len(text)} chars, {len(text.split())} words")
    return None


def rule_truncated(ex: Exchange) -> Rejection | None:
    """Cut off: ``finish_reason=length``, an open code block, or (generated answers) a
    prose line that stops mid-sentence."""
    if ex.finish_reason == "length":
        return Rejection("quality", "truncated", "finish_reason=length")
    text = ex.reply.rstrip()
    if text.count("```") % 2:
        return Rejection("quality", "truncated", "unclosed code block")
    if ex.answerer == "kb":
        return None  # curated passages are not cut by a token limit
    last = text.rsplit("\n", 1)[-1]
    if _LIST_OR_TABLE.match(last) and not last.rstrip().endswith((",", ":", ";", "-", "(")):
        return None
    if _LINK_END.search(text):
        return None
    if text and not text.endswith(_SENTENCE_END) and not _is_symbol(text[-1]):
        return Rejection("quality", "truncated", "ends mid-sentence")
    return None


def _is_symbol(ch: str) -> bool:
    # emoji and other pictographs end a sentence in chat
    return ord(ch) > 0x2000 and not ch.isalnum()


def rule_error_text(ex: Exchange) -> Rejection | None:
    """An error message instead of an answer."""
    if ex.finish_reason == "error":
        return Rejection("quality", "error_text", "finish_reason=error")
    m = _ERROR.search(ex.reply, 0, ERROR_HEAD_CHARS)
    return Rejection("quality", "error_text", f"says {m.group().lower()!r}") if m else None


def rule_fallback(ex: Exchange, fallback_texts: Sequence[str] = FALLBACK_TEXTS) -> Rejection | None:
    """The service's fallback text."""
    if ex.finish_reason == "fallback":
        return Rejection("quality", "fallback", "finish_reason=fallback")
    low = ex.reply.lower()
    for t in fallback_texts:
        if t.lower() in low:
            return Rejection("quality", "fallback", "the answer is the fallback text")
    return None


def rule_refusal(ex: Exchange, head: int = REFUSAL_HEAD_CHARS) -> Rejection | None:
    """A refusal or an apology opens the answer."""
    m = _REFUSAL.search(ex.reply, 0, head)
    return Rejection("quality", "refusal", f"opens with {m.group().lower()!r}") if m else None


def rule_personalised(ex: Exchange) -> Rejection | None:
    """Speaks about this user's own account, order, plan or data."""
    m = _PERSONAL.search(ex.reply)
    return Rejection("quality", "personalised", f"says {m.group().lower()!r}") if m else None


def rule_time_sensitive(ex: Exchange) -> Rejection | None:
    """True today, wrong next week: "today", "this week", "on sale until 30 June"."""
    m = _TIME.search(ex.reply)
    return Rejection("quality", "time_sensitive", f"says {m.group().lower()!r}") if m else None


def rule_poorly_grounded(
    ex: Exchange,
    min_retrieval_score: float = MIN_RETRIEVAL_SCORE,
    plan_names: Iterable[str] = PLAN_NAMES,
) -> Rejection | None:
    """Knowledge-base answers need a good retrieval score; LLM answers may only state
    prices and plan names that a source passage holds.

    A knowledge-base answer without a score (None) is not judged here.
    """
    if ex.answerer == "kb":
        s = ex.retrieval_score
        if s is not None and s < min_retrieval_score:
            return Rejection("quality", "poorly_grounded", f"retrieval score {s:.3g} < {min_retrieval_score:g}")
        return None
    sources = "\n".join(ex.source_texts)
    missing_prices = sorted(prices_in(ex.reply) - numbers_in(sources))
    if missing_prices:
        return Rejection(
            "quality", "poorly_grounded",
            f"{len(missing_prices)} price(s) not in any source passage",
        )
    missing_plans = sorted(plans_in(ex.reply, plan_names) - plans_mentioned(sources, plan_names))
    if missing_plans:
        return Rejection(
            "quality", "poorly_grounded",
            "plan name(s) not in any source passage: " + ", ".join(missing_plans),
        )
    return None


# --- helpers for grounding ---------------------------------------------------------------

def _num(s: str, k: str | None = None) -> str:
    v = float(s.replace(",", "")) * (1000 if k else 1)
    return f"{v:g}"


def prices_in(text: str) -> set[str]:
    """The amounts of the prices stated in ``text``, normalised ("1,200.00" -> "1200")."""
    out = set()
    for m in _PRICE.finditer(text):
        if m.group(1):
            out.add(_num(m.group(1), m.group(2)))
        elif m.group(3):
            out.add(_num(m.group(3), m.group(4)))
        elif m.group(5):
            out.add(_num(m.group(5)))
    return out


def numbers_in(text: str) -> set[str]:
    """Every number in ``text``, normalised like :func:`prices_in` (a source may state a
    price without its currency sign)."""
    out = {_num(n) for n in _NUMBER.findall(text) if n.replace(",", "").replace(".", "").isdigit()}
    return out | prices_in(text)


def plans_in(text: str, plan_names: Iterable[str] = PLAN_NAMES) -> set[str]:
    """Plan names the text uses *as plans*: "the Team plan", "Business tier", "plan: Free"."""
    names = "|".join(re.escape(n) for n in plan_names)
    if not names:
        return set()
    rx = re.compile(
        rf"\b({names})\b(?=\s*(?:\(|plans?\b|tiers?\b|packages?\b|editions?\b|subscriptions?\b))"
        rf"|\b(?:plans?|tiers?)\s*[:\-]?\s*(?:the\s+)?({names})\b"
    )
    return {m.group(1) or m.group(2) for m in rx.finditer(text)}


def plans_mentioned(text: str, plan_names: Iterable[str] = PLAN_NAMES) -> set[str]:
    """Plan names a source passage names at all (case-insensitive, whole words)."""
    return {n for n in plan_names if re.search(rf"(?i)\b{re.escape(n)}\b", text)}


# --- composition -------------------------------------------------------------------------

def quality_rules(
    *,
    min_retrieval_score: float = MIN_RETRIEVAL_SCORE,
    plan_names: Iterable[str] = PLAN_NAMES,
    min_chars: int = MIN_REPLY_CHARS,
    min_words: int = MIN_REPLY_WORDS,
    fallback_texts: Sequence[str] = FALLBACK_TEXTS,
) -> tuple[Callable[[Exchange], Rejection | None], ...]:
    """The rules with their thresholds bound, in :data:`QUALITY_REASONS` order."""
    plans = tuple(plan_names)
    return (
        rule_empty,
        partial(rule_too_short, min_chars=min_chars, min_words=min_words),
        rule_truncated,
        rule_error_text,
        partial(rule_fallback, fallback_texts=fallback_texts),
        rule_refusal,
        rule_personalised,
        rule_time_sensitive,
        partial(rule_poorly_grounded, min_retrieval_score=min_retrieval_score, plan_names=plans),
    )


def make_quality_gate(**thresholds) -> Gate:
    """A gate running every rule (see :func:`quality_rules` for the keyword thresholds);
    the first rejection wins."""
    rules = quality_rules(**thresholds)

    def quality_gate(ex: Exchange) -> Rejection | None:
        for rule in rules:
            r = rule(ex)
            if r is not None:
                return r
        return None

    return quality_gate


#: the gate with the default thresholds
quality_gate: Gate = make_quality_gate()
