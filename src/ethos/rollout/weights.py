"""Splits and fences: the shape of a traffic split, and the fence a change carries. Pure.

Shared by the router (which enforces them), its client and every traffic manager (which
check them before any network call), so both sides apply one rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .errors import InvalidWeightsError, UnknownRevisionError

#: A split: revision name -> percent of traffic.
Weights = dict[str, int]

#: The header that carries a fence to the router (``PUT /router/traffic``).
FENCE_HEADER = "X-Ethos-Fence"
#: The largest fence (a signed 64-bit integer; epochs are milliseconds since the Unix epoch).
MAX_FENCE = 2**63 - 1


def check_fence(fence: object) -> int | None:
    """``fence`` if it is None or an integer 0..MAX_FENCE; else ``ValueError`` (a caller's bug).

    ``bool`` is refused, as for weights. Pure.
    """
    if fence is None:
        return None
    if isinstance(fence, bool) or not isinstance(fence, int) or not 0 <= fence <= MAX_FENCE:
        raise ValueError(f"fence must be None or an integer 0..{MAX_FENCE}, got {fence!r}")
    return int(fence)


def validate_weights(weights: Mapping[str, Any], known: Iterable[str] | None) -> Weights:
    """Check a requested split and return it complete, in the order of ``known``.

    Rules: a non-empty mapping of revision name -> integer 0..100 (``bool`` and ``float`` are
    refused, also ``10.0``), summing to exactly 100, every name in ``known``. Known revisions
    that are not named get 0, as ``gcloud run services update-traffic --to-revisions`` does.
    ``known=None`` skips the name check (a client that does not know the names yet).

    Raises :class:`InvalidWeightsError` or :class:`UnknownRevisionError`. Pure, no I/O.
    """
    if not isinstance(weights, Mapping) or not weights:
        raise InvalidWeightsError(
            'weights must be a non-empty JSON object of revision -> percent, e.g. {"blue": 100, "green": 0}'
        )
    known_list = list(known) if known is not None else None
    for name, value in weights.items():
        if not isinstance(name, str) or not name:
            raise InvalidWeightsError(f"revision name must be a non-empty string, got {name!r}")
        if known_list is not None and name not in known_list:
            raise UnknownRevisionError(
                f"unknown revision {name!r}; known revisions: {', '.join(known_list) or '(none)'}"
            )
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidWeightsError(
                f"weight of {name!r} must be an integer percent, got {value!r}"
            )
        if not 0 <= value <= 100:
            raise InvalidWeightsError(f"weight of {name!r} must be within 0..100, got {value}")
    total = sum(weights.values())
    if total != 100:
        shown = ", ".join(f"{k}={v}" for k, v in weights.items())
        raise InvalidWeightsError(f"weights must sum to 100, got {total} ({shown})")
    if known_list is None:
        return {k: int(v) for k, v in weights.items()}
    return {name: int(weights.get(name, 0)) for name in known_list}


def parse_weights(text: str) -> Weights:
    """Parse ``"blue=90,green=10"`` (the CLI form) into a mapping; values checked later.

    Raises :class:`InvalidWeightsError` on malformed text. Pure.
    """
    out: Weights = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, value = part.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name:
            raise InvalidWeightsError(f"expected NAME=PERCENT, got {part!r} (e.g. blue=90,green=10)")
        try:
            out[name] = int(value)
        except ValueError:
            raise InvalidWeightsError(f"weight of {name!r} must be an integer, got {value!r}") from None
    if not out:
        raise InvalidWeightsError("no weights given (e.g. blue=90,green=10)")
    return out


__all__ = ["FENCE_HEADER", "MAX_FENCE", "Weights", "check_fence", "parse_weights", "validate_weights"]
