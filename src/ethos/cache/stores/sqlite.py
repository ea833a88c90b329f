"""The embedded store: one SQLite file in WAL mode, shareable by several processes.

Writers in other processes are seen through SQLite itself; removals bump an ``epoch`` row
so that every process's memory tier can drop what it holds (see :meth:`SQLiteStore.epoch`).
A full or read-only disk, a locked or corrupt file: all surface as ``StoreUnavailable``; its
``kind`` tells a full disk (``disk_full``) and a read-only one (``read_only``) from the rest,
because the cache keeps reading from a store it can no longer write to. Every write is one
transaction, so a write that fails leaves the file as it was (SQLite rolls it back).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import types
from collections.abc import Iterator
from pathlib import Path

from ..entry import Entry
from ..keys import glob_matches
from .base import PURGE_LIMIT, Store, StoreMissing, StoreStats, StoreUnavailable, check_key, escape_glob

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY,
    scope TEXT NOT NULL,
    question TEXT NOT NULL DEFAULT '',
    format_version INTEGER NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    hit_count INTEGER NOT NULL DEFAULT 0,
    data TEXT NOT NULL,
    embedding BLOB NOT NULL DEFAULT x'',
    seq INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entries_scope ON entries(scope, format_version);
CREATE TABLE IF NOT EXISTS entry_sources (
    source TEXT NOT NULL,
    key TEXT NOT NULL,
    PRIMARY KEY (source, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entry_sources_key ON entry_sources(key);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta(name, value) VALUES ('epoch', 0);
INSERT OR IGNORE INTO meta(name, value) VALUES ('seq', 0);
INSERT OR IGNORE INTO meta(name, value) VALUES ('id', random());
"""
# after the migration below (a file from before ``seq`` gets the column first)
_SEQ_INDEX = "CREATE INDEX IF NOT EXISTS entries_seq ON entries(seq);"
# what purge_expired selects by; made by the migration too, so that a file written before it
# (or a read-only one, which cannot take it) still opens
_EXPIRY_INDEX = "CREATE INDEX IF NOT EXISTS entries_expires ON entries(expires_at);"


_NEVER = 1e18  # expires_at of entries without TTL
_NO_LOCK = contextlib.nullcontext()
_SQLITE_READONLY = 8
_SQLITE_FULL = 13


