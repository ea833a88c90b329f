"""A piece of personal information found in a text."""

from __future__ import annotations

from dataclasses import dataclass

#: Every entity type the detector reports.
ENTITIES: tuple[str, ...] = (
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "CREDIT_CARD",
    "IBAN_CODE",
    "IP_ADDRESS",
    "AU_TFN",
    "AU_MEDICARE",
    "AU_ABN",
    "AU_ACN",
    "AU_PASSPORT",
    "AU_DRIVERS_LICENCE",
    "US_SSN",
    "STREET_ADDRESS",
    "DATE_OF_BIRTH",
    "PERSON",
)


@dataclass(frozen=True, slots=True)
class Finding:
    """``text[start:end]`` is an ``entity``; ``score`` in (0, 1] says how sure we are.

    Checksum-validated numbers score 1.0, pattern-plus-context findings less.
    """

    entity: str
    start: int
    end: int
    score: float

    def to_dict(self) -> dict[str, object]:
        return {"entity": self.entity, "start": self.start, "end": self.end, "score": self.score}
