"""Check digits of the numbers we detect.

``python-stdnum`` does the published algorithms (Luhn, IBAN mod 97, TFN, ABN, ACN, SSN);
it is imported on first use because its import pulls in ~50 ms of standard library.
Medicare has no stdnum module, so its (public) check digit is computed here.
"""

from __future__ import annotations

import ipaddress
from functools import cache


@cache
def _stdnum():
    from stdnum import iban, luhn  # noqa: PLC0415 - lazy on purpose
    from stdnum.au import abn, acn, tfn  # noqa: PLC0415
    from stdnum.us import ssn  # noqa: PLC0415

    return {"iban": iban, "luhn": luhn, "abn": abn, "acn": acn, "tfn": tfn, "ssn": ssn}


def _card_brand_ok(d: str) -> bool:
    """Issuer prefix and length of Visa, Mastercard, Amex, Diners, Discover, JCB, UnionPay."""
    n = len(d)
    if d[0] == "4":
        return n in (13, 16, 19)
    if d[:2] in ("34", "37"):
        return n == 15
    if "51" <= d[:2] <= "55" or "2221" <= d[:4] <= "2720":
        return n == 16
    if d[:2] in ("36", "38", "30"):
        return 14 <= n <= 16
    if d[:4] == "6011" or d[:2] in ("65", "62", "35") or "644" <= d[:3] <= "649":
        return 16 <= n <= 19
    return False


#: how card numbers are grouped when written with separators
_CARD_GROUPS = ((4, 4, 4, 4), (4, 6, 5), (4, 6, 4), (4, 4, 4, 4, 3), (4, 4, 4, 1), (4, 4, 4, 2), (4, 4, 4, 3))


def is_card(digits: str, groups: tuple[int, ...] | None = None) -> bool:
    """13-19 digits, a known issuer prefix and length, a valid Luhn digit, and (when
    written with separators) the usual grouping."""
    if not 13 <= len(digits) <= 19 or not _card_brand_ok(digits):
        return False
    if groups is not None and len(groups) > 1 and groups not in _CARD_GROUPS:
        return False
    return bool(_stdnum()["luhn"].is_valid(digits))


def is_luhn(digits: str) -> bool:
    """A valid Luhn check digit (any issuer, any length the caller allows)."""
    return digits.isdigit() and bool(_stdnum()["luhn"].is_valid(digits))


def _mod97_ok(code: str) -> bool:
    """The IBAN check digits alone: a cheap test before stdnum's (which also checks the
    country's length and format)."""
    c = code.replace(" ", "").upper()
    if not 15 <= len(c) <= 34 or not c.isalnum() or not c[2:4].isdigit():
        return False
    try:
        return int("".join(str(int(ch, 36)) for ch in c[4:] + c[:4])) % 97 == 1
    except ValueError:
        return False


def is_iban(code: str) -> bool:
    """Country length and mod-97 check of an IBAN (spaces allowed)."""
    return _mod97_ok(code) and bool(_stdnum()["iban"].is_valid(code))


def is_tfn(digits: str) -> bool:
    return len(digits) in (8, 9) and bool(_stdnum()["tfn"].is_valid(digits))


def is_abn(digits: str) -> bool:
    return len(digits) == 11 and digits[0] != "0" and bool(_stdnum()["abn"].is_valid(digits))


def is_acn(digits: str) -> bool:
    return len(digits) == 9 and bool(_stdnum()["acn"].is_valid(digits))


def is_ssn(digits: str) -> bool:
    return len(digits) == 9 and bool(_stdnum()["ssn"].is_valid(digits))


_MEDICARE_WEIGHTS = (1, 3, 7, 9, 1, 3, 7, 9)


def is_medicare(digits: str) -> bool:
    """10 digits (11 with the individual reference): first 2-6, digit 9 checks 1-8."""
    if len(digits) not in (10, 11) or digits[0] not in "23456":
        return False
    total = sum(int(d) * w for d, w in zip(digits[:8], _MEDICARE_WEIGHTS, strict=True))
    return total % 10 == int(digits[8])


def is_ip(text: str) -> bool:
    """A literal IPv4 or IPv6 address."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
