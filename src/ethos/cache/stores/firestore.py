"""The Firestore store: one collection of entry documents, designed for Firestore's bill.

``firestore://PROJECT[/DATABASE][?collection=NAME]`` (database ``(default)``, collection
``ethos_cache``). With ``FIRESTORE_EMULATOR_HOST`` set the client talks to that emulator;
otherwise it uses Application Default Credentials, and a machine without them gets an error
that names them.

Firestore bills each document read, written or deleted (and an index-only query at least one
read), not round trips; every choice below follows from that:

``{collection}/SHA256(key)``
    One document per entry: ``key``, ``ns``, ``fv``, ``scope``, ``question``, ``data`` (the
    entry's JSON), ``emb`` (vector bytes), ``has_vec``, ``sources`` (array), ``hits``,
    ``put_at`` (server time of the put) and, for entries with a TTL, ``expire_at`` (a
    timestamp: the field a TTL policy deletes by). Hashed ids spread writes evenly and hold
    any key (a key may exceed an id's 1,500 bytes or hold ``/``).
``{collection}_meta/state``
    ``n``: the removal epoch; ``m``: named integers (:meth:`set_meta`).

- **A hit is one document read and no write.** Hit counts are added to a buffer and written
  every ``hits_flush_s`` (60 s) with one non-atomic ``BatchWrite`` of increments, one write
  per *distinct* key served in that time (plus ``served_at``), never one per hit; updates
  that meet a removed entry fail alone (precondition) and cost nothing. Counts read back
  (:meth:`get`, :meth:`scan`) include this instance's unwritten ones; an instance that dies
  loses at most ``hits_flush_s`` of its counts (they are statistics: "served N times").
- **Expiry**: entries carry ``expire_at`` and are checked on every read (an expired entry is
  a miss); a TTL policy on ``expire_at`` (README) deletes them without reads. Until it
  does, :meth:`purge_expired` deletes them by a range query on ``expire_at`` (its
  single-field index), at most ``limit`` documents read per call, each delete conditional
  on the document's update time as read (an entry put again meanwhile stays), with no
  epoch increment: expired entries are misses everywhere already.
- **Glob invalidation** reads only the key range of the pattern's literal prefix (a range
  query on ``key``, keys only), filters it with fnmatch here, and deletes in batches of at
  most :data:`DELETE_BATCH` documents, each batch committed atomically with its epoch
  increment: bounded (one page in memory), reported (:meth:`delete_matching_steps`) and
  resumable (an interrupted run has removed whole batches, announced; running it again
  reads only what is left).
- **Cross-instance invalidation**: every removal increments the epoch document in the same
  commit. :meth:`epoch` answers from memory and re-reads the document (one read) when its
  copy is older than ``epoch_poll_s`` (1 s) and something asks: an idle instance reads
  nothing, a busy one at most one document a second, and a removal elsewhere is seen within
  ``epoch_poll_s`` plus one round trip. A poll that fails raises ``StoreUnavailable`` (the
  cache is bypassed): the bound holds even when the store does not answer.
- **Positions** (:meth:`position`, :meth:`scan_since`) are ``(put_at, document id)`` as one
  integer, read by a query ordered on both with a cursor: no counter document (whose
  one-write-a-second limit every put would hit), and puts in the same instant keep distinct
  positions. ``put_at`` is the time Firestore received the put: a put still in flight when a
  scan has read a later one is seen by the next full scan, not by :meth:`scan_since`.
- **Vectors** stay in the process index (``ethos.cache.semantic``), loaded by an equality
  query per scope (:meth:`scope_vectors`); see the README for why not ``find_nearest``. A
  saved index (:mod:`ethos.cache.semantic.persist`) is checked against :meth:`index_mark`:
  the state document's creation time and removal count, one read.

Errors: every google.api_core error becomes ``StoreUnavailable``, ``kind="quota"`` for
RESOURCE_EXHAUSTED, ``"deadline"`` for DEADLINE_EXCEEDED, else ``"unavailable"``. RPCs are
not retried by the client (the cache bypasses instead) and have short deadlines. After a
connection failure the client is rebuilt (at most once a second), so a Firestore (or
emulator) that comes back is used again at once, not after gRPC's reconnect back-off.

Operations are counted as Firestore bills them: ``reads`` (documents returned, at least one
per query; a ``count()`` one per 1,000 entries), ``writes``, ``deletes``, and ``queries``
(queries run: their documents are already in ``reads``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

from ..entry import Entry
from ..keys import glob_matches
from .base import PURGE_LIMIT, Store, StoreError, StoreMissing, StoreStats, StoreUnavailable, check_key

T = TypeVar("T")

DEFAULT_DATABASE = "(default)"
DEFAULT_COLLECTION = "ethos_cache"
#: documents deleted per commit (Firestore allows 500 writes; one is the epoch increment)
DELETE_BATCH = 400
#: documents per page of a query
PAGE = 500
#: hit-count increments per BatchWrite
HITS_BATCH = 500
#: documents whose size estimates the store's (stats)
SIZE_SAMPLE = 20
#: the longest key prefix (UTF-8 bytes) a range query uses: Firestore compares only the first
#: 1,500 bytes of a string, so a longer prefix is cut (and the filter here does the rest)
MAX_PREFIX_BYTES = 1000
#: how long a failed connection waits before the client is built anew (seconds)
RECONNECT_AFTER_S = 1.0

ADC_HELP = (
    "no Application Default Credentials for Firestore: on Cloud Run or GCE the service"
    " account provides them; elsewhere run `gcloud auth application-default login` or set"
    " GOOGLE_APPLICATION_CREDENTIALS to a service account key file (or set"
    " FIRESTORE_EMULATOR_HOST to use an emulator)"
)


# --- pure helpers (unit-tested) ----------------------------------------------------------
def parse_url(url: str) -> dict[str, Any]:
    """``firestore://PROJECT[/DATABASE][?collection=NAME&epoch_poll=S&hits_flush=S&timeout=S]``
    as keyword arguments of :class:`FirestoreStore`; StoreError when malformed."""
    parts = urlsplit(url)
    if parts.scheme != "firestore":
        raise StoreError(f"not a Firestore URL: {url!r}")
    project = unquote(parts.netloc)
    if not project or "@" in project or ":" in project:
        raise StoreError("a Firestore URL is firestore://PROJECT[/DATABASE][?collection=NAME]")
    database = unquote(parts.path.strip("/")) or DEFAULT_DATABASE
    if "/" in database:
        raise StoreError(f"bad Firestore database {database!r}: firestore://PROJECT/DATABASE")
    out: dict[str, Any] = {"project": project, "database": database}
    numbers = {"epoch_poll": "epoch_poll_s", "hits_flush": "hits_flush_s", "timeout": "timeout_s"}
    for k, v in parse_qsl(parts.query, keep_blank_values=True):
        if k == "collection":
            out["collection"] = check_collection(v)
        elif k in numbers:
            try:
                x = float(v)
            except ValueError:
                x = -1.0
            if not math.isfinite(x) or x < 0:
                raise StoreError(f"bad Firestore URL option {k}={v!r}: seconds, 0 or more")
            out[numbers[k]] = x
        else:
            raise StoreError(
                f"unknown Firestore URL option {k!r}: use collection, epoch_poll, hits_flush or timeout"
            )
    return out


def check_collection(name: str) -> str:
    """A collection id Firestore accepts (and our ``_meta`` sibling too)."""
    if (not name or "/" in name or name in (".", "..") or len(name.encode()) > 1400
            or (name.startswith("__") and name.endswith("__"))):
        raise StoreError(f"bad Firestore collection name {name!r}")
    return name


def doc_id(key: str) -> str:
    """The document id of a cache key."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def literal_prefix(pattern: str) -> str:
    """The part of an fnmatch glob before its first ``*``, ``?`` or ``[``: every key it
    matches starts with this (a ``[`` without ``]`` is literal, but stopping there only
    widens the range). Cut to :data:`MAX_PREFIX_BYTES` of UTF-8."""
    cut = len(pattern)
    for i, c in enumerate(pattern):
        if c in "*?[":
            cut = i
            break
    prefix = pattern[:cut]
    if len(prefix.encode("utf-8", "surrogatepass")) > MAX_PREFIX_BYTES:
        out, size = [], 0
        for c in prefix:
            size += len(c.encode("utf-8", "surrogatepass"))
            if size > MAX_PREFIX_BYTES:
                break
            out.append(c)
        prefix = "".join(out)
    return prefix


