"""The response cache: scope, exact and semantic lookup, admission, invalidation.

This is the one object the service talks to. It never raises for store trouble: a store
that is down or slow turns a lookup into ``bypass`` (the caller answers without the cache)
and is retried after a short pause, so a dead store never slows every request.

A store that answers reads but cannot write (a full or read-only disk) keeps serving its
entries: only admissions are refused (``store_unavailable``), :attr:`ResponseCache.write_error`
says why, and the next admission after the pause tries again, so the cache writes again by
itself once space returns.

Expired entries are misses in every tier; :meth:`ResponseCache.purge_expired` also frees
their space (the store's, this process's memory tier's and vector indexes'), in bounded
passes run by :mod:`ethos.cache.purge`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from .entry import Entry
from .gates.admission import DEFAULT_GATES, Exchange, Gate, Rejection, decide
from .keys import Scope, make_key, validate_namespace
from .memory import MemoryTier
from .stores import PURGE_LIMIT, WRITE_FAILURES, Store, StoreError, StoreUnavailable

log = logging.getLogger("ethos.cache")

#: after a store failure, how long to bypass it before trying again (seconds)
STORE_RETRY_AFTER_S = 1.0
#: distinct keys whose hit counts wait for the store (issue 20): while it is down the counts
#: of keys past this are dropped (they are statistics), so an outage with many new questions
#: does not grow the buffer for ever
MAX_PENDING_HIT_KEYS = 10_000


class SemanticMatcher(Protocol):
    """What the cache needs of a semantic tier (see ``ethos.cache.semantic``)."""

    @property
    def state(self) -> str:  # "off" | "loading" | "ready"
        ...

    def embed(self, text: str) -> bytes | None:
        """The question's vector as bytes, or None when not ready."""

    def nearest(
        self, scope: Scope, question: str, vector: bytes, *, session_dependent: bool
    ) -> tuple[str, float] | None:
        """A verified neighbour ``(key, similarity)`` in the scope, or None."""

    def added(self, entry: Entry) -> None: ...

    def reset(self) -> None:
        """Forget every vector (after an invalidation); reload lazily from the store."""

    def purge_expired(self, now: float) -> int:
        """Drop the vectors of entries expired at ``now``; return how many."""

    def index_counts(self) -> tuple[int, int]:
        """Vectors held, and vectors dropped because an index was full (for the metrics)."""

    def refusals(self) -> dict[str, int]:
        """Candidates the verifier refused since start, by reason (for the metrics)."""

    def pair_model_state(self) -> str:
        """``off`` | ``loading`` | ``ready`` | ``error``: whether the pair model decides."""


@dataclass(slots=True)
class Lookup:
    """The outcome of a lookup, and what is needed to store the answer afterwards."""

    result: str  # hit | semantic_hit | miss | bypass
    key: str
    normalised: str
    scope: Scope
    entry: Entry | None = None
    similarity: float | None = None
    reason: str | None = None  # why bypass
    vector: bytes = b""


@dataclass(frozen=True, slots=True)
class PurgeReport:
    """What one purge pass removed.

    ``store``: expired entries removed from the store (shared: another revision may have
    removed some first); ``memory``, ``semantic``: this process's expired copies and vector
    rows dropped; ``limited``: the store pass removed as many as it was allowed, so more may
    be left; ``error``: why the store part failed (the local part was done all the same).
    """

    store: int = 0
    memory: int = 0
    semantic: int = 0
    limited: bool = False
    error: str | None = None


@dataclass(slots=True)
class CacheCounters:
    hits: int = 0
    semantic_hits: int = 0
    misses: int = 0
    bypasses: int = 0

    @property
    def hit_rate(self) -> float | None:
        looked = self.hits + self.semantic_hits + self.misses
        return (self.hits + self.semantic_hits) / looked if looked else None


