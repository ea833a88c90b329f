"""Whether the cache is cleared or preserved after a rollback (the runbook's Options 1 and 2).

Pure: the caller reads ``cache_format_version`` from each revision's ``/health`` and passes it in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

CacheMode = Literal["clear", "preserve", "auto"]
CacheAction = Literal["clear", "preserve", "refuse"]

#: Causes after which the cache must always be cleared (the runbook's PII leak response).
MUST_CLEAR_CAUSES = frozenset({"pii", "corruption"})
CAUSES = ("unspecified", "errors", "latency", "cache", "cost", "pii", "corruption", "drill")


@dataclass(frozen=True, slots=True)
class CacheDecision:
    """What to do with the cache, and why (shown to the operator and journaled)."""

    action: CacheAction
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"action": self.action, "reason": self.reason}


def decide_cache(
    mode: CacheMode, blue_format: int | None, green_format: int | None, cause: str
) -> CacheDecision:
    """Decide the cache's fate; ``None`` formats mean the revision's ``/health`` gave none.

    - ``clear``: always clear.
    - PII or corruption: always clear; ``preserve`` is refused (cached data is the problem).
    - ``preserve``: only when both formats are known and equal, else refused with the reason.
    - ``auto``: preserve when both formats are known and equal, else clear.
    """
    if mode == "clear":
        return CacheDecision("clear", "asked to clear (--cache clear)")
    if cause in MUST_CLEAR_CAUSES:
        why = "a PII leak" if cause == "pii" else "data corruption"
        if mode == "preserve":
            return CacheDecision(
                "refuse",
                f"cannot preserve the cache: the cause is {why}, so cached entries are the "
                "problem; use --cache clear (or auto)",
            )
        return CacheDecision("clear", f"the cause is {why}: every cached entry is removed")
    if blue_format is None or green_format is None:
        missing = ", ".join(
            n for n, v in (("blue", blue_format), ("green", green_format)) if v is None
        )
        if mode == "preserve":
            return CacheDecision(
                "refuse",
                f"cannot preserve the cache: the cache format of {missing} is unknown "
                "(no cache_format_version in /health), so it may be unreadable; use --cache clear",
            )
        return CacheDecision(
            "clear", f"cache format of {missing} unknown: clearing is the safe choice"
        )
    if blue_format != green_format:
        if mode == "preserve":
            return CacheDecision(
                "refuse",
                f"cannot preserve the cache: blue reads format {blue_format} but green wrote "
                f"format {green_format}; blue would miss or misread those entries; "
                "use --cache clear",
            )
        return CacheDecision(
            "clear",
            f"cache formats differ (blue {blue_format}, green {green_format}): "
            "entries green wrote are of no use to blue",
        )
    return CacheDecision(
        "preserve",
        f"both revisions use cache format {blue_format} and the cause ({cause}) does not "
        "taint the cache: preserved (--cache clear to clear)",
    )


_PII = re.compile(r"\b(pii|personal data|gdpr|leak)", re.I)
_CORRUPT = re.compile(r"corrupt", re.I)


def infer_cause(reason: str) -> str:
    """A cause from free text when none was given: PII / corruption words, else unspecified."""
    if _PII.search(reason):
        return "pii"
    if _CORRUPT.search(reason):
        return "corruption"
    return "unspecified"


__all__ = ["CacheDecision", "CacheMode", "CAUSES", "MUST_CLEAR_CAUSES", "decide_cache", "infer_cause"]