def prefix_end(prefix: str) -> str | None:
    """The least string greater than every string that starts with ``prefix`` (Firestore
    orders strings by UTF-8 bytes, which is code point order), or None when there is none."""
    chars = list(prefix)
    while chars:
        cp = ord(chars[-1]) + 1
        if cp == 0xD800:
            cp = 0xE000  # surrogates are not characters of a UTF-8 string
        if cp <= 0x10FFFF:
            chars[-1] = chr(cp)
            return "".join(chars)
        chars.pop()
    return None


def ts_to_ns(ts: Any) -> int:
    """A Firestore timestamp (DatetimeWithNanoseconds) as integer nanoseconds since 1970."""
    pb = ts.timestamp_pb()
    return int(pb.seconds) * 1_000_000_000 + int(pb.nanos)


def ns_to_ts(ns: int) -> Any:
    from google.api_core.datetime_helpers import DatetimeWithNanoseconds
    from google.protobuf.timestamp_pb2 import Timestamp

    seconds, nanos = divmod(int(ns), 1_000_000_000)
    return DatetimeWithNanoseconds.from_timestamp_pb(Timestamp(seconds=seconds, nanos=nanos))


#: a position is (put time in ns, document id as a 256-bit number) as one integer: puts in
#: the same instant (the emulator's clock has milliseconds) keep distinct, ordered positions
_ID_BITS = 256