class ResponseCache:
    def __init__(
        self,
        store: Store,
        scope: Scope,
        *,
        default_ttl_s: int = 86400,
        max_ttl_s: int = 30 * 86400,
        memory_entries: int = 10000,
        gates: Sequence[Gate] = DEFAULT_GATES,
        semantic: SemanticMatcher | None = None,
        enabled: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.scope = scope
        self.default_ttl_s = default_ttl_s
        self.max_ttl_s = max_ttl_s
        self.memory = MemoryTier(memory_entries)
        self.gates = tuple(gates)
        self.semantic = semantic
        self.enabled = enabled
        self.clock = clock
        self.counters = CacheCounters()
        self.store_error: str | None = None
        self._retry_at = 0.0
        #: why writes fail while reads still work (full or read-only disk), and its kind
        self.write_error: str | None = None
        self.write_error_kind: str | None = None
        self._write_retry_at = 0.0
        #: listeners called with the ``kind`` of every store failure (for metrics)
        self.on_store_error: list[Callable[[str], None]] = []
        self._hits: Counter[str] = Counter()
        self._hits_lock = threading.Lock()
        #: listeners called with (result) for each lookup and (rejection) for each refusal
        self.on_lookup: list[Callable[[Lookup], None]] = []
        self.on_reject: list[Callable[[Rejection, Exchange], None]] = []

    # --- store health ------------------------------------------------------------
    @property
    def store_up(self) -> bool:
        return self.store_error is None

    @property
    def writable(self) -> bool:
        """False while writes are known to fail (full or read-only disk)."""
        return self.write_error is None

    def use_store(self, store: Store) -> None:
        """Switch to a store opened anew (after one that could not be opened)."""
        self.store = store
        self.write_error = self.write_error_kind = None

    def mark_unavailable(self, reason: str, kind: str = "unavailable") -> None:
        """The store is known to be down (e.g. it could not be opened): bypass it for now."""
        self._store_failed(StoreUnavailable(reason, kind=kind))

    def _store_failed(self, e: Exception) -> None:
        if self.store_error is None:  # logged once per outage, not once per request
            log.warning("cache store failing: bypassing it", extra={"error": str(e)})
        self.store_error = str(e) or type(e).__name__
        self._retry_at = self.clock() + STORE_RETRY_AFTER_S
        self._notify_error(getattr(e, "kind", "unavailable"))

    def _write_failed(self, e: StoreUnavailable) -> None:
        if self.write_error is None:
            log.warning("cache writes failing: answers are not stored",
                        extra={"error": str(e), "kind": e.kind})
        self.write_error = str(e) or type(e).__name__
        self.write_error_kind = e.kind
        self._write_retry_at = self.clock() + STORE_RETRY_AFTER_S
        self._notify_error(e.kind)

    def _notify_error(self, kind: str) -> None:
        for f in self.on_store_error:
            f(kind)

    def _store_ok(self) -> None:
        if self.store_error is not None:
            log.info("cache store answers again")
        self.store_error = None

    def _store_usable(self) -> bool:
        return self.store_error is None or self.clock() >= self._retry_at

    def check_store(self) -> bool:
        """Ping the store now; updates :attr:`store_up` (used by /health)."""
        if self.store.ping():
            self._store_ok()
            return True
        # keep the reason a failed operation gave (say, "Connection refused"): a ping says less
        self._store_failed(StoreUnavailable(
            self.store_error or f"{self.store.backend} store does not answer"
        ))
        return False

    # --- lookup ------------------------------------------------------------------
    def scope_for(self, namespace: str | None) -> Scope:
        if not namespace or namespace == self.scope.namespace:
            return self.scope
        return replace(self.scope, namespace=validate_namespace(namespace))

    def finish(self, lk: Lookup) -> Lookup:
        """Count a lookup's result (and its hit) once it is final."""
        c = self.counters
        if lk.result == "hit":
            c.hits += 1
        elif lk.result == "semantic_hit":
            c.semantic_hits += 1
        elif lk.result == "miss":
            c.misses += 1
        else:
            c.bypasses += 1
        if lk.entry is not None:
            self._count_hit(lk.entry.key)
        for f in self.on_lookup:
            f(lk)
        return lk

    def lookup_exact(
        self, question: str, namespace: str | None = None, *, no_cache: bool = False
    ) -> Lookup:
        """Exact tier only. A ``miss`` may still be answered by :meth:`lookup_semantic`."""
        scope = self.scope_for(namespace)
        key, norm = make_key(scope, question)
        lk = Lookup("miss", key, norm, scope)
        if not self.enabled:
            lk.result, lk.reason = "bypass", "cache disabled"
            return lk
        if no_cache:
            lk.result, lk.reason = "bypass", "no_cache requested"
            return lk
        if not self._store_usable():
            lk.result, lk.reason = "bypass", f"store unavailable: {self.store_error}"
            return lk
        now = self.clock()
        try:
            if self.memory.sync(self.store.epoch()) and self.semantic is not None:
                self.semantic.reset()  # removed elsewhere (another process)
            entry = self.memory.get(key, now)
            if entry is None:
                entry = self.store.get(key, now)
                if entry is not None:
                    self.memory.put(entry)
            self._store_ok()
        except StoreUnavailable as e:
            self._store_failed(e)
            lk.result, lk.reason = "bypass", f"store unavailable: {self.store_error}"
            return lk
        if entry is not None and entry.format_version == scope.format_version:
            lk.result, lk.entry = "hit", entry
        return lk

    def semantic_ready(self) -> bool:
        return self.semantic is not None and self.semantic.state == "ready"

    def lookup_semantic(self, lk: Lookup, *, session_dependent: bool = False) -> Lookup:
        """After an exact miss: embed, find a verified neighbour, fetch it."""
        if lk.result != "miss" or not self.semantic_ready():
            return lk
        assert self.semantic is not None
        vec = self.semantic.embed(lk.normalised)
        if vec is None:
            return lk
        lk.vector = vec
        match = self.semantic.nearest(
            lk.scope, lk.normalised, vec, session_dependent=session_dependent
        )
        if match is None:
            return lk
        key, sim = match
        now = self.clock()
        try:
            entry = self.memory.get(key, now) or self.store.get(key, now)
        except StoreUnavailable as e:
            self._store_failed(e)
            return lk
        if entry is not None and entry.format_version == lk.scope.format_version:
            lk.result, lk.entry, lk.similarity = "semantic_hit", entry, sim
            self.memory.put(entry)
        return lk

    def lookup(
        self,
        question: str,
        namespace: str | None = None,
        *,
        no_cache: bool = False,
        session_dependent: bool = False,
    ) -> Lookup:
        """Exact, then semantic; counts the result."""
        lk = self.lookup_exact(question, namespace, no_cache=no_cache)
        lk = self.lookup_semantic(lk, session_dependent=session_dependent)
        return self.finish(lk)


    # --- admission ---------------------------------------------------------------
    def admit(
        self, lk: Lookup, ex: Exchange, *, ttl_s: int | None = None, no_store: bool = False
    ) -> Rejection | None:
        """Store the answer unless a gate (or the request) refuses; return the refusal."""
        rejection: Rejection | None
        if not self.enabled:
            rejection = Rejection("request", "cache_disabled", "ETHOS_CACHE_ENABLED=false")
        elif no_store:
            rejection = Rejection("request", "no_store", "the request asked not to store")
        elif ex.session_dependent:
            # "and the other one?" means something else in every conversation
            rejection = Rejection(
                "request", "session_dependent", "the question depends on earlier turns"
            )
        elif lk.result == "bypass" and not self._store_usable():
            rejection = Rejection("request", "store_unavailable", lk.reason or "")
        elif self.write_error is not None and self.clock() < self._write_retry_at:
            rejection = Rejection(
                "request", "store_unavailable", f"cache writes failing: {self.write_error}"
            )
        else:
            rejection = decide(ex, self.gates)
        if rejection is not None:
            for f in self.on_reject:
                f(rejection, ex)
            return rejection
        ttl = min(ttl_s or self.default_ttl_s, self.max_ttl_s)
        vector = lk.vector
        if not vector and self.semantic is not None:
            vector = self.semantic.embed(lk.normalised) or b""
        entry = Entry(
            key=lk.key,
            namespace=lk.scope.namespace,
            format_version=lk.scope.format_version,
            scope=lk.scope.digest,
            question=lk.normalised,
            reply=ex.reply,
            sources=list(ex.sources),
            created_at=self.clock(),
            ttl_s=ttl,
            embedding=vector,
            meta={"answerer": ex.answerer},
        )
        try:
            self.store.put(entry)
            self._store_ok()
            if self.write_error is not None:
                log.info("cache writes work again")
            self.write_error = self.write_error_kind = None
        except StoreUnavailable as e:
            if e.kind in WRITE_FAILURES and self.store_up:
                self._write_failed(e)  # reads still work: keep serving them
            else:
                self._store_failed(e)
            rejection = Rejection("request", "store_unavailable", str(e))
            for f in self.on_reject:
                f(rejection, ex)
            return rejection
        self.memory.put(entry)
        if self.semantic is not None and entry.embedding:
            self.semantic.added(entry)
        return None

    # --- invalidation ------------------------------------------------------------
    def _after_removal(self) -> None:
        self.memory.clear()
        if self.semantic is not None:
            self.semantic.reset()

    def invalidate(self, pattern: str, progress: Callable[[int, int], None] | None = None) -> int:
        """Remove entries whose key matches the glob (``*`` for all). Raises StoreUnavailable.

        ``progress(examined, removed)`` is called after each bounded step of the store's
        (:meth:`Store.delete_matching_steps`). A removal that fails part-way has removed
        whole steps (announced to every instance): running it again removes the rest."""
        n = 0
        try:
            for examined, n in self.store.delete_matching_steps(pattern):
                if progress is not None:
                    progress(examined, n)
        except BaseException:
            if n:  # removed part of it: nothing of that may be served from here either
                self._after_removal()
            raise
        if pattern == "*":
            from .scan.leaks import PII_LEAKS_META

            self.store.set_meta(PII_LEAKS_META, 0)  # nothing is left to leak
        self._after_removal()
        return n

    def invalidate_source(self, source: str) -> int:
        n = self.store.delete_by_source(source)
        self._after_removal()
        return n

    # --- expiry ------------------------------------------------------------------
    def purge_expired(self, limit: int = PURGE_LIMIT) -> PurgeReport:
        """One purge pass at the cache's clock: this process's memory tier and vector indexes
        (no store access, so they are purged even while the store is down), then up to
        ``limit`` expired entries of the store (:meth:`Store.purge_expired`). Blocking: run it
        off the event loop. A store failure is reported in the result, not raised, and does
        not mark the store down for requests (a slow bulk delete says little about a get)."""
        now = self.clock()
        memory = self.memory.purge_expired(now)
        semantic = self.semantic.purge_expired(now) if self.semantic is not None else 0
        try:
            n = self.store.purge_expired(now, limit)
        except StoreError as e:
            return PurgeReport(0, memory, semantic, error=str(e) or type(e).__name__)
        return PurgeReport(n, memory, semantic, limited=n >= limit)

    # --- hit counts --------------------------------------------------------------
    def _count_hit(self, key: str) -> None:
        # Written by flush_hits(), which the service calls periodically off the event loop.
        with self._hits_lock:
            if key in self._hits or len(self._hits) < MAX_PENDING_HIT_KEYS:
                self._hits[key] += 1

    def flush_hits(self) -> None:
        """Write pending hit counts to the store (kept for later if it is down)."""
        with self._hits_lock:
            pending, self._hits = self._hits, Counter()
        if not pending:
            return
        try:
            self.store.add_hits(dict(pending))
        except StoreUnavailable:
            with self._hits_lock:
                for key, n in pending.items():
                    if key in self._hits or len(self._hits) < MAX_PENDING_HIT_KEYS:
                        self._hits[key] += n

    def close(self) -> None:
        self.flush_hits()
        self.store.close()
