"""A scope's vector index kept on disk, so that a new process need not build its graph again.

Building the HNSW graph of 100,000 rows takes most of a minute on two cores (reading the
vectors from the store a few seconds more: ``bench/semantic_ready.py``). Once a graph is built
the tier writes it here, one file per scope, with what it was made from: its rows (keys,
questions, expiries, live flags), and the store's *mark* at the time its rows were read:

* ``store``: the store's identity (a SQLite file, a Redis prefix: :meth:`Store.index_mark`),
  new when the data is made anew (a file recreated, a Redis emptied);
* ``epoch``: the store's own removal count, which every invalidation moves;
* ``position``: the store's put position (:meth:`Store.position`), read *before* the rows.

A file is used only when it is well formed (magic, format, CRC-32 of its payload), made by the
same model for the same scope, from the same store, at the same epoch, and no newer than the
store's position. The tier then applies what was put since (:meth:`Store.scan_since`) and drops
what has expired; anything else (a removal since, a corrupt or foreign file, another model)
means a full read and build, with a log line saying why.

Several processes may share the directory: a file is written under a temporary name and
renamed over the old one (atomic on POSIX), so a reader sees the old file or the new, never
half of one. Persistence is optional: a directory that cannot be written turns it off.

File layout: ``ETHOSIDX`` | format (u32) | header length (u32) | header (JSON) | payload, the
payload being the sections the header lists (``[offset, length]`` within it).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import mmap
import os
import struct
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

MAGIC = b"ETHOSIDX"
FORMAT = 1
_PREFIX = struct.Struct("<8sII")  # magic, format, header length
SUFFIX = ".ethosidx"
#: age after which a temporary file is taken for one left by a process killed while writing
STALE_TMP_S = 3600.0


@dataclass(frozen=True, slots=True)
class Mark:
    """Where the store stood when an index's rows were read (see the module's docstring)."""

    store: str
    epoch: int
    position: int


@dataclass(slots=True)
class Snapshot:
    """An index as saved: rows ``[0, n)`` of its matrix and the graph over them."""

    scope: tuple[str, int, str]
    model: str
    dim: int
    mark: Mark
    keys: list[str]
    questions: list[str]
    expires: np.ndarray  # float64, unix seconds (inf: never)
    live: np.ndarray  # bool
    graph: Any  # usearch Index over row numbers; its vectors are the matrix's rows
    saved_at: float = 0.0

    @property
    def rows(self) -> int:
        return len(self.keys)


class SnapshotInvalid(Exception):
    """A file that cannot be used; the message says why (logged)."""


def file_name(scope: tuple[str, int, str], model: str, dim: int) -> str:
    digest = hashlib.sha256(json.dumps([list(scope), model, dim]).encode()).hexdigest()[:32]
    return f"{digest}{SUFFIX}"


class IndexFiles:
    """The directory where scopes' indexes are kept; :attr:`enabled` is False when it cannot
    be written (a read-only root, say), and then nothing is read or written."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.enabled = False
        self.reason: str | None = None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=".probe-", dir=self.directory)
            os.close(fd)
            os.unlink(probe)
        except OSError as e:
            self.reason = f"{self.directory} is not writable: {e}"
            log.info("semantic index persistence off", extra={"reason": self.reason})
        else:
            self.enabled = True
            self._sweep()

    def _sweep(self) -> None:
        """Remove temporary files left by a process killed while writing (an hour old)."""
        cutoff = time.time() - STALE_TMP_S
        for tmp in self.directory.glob(f".*{SUFFIX}.*.tmp"):
            with contextlib.suppress(OSError):
                if tmp.stat().st_mtime < cutoff:
                    tmp.unlink()

    def path(self, scope: tuple[str, int, str], model: str, dim: int) -> Path:
        return self.directory / file_name(scope, model, dim)

    # --- writing ------------------------------------------------------------------
    def save(self, snap: Snapshot) -> Path:
        """Write ``snap`` atomically (temporary file, fsync, rename). Raises OSError."""
        graph = snap.graph.save() if snap.rows else b""
        keys = json.dumps(snap.keys).encode()
        questions = json.dumps(snap.questions).encode()
        expires = np.ascontiguousarray(snap.expires[: snap.rows], dtype="<f8").tobytes()
        live = np.ascontiguousarray(snap.live[: snap.rows], dtype=np.uint8).tobytes()
        sections: dict[str, list[int]] = {}
        parts: list[bytes] = []
        offset = 0
        for name, blob in (("keys", keys), ("questions", questions), ("expires", expires),
                           ("live", live), ("graph", graph)):
            sections[name] = [offset, len(blob)]
            parts.append(blob)
            offset += len(blob)
        crc = 0
        for blob in parts:
            crc = zlib.crc32(blob, crc)
        header = json.dumps({
            "scope": list(snap.scope), "model": snap.model, "dim": snap.dim,
            "store": snap.mark.store, "epoch": snap.mark.epoch, "position": snap.mark.position,
            "rows": snap.rows, "saved_at": time.time(), "sections": sections,
            "payload": offset, "crc32": crc,
        }).encode()
        target = self.path(snap.scope, snap.model, snap.dim)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=self.directory)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(_PREFIX.pack(MAGIC, FORMAT, len(header)))
                f.write(header)
                for blob in parts:
                    f.write(blob)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return target

    # --- reading ------------------------------------------------------------------
    def header(self, scope: tuple[str, int, str], model: str, dim: int) -> dict[str, Any] | None:
        """The header of the scope's file, or None (missing or unreadable): a cheap look."""
        try:
            with open(self.path(scope, model, dim), "rb") as f:
                magic, fmt, hlen = _PREFIX.unpack(f.read(_PREFIX.size))
                if magic != MAGIC or fmt != FORMAT or hlen > 1 << 20:
                    return None
                head = json.loads(f.read(hlen))
                return head if isinstance(head, dict) else None
        except (OSError, ValueError, struct.error):
            return None

    def load(self, scope: tuple[str, int, str], model: str, dim: int) -> Snapshot | None:
        """The scope's snapshot; None when there is no file. Raises :class:`SnapshotInvalid`
        for a file that cannot be used (corrupt, foreign, another model or scope)."""
        path = self.path(scope, model, dim)
        try:
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                # mapped, not read: the graph is copied once, by usearch, straight from it
                data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else None
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            raise SnapshotInvalid(f"cannot read {path}: {e}") from e
        if data is None:
            raise SnapshotInvalid(f"{path}: empty")
        try:
            return parse(data, scope, model, dim, str(path))
        finally:
            with contextlib.suppress(BufferError):  # a view still held: the GC unmaps it
                data.close()


