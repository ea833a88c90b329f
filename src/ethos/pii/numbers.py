"""What a run of digits is: checksums first, then phone shapes, then context words."""

from __future__ import annotations

import re
from functools import cache

from . import checksums as ck
from .context import VERSION, nearest_context

_NON_DIGIT = re.compile(r"\D+")
_DIGIT_GROUPS = re.compile(r"\d+")
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_VERSION_BEFORE = re.compile(r"(?i)(?:\bv|\bversion|\brelease|\bbuild|\bver\.?)\s*$")
_SSN_SHAPE = re.compile(r"\d{3}([ \-])\d{2}\1\d{4}")
_TRIPLE_SHAPE = re.compile(r"\d{3}[ \-.]?\d{3}[ \-.]?\d{3}")
_ABN_SHAPE = re.compile(r"\d{2}[ \-.]?\d{3}[ \-.]?\d{3}[ \-.]?\d{3}")
_MEDICARE_SHAPE = re.compile(r"\d{4}[ \-]?\d{5}[ \-]?\d(?:[ \-/]?\d)?")
#: an international number whose "+" was folded away (cache keys drop punctuation):
#: a 1-3 digit country code, then at least two more groups ("1 763 484 2684", "64 21 381 5688")
#: (its last group has 3+ digits, and it does not open with a date: "21 11 2025 18 13")
_INTL_NO_PLUS = re.compile(r"(?!\d{1,2}[ \-]\d{1,2}[ \-](?:19|20)\d\d)\d{1,3}(?:[ \-]\d{1,5}){1,4}[ \-]\d{3,5}")

#: first digit after the trunk 0 of Australian geographic (2,3,7,8) and mobile (4) numbers
_AU_NSN_FIRST = "23478"


@cache
def _phonenumbers():
    import phonenumbers  # noqa: PLC0415 - lazy: ~30 ms to import

    return phonenumbers


def _intl_phone(raw: str, digits: str) -> float:
    """Score of an international number (``+CC…`` or ``00CC…``), 0 when not a phone."""
    if digits.startswith("00"):
        digits = digits[2:]
    if digits.startswith("61"):
        nsn = digits[2:]
        if nsn.startswith("0"):  # "+61 (0) 412 …" keeps the trunk zero by habit
            nsn = nsn[1:]
        return 1.0 if len(nsn) == 9 and nsn[0] in _AU_NSN_FIRST else 0.0
    if not 8 <= len(digits) <= 15:
        return 0.0
    pn = _phonenumbers()
    try:
        num = pn.parse("+" + digits, None)
    except pn.NumberParseException:
        return 0.0
    if pn.is_valid_number(num):
        return 1.0
    return 0.7 if pn.is_possible_number(num) else 0.0


def _intl_valid(digits: str) -> bool:
    """A valid (not merely possible) international number, country code first."""
    pn = _phonenumbers()
    try:
        return bool(pn.is_valid_number(pn.parse("+" + digits, None)))
    except pn.NumberParseException:
        return False


def _au_phone(digits: str) -> float:
    """Score of an Australian number written nationally, 0 when not a phone."""
    if len(digits) == 10 and digits[0] == "0" and digits[1] in _AU_NSN_FIRST:
        return 1.0
    if len(digits) == 10 and digits.startswith(("1300", "1800")):
        return 0.9
    return 0.0


def classify_number(text: str, start: int, end: int) -> tuple[str, float] | None:
    """The entity and score of the digit run ``text[start:end]``, or None."""
    raw = text[start:end].rstrip(")").strip()
    digits = _NON_DIGIT.sub("", raw)
    n = len(digits)
    if n < 6 and "." not in raw:
        return None
    if "." in raw and _IPV4.fullmatch(raw):
        if _VERSION_BEFORE.search(text, max(0, start - 10), start):
            return None
        if nearest_context(text, start, end, window=24, after=16, same_clause=True) == VERSION:
            return None
        return ("IP_ADDRESS", 1.0) if ck.is_ip(raw) else None
    if n < 6:
        return None
    intl = raw.startswith("+")
    if not intl and n >= 13 and ck.is_card(digits, tuple(len(g) for g in _DIGIT_GROUPS.findall(raw))):
        return "CREDIT_CARD", 1.0
    ctx = nearest_context(text, start, end)
    if ctx == "CREDIT_CARD" and not intl and 12 <= n <= 19 and ck.is_luhn(digits):
        # after "my card number is", "visa", "credit card"…: any Luhn-valid 12-19 digit
        # number is a card, whatever its issuer range or grouping (a miss is a leak)
        return "CREDIT_CARD", 0.9
    if ctx == "AU_DRIVERS_LICENCE" and 4 <= n <= 10 and not intl:
        return "AU_DRIVERS_LICENCE", 0.8
    if intl:
        s = _intl_phone(raw, digits)
        return ("PHONE_NUMBER", s) if s else None
    if n == 11 and ck.is_abn(digits) and (ctx == "AU_ABN" or _ABN_SHAPE.fullmatch(raw)):
        if ctx != "PHONE_NUMBER" or not digits.startswith("61"):
            return "AU_ABN", 1.0 if ctx == "AU_ABN" else 0.8
    if n in (10, 11) and digits[0] != "0" and ck.is_medicare(digits):
        if ctx == "AU_MEDICARE" or _MEDICARE_SHAPE.fullmatch(raw):
            return "AU_MEDICARE", 1.0 if ctx == "AU_MEDICARE" else 0.7
    if n == 9:
        found = _nine_digits(raw, digits, ctx)
        if found:
            return found
    if n == 8 and ctx == "AU_TFN" and ck.is_tfn(digits):
        return "AU_TFN", 0.9
    s = _intl_phone(raw, digits) if raw.startswith("00") else _au_phone(digits)
    if s:
        return "PHONE_NUMBER", s
    if 10 <= n <= 13 and digits[0] != "0" and _INTL_NO_PLUS.fullmatch(raw):
        # "+1 763 484 2684" once its "+" is folded away: a valid number of its country
        if (digits.startswith("61") and _intl_phone(raw, digits) == 1.0) or (
            not digits.startswith("61") and _intl_valid(digits)
        ):
            return "PHONE_NUMBER", 0.7
    if ctx == "PHONE_NUMBER":
        if n == 8 and digits[0] in "23456789":  # a local number without its area code
            return "PHONE_NUMBER", 0.6
        if n == 11 and digits.startswith("61") and digits[2] in _AU_NSN_FIRST:
            return "PHONE_NUMBER", 0.8
        if n == 9 and digits[0] in _AU_NSN_FIRST:
            return "PHONE_NUMBER", 0.6  # national number with its trunk 0 dropped
    return None


def _nine_digits(raw: str, digits: str, ctx: str | None) -> tuple[str, float] | None:
    """Nine digits: a TFN, an ACN or an SSN by its context, else by its shape."""
    if ctx == "AU_TFN" and ck.is_tfn(digits):
        return "AU_TFN", 1.0
    if ctx == "AU_ACN" and ck.is_acn(digits):
        return "AU_ACN", 1.0
    if ctx == "US_SSN" and ck.is_ssn(digits):
        return "US_SSN", 1.0
    if ctx in (None, "AU_TFN", "AU_ACN", "US_SSN", "PHONE_NUMBER"):
        # no useful word near: fall back on the shape
        if _SSN_SHAPE.fullmatch(raw) and ck.is_ssn(digits):
            return "US_SSN", 0.7
        if _TRIPLE_SHAPE.fullmatch(raw) and ck.is_tfn(digits):
            return "AU_TFN", 0.6
    return None
