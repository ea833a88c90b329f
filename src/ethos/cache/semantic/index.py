"""A vector index over the questions of one cache scope.

Vectors live in one float32 matrix (rows of unit length, so a dot product is the cosine).
Below :data:`ANN_THRESHOLD` rows a brute-force matrix product is the fastest search there
is; above it an HNSW graph (usearch) is built in a background thread and used once ready,
while the matrix keeps answering meanwhile. Candidates from the graph are re-scored
exactly against the matrix, so the similarity reported is always the true cosine.

Rows carry their entry's expiry: :meth:`VectorIndex.remove_expired` retires the expired ones
(the periodic purge, in every process), and once retired rows outnumber live ones the index
is compacted (the matrix rebuilt from its live rows, the graph built again), so that an index
over entries that come and go does not grow for ever.

An index holds at most ``max_rows`` live rows (:data:`MAX_ROWS` by default,
``ETHOS_SEMANTIC_MAX_ROWS`` in the service): past it, the rows whose entries expire first (the
oldest, under one TTL) are retired, 1 % of the cap at a time. Their entries stay in the store
and still answer the same question exactly; only paraphrases of them stop finding them. With
the compaction rule this bounds the rows held to about twice the cap.

An index can be saved with its graph and installed again in a new process (:meth:`export`,
:meth:`install`; the files are :mod:`ethos.cache.semantic.persist`'s), so that a start does not
build the graph again.

Thread-safe: one lock guards the rows; searches hold it only while they read.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

#: rows above which an HNSW graph answers searches. Measured by bench/semantic_speed.py on
#: 2 cores, 384-d, p50 ms brute force / HNSW: 10k 0.49 / 0.52, 20k 0.88 / 0.57,
#: 50k 1.98 / 0.86, 100k 7.8 / 1.1: they cross between 10k and 20k rows.
ANN_THRESHOLD = 15_000
#: HNSW parameters (usearch): graph degree, construction and search breadth
ANN_CONNECTIVITY = 16
ANN_EXPANSION_ADD = 128
ANN_EXPANSION_SEARCH = 64
#: retired rows (replaced, expired, removed) kept before a compaction is considered
COMPACT_MIN_RETIRED = 64
#: live rows an index holds by default before it retires the ones that expire first. About
#: 5 KiB of memory each with the HNSW graph (bench/load_soak.py, bench/semantic_ready.py), so
#: 100k rows are about 0.5 GiB of a revision; 0: no cap.
MAX_ROWS = 100_000

if TYPE_CHECKING:
    from .persist import Mark, Snapshot

Vector = bytes | np.ndarray
#: ``(key, question, vector)``, or with the entry's expiry (unix seconds) as a fourth item
Row = tuple[str, str, Vector] | tuple[str, str, Vector, float]


@dataclass(frozen=True, slots=True)
class Neighbour:
    key: str
    question: str
    similarity: float


class VectorIndex:
    """Keys, questions and vectors of one scope, searchable by cosine similarity."""

    def __init__(self, dim: int, *, ann_threshold: int = ANN_THRESHOLD,
                 background: bool = True, max_rows: int = MAX_ROWS) -> None:
        if max_rows < 0:
            raise ValueError(f"max_rows must be 0 (no cap) or more, not {max_rows}")
        self.dim = dim
        self.ann_threshold = ann_threshold
        self.max_rows = max_rows
        #: live rows retired because the index was full (``max_rows``), since it was made
        self.evicted = 0
        self.background = background
        self._lock = threading.RLock()
        self._matrix = np.zeros((64, dim), dtype=np.float32)
        self._keys: list[str] = []
        self._questions: list[str] = []
        self._pos: dict[str, int] = {}
        self._live = np.zeros(64, dtype=bool)
        self._expires = np.full(64, math.inf, dtype=np.float64)
        self._ann: Any = None  # usearch Index over rows [0, _ann_rows)
        self._ann_rows = 0
        self._ann_building = False
        #: moves on every compaction: a graph built from rows before it is thrown away
        self._generation = 0
        #: graphs built from scratch (not counting one installed from a file)
        self.graphs_built = 0
        #: True when the rows and graph came from a saved snapshot (:meth:`install`)
        self.restored = False
        #: where the store stood when the rows were read (set by the tier; None: unknown,
        #: and the index is then never saved)
        self.mark: Mark | None = None
        #: the store position its rows are known up to (set by the tier, moved by its sync;
        #: None: not synced)
        self.position: int | None = None
        #: called with the index, outside the lock, each time a graph built here is in use
        self.on_graph: Callable[[VectorIndex], None] | None = None
        self._callback_due = False

    def __len__(self) -> int:
        with self._lock:
            return len(self._pos)

    @property
    def uses_ann(self) -> bool:
        return self._ann is not None

    @property
    def rows(self) -> int:
        """Rows held, live and retired (what memory is spent on)."""
        with self._lock:
            return len(self._keys)

    # --- writes ---------------------------------------------------------------
    def _row_of(self, vector: bytes | np.ndarray) -> np.ndarray:
        v = np.frombuffer(vector, dtype=np.float32) if isinstance(vector, bytes) else vector
        v = np.asarray(v, dtype=np.float32).reshape(-1)
        if v.shape[0] != self.dim:
            raise ValueError(f"vector has {v.shape[0]} dimensions, the index {self.dim}")
        return v

    def add(self, key: str, question: str, vector: Vector, expires_at: float = math.inf) -> None:
        """Insert, or replace the vector of an existing key."""
        self.add_many([(key, question, vector, expires_at)], replace=True)

    def add_many(self, rows: Sequence[Row], *, replace: bool = False) -> int:
        """Insert rows; an existing key is kept unless ``replace``. Returns rows added."""
        added = 0
        with self._lock:
            for row in rows:
                key, question, vector = row[0], row[1], row[2]
                expires_at = float(row[3]) if len(row) == 4 else math.inf
                v = self._row_of(vector)
                old = self._pos.get(key)
                if old is not None:
                    if not replace:
                        continue
                    if np.array_equal(self._matrix[old], v):
                        # the same question put again: only its expiry moves (the later one:
                        # rows may come in any order from the store and from added())
                        self._expires[old] = max(self._expires[old], expires_at)
                        self._questions[old] = question
                        continue
                    # A replaced row is retired, not overwritten: the graph may point at it.
                    self._live[old] = False
                n = len(self._keys)
                if n == self._matrix.shape[0]:
                    self._grow(max(64, n * 2))
                self._matrix[n] = v
                self._live[n] = True
                self._expires[n] = expires_at
                self._keys.append(key)
                self._questions.append(question)
                self._pos[key] = n
                added += 1
            if self.max_rows and len(self._pos) > self.max_rows:
                self._evict()
            if self._ann is not None and len(self._keys) > self._ann_rows:
                self._ann_extend()
        self._maybe_build_ann()
        return added

    def _evict(self) -> None:
        """Retire the live rows that expire first (the earliest put among equals) until the
        index is 1 % under its cap (caller holds the lock), so that the search for them runs
        once per 1 % of the cap put, not on every put."""
        n = len(self._keys)
        live = np.flatnonzero(self._live[:n])
        drop = len(live) - (self.max_rows - self.max_rows // 100)
        if drop <= 0:
            return
        # a stable sort by expiry: ties keep row order, so the oldest go first
        order = np.argsort(self._expires[live], kind="stable")[:drop]
        for row in live[order]:
            self._live[row] = False
            del self._pos[self._keys[row]]
        self.evicted += int(drop)
        self._maybe_compact()

    def _grow(self, rows: int) -> None:
        m = np.zeros((rows, self.dim), dtype=np.float32)
        m[: self._matrix.shape[0]] = self._matrix
        live = np.zeros(rows, dtype=bool)
        live[: self._live.shape[0]] = self._live
        expires = np.full(rows, math.inf, dtype=np.float64)
        expires[: self._expires.shape[0]] = self._expires
        self._matrix, self._live, self._expires = m, live, expires

    # --- removals -------------------------------------------------------------
    def remove(self, keys: Iterable[str]) -> int:
        """Retire the rows of these keys (unknown keys are ignored); return how many."""
        with self._lock:
            n = 0
            for key in keys:
                row = self._pos.pop(key, None)
                if row is not None:
                    self._live[row] = False
                    n += 1
            if n:
                self._maybe_compact()
        return n

    def remove_expired(self, now: float) -> int:
        """Retire every row whose entry has expired at ``now``; return how many."""
        with self._lock:
            n = len(self._keys)
            rows = np.flatnonzero(self._live[:n] & (self._expires[:n] <= now))
            for row in rows:
                self._live[row] = False
                del self._pos[self._keys[row]]
            if len(rows):
                self._maybe_compact()
        return int(len(rows))

    def _maybe_compact(self) -> None:
        """Rebuild the rows from the live ones once retired rows outnumber them (caller holds
        the lock). The graph goes with the old numbering: brute force answers until it is
        built again (in the background, above the threshold)."""
        n, live = len(self._keys), len(self._pos)
        retired = n - live
        if retired < COMPACT_MIN_RETIRED or retired <= live:
            return
        keep = np.flatnonzero(self._live[:n])
        m = len(keep)
        if self._matrix.shape[0] > 4 * max(64, m):
            # far fewer rows than room: give the memory back
            size = max(64, m)
            matrix = np.zeros((size, self.dim), dtype=np.float32)
            matrix[:m] = self._matrix[keep]
            expires = np.full(size, math.inf, dtype=np.float64)
            expires[:m] = self._expires[keep]
            self._matrix, self._live, self._expires = matrix, np.zeros(size, dtype=bool), expires
        else:
            # in place: an index that is full (max_rows) keeps the same arrays, so its memory
            # stays flat instead of being given back and taken again at every compaction
            self._matrix[:m] = self._matrix[keep]
            self._expires[:m] = self._expires[keep]
            self._expires[m:] = math.inf
            self._live[:] = False
        self._live[:m] = True
        self._keys = [self._keys[i] for i in keep]
        self._questions = [self._questions[i] for i in keep]
        self._pos = {k: i for i, k in enumerate(self._keys)}
        self._ann, self._ann_rows = None, 0
        self._generation += 1
        self._maybe_build_ann()  # (a build under way from before finds the generation moved)

    # --- the graph ------------------------------------------------------------
    def _maybe_build_ann(self) -> None:
        with self._lock:
            if self._ann is not None or self._ann_building:
                return
            if len(self._keys) < self.ann_threshold:
                return
            self._ann_building = True
        if self.background:
            threading.Thread(target=self._build_ann, name="ethos-semantic-ann",
                             daemon=True).start()
        else:
            self._build_ann()

    def _build_ann(self) -> None:
        from usearch.index import Index

        with self._lock:
            n = len(self._keys)
            snapshot = self._matrix[:n].copy()
            generation = self._generation
        index = Index(ndim=self.dim, metric="ip", dtype="f32",
                      connectivity=ANN_CONNECTIVITY, expansion_add=ANN_EXPANSION_ADD,
                      expansion_search=ANN_EXPANSION_SEARCH)
        index.add(np.arange(n, dtype=np.uint64), snapshot, threads=0)
        with self._lock:
            self._ann_building = False
            if generation != self._generation:  # compacted meanwhile: its rows are gone
                rebuild = len(self._keys) >= self.ann_threshold
            else:
                rebuild = False
                self._ann, self._ann_rows = index, n
                self.graphs_built += 1
                self._ann_extend()  # rows added while the graph was being built
                self._callback_due = self.on_graph is not None
        if rebuild:
            self._maybe_build_ann()
        elif self._callback_due and self.on_graph is not None:
            try:
                self.on_graph(self)
            finally:
                self._callback_due = False

    @property
    def settled(self) -> bool:
        """No graph being built, and the callback of the last one returned (tests, benchmarks)."""
        with self._lock:
            return not self._ann_building and not self._callback_due

    def _ann_extend(self) -> None:
        n = len(self._keys)
        if n > self._ann_rows:
            self._ann.add(np.arange(self._ann_rows, n, dtype=np.uint64),
                          self._matrix[self._ann_rows:n])
            self._ann_rows = n

    # --- saved and installed -------------------------------------------------------
    def export(self, scope: tuple[str, int, str], model: str) -> Snapshot | None:
        """The rows and graph as a :class:`Snapshot` to save, or None when there is no graph
        or no mark. Holds the lock while the graph is serialised (a memory copy)."""
        from .persist import Snapshot

        with self._lock:
            if self._ann is None or self.mark is None:
                return None
            self._ann_extend()
            n = self._ann_rows
            graph = self._ann.copy()
            return Snapshot(scope, model, self.dim, self.mark, list(self._keys[:n]),
                            list(self._questions[:n]), self._expires[:n].copy(),
                            self._live[:n].copy(), graph)

    def install(self, snap: Snapshot) -> None:
        """Take the rows and graph of ``snap`` (from a file) in place of what the index holds;
        rows it held already (put meanwhile) are added again on top. The matrix is read back
        from the graph, so searches re-score against exactly the vectors the graph holds."""
        n = snap.rows
        if n:
            vecs = snap.graph.get(np.arange(n, dtype=np.uint64))
            matrix_rows = np.asarray(vecs, dtype=np.float32).reshape(n, self.dim)
            snap.graph.expansion_search = ANN_EXPANSION_SEARCH
            snap.graph.expansion_add = ANN_EXPANSION_ADD
        size = max(64, n)
        matrix = np.zeros((size, self.dim), dtype=np.float32)
        live = np.zeros(size, dtype=bool)
        expires = np.full(size, math.inf, dtype=np.float64)
        if n:
            matrix[:n] = matrix_rows
            live[:n] = snap.live[:n]
            expires[:n] = snap.expires[:n]
        keys = list(snap.keys)
        pos = {k: i for i, k in enumerate(keys) if live[i]}
        with self._lock:
            held = [(self._keys[i], self._questions[i], self._matrix[i].copy(),
                     float(self._expires[i])) for i in self._pos.values()]
            self._matrix, self._live, self._expires = matrix, live, expires
            self._keys, self._questions, self._pos = keys, list(snap.questions), pos
            self._ann, self._ann_rows = (snap.graph, n) if n else (None, 0)
            self._generation += 1
            self.restored = True
            self.add_many(held, replace=True)

    def clear(self) -> None:
        """Forget every row and the graph."""
        with self._lock:
            self._matrix = np.zeros((64, self.dim), dtype=np.float32)
            self._keys, self._questions, self._pos = [], [], {}
            self._live = np.zeros(64, dtype=bool)
            self._expires = np.full(64, math.inf, dtype=np.float64)
            self._ann, self._ann_rows = None, 0
            self._generation += 1
            self.restored = False

    # --- reads ----------------------------------------------------------------
    def search(self, vector: bytes | np.ndarray, k: int = 5) -> list[Neighbour]:
        """Up to ``k`` nearest live rows, most similar first."""
        q = self._row_of(vector)
        with self._lock:
            n = len(self._keys)
            if n == 0:
                return []
            if self._ann is not None and self._ann_rows == n:
                matches = self._ann.search(q, k * 2)
                cand = np.asarray(matches.keys, dtype=np.int64)
                cand = cand[self._live[cand]]
            else:
                sims = self._matrix[:n] @ q
                sims[~self._live[:n]] = -2.0
                kk = min(k, n)
                cand = np.argpartition(-sims, kk - 1)[:kk]
                cand = cand[self._live[cand]]
            exact = self._matrix[cand] @ q  # the true cosine, whatever found the rows
            order = np.argsort(-exact)[:k]
            return [Neighbour(self._keys[int(cand[i])], self._questions[int(cand[i])],
                              float(exact[i])) for i in order]
