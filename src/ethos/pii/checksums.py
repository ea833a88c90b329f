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


#: issuer prefixes of payment cards (Visa, Mastercard, Amex, Diners, Discover, JCB, UnionPay)
_CARD_PREFIXES = ("4", "51", "52", "53", "54", "55", "2", "34", "37", "36", "30", "38", "6", "35")


def is_card(digits: str) -> bool:
    """13-19 digits, a known issuer prefix, and a valid Luhn digit."""
    return (
        13 <= len(digits) <= 19
        and digits.startswith(_CARD_PREFIXES)
        and _stdnum()["luhn"].is_valid(digits)
    )


def is_iban(code: str) -> bool:
    """Country length and mod-97 check of an IBAN (spaces allowed)."""
    return bool(_stdnum()["iban"].is_valid(code))


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
