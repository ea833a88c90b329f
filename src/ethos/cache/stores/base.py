"""The storage interface every cache backend implements, and its errors.

A store is a dumb keyed table of :class:`Entry`: it knows expiry, glob patterns over keys,
the knowledge-base documents behind each entry, and an *epoch* that changes whenever
something live is removed, so that an in-memory tier in front of it (possibly in another
process) can tell its copies are stale. Which entries may be stored is decided above it.

Expired entries are misses everywhere (the store's reads, the memory tier, the vector
indexes all compare expiry with ``now``), so removing them changes nothing a reader can see:
:meth:`Store.purge_expired` frees their space without moving the epoch, as Redis's and
Firestore's own expiry do; each process drops its own expired copies (memory tier, vector
index rows) by the same clock.

Errors: every backend raises :class:`StoreUnavailable` (a subclass of :class:`StoreError`)
when it cannot be reached or times out, so callers can bypass the cache and keep answering.
:func:`open_store` with ``create=False`` (what every command that only *reads* a store uses)
raises :class:`StoreMissing` for a store that does not exist instead of creating an empty one,
and :class:`StoreUnavailable` for one that does not answer.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from ..entry import Entry


class StoreError(Exception):
    """A store operation failed."""


class StoreUnavailable(StoreError):
    """The store cannot be reached, is read-only or full, or did not answer in time.

    ``kind`` says which, for health and metrics: ``disk_full`` and ``read_only`` are
    failures to *write* (the store may still answer reads, see :data:`WRITE_FAILURES`);
    anything else is ``unavailable``.
    """

    def __init__(self, message: str = "", *, kind: str = "unavailable") -> None:
        super().__init__(message)
        self.kind = kind


class StoreMissing(StoreError):
    """The store does not exist (its SQLite file or directory is missing, or the file is not a
    cache) and the caller asked not to create it: a mistyped location, never an empty cache."""


#: kinds of :class:`StoreUnavailable` after which reads may still work
WRITE_FAILURES = frozenset({"disk_full", "read_only"})

#: expired entries one :meth:`Store.purge_expired` call removes at most, unless told otherwise
PURGE_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class StoreStats:
    entries: int
    size_bytes: int
    backend: str


@dataclass(slots=True)
class OpCounter:
    """Store operations by kind: the base of the cost signal.

    ``reads``, ``writes``, ``deletes``: entries (documents, rows, keys) read, written and
    removed, as a per-document bill counts them (a query that finds nothing still reads
    one); ``queries``: operations that select by a condition rather than by key (a range or
    filter query, a SCAN page), whose entries are already counted in ``reads``.
    """

    reads: int = 0
    writes: int = 0
    deletes: int = 0
    queries: int = 0


class Store(abc.ABC):
    """Abstract cache storage. Implementations must be safe to call from many threads."""

    backend: str = "abstract"
    #: True when an operation crosses the network (callers then run it off the event loop).
    remote: bool = False

    def __init__(self) -> None:
        self.ops = OpCounter()
        self._op_listeners: list = []

    def on_op(self, listener) -> None:  # listener(kind: str, n: int)
        """Call ``listener(kind, n)`` on every read/write/delete/query (for metrics); ``kind``
        is a field of :class:`OpCounter`."""
        self._op_listeners.append(listener)

    def _count(self, kind: str, n: int = 1) -> None:
        setattr(self.ops, kind, getattr(self.ops, kind) + n)
        for listener in self._op_listeners:
            listener(kind, n)

    # --- required ------------------------------------------------------------
    @abc.abstractmethod
    def get(self, key: str, now: float) -> Entry | None:
        """The live entry under ``key``, or None (expired entries are misses)."""

    @abc.abstractmethod
    def put(self, entry: Entry) -> None:
        """Insert or replace an entry (hit count restarts at 0)."""

    @abc.abstractmethod
    def delete_matching(self, pattern: str) -> int:
        """Remove entries whose key matches the glob ``pattern``; return how many."""

    @abc.abstractmethod
    def delete_by_source(self, source: str) -> int:
        """Remove entries grounded on knowledge-base document ``source``; return how many."""

    @abc.abstractmethod
    def add_hits(self, hits: dict[str, int]) -> None:
        """Add to the hit counts of existing entries (missing keys are ignored)."""

    @abc.abstractmethod
    def scan(self, pattern: str = "*", batch: int = 500) -> Iterator[list[Entry]]:
        """Every live entry matching ``pattern``, in batches, with hit counts."""

    @abc.abstractmethod
    def position(self) -> int:
        """The position of the latest :meth:`put`: a number that every put raises, shared by
        every instance on the store (0 when nothing was ever put). Not a time."""

    @abc.abstractmethod
    def scan_since(self, after: int, batch: int = 500) -> tuple[list[Entry], int]:
        """Up to ``batch`` stored entries put after position ``after``, in put order, with
        hit counts, and the position to pass next time (``after`` itself when there is
        nothing newer). A replaced entry counts as put again. An empty list with a moved
        position means the entries there have gone since: call again.

        For incremental scans: take :meth:`position` before a full :meth:`scan`, then read
        from it to see everything put since. Entries put before the backend kept positions
        are seen by :meth:`scan` only."""

    @abc.abstractmethod
    def scope_vectors(
        self, namespace: str, format_version: int, scope: str, now: float
    ) -> list[tuple[str, str, bytes, float]]:
        """``(key, question, embedding, expires_at)`` of every live entry of a scope that has
        a vector; ``expires_at`` is unix seconds, ``inf`` for an entry without TTL (the vector
        index drops the row when it expires, see :meth:`purge_expired`)."""

    @abc.abstractmethod
    def count(self) -> int:
        """Number of stored entries (expired ones not yet purged may be included)."""

    @abc.abstractmethod
    def stats(self) -> StoreStats: ...

    @abc.abstractmethod
    def epoch(self) -> int:
        """A number that changes whenever entries are removed (cheap; for memory tiers)."""

    @abc.abstractmethod
    def ping(self) -> bool:
        """True when the store answers."""

    @abc.abstractmethod
    def purge_expired(self, now: float, limit: int = PURGE_LIMIT) -> int:
        """Remove up to ``limit`` entries expired at ``now``, and what the store keeps for them
        beside the entry (source and vector indexes); return how many entries. Bounded work:
        a call that returns ``limit`` may have left more for the next one.

        Live entries are never removed, even one put again (with a later expiry) while the
        call runs. The epoch does not move (see the module's docstring)."""

    @abc.abstractmethod
    def set_meta(self, name: str, value: int) -> None:
        """Keep a named integer beside the entries (e.g. the last PII scan's leak count)."""

    @abc.abstractmethod
    def get_meta(self, name: str) -> int | None:
        """A named integer set by :meth:`set_meta` (by any instance), or None."""

    def close(self) -> None:  # noqa: B027 - optional
        """Release connections."""

    def index_mark(self) -> tuple[str, int] | None:
        """``(identity, removals)`` as the store itself keeps them, the same in every process,
        for a vector index saved to a file (:mod:`ethos.cache.semantic.persist`): the identity
        is new whenever the data is made anew (a SQLite file created, a Redis emptied), the
        removal count moves with every removal (like :meth:`epoch`, which may be a local
        counter). None: the backend keeps neither, and no index is saved or installed."""
        return None

    # --- derived -------------------------------------------------------------
    def delete_matching_steps(self, pattern: str) -> Iterator[tuple[int, int]]:
        """:meth:`delete_matching` reported as it goes: ``(examined, removed)`` so far after
        each bounded step (one step here; stores that page through their keys say more)."""
        n = self.delete_matching(pattern)
        yield n, n

    def delete_keys(self, keys: Iterable[str]) -> int:
        """Remove exactly these keys; return how many existed."""
        n = 0
        for k in keys:
            n += self.delete_matching(escape_glob(k))
        return n


def check_key(key: str) -> str:
    """``key``, or ValueError if it holds a NUL: SQLite's GLOB reads a string only up to one,
    so such a key could match patterns it does not match. (Keys from make_key never do.)"""
    if "\x00" in key:
        raise ValueError("a cache key cannot contain a NUL character")
    return key


def escape_glob(key: str) -> str:
    """``key`` as a GLOB pattern that matches only itself."""
    out = []
    for c in key:
        out.append(f"[{c}]" if c in "*?[]" else c)
    return "".join(out)


def safe_url(url: str) -> str:
    """``url`` fit to print: no user, password or query (a Redis URL may carry its password
    as ``redis://:PASSWORD@host`` or ``?password=``); ``sqlite://`` and ``firestore://`` URLs
    (which hold no secret: Firestore's credentials come from the environment) are shown whole."""
    if url.startswith(("sqlite://", "firestore://")):
        return url
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        port = f":{parts.port}" if parts.port else ""
        user = "***@" if (parts.username or parts.password) else ""
        return urlunsplit((parts.scheme, f"{user}{host}{port}", parts.path, "", ""))
    except ValueError:
        return url.split("://", 1)[0] + "://***"
