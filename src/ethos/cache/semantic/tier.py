"""The semantic tier: what :class:`ethos.cache.ResponseCache` calls after an exact miss.

It owns the embedder, one :class:`VectorIndex` per scope and the verifier. The model loads
in a background thread (:meth:`SemanticTier.start`); until it is ready ``state`` says
``loading`` and the cache answers from the exact tier only. Indexes are built lazily from
the vectors stored with the entries (``Store.scope_vectors``), so a restart re-reads vectors
instead of re-embedding questions; ``added`` keeps them current, ``reset`` (after any
invalidation) drops them all and ``purge_expired`` drops the rows of expired entries.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np

from ..entry import Entry
from ..keys import Scope
from ..stores import Store, StoreUnavailable
from .embedders import Embedder, MiniLMEmbedder
from .index import ANN_THRESHOLD, VectorIndex
from .verify import DEFAULT_THRESHOLD, DEFAULT_THRESHOLD_SAME, Verifier

log = logging.getLogger(__name__)

#: neighbours examined per lookup: the nearest may fail verification where the next passes
CANDIDATES = 5

ScopeId = tuple[str, int, str]  # namespace, format version, scope digest


class SemanticTier:
    """Embed, find the nearest stored question of the same scope, verify it.

    ``names`` are the knowledge base's plan and product names: two questions naming
    different ones never match. ``threshold`` and ``threshold_same`` are cosines (-1 to 1):
    see :class:`Verifier`.
    """

    def __init__(
        self,
        store: Store,
        embedder: Embedder | None = None,
        *,
        names: Sequence[str] = (),
        threshold: float = DEFAULT_THRESHOLD,
        threshold_same: float = DEFAULT_THRESHOLD_SAME,
        verifier: Verifier | None = None,
        candidates: int = CANDIDATES,
        ann_threshold: int = ANN_THRESHOLD,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.embedder: Embedder = embedder if embedder is not None else MiniLMEmbedder()
        self.verifier = verifier if verifier is not None else Verifier(names, threshold, threshold_same)
        self.candidates = candidates
        self.ann_threshold = ann_threshold
        self.clock = clock
        self.error: str | None = None
        #: verifier refusals by reason (numbers, names, negation, entity, threshold)
        self.rejections: Counter[str] = Counter()
        self._state = "off"
        self._lock = threading.Lock()
        self._indexes: dict[ScopeId, VectorIndex] = {}
        self._loaded = threading.Event()
        self._thread: threading.Thread | None = None

    # --- life cycle -------------------------------------------------------------
    @property
    def state(self) -> str:
        """``off`` (not started, or failed: see :attr:`error`), ``loading`` or ``ready``."""
        return self._state

    def start(self) -> None:
        """Load the model in a background thread; returns at once."""
        with self._lock:
            if self._state != "off" or self._thread is not None:
                return
            self._state = "loading"
            self._thread = threading.Thread(target=self._load, name="ethos-semantic-load",
                                            daemon=True)
        self._thread.start()

    def load(self) -> None:
        """Load the model now, in this thread (tests, benchmarks, CLI)."""
        with self._lock:
            self._state = "loading"
        self._load()

    def _load(self) -> None:
        try:
            load = getattr(self.embedder, "load", None)
            if load is not None:
                load()
            self.embedder.embed(["warm up"])  # the first call pays for lazy initialisation
        except Exception as e:  # a broken model must not take the service down
            log.exception("semantic tier: the embedding model did not load")
            self.error = f"{type(e).__name__}: {e}"
            self._state = "off"
        else:
            self.error = None
            self._state = "ready"
        finally:
            self._loaded.set()

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until loading ended; True when the tier is ready."""
        self._loaded.wait(timeout)
        return self._state == "ready"

    # --- SemanticMatcher ----------------------------------------------------------
    def embed(self, text: str) -> bytes | None:
        """The question's unit vector as float32 bytes, or None when not ready."""
        if self._state != "ready":
            return None
        return np.ascontiguousarray(self.embedder.embed([text])[0], dtype=np.float32).tobytes()

    def nearest(
        self, scope: Scope, question: str, vector: bytes, *, session_dependent: bool
    ) -> tuple[str, float] | None:
        """The nearest verified stored question of ``scope`` as ``(key, cosine)``."""
        if session_dependent or self._state != "ready" or not vector:
            return None
        index = self._index((scope.namespace, scope.format_version, scope.digest))
        if index is None:
            return None
        best, refused = self.verifier.choose(question, index.search(vector, self.candidates))
        if refused:
            with self._lock:
                self.rejections.update(refused)
        return (best.key, best.similarity) if best is not None else None

    def added(self, entry: Entry) -> None:
        """A new entry was stored: index it if its scope's index is loaded."""
        if not entry.embedding or len(entry.embedding) != 4 * self.embedder.dim:
            return
        with self._lock:
            index = self._indexes.get((entry.namespace, entry.format_version, entry.scope))
        if index is not None:
            index.add(entry.key, entry.question, entry.embedding, entry.expires_at)

    def reset(self) -> None:
        """Forget every index; each is rebuilt from the store on its next lookup."""
        with self._lock:
            self._indexes = {}

    def purge_expired(self, now: float) -> int:
        """Drop the rows of entries expired at ``now`` from every index (no store access),
        and forget the indexes left empty (a scope no longer asked about, say an old
        knowledge-base version; reloaded from the store if it is asked about again).
        Returns the rows dropped."""
        with self._lock:
            indexes = list(self._indexes.items())
        n = 0
        for sid, index in indexes:
            dropped = index.remove_expired(now)
            n += dropped
            # emptied by this pass (one being loaded is empty too, but has nothing to drop)
            if dropped and len(index) == 0:
                with self._lock:
                    if self._indexes.get(sid) is index:
                        del self._indexes[sid]
        return n

    # --- indexes --------------------------------------------------------------------
    def _index(self, sid: ScopeId) -> VectorIndex | None:
        with self._lock:
            index = self._indexes.get(sid)
            if index is not None:
                return index
            index = VectorIndex(self.embedder.dim, ann_threshold=self.ann_threshold)
            self._indexes[sid] = index
        # Registered before it is filled, so that entries stored meanwhile (added()) are
        # not lost; rows read from the store never replace those newer ones.
        try:
            rows = self.store.scope_vectors(sid[0], sid[1], sid[2], self.clock())
        except StoreUnavailable:
            with self._lock:
                if self._indexes.get(sid) is index:
                    del self._indexes[sid]
            return None
        dim_bytes = 4 * self.embedder.dim
        index.add_many([r for r in rows if len(r[2]) == dim_bytes])
        return index

    def stats(self) -> dict[str, object]:
        """For /health and metrics: state, vectors per scope, refusals by reason."""
        with self._lock:
            sizes = {":".join(map(str, k)): len(v) for k, v in self._indexes.items()}
            rejections = dict(self.rejections)
        return {"state": self._state, "model": self.embedder.name, "error": self.error,
                "indexed": sizes, "rejections": rejections}
