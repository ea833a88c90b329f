"""The in-process memory tier in front of a store.

It holds copies of recently used entries. Copies are dropped when the store's epoch moves
(something was removed, possibly by another process) and when they expire, so a removal
anywhere is never served from memory afterwards. An expired copy is never served, but one
nobody asks for again would stay until the LRU pushes it out: :meth:`MemoryTier.purge_expired`
drops them all (the periodic purge calls it in every process, since removing expired entries
from the store does not move the epoch).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from .entry import Entry


class MemoryTier:
    """A bounded LRU of entries, cleared when the store epoch changes."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._items: OrderedDict[str, Entry] = OrderedDict()
        self._epoch: int | None = None
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def sync(self, epoch: int) -> bool:
        """Drop everything if the store's epoch moved; True when it did."""
        if epoch == self._epoch:
            return False
        with self._lock:
            self._items.clear()
            first = self._epoch is None
            self._epoch = epoch
        return not first

    def get(self, key: str, now: float) -> Entry | None:
        e = self._items.get(key)
        if e is None:
            return None
        if e.expired(now):
            self.discard(key)
            return None
        try:
            self._items.move_to_end(key)
        except KeyError:  # removed by another thread meanwhile
            pass
        return e

    def put(self, entry: Entry) -> None:
        if self.max_entries <= 0:
            return
        with self._lock:
            self._items[entry.key] = entry
            self._items.move_to_end(entry.key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)

    def purge_expired(self, now: float) -> int:
        """Drop every copy expired at ``now``; return how many. One pass over at most
        ``max_entries`` copies, under the lock."""
        with self._lock:
            # a snapshot: get() reorders the dict without the lock
            gone = [k for k, e in list(self._items.items()) if e.expired(now)]
            for k in gone:
                self._items.pop(k, None)
        return len(gone)

    def discard(self, key: str) -> None:
        with self._lock:
            self._items.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