def parse(data: bytes | mmap.mmap, scope: tuple[str, int, str], model: str, dim: int,
          where: str = "snapshot") -> Snapshot:
    """A snapshot from a file's bytes, checked (raises :class:`SnapshotInvalid`)."""
    if len(data) < _PREFIX.size:
        raise SnapshotInvalid(f"{where}: too short ({len(data)} bytes)")
    magic, fmt, hlen = _PREFIX.unpack_from(data)
    if magic != MAGIC:
        raise SnapshotInvalid(f"{where}: not an ethos index file")
    if fmt != FORMAT:
        raise SnapshotInvalid(f"{where}: format {fmt}, this code reads {FORMAT}")
    start = _PREFIX.size + hlen
    try:
        head = json.loads(data[_PREFIX.size:start])
        sections = {k: (int(v[0]), int(v[1])) for k, v in head["sections"].items()}
        payload_len, crc, rows = int(head["payload"]), int(head["crc32"]), int(head["rows"])
        mark = Mark(str(head["store"]), int(head["epoch"]), int(head["position"]))
        saved_scope = (str(head["scope"][0]), int(head["scope"][1]), str(head["scope"][2]))
        saved_model, saved_dim = str(head["model"]), int(head["dim"])
    except (ValueError, KeyError, TypeError, IndexError) as e:
        raise SnapshotInvalid(f"{where}: bad header: {e}") from e
    if saved_scope != tuple(scope) or saved_model != model or saved_dim != dim:
        raise SnapshotInvalid(f"{where}: made for {saved_scope} / {saved_model} / {saved_dim}-d")
    payload = memoryview(data)[start:]
    if len(payload) != payload_len:
        raise SnapshotInvalid(f"{where}: payload is {len(payload)} bytes, the header says {payload_len}")
    if zlib.crc32(payload) != crc:
        raise SnapshotInvalid(f"{where}: CRC mismatch (corrupt)")

    def section(name: str) -> memoryview:
        off, n = sections[name]
        if off < 0 or n < 0 or off + n > payload_len:
            raise SnapshotInvalid(f"{where}: section {name} out of bounds")
        return payload[off:off + n]

    try:
        keys = json.loads(bytes(section("keys")))
        questions = json.loads(bytes(section("questions")))
        expires = np.frombuffer(section("expires"), dtype="<f8").astype(np.float64)
        live = np.frombuffer(section("live"), dtype=np.uint8).astype(bool)
        graph_bytes = section("graph")
    except (ValueError, KeyError) as e:
        raise SnapshotInvalid(f"{where}: bad section: {e}") from e
    if not (len(keys) == len(questions) == len(expires) == len(live) == rows):
        raise SnapshotInvalid(f"{where}: sections disagree on the row count")
    graph = None
    if rows:
        from usearch.index import Index

        try:
            graph = Index.restore(graph_bytes)
        except (ValueError, RuntimeError) as e:
            raise SnapshotInvalid(f"{where}: the graph does not load: {e}") from e
        if graph is None or len(graph) != rows or graph.ndim != dim:
            raise SnapshotInvalid(f"{where}: the graph does not match its rows")
    return Snapshot(saved_scope, saved_model, saved_dim, mark, [str(k) for k in keys],
                    [str(q) for q in questions], expires, live, graph,
                    saved_at=float(head.get("saved_at", 0.0)))
