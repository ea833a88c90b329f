"""A fixed synthetic sample the detector must always find: tells "broken" from "no PII".

Every number below is made up (test values of the published algorithms).
"""

from __future__ import annotations

from collections.abc import Callable

from .detect import detect
from .finding import Finding

#: (text, entity that must be found)
SELFTEST_SAMPLES: tuple[tuple[str, str], ...] = (
    ("Please reply to jane.citizen@example.com.au", "EMAIL_ADDRESS"),
    ("call me on 0412 345 678 after 5", "PHONE_NUMBER"),
    ("our office line is (02) 9876 5432", "PHONE_NUMBER"),
    ("ring +61 3 9123 4567 any time", "PHONE_NUMBER"),
    ("card 4111 1111 1111 1111 exp 12/29", "CREDIT_CARD"),
    ("IBAN GB82 WEST 1234 5698 7654 32", "IBAN_CODE"),
    ("the server at 203.0.113.42 is mine", "IP_ADDRESS"),
    ("my TFN is 123 456 782", "AU_TFN"),
    ("Medicare number 2123 45670 1", "AU_MEDICARE"),
    ("ABN 51 824 753 556", "AU_ABN"),
    ("ACN 004 085 616", "AU_ACN"),
    ("passport number PA1234567", "AU_PASSPORT"),
    ("driver licence 12345678", "AU_DRIVERS_LICENCE"),
    ("SSN 536-90-4399", "US_SSN"),
    ("send it to 12 Smith St, Carlton VIC 3053", "STREET_ADDRESS"),
    ("my date of birth is 14/02/1987", "DATE_OF_BIRTH"),
    ("Hi, my name is Priya Raman and I run a cafe", "PERSON"),
)


def selftest(detector: Callable[[str], list[Finding]] = detect) -> float:
    """Fraction of :data:`SELFTEST_SAMPLES` whose entity is found (1.0 when healthy)."""
    ok = 0
    for text, entity in SELFTEST_SAMPLES:
        try:
            if any(f.entity == entity for f in detector(text)):
                ok += 1
        except Exception:  # noqa: BLE001 - a crashing detector is an unhealthy one
            pass
    return ok / len(SELFTEST_SAMPLES)
