"""Scanning the store for personal data that got past the gate, and purging it.

The count of leaking entries found by the last scan is kept in the store itself
(:data:`PII_LEAKS_META`), so every instance sharing the store reports it as the
``ethos_cache_pii_leaks`` gauge that the guard's emergency trigger watches.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from ..pii import detect, scan_entry
from .store import Store

PII_LEAKS_META = "pii_leaks"
SCAN_BATCH = 1000


MASK = "<redacted>"


def shown_key(key: str, question: str) -> str:
    """The key as a report shows it: its readable part (the words of the question) masked
    when the question holds personal data; the digest at the end still names the entry."""
    if not question or not detect(question):
        return key
    head, sep, digest = key.rpartition(":")
    parts = head.split(":")
    if not sep:
        return MASK
    if len(parts) < 4:  # not namespace:vN:scope:words:digest
        return f"{MASK}:{digest}"
    return ":".join([*parts[:3], MASK, digest])


@dataclass
class ScanReport:
    scanned: int = 0
    leaks: list[dict] = field(default_factory=list)  # key (as shown), entities {type: count}, served
    entities: Counter = field(default_factory=Counter)
    purged: int = 0
    keys: list[str] = field(default_factory=list, repr=False)  # the real keys, for purging only

    def to_dict(self) -> dict:
        return {
            "scanned": self.scanned,
            "leaking": len(self.leaks),
            "entities": dict(sorted(self.entities.items())),
            "leaks": self.leaks,
            "purged": self.purged,
        }


def scan_store(
    store: Store,
    *,
    purge: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> ScanReport:
    """Scan every entry; report keys, entity types and counts, and how often each was
    served (its hit count) — never the values (a key's words are masked when the question
    holds personal data). ``purge`` removes the leaking entries.
    Raises StoreUnavailable."""
    report = ScanReport()
    for batch in store.scan(batch=SCAN_BATCH):
        for entry in batch:
            leak = scan_entry(entry)
            if leak is not None:
                # a leaking question's words are in its key: never shown
                report.leaks.append(
                    {"key": shown_key(entry.key, entry.question), "entities": leak.entities,
                     "served": entry.hit_count}
                )
                report.keys.append(entry.key)
                report.entities.update(leak.entities)
        report.scanned += len(batch)
        if progress is not None:
            progress(report.scanned, len(report.leaks))
    if purge and report.leaks:
        report.purged = store.delete_keys(report.keys)
    store.set_meta(PII_LEAKS_META, len(report.leaks) - report.purged)
    return report