def make_position(ts_ns: int, doc: str) -> int:
    return (int(ts_ns) << _ID_BITS) | int(doc, 16)


def split_position(pos: int) -> tuple[int, str]:
    """``(put time in ns, document id)`` of a position (0: before everything)."""
    pos = max(int(pos), 0)
    return pos >> _ID_BITS, format(pos & ((1 << _ID_BITS) - 1), "064x")


def position_of(snap: Any) -> int:
    return make_position(ts_to_ns(snap.get("put_at")), snap.id)


def epoch_time(t: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(t, tz=dt.UTC)


def unavailable_kind(e: BaseException) -> str:
    """``quota``, ``deadline`` or ``unavailable`` for an error of the Firestore client."""
    from google.api_core import exceptions as gexc

    if isinstance(e, gexc.ResourceExhausted):
        return "quota"
    if isinstance(e, (gexc.DeadlineExceeded, gexc.RetryError)):
        return "deadline"
    return "unavailable"


def as_store_error(e: BaseException, where: str) -> StoreUnavailable:
    """A Firestore client error as ``StoreUnavailable`` with a one-line message."""
    from google.api_core import exceptions as gexc
    from google.auth import exceptions as aexc

    if isinstance(e, aexc.DefaultCredentialsError):
        return StoreUnavailable(f"{where}: {ADC_HELP}")
    if isinstance(e, aexc.GoogleAuthError):
        return StoreUnavailable(f"{where}: the Application Default Credentials failed: {type(e).__name__}: {e}")
    kind = unavailable_kind(e)
    what = {"quota": "quota exhausted", "deadline": "no answer in time"}.get(kind, "unavailable")
    if isinstance(e, (gexc.PermissionDenied, gexc.Unauthenticated)):
        what = "access refused (check the credentials' roles)"
    detail = getattr(e, "message", None) or str(e)
    detail = " ".join(str(detail).split())[:300]
    return StoreUnavailable(f"{where}: {what}: {type(e).__name__}: {detail}", kind=kind)


class FirestoreStore(Store):
    """A :class:`Store` in one Firestore collection, shared by every instance using it."""

    backend = "firestore"
    remote = True

    def __init__(
        self,
        project: str,
        database: str = DEFAULT_DATABASE,
        collection: str = DEFAULT_COLLECTION,
        *,
        timeout_s: float = 0.25,
        bulk_timeout_s: float | None = None,
        epoch_poll_s: float = 1.0,
        hits_flush_s: float = 60.0,
        create: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.project = project
        self.database = database
        self.collection = check_collection(collection)
        self.timeout_s = max(float(timeout_s), 0.05)
        #: deadline of queries and batch commits (more documents than a point read)
        self.bulk_timeout_s = bulk_timeout_s or max(20 * self.timeout_s, 5.0)
        self.epoch_poll_s = float(epoch_poll_s)
        self.hits_flush_s = float(hits_flush_s)
        self.create = create
        self.clock = clock
        self.where = f"Firestore cache firestore://{project}/{database}?collection={collection}"
        self._client_lock = threading.Lock()
        self._client: Any = None
        self._retired: Any = None
        self._credentials: Any = None
        self._broken_at: float | None = None
        self._rebuilt_at = -math.inf
        self._connected = False
        self._client = self._make_client()
        # the epoch, as this instance last saw it
        self._state_lock = threading.Lock()
        self._poll_lock = threading.Lock()
        self._seen: tuple[Any, int] | None = None  # (create time of the state doc, n)
        self._generation = 0
        self._state_at = -math.inf
        self._meta: dict[str, int] = {}
        #: the highest position this instance has seen (positions never go back here)
        self._position = 0
        # hit counts not yet written
        self._hits_lock = threading.Lock()
        self._pending: Counter[str] = Counter()
        self._flushed_at = clock()
        self._closed = False

    @classmethod
    def from_url(cls, url: str, **kw: Any) -> FirestoreStore:
        opts = parse_url(url)
        # what the URL says wins over the caller's defaults (e.g. ETHOS_CACHE_STORE_TIMEOUT_S)
        return cls(**opts, **{k: v for k, v in kw.items() if k not in opts})

    # --- the client ------------------------------------------------------------------
    def _make_client(self) -> Any:
        from google.auth import exceptions as aexc
        from google.cloud import firestore

        try:
            client = firestore.Client(
                project=self.project, database=self.database, credentials=self._credentials
            )
        except aexc.DefaultCredentialsError as e:
            raise as_store_error(e, self.where) from None
        if self._credentials is None and not os.environ.get("FIRESTORE_EMULATOR_HOST"):
            self._credentials = client._credentials  # noqa: SLF001 - found once, kept
        return client

    @property
    def client(self) -> Any:
        """The Firestore client; built anew (at most once a second) after a connection failure,
        so that a store that came back is reached without waiting for gRPC's back-off."""
        broken = self._broken_at
        if broken is not None and self.clock() - self._rebuilt_at >= RECONNECT_AFTER_S:
            with self._client_lock:
                if self._broken_at is not None and self.clock() - self._rebuilt_at >= RECONNECT_AFTER_S:
                    old_retired, self._retired = self._retired, self._client
                    self._client = self._make_client()  # (its first call: the short deadline)
                    self._rebuilt_at = self.clock()
                    self._broken_at = None
                    _close_client(old_retired)  # retired a second ago: no call still on it
        return self._client

    @contextmanager
    def _guard(self) -> Iterator[None]:
        from google.api_core import exceptions as gexc
        from google.auth import exceptions as aexc

        try:
            yield
        except (gexc.GoogleAPIError, aexc.GoogleAuthError) as e:
            # answers about the request itself say nothing against the connection
            if not isinstance(e, (gexc.NotFound, gexc.FailedPrecondition, gexc.InvalidArgument,
                                  gexc.Conflict)):
                self._broken_at = self.clock()
            raise as_store_error(e, self.where) from None
        except ValueError as e:  # e.g. the client refusing a closed channel
            if "closed" not in str(e).lower():
                raise
            self._broken_at = self.clock()
            raise StoreUnavailable(f"{self.where}: {e}") from None

    def _call(self, fn: Callable[[], T]) -> T:
        with self._guard():
            out = fn()
        self._connected = True
        return out

    @property
    def _entries(self) -> Any:
        return self.client.collection(self.collection)

    @property
    def _state_ref(self) -> Any:
        return self.client.collection(self.collection + "_meta").document("state")

    def _ref(self, key: str) -> Any:
        return self._entries.document(doc_id(key))

    def _kw(self, bulk: bool = False) -> dict[str, Any]:
        # the first call also connects (and in production fetches a token): it gets the long
        # deadline, the calls after it the short one
        long = bulk or not self._connected
        return {"retry": None, "timeout": self.bulk_timeout_s if long else self.timeout_s}

    def _run_query(self, query: Any) -> list[Any]:
        """One query: its documents, counted as Firestore bills them."""
        docs = self._call(lambda: query.get(**self._kw(bulk=True)))
        self._count("queries")
        self._count("reads", max(len(docs), 1))
        return docs

    # --- documents <-> entries -------------------------------------------------------
    def _fields(self, entry: Entry) -> dict[str, Any]:
        from google.cloud import firestore

        fields: dict[str, Any] = {
            "key": entry.key,
            "ns": entry.namespace,
            "fv": entry.format_version,
            "scope": entry.scope,
            "question": entry.question,
            "data": entry.to_json(),
            "emb": bytes(entry.embedding),
            "has_vec": bool(entry.embedding),
            "sources": list(dict.fromkeys(entry.sources)),
            "hits": 0,
            "put_at": firestore.SERVER_TIMESTAMP,
        }
        if entry.ttl_s:
            fields["expire_at"] = epoch_time(entry.expires_at)
        return fields

    def _entry(self, snap: Any) -> Entry:
        d = snap.to_dict() or {}
        key = d.get("key", "")
        with self._hits_lock:
            pending = self._pending.get(key, 0)
        hits = d.get("hits")
        return Entry.from_json(
            d["data"],
            hit_count=None if hits is None else int(hits) + pending,
            embedding=bytes(d.get("emb") or b""),
        )

    # --- Store: entries ----------------------------------------------------------------
    def get(self, key: str, now: float) -> Entry | None:
        snap = self._call(lambda: self._ref(key).get(**self._kw()))
        self._count("reads")
        if not snap.exists or snap.get("key") != key:
            return None
        entry = self._entry(snap)
        return None if entry.expired(now) else entry

    def put(self, entry: Entry) -> None:
        check_key(entry.key)
        fields = self._fields(entry)
        self._call(lambda: self._ref(entry.key).set(fields, **self._kw()))
        self._count("writes")
        with self._hits_lock:
            self._pending.pop(entry.key, None)  # the hit count restarts

    # --- removals ------------------------------------------------------------------------
    def _delete_refs(self, refs: list[Any]) -> int:
        """Delete documents in batches, each with its epoch increment; announce locally."""
        from google.cloud.firestore_v1 import Increment

        n = 0
        for i in range(0, len(refs), DELETE_BATCH):
            chunk = refs[i : i + DELETE_BATCH]
            batch = self.client.batch()
            for ref in chunk:
                batch.delete(ref)
            batch.set(self._state_ref, {"n": Increment(1)}, merge=True)
            results = self._call(partial(batch.commit, **self._kw(bulk=True)))
            self._count("deletes", len(chunk))
            self._count("writes")
            n += len(chunk)
            self._observe_removal(results[-1])
        return n

    def delete_matching_steps(self, pattern: str) -> Iterator[tuple[int, int]]:
        """Remove what matches ``pattern`` one page at a time: ``(examined, removed)`` so far
        after each page (at most :data:`PAGE` keys read and deleted per step)."""
        prefix = literal_prefix(pattern)
        if "\x00" in prefix:  # no key holds a NUL (put refuses it): nothing can match
            return
        examined = removed = 0
        last = None
        while True:
            query = self._key_range(prefix).select(["key"]).limit(PAGE)
            if last is not None:
                query = query.start_after(last)
            page = self._run_query(query)
            examined += len(page)
            hit = [s.reference for s in page if glob_matches(pattern, s.get("key"))]
            if hit:
                removed += self._delete_refs(hit)
            if hit or page:
                yield examined, removed
            if len(page) < PAGE:
                return
            last = page[-1]

    def delete_matching(self, pattern: str) -> int:
        removed = 0
        for _examined, removed in self.delete_matching_steps(pattern):  # noqa: B007
            pass
        return removed

    def _key_range(self, prefix: str) -> Any:
        from google.cloud.firestore_v1 import FieldFilter

        query = self._entries
        if prefix:
            query = query.where(filter=FieldFilter("key", ">=", prefix))
            end = prefix_end(prefix)
            if end is not None:
                query = query.where(filter=FieldFilter("key", "<", end))
        return query.order_by("key")

    def delete_by_source(self, source: str) -> int:
        from google.cloud.firestore_v1 import FieldFilter

        n = 0
        while True:  # what is deleted leaves the query: read it from the start again
            query = (self._entries.where(filter=FieldFilter("sources", "array_contains", source))
                     .select(["key"]).limit(PAGE))
            page = self._run_query(query)
            if page:
                n += self._delete_refs([s.reference for s in page])
            if len(page) < PAGE:
                return n

    def delete_keys(self, keys: Iterable[str]) -> int:
        wanted = list(dict.fromkeys(k for k in keys if "\x00" not in k))
        n = 0
        for i in range(0, len(wanted), PAGE):
            chunk = wanted[i : i + PAGE]
            refs = [self._ref(k) for k in chunk]
            snaps = self._call(partial(self._get_all, refs))
            self._count("reads", len(refs))
            chunk_set = set(chunk)
            found = [s.reference for s in snaps if s.exists and s.get("key") in chunk_set]
            if found:
                n += self._delete_refs(found)
        return n

    def _get_all(self, refs: list[Any]) -> list[Any]:
        return list(self.client.get_all(refs, field_paths=["key"], **self._kw(bulk=True)))

    def purge_expired(self, now: float, limit: int = PURGE_LIMIT) -> int:
        """Delete up to ``limit`` documents that expired first (read in pages of at most
        :data:`PAGE`), each only if it has not changed since it was read. A non-atomic
        ``BatchWrite``: a delete that meets a document put again (or already deleted by the
        TTL policy) fails alone and costs nothing."""
        from google.cloud.firestore_v1 import FieldFilter
        from google.cloud.firestore_v1.bulk_batch import BulkWriteBatch

        limit = int(limit)
        base = (self._entries.where(filter=FieldFilter("expire_at", "<=", epoch_time(now)))
                .order_by("expire_at").select(["key"]))
        examined = removed = 0
        last = None
        while examined < limit:
            size = min(PAGE, limit - examined)
            query = base.limit(size) if last is None else base.start_after(last).limit(size)
            page = self._run_query(query)
            examined += len(page)
            if page:
                batch = BulkWriteBatch(self.client)
                for snap in page:
                    batch.delete(snap.reference,
                                 option=self.client.write_option(last_update_time=snap.update_time))
                resp = self._call(partial(batch.commit, **self._kw(bulk=True)))
                ok = sum(1 for st in resp.status if st.code == 0)
                if ok:
                    self._count("deletes", ok)
                removed += ok
            if len(page) < size:
                break
            last = page[-1]
        return removed

    # --- hit counts ----------------------------------------------------------------------
    def add_hits(self, hits: dict[str, int]) -> None:
        with self._hits_lock:
            for k, v in hits.items():
                if v > 0 and "\x00" not in k:
                    self._pending[k] += int(v)
            due = self._pending and self.clock() - self._flushed_at >= self.hits_flush_s
        if due:
            self.flush_hits()

    def flush_hits(self) -> int:
        """Write the buffered hit counts now: one write per distinct key (entries removed
        meanwhile are skipped). Kept for the next flush when the store fails."""
        from google.cloud import firestore
        from google.cloud.firestore_v1 import Increment
        from google.cloud.firestore_v1.bulk_batch import BulkWriteBatch

        with self._hits_lock:
            pending, self._pending = self._pending, Counter()
            self._flushed_at = self.clock()
        items = list(pending.items())
        written = done = 0
        try:
            for i in range(0, len(items), HITS_BATCH):
                batch = BulkWriteBatch(self.client)
                for k, n in items[i : i + HITS_BATCH]:
                    batch.update(self._ref(k), {"hits": Increment(n), "served_at": firestore.SERVER_TIMESTAMP})
                resp = self._call(partial(batch.commit, **self._kw(bulk=True)))
                ok = sum(1 for s in resp.status if s.code == 0)  # the others met no entry
                self._count("writes", ok)
                written += ok
                done = i + HITS_BATCH
        except StoreUnavailable:  # kept for the next flush (a timed-out batch may count twice)
            with self._hits_lock:
                self._pending.update(dict(items[done:]))
        return written

    # --- reading many --------------------------------------------------------------------
    def scan(self, pattern: str = "*", batch: int = 500) -> Iterator[list[Entry]]:
        prefix = literal_prefix(pattern)
        if "\x00" in prefix:
            return
        page_size = max(1, min(int(batch), 1000))
        last = None
        out: list[Entry] = []
        while True:
            query = self._key_range(prefix).limit(page_size)
            if last is not None:
                query = query.start_after(last)
            page = self._run_query(query)
            out.extend(self._entry(s) for s in page if pattern == "*" or glob_matches(pattern, s.get("key")))
            while len(out) >= batch:
                yield out[:batch]
                out = out[batch:]
            if len(page) < page_size:
                break
            last = page[-1]
        if out:
            yield out

    def index_mark(self) -> tuple[str, int] | None:
        """The state document's creation time, new whenever the cache is made anew (its
        collections deleted), with the removal count ``n`` it holds: one document read. What
        lets a saved vector index be installed instead of reading every vector again, which
        on Firestore is one billed read per entry."""
        created, n = self._refresh()
        if created is None and self.create:  # made just now: Firestore set its creation time
            created, n = self._refresh()
        if created is None:
            return None
        stamp = created.rfc3339() if hasattr(created, "rfc3339") else created.isoformat()
        return f"firestore:{self.project}/{self.database}/{self.collection}@{stamp}", n

    def position(self) -> int:
        from google.cloud import firestore

        desc = firestore.Query.DESCENDING
        query = (self._entries.order_by("put_at", direction=desc).order_by("__name__", direction=desc)
                 .select(["put_at"]).limit(1))
        docs = self._run_query(query)
        if docs:
            self._seen_position(position_of(docs[0]))
        return self._position

    def _seen_position(self, pos: int) -> None:
        with self._state_lock:
            self._position = max(self._position, pos)

    def scan_since(self, after: int, batch: int = 500) -> tuple[list[Entry], int]:
        ts, name = split_position(after)
        query = (self._entries.order_by("put_at").order_by("__name__")
                 .start_after({"put_at": ns_to_ts(ts), "__name__": self._entries.document(name)})
                 .limit(max(int(batch), 1)))
        docs = self._run_query(query)
        if not docs:
            return [], after
        last = position_of(docs[-1])
        self._seen_position(last)
        return [self._entry(d) for d in docs], last

    def scope_vectors(
        self, namespace: str, format_version: int, scope: str, now: float
    ) -> list[tuple[str, str, bytes, float]]:
        from google.cloud.firestore_v1 import FieldFilter

        base = (self._entries.where(filter=FieldFilter("ns", "==", namespace))
                .where(filter=FieldFilter("fv", "==", int(format_version)))
                .where(filter=FieldFilter("scope", "==", scope))
                .where(filter=FieldFilter("has_vec", "==", True))
                .select(["key", "question", "emb", "expire_at"]))
        out: list[tuple[str, str, bytes, float]] = []
        last = None
        while True:
            query = base.limit(PAGE) if last is None else base.limit(PAGE).start_after(last)
            page = self._run_query(query)
            for s in page:
                d = s.to_dict() or {}
                exp = d.get("expire_at")
                expires_at = math.inf if exp is None else exp.timestamp()
                if expires_at <= now:
                    continue
                emb = bytes(d.get("emb") or b"")
                if emb:
                    out.append((d["key"], d.get("question", ""), emb, expires_at))
            if len(page) < PAGE:
                return out
            last = page[-1]

    def count(self) -> int:
        result = self._call(lambda: self._entries.count().get(**self._kw(bulk=True)))
        n = int(result[0][0].value) if result and result[0] else 0
        self._count("queries")
        self._count("reads", max(math.ceil(n / 1000), 1))  # one read per 1,000 index entries
        return n

    def stats(self) -> StoreStats:
        """Entries by ``count()``; size estimated from a sample of documents by Firestore's
        storage size rules (index entries not included)."""
        n = self.count()
        size = 0
        if n:
            sample = self._run_query(self._entries.limit(SIZE_SAMPLE))
            if sample:
                size = int(sum(_doc_size(s) for s in sample) / len(sample) * n)
        return StoreStats(entries=n, size_bytes=size, backend=self.backend)

    # --- the epoch and meta (one state document) -------------------------------------------
    def _observe(self, created: Any, n: int) -> None:
        with self._state_lock:
            if self._seen is None:
                self._seen = (created, n)
                return
            seen_created, seen_n = self._seen
            if created is not None and seen_created is not None and created != seen_created:
                self._generation += 1  # the document was made anew (a store emptied)
                self._seen = (created, n)
            elif n > seen_n:
                self._generation += 1
                self._seen = (created if created is not None else seen_created, n)

    def _observe_removal(self, write_result: Any) -> None:
        values = list(getattr(write_result, "transform_results", []) or [])
        with self._state_lock:
            if not values:  # unknown: count it as a move
                self._generation += 1
                return
            n = int(values[0].integer_value)
            if self._seen is None:
                self._seen = (None, n)
                self._generation += 1
                return
        self._observe(None, n)

    def _refresh(self) -> tuple[Any, int]:
        """Read the state document (one read): the epoch and the meta values. Returns its
        creation time (None when it was missing, and made here when ``create``) and ``n``."""
        snap = self._call(lambda: self._state_ref.get(**self._kw()))
        self._count("reads")
        if not snap.exists:
            if self.create:
                from google.api_core import exceptions as gexc

                try:
                    with self._guard():
                        self._state_ref.create({"n": 0, "m": {}}, **self._kw())
                    self._count("writes")
                except StoreUnavailable as e:
                    if not isinstance(e.__context__, gexc.AlreadyExists):
                        raise
            created, n, meta = None, 0, {}
        else:
            d = snap.to_dict() or {}
            created, n, meta = snap.create_time, int(d.get("n", 0) or 0), dict(d.get("m") or {})
        self._observe(created, n)
        with self._state_lock:
            self._meta = {str(k): int(v) for k, v in meta.items()}
            self._state_at = self.clock()
        return created, n

    def _fresh_state(self) -> None:
        if self.clock() - self._state_at <= self.epoch_poll_s:
            return
        with self._poll_lock:  # one poll at a time; the others use what it read
            if self.clock() - self._state_at > self.epoch_poll_s:
                self._refresh()

    def epoch(self) -> int:
        """Changes within ``epoch_poll_s`` (plus a round trip) of a removal anywhere, at once
        after one here; raises StoreUnavailable when it cannot tell."""
        self._fresh_state()
        return self._generation

    def staleness_bound_s(self) -> float:
        """How late a removal elsewhere may be noticed: the poll interval plus a deadline."""
        return self.epoch_poll_s + self.timeout_s

    def ping(self) -> bool:
        try:
            self._refresh()
            return True
        except StoreUnavailable:
            return False

    def set_meta(self, name: str, value: int) -> None:
        self._call(lambda: self._state_ref.set({"m": {name: int(value)}}, merge=True, **self._kw()))
        self._count("writes")
        with self._state_lock:
            self._meta[name] = int(value)

    def get_meta(self, name: str) -> int | None:
        """Read with the epoch (no read of its own while that is fresh)."""
        self._fresh_state()
        with self._state_lock:
            return self._meta.get(name)

    # --- opening and closing -------------------------------------------------------------
    def check_exists(self) -> None:
        """For ``create=False``: StoreMissing unless this collection holds an ethos cache
        (its state document), StoreUnavailable when Firestore does not answer."""
        from google.api_core import exceptions as gexc

        try:
            with self._guard():
                snap = self._state_ref.get(**self._kw())
        except StoreUnavailable as e:
            if isinstance(e.__context__, gexc.NotFound):
                raise StoreMissing(
                    f"no Firestore database {self.database!r} in project {self.project!r}") from None
            raise
        self._count("reads")
        if not snap.exists:
            raise StoreMissing(
                f"no ethos cache in {self.where} (it has no {self.collection}_meta/state document)")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with self._hits_lock:
            pending = bool(self._pending)
        if pending:
            self.flush_hits()
        with self._client_lock:
            _close_client(self._retired)
            _close_client(self._client)
            self._retired = None


def _close_client(client: Any) -> None:
    if client is None:
        return
    try:
        client.close()
    except Exception:  # noqa: BLE001 - closing a broken channel must not fail a close()
        pass


def _value_size(v: Any) -> int:
    """Firestore's storage size of a field value."""
    if v is None or isinstance(v, bool):
        return 1
    if isinstance(v, (int, float, dt.datetime)):
        return 8
    if isinstance(v, str):
        return len(v.encode("utf-8", "surrogatepass")) + 1
    if isinstance(v, (bytes, bytearray)):
        return len(v)
    if isinstance(v, dict):
        return sum(len(str(k).encode()) + 1 + _value_size(x) for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return sum(_value_size(x) for x in v)
    return len(json.dumps(v, default=str))


def _doc_size(snap: Any) -> int:
    """A document's storage size: its name, its fields and 32 bytes."""
    name = 16 + sum(len(p.encode()) + 1 for p in snap.reference.path.split("/"))
    return name + _value_size(snap.to_dict() or {}) + 32
