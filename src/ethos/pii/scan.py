"""Scan stored cache entries for PII: what the CLI and the admin endpoint report.

Reports keys, entity types and counts, never the values. Pure: the caller supplies the
batches (``Store.scan()``) and does the deleting and the metrics.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from .detect import detect as _detect
from .finding import Finding


class ScannableEntry(Protocol):
    """What the scan reads of a cache entry (``ethos.cache.Entry`` has it; ``hit_count``
    is optional)."""

    key: str
    question: str
    reply: str


@dataclass(frozen=True, slots=True)
class Leak:
    """A stored entry that holds PII: its key, how many of each entity (never the values),
    the total of findings, and how often the entry was served (``hit_count`` of the
    entry: how many answers may have carried it)."""

    key: str
    entities: dict[str, int] = field(default_factory=dict)
    findings: int = 0
    hit_count: int = 0

    def to_dict(self) -> dict[str, object]:
        return {
            "key": self.key,
            "entities": dict(self.entities),
            "findings": self.findings,
            "hit_count": self.hit_count,
        }


@dataclass(slots=True)
class ScanProgress:
    """Running totals, updated as batches go by (for progress output and the gauge)."""

    scanned: int = 0
    leaking: int = 0
    entities: Counter = field(default_factory=Counter)


def scan_entry(
    entry: ScannableEntry, detect: Callable[[str], list[Finding]] = _detect
) -> Leak | None:
    """The leak in one entry, or None when its question and reply are clean."""
    counts: Counter[str] = Counter()
    for text in (entry.question, entry.reply):
        if text:
            counts.update(f.entity for f in detect(text))
    if not counts:
        return None
    return Leak(
        entry.key,
        dict(sorted(counts.items())),
        sum(counts.values()),
        int(getattr(entry, "hit_count", 0) or 0),
    )


def scan_entries(
    batches: Iterable[Iterable[ScannableEntry]],
    detect: Callable[[str], list[Finding]] = _detect,
    progress: ScanProgress | None = None,
) -> Iterator[Leak]:
    """Yield a :class:`Leak` for every entry in ``batches`` that holds PII.

    ``progress`` (optional) is updated after each batch so a caller can print progress
    or set the leak gauge while the scan runs.
    """
    for batch in batches:
        for entry in batch:
            leak = scan_entry(entry, detect)
            if progress is not None:
                progress.scanned += 1
            if leak is not None:
                if progress is not None:
                    progress.leaking += 1
                    progress.entities.update(leak.entities)
                yield leak
