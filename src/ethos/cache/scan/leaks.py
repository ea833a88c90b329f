"""Scanning the store for personal data that got past the gate, and purging it.

The count of leaking entries is kept in the store itself (:data:`PII_LEAKS_META`), so every
instance sharing the store reports it as the ``ethos_cache_pii_leaks`` gauge that the
guard's emergency trigger watches. It is the store's truth: only a *complete* scan of the
whole store by a detector that passes its self-test writes it (with the time, in
:data:`PII_SCAN_OK_META`). A scan that fails part-way, or whose detector is broken, writes
nothing: it cannot lower the gauge (its caller counts it as a failure instead).

"served" is how often a leaking entry was answered from the cache: the entry's hit count as
the store keeps it, or :data:`UNKNOWN` when the store cannot tell (never 0 for "unknown").
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from ...pii import detect, scan_entry
from ..stores import Store

PII_LEAKS_META = "pii_leaks"
#: unix seconds of the last complete scan of the whole store (by any instance)
PII_SCAN_OK_META = "pii_scan_ok_at"
SCAN_BATCH = 1000
#: what a report says when the store cannot tell how often an entry was served
UNKNOWN = "unknown"


def served_of(entry: object) -> int | str:
    """How often ``entry`` was served, from the store's hit count, or :data:`UNKNOWN`."""
    hits = getattr(entry, "hit_count", None)
    if isinstance(hits, bool) or not isinstance(hits, int) or hits < 0:
        return UNKNOWN
    return hits


def served_total(leaks: list[dict]) -> int | str:
    """The sum of the leaks' ``served``, or :data:`UNKNOWN` if any of them is unknown."""
    total = 0
    for x in leaks:
        n = x.get("served")
        if isinstance(n, bool) or not isinstance(n, int):
            return UNKNOWN
        total += n
    return total


def detector_healthy() -> bool:
    """True when the PII detector finds its whole synthetic self-test sample."""
    from ...pii import selftest

    try:
        return selftest() >= 1.0
    except Exception:  # noqa: BLE001 - a detector that crashes is a broken one
        return False


def record_complete_scan(store: Store, leaking: int, now: float) -> None:
    """Write a complete scan's result to the store: the leak count and when. Only for a scan
    that read every entry with a healthy detector. Raises StoreUnavailable."""
    store.set_meta(PII_LEAKS_META, max(int(leaking), 0))
    store.set_meta(PII_SCAN_OK_META, int(now))


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
    #: True when every entry was read by a detector that passed its self-test: only then is
    #: the result written to the store (the gauge); otherwise ``incomplete`` says why
    complete: bool = False
    incomplete: str | None = None

    def to_dict(self) -> dict:
        return {
            "scanned": self.scanned,
            "leaking": len(self.leaks),
            "entities": dict(sorted(self.entities.items())),
            "leaks": self.leaks,
            "served_total": served_total(self.leaks),
            "purged": self.purged,
            "complete": self.complete,
            **({"incomplete": self.incomplete} if self.incomplete else {}),
        }


def scan_store(
    store: Store,
    *,
    purge: bool = False,
    progress: Callable[[int, int], None] | None = None,
    detector_ok: Callable[[], bool] = detector_healthy,
    now: Callable[[], float] = time.time,
) -> ScanReport:
    """Scan every entry; report keys, entity types and counts, and how often each was
    served (its hit count, or "unknown") — never the values (a key's words are masked when
    the question holds personal data). ``purge`` removes the leaking entries.

    The result goes to the store (the leak gauge of every instance) only when the scan is
    complete: every entry read, and ``detector_ok()`` before and after. A scan that raises
    part-way writes nothing. Raises StoreUnavailable."""
    report = ScanReport()
    healthy = detector_ok()
    for batch in store.scan(batch=SCAN_BATCH):
        for entry in batch:
            leak = scan_entry(entry)
            if leak is not None:
                # a leaking question's words are in its key: never shown
                report.leaks.append(
                    {"key": shown_key(entry.key, entry.question), "entities": leak.entities,
                     "served": served_of(entry)}
                )
                report.keys.append(entry.key)
                report.entities.update(leak.entities)
        report.scanned += len(batch)
        if progress is not None:
            progress(report.scanned, len(report.leaks))
    if purge and report.leaks:
        report.purged = store.delete_keys(report.keys)
    if healthy and detector_ok():
        report.complete = True
        record_complete_scan(store, len(report.leaks) - report.purged, now())
    else:
        report.incomplete = ("the PII detector failed its self-test: the result may miss"
                             " leaks and does not change the leak gauge")
    return report
