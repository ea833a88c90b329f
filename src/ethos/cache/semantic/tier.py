"""The semantic tier: what :class:`ethos.cache.ResponseCache` calls after an exact miss.

It owns the embedder, one :class:`VectorIndex` per scope and the verifier. The model loads
in a background thread (:meth:`SemanticTier.start`); until it is ready ``state`` says
``loading`` and the cache answers from the exact tier only. Indexes are built lazily from
the vectors stored with the entries (``Store.scope_vectors``), so a restart re-reads vectors
instead of re-embedding questions; ``added`` keeps them current, ``reset`` (after any
invalidation) drops them all and ``purge_expired`` drops the rows of expired entries.

With ``index_dir`` (``ETHOS_SEMANTIC_INDEX_DIR``), an index whose HNSW graph was built is saved
there, and a later process (or this one after a ``reset``) installs it instead of reading every
vector and building the graph again: it then reads only the entries put since, and only if no
removal happened since (see :mod:`ethos.cache.semantic.persist` for the validity rules).
``start(scopes=...)`` loads the given scopes' indexes while the model loads, so the first
lookup does not wait for them.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np

from ..entry import Entry
from ..keys import Scope
from ..stores import Store, StoreUnavailable
from .embedders import Embedder, MiniLMEmbedder
from .index import ANN_THRESHOLD, MAX_ROWS, VectorIndex
from .lexicon import spelt_out
from .pair_model import PairModel
from .persist import IndexFiles, Mark, SnapshotInvalid
from .verify import DEFAULT_THRESHOLD, DEFAULT_THRESHOLD_SAME, Verifier

log = logging.getLogger(__name__)

#: neighbours examined per lookup: the nearest may fail verification where the next passes
CANDIDATES = 5

ScopeId = tuple[str, int, str]  # namespace, format version, scope digest

#: entries read since a saved index's position, beyond which (or beyond its row count, if
#: larger) a full read is cheaper than catching up
CATCH_UP_MIN = 10_000
#: rows caught up (as a share of the index) after which the index is saved again
RESAVE_SHARE = 0.1
#: entries a sync reads at most per call (the rest at the next one)
SYNC_LIMIT = 5_000
#: longest a preload waits for the model before loading indexes anyway (seconds)
MODEL_WAIT_S = 300.0


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
        index_dir: str | os.PathLike[str] | None = None,
        max_rows: int = MAX_ROWS,
        thresholds: Mapping[str, tuple[float, float]] | None = None,
        pair_model: PairModel | None = None,
        pair_thresholds: Mapping[str, float] | None = None,
        pair_floors: Mapping[str, float] | None = None,
    ) -> None:
        self.store = store
        self.embedder: Embedder = embedder if embedder is not None else MiniLMEmbedder()
        #: the cross-encoder read last (loaded after the embedder); None: the cosine rules
        self.pair_model = pair_model
        self.pair_error: str | None = None
        self.verifier = verifier if verifier is not None else Verifier(
            names, threshold, threshold_same, pair_model=pair_model,
            p_min=pair_model.threshold if pair_model is not None else 0.5)
        #: namespaces with their own thresholds, from ``ethos cache calibrate``: cosines
        #: (threshold, threshold_same) for the rules, p* and the cosine floor for the pair model
        cosines, probs = dict(thresholds or {}), dict(pair_thresholds or {})
        floors = dict(pair_floors or {})
        v = self.verifier
        self.verifiers: dict[str, Verifier] = {
            ns: v.with_thresholds(*cosines.get(ns, (v.threshold, v.threshold_same)), probs.get(ns),
                                  floors.get(ns))
            for ns in sorted(cosines.keys() | probs.keys() | floors.keys())
        }
        self.candidates = candidates
        self.ann_threshold = ann_threshold
        #: live rows each scope's index holds at most (0: no cap); see :class:`VectorIndex`
        self.max_rows = max_rows
        self.clock = clock
        self.error: str | None = None
        #: verifier refusals by reason (numbers, names, negation, entity, threshold)
        self.rejections: Counter[str] = Counter()
        self._state = "off"
        self._lock = threading.Lock()
        self._indexes: dict[ScopeId, VectorIndex] = {}
        #: indexes loaded by start(scopes=...), with the store's epoch read before their rows
        self._preloaded: dict[ScopeId, tuple[VectorIndex, int]] = {}
        self._loaded = threading.Event()
        self._thread: threading.Thread | None = None
        #: where built indexes are saved (None, or not ``enabled``: nowhere)
        self.files = IndexFiles(index_dir) if index_dir is not None else None
        #: indexes built from the store (full read) and installed from a file, since start
        self.loads: Counter[str] = Counter()
        #: rows added by :meth:`sync` (other processes' entries) since start
        self.synced = 0
        self._busy = 0
        #: scopes whose file was found unusable: written again without looking at its header
        self._bad_files: set[ScopeId] = set()

    # --- life cycle -------------------------------------------------------------
    @property
    def state(self) -> str:
        """``off`` (not started, or failed: see :attr:`error`), ``loading`` or ``ready``."""
        return self._state

    def start(self, scopes: Iterable[Scope] = ()) -> None:
        """Load the model in a background thread, and the indexes of ``scopes`` in another
        (from a saved file when one is valid); returns at once."""
        with self._lock:
            if self._state != "off" or self._thread is not None:
                return
            self._state = "loading"
            self._thread = threading.Thread(target=self._load, name="ethos-semantic-load",
                                            daemon=True)
        self._thread.start()
        sids = [(s.namespace, s.format_version, s.digest) for s in scopes]
        if sids:
            with self._lock:
                self._busy += 1  # wait_saved() waits for the preload too
            threading.Thread(target=self._preload, args=(sids,), name="ethos-semantic-preload",
                             daemon=True).start()

    def _preload(self, sids: list[ScopeId]) -> None:
        try:
            # After the model: usearch (which the index imports) loaded before ONNX Runtime
            # reads the model makes it reject the graph ("INVALID_GRAPH ... Unsqueeze"), and the
            # embedder falls back to torch (20 s to load, 3x slower per question).
            self._loaded.wait(MODEL_WAIT_S)
            for sid in sids:
                self._preload_one(sid)
        finally:
            with self._lock:
                self._busy -= 1

    def _preload_one(self, sid: ScopeId) -> None:
        try:
            epoch = self.store.epoch()  # before the rows: see _check_preloaded
            index = self._index(sid)
            if index is not None:
                with self._lock:
                    self._preloaded[sid] = (index, epoch)
        except StoreUnavailable as e:  # a lookup will try again
            log.info("semantic tier: index not preloaded, the store is unavailable",
                     extra={"error": str(e)})
        except Exception:  # a lookup will try again
            log.exception("semantic tier: preloading an index failed")

    def _check_preloaded(self, sid: ScopeId) -> None:
        """The first lookup of a preloaded scope: an index read before a removal that the
        cache's memory tier did not see yet (its first look at the epoch resets nothing)
        is dropped and read again."""
        with self._lock:
            found = self._preloaded.pop(sid, None)
        if found is None:
            return
        index, epoch = found
        try:
            moved = self.store.epoch() != epoch
        except StoreUnavailable:
            moved = True
        if moved:
            with self._lock:
                if self._indexes.get(sid) is index:
                    del self._indexes[sid]

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
            self._loaded.set()
            return
        self._load_pair_model()
        self.error = None
        self._state = "ready"
        self._loaded.set()

    def _load_pair_model(self) -> None:
        """Load the pair model; when it cannot load, the cosine rules decide (said in stats)."""
        if self.pair_model is None:
            return
        try:
            self.pair_model.load()
            self.pair_model.score_pairs([("warm up", "warm up")])
        except Exception as e:  # noqa: BLE001 - any failure leaves the rules deciding
            log.error("semantic tier: the pair model did not load (%s: %s); the cosine rules "
                      "decide", type(e).__name__, e)
            self.pair_error = f"{type(e).__name__}: {e}"
        else:
            self.pair_error = None

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until loading ended; True when the tier is ready."""
        self._loaded.wait(timeout)
        return self._state == "ready"

    # --- SemanticMatcher ----------------------------------------------------------
    def embed(self, text: str) -> bytes | None:
        """The question's unit vector as float32 bytes, or None when not ready. Abbreviations
        are spelt out first (:func:`.lexicon.spelt_out`: "SSO" and "single sign-on" are far
        apart for the model), as the verifier does."""
        if self._state != "ready":
            return None
        vec = self.embedder.embed([spelt_out(text)])[0]
        return np.ascontiguousarray(vec, dtype=np.float32).tobytes()

    def nearest(
        self, scope: Scope, question: str, vector: bytes, *, session_dependent: bool
    ) -> tuple[str, float] | None:
        """The nearest verified stored question of ``scope`` as ``(key, cosine)``."""
        if session_dependent or self._state != "ready" or not vector:
            return None
        sid = (scope.namespace, scope.format_version, scope.digest)
        if self._preloaded:
            self._check_preloaded(sid)
        index = self._index(sid)
        if index is None:
            return None
        verifier = self.verifiers.get(scope.namespace, self.verifier)
        best, refused = verifier.choose(question, index.search(vector, self.candidates))
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

    def sync(self, limit: int = SYNC_LIMIT) -> int:
        """Index the entries put since each loaded index was read or last synced: those other
        processes stored (this process's own come by :meth:`added`, and are only seen again).
        Reads at most ``limit`` entries (the rest next time); raises StoreUnavailable.
        Returns the rows added."""
        if self._state != "ready":
            return 0
        with self._lock:
            groups: dict[int, dict[ScopeId, VectorIndex]] = {}
            for sid, ix in self._indexes.items():
                if ix.position is not None:
                    groups.setdefault(ix.position, {})[sid] = ix
        dim_bytes = 4 * self.embedder.dim
        now = self.clock()
        added = 0
        for start, targets in groups.items():
            after, read = start, 0
            while read < limit:
                entries, nxt = self.store.scan_since(after, batch=min(1000, limit - read))
                read += len(entries)
                rows: dict[ScopeId, list] = {}
                for e in entries:
                    sid = (e.namespace, e.format_version, e.scope)
                    if sid in targets and len(e.embedding) == dim_bytes and e.expires_at > now:
                        rows.setdefault(sid, []).append((e.key, e.question, e.embedding, e.expires_at))
                for sid, found in rows.items():
                    added += targets[sid].add_many(found, replace=True)
                if nxt == after:
                    break
                after = nxt
            for ix in targets.values():
                if ix.position is not None and after > ix.position:
                    ix.position = after
        if added:
            with self._lock:
                self.synced += added
        return added

    def reset(self) -> None:
        """Forget every index; each is rebuilt from the store on its next lookup."""
        with self._lock:
            self._indexes = {}
            self._preloaded = {}

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
            index = VectorIndex(self.embedder.dim, ann_threshold=self.ann_threshold,
                                max_rows=self.max_rows)
            index.on_graph = lambda ix: self._graph_built(sid, ix)
            self._indexes[sid] = index
        # Registered before it is filled, so that entries stored meanwhile (added()) are
        # not lost; rows read from the store never replace those newer ones.
        try:
            mark = self._mark()
            if mark is not None and self._restore(sid, index, mark):
                return index
            # read before the rows, so that a sync from it misses nothing put meanwhile
            position = mark.position if mark is not None else self.store.position()
            rows = self.store.scope_vectors(sid[0], sid[1], sid[2], self.clock())
        except StoreUnavailable:
            with self._lock:
                if self._indexes.get(sid) is index:
                    del self._indexes[sid]
            return None
        dim_bytes = 4 * self.embedder.dim
        index.mark = mark  # before the rows: their graph may be built (and saved) at once
        index.position = position
        index.add_many([r for r in rows if len(r[2]) == dim_bytes])
        with self._lock:
            self.loads["store"] += 1
        return index

    @property
    def persisting(self) -> bool:
        return self.files is not None and self.files.enabled

    def _mark(self) -> Mark | None:
        """Where the store stands, read before its rows (None: nothing is saved or installed)."""
        if not self.persisting:
            return None
        found = self.store.index_mark()
        if found is None:
            return None
        return Mark(found[0], found[1], self.store.position())

    def _restore(self, sid: ScopeId, index: VectorIndex, mark: Mark) -> bool:
        """Install the scope's saved index if it is still valid, and catch up with the entries
        put since; False (and the index as it was) when a full read is needed."""
        assert self.files is not None
        t0 = time.monotonic()
        model, dim = self.embedder.name, self.embedder.dim
        try:
            snap = self.files.load(sid, model, dim)
        except SnapshotInvalid as e:
            log.warning("semantic index file ignored, rebuilding", extra={"reason": str(e)})
            with self._lock:
                self._bad_files.add(sid)
            return False
        if snap is None:
            return False
        why = None
        if snap.mark.store != mark.store:
            why = "it was made from another store"
        elif snap.mark.epoch != mark.epoch:
            why = f"entries were removed since (epoch {snap.mark.epoch} -> {mark.epoch})"
        elif snap.mark.position > mark.position:
            why = "the store is older than the file (restored or emptied)"
        if why is not None:
            log.info("semantic index file out of date, rebuilding", extra={"reason": why})
            return False
        t_load = time.monotonic()
        index.install(snap)
        t_install = time.monotonic()
        # what was put since the file's position: this scope's entries with a vector
        dim_bytes = 4 * dim
        after, read, applied = snap.mark.position, 0, 0
        limit = max(CATCH_UP_MIN, snap.rows)
        now = self.clock()
        while True:
            entries, nxt = self.store.scan_since(after, batch=1000)
            read += len(entries)
            if read > limit:
                log.info("semantic index file too far behind, rebuilding",
                         extra={"entries_since": read})
                index.clear()
                return False
            rows = [(e.key, e.question, e.embedding, e.expires_at) for e in entries
                    if (e.namespace, e.format_version, e.scope) == sid
                    and len(e.embedding) == dim_bytes and e.expires_at > now]
            if rows:
                applied += len(rows)
                index.add_many(rows, replace=True)
            if nxt == after:
                break
            after = nxt
        index.mark = Mark(mark.store, mark.epoch, max(after, snap.mark.position))
        index.position = index.mark.position
        index.remove_expired(now)
        with self._lock:
            self.loads["file"] += 1
        t_end = time.monotonic()
        log.info("semantic index installed from file", extra={
            "rows": snap.rows, "live": len(index), "caught_up": applied,
            "seconds": round(t_end - t0, 3), "load_s": round(t_load - t0, 3),
            "install_s": round(t_install - t_load, 3), "catch_up_s": round(t_end - t_install, 3)})
        if applied > RESAVE_SHARE * max(snap.rows, 1):
            self._save_later(sid, index)
        return True

    # --- saving -------------------------------------------------------------------------
    def _graph_built(self, sid: ScopeId, index: VectorIndex) -> None:
        """A graph was built (in its background thread): save the index from there."""
        self._save(sid, index)

    def _save_later(self, sid: ScopeId, index: VectorIndex) -> None:
        with self._lock:
            self._busy += 1
        threading.Thread(target=self._save, args=(sid, index, True), name="ethos-semantic-save",
                         daemon=True).start()

    def _save(self, sid: ScopeId, index: VectorIndex, counted: bool = False) -> None:
        try:
            if not self.persisting or index.mark is None:
                return
            with self._lock:
                if self._indexes.get(sid) is not index:  # reset meanwhile: out of date
                    return
            assert self.files is not None
            model, dim = self.embedder.name, self.embedder.dim
            with self._lock:
                bad = sid in self._bad_files
            head = None if bad else self.files.header(sid, model, dim)
            mark = index.mark
            if (head is not None and head.get("store") == mark.store
                    and head.get("epoch") == mark.epoch
                    and int(head.get("position", -1)) >= mark.position
                    and int(head.get("rows", -1)) >= index.rows):
                return  # another process saved as much already
            t0 = time.monotonic()
            snap = index.export(sid, model)
            if snap is None:
                return
            path = self.files.save(snap)
            with self._lock:
                self._bad_files.discard(sid)
            log.info("semantic index saved", extra={
                "path": str(path), "rows": snap.rows, "seconds": round(time.monotonic() - t0, 3)})
        except OSError as e:
            log.warning("semantic index not saved", extra={"error": str(e)})
        except Exception:
            log.exception("semantic index not saved")
        finally:
            if counted:
                with self._lock:
                    self._busy -= 1

    def wait_saved(self, timeout: float = 60.0) -> bool:
        """Block until no index is being preloaded, no graph built and no index saved (tests,
        benchmarks); False on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                idle = self._busy == 0
                indexes = list(self._indexes.values())
            if idle and all(ix.settled for ix in indexes):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)

    def pair_model_state(self) -> str:
        """``off`` (none given), ``loading``, ``ready`` (it decides) or ``error`` (it could not
        load: the cosine rules decide; :attr:`pair_error` says why)."""
        if self.pair_model is None:
            return "off"
        if self.pair_error:
            return "error"
        return "ready" if self.pair_model.loaded else "loading"

    def refusals(self) -> dict[str, int]:
        """Candidates the verifier refused since start, by reason."""
        with self._lock:
            return dict(self.rejections)

    def index_counts(self) -> tuple[int, int]:
        """Live rows over every index, and rows retired because an index was full (for the
        metrics; forgotten indexes' evictions are not counted)."""
        with self._lock:
            indexes = list(self._indexes.values())
        return sum(len(ix) for ix in indexes), sum(ix.evicted for ix in indexes)

    def stats(self) -> dict[str, object]:
        """For /health and metrics: state, vectors per scope, what searches each scope (its
        HNSW graph, or brute force while there is none), how indexes were loaded (``store``:
        full read, ``file``: installed from a saved file), refusals by reason."""
        with self._lock:
            indexes = list(self._indexes.items())
            rejections = dict(self.rejections)
            loads = dict(self.loads)
        sizes = {":".join(map(str, k)): len(v) for k, v in indexes}
        search = {":".join(map(str, k)): "hnsw" if v.uses_ann else "brute_force" for k, v in indexes}
        evicted = {":".join(map(str, k)): v.evicted for k, v in indexes if v.evicted}
        return {"state": self._state, "model": self.embedder.name, "error": self.error,
                "pair_model": self.pair_model_state(), "pair_model_error": self.pair_error,
                "indexed": sizes, "search": search, "loads": loads, "rejections": rejections,
                "max_rows": self.max_rows, "evicted": evicted}