def _read_only_fs(path: str) -> bool:
    """True when the directory of ``path`` is on a file system mounted read-only."""
    if path == ":memory:":
        return False
    try:
        return bool(os.statvfs(Path(path).parent).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def failure_kind(e: BaseException, path: str) -> str:
    """``disk_full``, ``read_only`` or ``unavailable`` for an error of the file at ``path``."""
    code = (getattr(e, "sqlite_errorcode", 0) or 0) & 0xFF
    if code == _SQLITE_FULL:
        return "disk_full"
    if code == _SQLITE_READONLY or _read_only_fs(path):
        # a read-only file system shows as "unable to open" or "disk I/O error" too
        return "read_only"
    return "unavailable"


def _unavailable(message: str, e: BaseException, path: str) -> StoreUnavailable:
    kind = failure_kind(e, path)
    if kind == "read_only" and "readonly" not in message:
        message += " (the file system is read-only)"
    return StoreUnavailable(message, kind=kind)


def to_sqlite_glob(pattern: str) -> str:
    """An fnmatch glob as an SQLite GLOB with the same meaning.

    fnmatch's ``[!x]`` is SQLite's ``[^x]``; fnmatch's ``[^x]`` (a class holding '^' and
    'x') must not become a negation, and a '[' without a closing ']' is a literal '['.
    """
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        i += 1
        if c != "[":
            out.append(c)
            continue
        j = i
        if j < n and pattern[j] == "!":
            j += 1
        if j < n and pattern[j] == "]":  # a leading ']' is a member in both
            j += 1
        while j < n and pattern[j] != "]":
            j += 1
        if j >= n:
            out.append("[[]")
            continue
        body, i = pattern[i:j], j + 1
        negated = body.startswith("!")
        if negated:
            body = body[1:]
        if body.startswith("^"):  # SQLite would read a leading '^' as a negation
            body = body[1:] + "^"
            if body == "^" and not negated:
                out.append("^")
                continue
        out.append(("[^" if negated else "[") + body + "]")
    return "".join(out)


class SQLiteStore(Store):
    backend = "sqlite"
    remote = False

    def __init__(self, path: str | os.PathLike[str] = ":memory:", timeout_s: float = 0.25, *,
                 create: bool = True) -> None:
        """``create=False``: open an existing cache only (:class:`StoreMissing` when the file,
        its directory or its tables are missing); no file or directory is ever created."""
        super().__init__()
        self.path = str(path)
        self.create = create
        self._busy_ms = int(max(timeout_s, 1.0) * 1000)
        # A file gets one connection per thread: a reader on the event loop never waits for a
        # writer's commit in a worker thread (WAL lets them run side by side). ":memory:" is
        # private to its connection, so it has one, shared under a lock.
        self._shared = self.path == ":memory:"
        self._lock = threading.RLock()
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        # the thread each connection belongs to (None: shared by all threads)
        self._owners: dict[sqlite3.Connection, threading.Thread | None] = {}
        self._shared_view = types.SimpleNamespace()
        if not create and not self._shared:
            self._check_exists()
        try:
            if not self._shared and create:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            db = self._connect()
            db.executescript(_SCHEMA)
            self._migrate(db)
        except (sqlite3.Error, OSError) as e:
            raise _unavailable(f"cannot open SQLite cache at {self.path}: {e}", e, self.path) from e

    def _check_exists(self) -> None:
        """StoreMissing unless the file exists and holds the cache's tables (read-only look:
        a file that is not a cache is left untouched)."""
        p = Path(self.path)
        if not p.parent.is_dir():
            raise StoreMissing(f"no SQLite cache at {self.path}: the directory {p.parent} does not exist")
        if not p.is_file():
            raise StoreMissing(f"no SQLite cache at {self.path}: the file does not exist")
        try:
            db = sqlite3.connect(f"{p.absolute().as_uri()}?mode=ro", uri=True, timeout=self._busy_ms / 1000)
            try:
                found = db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='entries'").fetchone()
            finally:
                db.close()
        except sqlite3.OperationalError as e:
            if "locked" in str(e):
                return  # a writer holds it: the open that follows waits for it
            raise _unavailable(f"cannot open SQLite cache at {self.path}: {e}", e, self.path) from e
        except sqlite3.DatabaseError as e:  # e.g. "file is not a database"
            raise StoreMissing(f"{self.path} is not an ethos cache: {e}") from e
        if not found:
            raise StoreMissing(f"{self.path} is not an ethos cache (it has no cache tables)")

    @staticmethod
    def _migrate(db: sqlite3.Connection) -> None:
        """Give a file written before ``seq`` existed the column (its old entries get 0: a
        full scan reads them, :meth:`scan_since` reads what is put from now on), and a file
        written before :meth:`purge_expired` was bounded its index on ``expires_at``."""
        try:
            cols = {r[1] for r in db.execute("PRAGMA table_info(entries)")}
            if "seq" not in cols:
                db.execute("ALTER TABLE entries ADD COLUMN seq INTEGER NOT NULL DEFAULT 0")
            db.executescript(_SEQ_INDEX)
        except sqlite3.OperationalError:
            # added by another process meanwhile, or a read-only file: it still answers reads
            # (scan_since then fails as unavailable, and a full scan still reads everything)
            pass
        try:
            db.executescript(_EXPIRY_INDEX)
        except sqlite3.OperationalError:
            pass  # a read-only file: it cannot be purged anyway

    def _connect(self) -> sqlite3.Connection:
        if self.create or self._shared:
            db = sqlite3.connect(self.path, timeout=self._busy_ms / 1000, isolation_level=None,
                                 check_same_thread=False)
        else:  # mode=rw: a file removed meanwhile is an error, never re-created empty
            db = sqlite3.connect(f"{Path(self.path).absolute().as_uri()}?mode=rw", uri=True,
                                 timeout=self._busy_ms / 1000, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(f"PRAGMA busy_timeout={self._busy_ms}")
        # A deleted or purged entry (PII found by a scan) is overwritten, not left readable in
        # free pages; many SQLite builds have this off by default (Debian's has it on).
        db.execute("PRAGMA secure_delete=ON")
        # Worker threads come and go (anyio retires idle ones after seconds): the connection of
        # a thread that has ended is closed here, or each new thread would leave one open for
        # good (its page cache and file handles: a service would run out of descriptors).
        with self._lock:
            dead = [c for c, t in self._owners.items() if t is not None and not t.is_alive()]
            for c in dead:
                del self._owners[c]
            self._all = [c for c in self._all if c in self._owners]
            self._all.append(db)
            self._owners[db] = None if self._shared else threading.current_thread()
        for c in dead:
            try:
                c.close()
            except sqlite3.Error:
                pass
        if self._shared:
            self._shared_db = db
        else:
            self._local.db = db
        return db

    def _db(self) -> sqlite3.Connection:
        if self._shared:
            return self._shared_db
        db = getattr(self._local, "db", None)
        return db if db is not None else self._connect()

    def _epoch_holder(self):
        """Where a connection's view of the epoch is kept: per connection, like data_version."""
        if self._shared:
            return self._shared_view
        return self._local

    # --- helpers -------------------------------------------------------------
    def _run(self, fn):
        lock = self._lock if self._shared else _NO_LOCK
        with lock:
            try:
                db = self._db()
                return fn(db)
            except sqlite3.Error as e:
                try:
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                except (sqlite3.Error, UnboundLocalError):
                    pass
                raise _unavailable(f"SQLite cache at {self.path}: {e}", e, self.path) from e

    def _bump_epoch(self, db: sqlite3.Connection) -> None:
        db.execute("UPDATE meta SET value = value + 1 WHERE name = 'epoch'")
        # this connection does not see its own commit in data_version: note the epoch here
        self._epoch_holder().epoch = db.execute("SELECT value FROM meta WHERE name='epoch'").fetchone()[0]

    @staticmethod
    def _row_entry(row) -> Entry:
        data, hits, emb = row
        return Entry.from_json(data, hit_count=hits, embedding=bytes(emb))

    # --- Store ---------------------------------------------------------------
    def get(self, key: str, now: float) -> Entry | None:
        def op(db):
            return db.execute(
                "SELECT data, hit_count, embedding FROM entries WHERE key=? AND expires_at>?",
                (key, now),
            ).fetchone()

        row = self._run(op)
        self._count("reads")
        return self._row_entry(row) if row else None

    def put(self, entry: Entry) -> None:
        check_key(entry.key)
        expires = entry.created_at + entry.ttl_s if entry.ttl_s else _NEVER

        def op(db):
            db.execute("BEGIN IMMEDIATE")
            # the position of this put: writers are serialised, so positions commit in order
            db.execute("UPDATE meta SET value = value + 1 WHERE name = 'seq'")
            db.execute(
                "INSERT OR REPLACE INTO entries(key, scope, question, format_version,"
                " created_at, expires_at, hit_count, data, embedding, seq)"
                " VALUES (?,?,?,?,?,?,0,?,?,(SELECT value FROM meta WHERE name = 'seq'))",
                (entry.key, entry.scope, entry.question, entry.format_version,
                 entry.created_at, expires, entry.to_json(), entry.embedding),
            )
            db.execute("DELETE FROM entry_sources WHERE key=?", (entry.key,))
            db.executemany(
                "INSERT OR IGNORE INTO entry_sources(source, key) VALUES (?,?)",
                [(s, entry.key) for s in entry.sources],
            )
            db.execute("COMMIT")

        self._run(op)
        self._count("writes")

    def _delete_where(self, where: str, args: tuple, *, query: bool = True) -> int:
        """Delete entries by a condition on ``key`` (the column both tables share); ``query``:
        the condition selects (a GLOB, a range) rather than names keys."""
        # without a WHERE clause SQLite truncates the table instead of visiting every row
        cond = "" if where == "1" else f" WHERE {where}"

        def op(db):
            db.execute("BEGIN IMMEDIATE")
            n = db.execute(f"DELETE FROM entries{cond}", args).rowcount
            db.execute(f"DELETE FROM entry_sources{cond}", args)
            if n:  # a no-op must not empty every memory tier
                self._bump_epoch(db)
            db.execute("COMMIT")
            return n

        n = self._run(op)
        if query:
            self._count("queries")
        self._count("deletes", max(n, 1))
        return n

    def delete_matching(self, pattern: str) -> int:
        if pattern == "*":
            return self._delete_where("1", ())
        if "\x00" in pattern:  # GLOB would stop at the NUL and match far more: see scan()
            return self.delete_keys([e.key for batch in self.scan(pattern) for e in batch])
        return self._delete_where("key GLOB ?", (to_sqlite_glob(pattern),))

    def delete_by_source(self, source: str) -> int:
        keys = self._run(
            lambda db: [
                r[0]
                for r in db.execute("SELECT key FROM entry_sources WHERE source=?", (source,))
            ]
        )
        self._count("queries")
        return self.delete_keys(keys)

    def delete_keys(self, keys) -> int:
        keys = list(keys)
        n = 0
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            marks = ",".join("?" * len(chunk))
            n += self._delete_where(f"key IN ({marks})", tuple(chunk), query=False)
        return n

    def purge_expired(self, now: float, limit: int = PURGE_LIMIT) -> int:
        """The ``limit`` entries that expired first, by the index on ``expires_at``, and their
        source rows, in one write transaction (a put meanwhile waits for it, so a key put again
        is never removed). No epoch bump: see :mod:`ethos.cache.stores.base`."""
        limit = int(limit)
        if limit <= 0:
            return 0

        def op(db):
            db.execute("BEGIN IMMEDIATE")
            keys = [r[0] for r in db.execute(
                "SELECT key FROM entries WHERE expires_at<=? ORDER BY expires_at LIMIT ?",
                (now, limit),
            )]
            for i in range(0, len(keys), 500):
                chunk = keys[i : i + 500]
                marks = ",".join("?" * len(chunk))
                db.execute(f"DELETE FROM entries WHERE key IN ({marks})", chunk)
                db.execute(f"DELETE FROM entry_sources WHERE key IN ({marks})", chunk)
            db.execute("COMMIT")
            return len(keys)

        n = self._run(op)
        self._count("queries")
        self._count("reads", max(n, 1))
        if n:
            self._count("deletes", n)
        return n

    def add_hits(self, hits: dict[str, int]) -> None:
        if not hits:
            return

        def op(db):
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                "UPDATE entries SET hit_count = hit_count + ? WHERE key=?",
                [(n, k) for k, n in hits.items()],
            )
            db.execute("COMMIT")

        self._run(op)
        self._count("writes", len(hits))

    def scan(self, pattern: str = "*", batch: int = 500) -> Iterator[list[Entry]]:
        last = ""
        # SQLite's GLOB ends a pattern at a NUL: such a pattern is matched here, in Python
        # (no key holds a NUL, put() refuses one, so only a class like [a\x00] can match)
        exact = "\x00" not in pattern
        glob = to_sqlite_glob(pattern) if exact else "*"
        while True:
            def op(db, last=last):
                return db.execute(
                    "SELECT key, data, hit_count, embedding FROM entries"
                    " WHERE key > ? AND key GLOB ? ORDER BY key LIMIT ?",
                    (last, glob, batch),
                ).fetchall()

            rows = self._run(op)
            self._count("queries")
            self._count("reads", max(len(rows), 1))
            if not rows:
                return
            last = rows[-1][0]
            found = [self._row_entry(r[1:]) for r in rows if exact or glob_matches(pattern, r[0])]
            if found:
                yield found
            if len(rows) < batch:
                return

    def position(self) -> int:
        row = self._run(lambda db: db.execute("SELECT value FROM meta WHERE name='seq'").fetchone())
        self._count("reads")
        return int(row[0]) if row else 0

    def scan_since(self, after: int, batch: int = 500) -> tuple[list[Entry], int]:
        def op(db):
            return db.execute(
                "SELECT seq, data, hit_count, embedding FROM entries WHERE seq > ?"
                " ORDER BY seq LIMIT ?",
                (after, batch),
            ).fetchall()

        rows = self._run(op)
        self._count("queries")
        self._count("reads", max(len(rows), 1))
        if not rows:
            return [], after
        return [self._row_entry(r[1:]) for r in rows], int(rows[-1][0])

    def scope_vectors(
        self, namespace: str, format_version: int, scope: str, now: float
    ) -> list[tuple[str, str, bytes, float]]:
        def op(db):
            return db.execute(
                "SELECT key, question, embedding, expires_at FROM entries WHERE scope=?"
                " AND format_version=? AND key GLOB ? AND expires_at>?"
                " AND length(embedding) > 0",
                (scope, format_version, to_sqlite_glob(escape_glob(namespace)) + ":*", now),
            ).fetchall()

        rows = self._run(op)
        self._count("queries")
        self._count("reads", max(len(rows), 1))
        return [(k, q, bytes(e), float("inf") if x >= _NEVER else float(x)) for k, q, e, x in rows]

    def index_mark(self) -> tuple[str, int] | None:
        """The file's random ``id`` (made with its tables) and its removal ``epoch``."""
        rows = dict(self._run(lambda db: db.execute(
            "SELECT name, value FROM meta WHERE name IN ('id', 'epoch')").fetchall()))
        self._count("reads")
        if "id" not in rows:  # a read-only file from before ids: never saved
            return None
        return f"sqlite:{int(rows['id'])}", int(rows.get("epoch", 0))

    def set_meta(self, name: str, value: int) -> None:
        self._run(lambda db: db.execute(
            "INSERT OR REPLACE INTO meta(name, value) VALUES (?, ?)", (f"user:{name}", int(value))
        ))
        self._count("writes")

    def get_meta(self, name: str) -> int | None:
        row = self._run(lambda db: db.execute(
            "SELECT value FROM meta WHERE name=?", (f"user:{name}",)
        ).fetchone())
        self._count("reads")
        return None if row is None else int(row[0])

    def count(self) -> int:
        n = self._run(lambda db: db.execute("SELECT count(*) FROM entries").fetchone()[0])
        self._count("queries")
        return n

    def stats(self) -> StoreStats:
        def op(db):
            n = db.execute("SELECT count(*) FROM entries").fetchone()[0]
            pages = db.execute("PRAGMA page_count").fetchone()[0]
            size = db.execute("PRAGMA page_size").fetchone()[0]
            return n, pages * size

        n, size = self._run(op)
        self._count("queries")
        return StoreStats(entries=n, size_bytes=size, backend=self.backend)

    def epoch(self) -> int:
        def op(db):
            local = self._epoch_holder()
            dv = db.execute("PRAGMA data_version").fetchone()[0]
            if dv != getattr(local, "data_version", None) or not hasattr(local, "epoch"):
                local.data_version = dv
                local.epoch = db.execute("SELECT value FROM meta WHERE name='epoch'").fetchone()[0]
            return local.epoch

        return self._run(op)

    def ping(self) -> bool:
        try:
            self._run(lambda db: db.execute("SELECT 1").fetchone())
            return True
        except StoreUnavailable:
            return False

    def integrity_ok(self) -> bool:
        """SQLite's own integrity check."""
        row = self._run(lambda db: db.execute("PRAGMA integrity_check").fetchone())
        return row[0] == "ok"

    def close(self) -> None:
        with self._lock:
            dbs, self._all, self._owners = self._all, [], {}
        for db in dbs:
            try:
                db.close()
            except sqlite3.Error:
                pass
