"""The shared store: one Redis for many instances of the service.

Key layout (``P`` is the key prefix, ``ethos:`` by default; one prefix per deployment)::

    P e:KEY                  hash: data (entry JSON), hit_count, embedding, scope, question,
                             format_version, namespace, expires_at; Redis expiry = TTL
    P src:DOC                set of KEYs grounded on knowledge-base document DOC
    P vec:NS:vFV:SCOPE       set of KEYs of one scope that carry a vector (semantic index)
    P epoch                  integer, INCR'd by every removal
    P meta:NAME              integer kept beside the entries (set_meta / get_meta)
    P seq                    integer, INCR'd by every put: the position of the latest put
    P id                     random identity of this data, set once (SET NX) when a vector
                             index is saved: a Redis emptied gets a new one (index_mark)
    P puts                   sorted set of KEYs scored by the position of their last put
                             (scan_since; an index like the sets: gone members are pruned)
    P exp                    sorted set of the KEYs of entries with a TTL, scored by their
                             expiry (unix seconds): what purge_expired selects by
    P idx                    hash: KEY -> the sets that name it, for entries with a TTL
                             (JSON ``{"v": "vec:…" or "", "s": [DOC, …]}``)
    channel P invalidate     the new epoch, PUBLISHed by every removal

Entries live under ``e:`` so that no cache key (which starts with a namespace) can collide
with the bookkeeping keys. Sets are indexes, not truth: a member whose hash has gone
(Redis expiry, removal) is skipped when read, so removals only UNLINK hashes and stay cheap.

Redis deletes an expired hash by itself, but not the set members that name it, and with the
hash goes the list of those sets. So a put of an entry with a TTL also records that list
under ``P idx`` and the expiry under ``P exp``; :meth:`RedisStore.purge_expired` takes the
entries whose expiry has passed from ``P exp`` (a range on the score: bounded, no SCAN) and,
in one script per chunk, removes the hash if Redis has not yet, its members of ``P src:*``,
``P vec:*`` and ``P puts``, and its record. :meth:`RedisStore.scope_vectors` and
:meth:`RedisStore.scan_since` still prune what they meet (entries of other writers, say).

``scope_vectors`` reads the per-scope set (SSCAN) and fetches vectors by pipelined HMGET
in chunks: with 100k entries it touches exactly the scope's keys, where a SCAN would walk
every key under the prefix (and every other scope's entries).

The epoch is answered from memory, kept current through pub/sub by a subscriber thread
(:mod:`ethos.cache.stores.redis_epoch`); pattern globs become Redis MATCH patterns in
:mod:`ethos.cache.stores.redis_match`.

Every Redis error or timeout becomes ``StoreUnavailable``; sockets have short timeouts and
redis-py's own retries are off, so a dead or hung Redis costs one timeout, not a hang.
Pattern invalidation walks keys with SCAN (never KEYS): use a database (or at least a
prefix) of its own, since SCAN's cost grows with the whole database.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError, ResponseError
from redis.retry import Retry

from ..entry import Entry
from ..keys import glob_matches
from .base import PURGE_LIMIT, Store, StoreStats, StoreUnavailable, check_key
from .redis_epoch import BUMP_LUA, EpochSubscriber
from .redis_match import escape_match, glob_to_match

P = ParamSpec("P")
T = TypeVar("T")

_CHUNK = 500  # keys per pipeline / UNLINK
_PURGE_CHUNK = 100  # expired entries per purge script (Redis runs nothing else meanwhile)
_SCAN_COUNT = 1000
_SAMPLE_FOR_SIZE = 64  # entries whose MEMORY USAGE estimates the total

# Add hits only to entries that exist (HINCRBY would create a bare hash).
_ADD_HITS_LUA = """
for i, k in ipairs(KEYS) do
  if redis.call('EXISTS', k) == 1 then redis.call('HINCRBY', k, 'hit_count', ARGV[i]) end
end
return 0
"""

# Purge up to ARGV[3] entries whose expiry (score in KEYS[1]) is at most ARGV[2]: the hash
# if Redis has not expired it yet, its set members (from its record in KEYS[2]), its member
# of KEYS[3] (puts), its record and its score. An entry put again with a later expiry (or
# none) is left alone: its put wrote its own score, which is set again here to be sure.
# Returns {entries purged, entries examined}.
_PURGE_LUA = """
local prefix, now = ARGV[1], tonumber(ARGV[2])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
local purged = 0
for _, k in ipairs(due) do
  local h = prefix .. 'e:' .. k
  local exp = redis.call('HGET', h, 'expires_at')
  if exp and (exp == 'inf' or tonumber(exp) > now) then
    if exp == 'inf' then redis.call('ZREM', KEYS[1], k) else redis.call('ZADD', KEYS[1], exp, k) end
  else
    if exp then redis.call('UNLINK', h) end
    local rec = redis.call('HGET', KEYS[2], k)
    if rec then
      local r = cjson.decode(rec)
      for _, s in ipairs(r['s']) do redis.call('SREM', prefix .. 'src:' .. s, k) end
      if r['v'] ~= '' then redis.call('SREM', prefix .. r['v'], k) end
      redis.call('HDEL', KEYS[2], k)
    end
    redis.call('ZREM', KEYS[3], k)
    redis.call('ZREM', KEYS[1], k)
    purged = purged + 1
  end
end
return {purged, #due}
"""

# The position of a put, taken inside the put's MULTI: positions commit in order.
_POSITION_LUA = """
local s = redis.call('INCR', KEYS[1])
redis.call('ZADD', KEYS[2], s, ARGV[1])
return s
"""


def _s(raw: bytes | str | None) -> str:
    if raw is None:
        return ""
    return raw.decode() if isinstance(raw, bytes) else raw


def _b(raw: bytes | str) -> bytes:
    """A key or member from a reply, as bytes.

    redis-py types replies as ``bytes | str``: ``str`` only with ``decode_responses=True``,
    which the clients made here never set, so in practice this returns ``raw`` itself.
    """
    return raw if isinstance(raw, bytes) else raw.encode()


def _pairs(reply: Iterable[object]) -> list[tuple[bytes, float]]:
    """The ``(member, score)`` rows of a ZSCAN or ``withscores=True`` reply.

    redis-py's reply type also covers the reply without scores (bare members); with scores
    every row is a pair: a tuple in RESP2, a list in RESP3.
    """
    out: list[tuple[bytes, float]] = []
    for row in reply:
        assert isinstance(row, tuple | list), "a reply with scores has (member, score) rows"
        member, score = row
        out.append((_b(member), float(score)))
    return out


def _split_prefix(url: str) -> tuple[str, str | None]:
    """Take our own ``prefix`` query argument out of a Redis URL (redis-py rejects it)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefix = None
    rest = []
    for k, v in query:
        if k == "prefix":
            prefix = v
        else:
            rest.append((k, v))
    return urlunsplit(parts._replace(query=urlencode(rest))), prefix


class RedisStore(Store):
    """A :class:`Store` in Redis, shared by every instance that uses the same prefix."""

    backend = "redis"
    remote = True

    def __init__(
        self,
        client: redis.Redis,
        *,
        prefix: str = "ethos:",
        timeout_s: float = 0.25,
        subscriber: redis.Redis | None = None,
    ) -> None:
        super().__init__()
        self.client = client
        self.prefix = prefix
        self.timeout_s = timeout_s
        self._p = prefix.encode()
        self._entry_prefix = self._p + b"e:"
        self._epoch_key = self._p + b"epoch"
        self._seq_key = self._p + b"seq"
        self._puts_key = self._p + b"puts"
        self._exp_key = self._p + b"exp"
        self._idx_key = self._p + b"idx"
        self._id_key = self._p + b"id"
        self.channel = self._p + b"invalidate"
        self._bump = client.register_script(BUMP_LUA)
        self._add_hits = client.register_script(_ADD_HITS_LUA)
        self._position = client.register_script(_POSITION_LUA)
        self._purge = client.register_script(_PURGE_LUA)
        # the subscriber holds one connection for ever: it must not take one of the pool's
        self._sub_client = subscriber or client
        self._epochs = EpochSubscriber(
            self._sub_client, self._epoch_key, self.channel, timeout_s=timeout_s,
            name=f"ethos-redis-epoch[{prefix}]",
        )

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = "ethos:",
        timeout_s: float = 0.25,
        max_connections: int = 64,
        **kw: Any,
    ) -> RedisStore:
        """Open ``redis://HOST:PORT/DB[?prefix=P]`` (a ``prefix`` in the URL wins).

        ``max_connections`` exceeds the service's worker threads (40): a request waiting
        ``timeout_s`` for a pooled connection and then failing would bypass the cache for
        every request during ``STORE_RETRY_AFTER_S``.
        """
        url, url_prefix = _split_prefix(url)
        opts: dict[str, Any] = dict(
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),  # failing fast is the point: the cache is optional
            health_check_interval=0,
        )
        opts.update(kw)
        try:
            pool = redis.BlockingConnectionPool.from_url(
                url, max_connections=max_connections, timeout=timeout_s, **opts
            )
            sub_pool = redis.ConnectionPool.from_url(url, max_connections=2, **opts)
        except ValueError as e:
            raise StoreUnavailable(f"bad Redis URL: {e}") from e
        return cls(
            redis.Redis(connection_pool=pool),
            prefix=url_prefix if url_prefix is not None else prefix,
            timeout_s=timeout_s,
            subscriber=redis.Redis(connection_pool=sub_pool),
        )

    # --- helpers ---------------------------------------------------------------
    @contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except RedisError as e:
            raise StoreUnavailable(f"Redis cache: {type(e).__name__}: {e}") from e

    def _call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args, **kwargs)``, its Redis errors as ``StoreUnavailable``."""
        with self._guard():
            return fn(*args, **kwargs)

    def _hkey(self, key: str) -> bytes:
        return self._entry_prefix + key.encode()

    def _src_key(self, source: str) -> bytes:
        return self._p + b"src:" + source.encode()

    def _vec_key(self, namespace: str, format_version: int, scope: str) -> bytes:
        return self._p + self._vec_name(namespace, format_version, scope).encode()

    @staticmethod
    def _vec_name(namespace: str, format_version: int, scope: str) -> str:
        """The vector set's key without the prefix (as the ``P idx`` records name it)."""
        return f"vec:{namespace}:v{format_version}:{scope}"

    def _scan_entries(self, pattern: str) -> Iterator[list[bytes]]:
        """Hash keys of entries whose cache key matches the glob, in SCAN-sized batches."""
        match = escape_match(self.prefix + "e:") + glob_to_match(pattern)
        cut = len(self._entry_prefix)
        seen: set[bytes] = set()  # SCAN may return a key twice
        cursor = 0
        while True:
            cursor, raw = self._call(self.client.scan, cursor, match=match, count=_SCAN_COUNT)
            self._count("queries")
            batch = []
            for k in map(_b, raw):
                if k in seen:
                    continue
                seen.add(k)
                if pattern == "*" or glob_matches(pattern, k[cut:].decode()):
                    batch.append(k)
            if batch:
                yield batch
            if cursor == 0:
                return

    def _unlink(self, hkeys: list[bytes]) -> int:
        n = 0
        for i in range(0, len(hkeys), _CHUNK):
            chunk = hkeys[i : i + _CHUNK]
            n += int(self._call(self.client.unlink, *chunk))
        return n

    def _removed(self, n: int) -> int:
        """Announce a removal to every instance (and to this one at once)."""
        self._count("deletes", max(n, 1))
        if n:
            value = self._call(lambda: self._bump(keys=[self._epoch_key], args=[self.channel]))
            self._epochs.observe(value)
        return n

    @staticmethod
    def _entry(fields: list[Any]) -> Entry:
        data, hits, emb = fields[:3]
        # a hash without its hit count (written by something else than put()): unknown
        return Entry.from_json(data, hit_count=None if hits is None else int(hits),
                               embedding=bytes(emb or b""))

    # --- Store -----------------------------------------------------------------
    def get(self, key: str, now: float) -> Entry | None:
        fields = self._call(
            lambda: self.client.hmget(
                self._hkey(key), "data", "hit_count", "embedding", "expires_at"
            )
        )
        self._count("reads")
        if fields[0] is None or float(fields[3] or "inf") <= now:
            return None
        return self._entry(fields)

    def put(self, entry: Entry) -> None:
        hkey = self._hkey(check_key(entry.key))
        member = entry.key.encode()
        # the sets naming the entry this one replaces: from its hash, or (when Redis has
        # expired that) from its record, so that none keeps a member no one will prune
        look = self.client.pipeline(transaction=False)
        look.hget(hkey, "data")
        look.hget(self._idx_key, member)
        old, old_record = self._call(look.execute)
        vec = self._vec_key(entry.namespace, entry.format_version, entry.scope)
        pipe = self.client.pipeline(transaction=True)
        prev_sources: list[str] | None = None
        prev_vec = b""
        if old is not None:
            prev = Entry.from_json(old)
            prev_sources = prev.sources
            prev_vec = self._vec_key(prev.namespace, prev.format_version, prev.scope)
        elif old_record is not None:
            rec = json.loads(old_record)
            prev_sources = list(rec.get("s", []))
            prev_vec = self._p + str(rec.get("v", "")).encode() if rec.get("v") else b""
        if prev_sources is not None:
            for s in set(prev_sources) - set(entry.sources):
                pipe.srem(self._src_key(s), member)
        if prev_vec:
            pipe.srem(prev_vec, member)
        pipe.unlink(hkey)
        pipe.hset(
            hkey,
            mapping={
                "data": entry.to_json(),
                "hit_count": 0,
                "embedding": entry.embedding,
                "scope": entry.scope,
                "question": entry.question,
                "format_version": entry.format_version,
                "namespace": entry.namespace,
                "expires_at": repr(entry.expires_at) if entry.ttl_s else "inf",
            },
        )
        if entry.ttl_s:
            pipe.pexpireat(hkey, int(entry.expires_at * 1000))
            record = {
                "v": self._vec_name(entry.namespace, entry.format_version, entry.scope) if entry.embedding else "",
                "s": list(dict.fromkeys(entry.sources)),
            }
            pipe.hset(self._idx_key, member, json.dumps(record, ensure_ascii=False, separators=(",", ":")))
            pipe.zadd(self._exp_key, {member: entry.expires_at})
        else:  # never expires: nothing for purge_expired to do
            pipe.hdel(self._idx_key, member)
            pipe.zrem(self._exp_key, member)
        for s in entry.sources:
            pipe.sadd(self._src_key(s), member)
        if entry.embedding:
            pipe.sadd(vec, member)
        self._position(keys=[self._seq_key, self._puts_key], args=[member], client=pipe)
        self._call(pipe.execute)
        self._count("writes")

    def delete_matching(self, pattern: str) -> int:
        n = sum(self._unlink(batch) for batch in self._scan_entries(pattern))
        return self._removed(n)

    def delete_by_source(self, source: str) -> int:
        src = self._src_key(source)
        members = [_b(m) for m in self._call(self.client.smembers, src)]
        self._count("queries")
        n = self._unlink([self._entry_prefix + m for m in members])
        # only what was read: an entry stored meanwhile keeps its place in the index
        for i in range(0, len(members), _CHUNK):
            self._call(self.client.srem, src, *members[i : i + _CHUNK])
        return self._removed(n)

    def delete_keys(self, keys: Iterable[str]) -> int:
        return self._removed(self._unlink([self._hkey(k) for k in keys]))

    def add_hits(self, hits: dict[str, int]) -> None:
        items = list(hits.items())
        for i in range(0, len(items), _CHUNK):
            chunk = items[i : i + _CHUNK]
            self._call(self._add_hits, keys=[self._hkey(k) for k, _ in chunk], args=[n for _, n in chunk])
        self._count("writes", len(items))

    def _fetch(self, hkeys: list[bytes], *fields: str) -> list[list[Any]]:
        """``HMGET fields`` of many hashes, pipelined in chunks.

        (A Lua script doing the same is no faster here and would block other clients for
        the whole chunk; a pipeline lets Redis serve them in between.)
        """
        out: list[list[Any]] = []
        for i in range(0, len(hkeys), _CHUNK):
            pipe = self.client.pipeline(transaction=False)
            for k in hkeys[i : i + _CHUNK]:
                pipe.hmget(k, *fields)
            out.extend(self._call(pipe.execute))
        return out

    def scan(self, pattern: str = "*", batch: int = 500) -> Iterator[list[Entry]]:
        pending: list[Entry] = []
        for hkeys in self._scan_entries(pattern):
            rows = self._fetch(hkeys, "data", "hit_count", "embedding")
            self._count("reads", max(len(rows), 1))
            pending.extend(self._entry(r) for r in rows if r[0] is not None)
            while len(pending) >= batch:
                yield pending[:batch]
                pending = pending[batch:]
        if pending:
            yield pending

    def position(self) -> int:
        raw = self._call(lambda: self.client.get(self._seq_key))
        self._count("reads")
        return int(raw or 0)

    def scan_since(self, after: int, batch: int = 500) -> tuple[list[Entry], int]:
        members = _pairs(self._call(
            lambda: self.client.zrangebyscore(
                self._puts_key, f"({int(after)}", "+inf", start=0, num=batch, withscores=True
            )
        ))
        self._count("queries")
        if not members:
            self._count("reads")
            return [], after
        hkeys = [self._entry_prefix + m for m, _ in members]
        rows = self._fetch(hkeys, "data", "hit_count", "embedding")
        self._count("reads", max(len(rows), 1))
        out = [self._entry(r) for r in rows if r[0] is not None]
        gone = [m for (m, _), r in zip(members, rows, strict=True) if r[0] is None]
        if gone:  # removed or expired: prune the index
            self._call(lambda: self.client.zrem(self._puts_key, *gone))
        return out, int(members[-1][1])

    def scope_vectors(
        self, namespace: str, format_version: int, scope: str, now: float
    ) -> list[tuple[str, str, bytes, float]]:
        vec = self._vec_key(namespace, format_version, scope)
        out: list[tuple[str, str, bytes, float]] = []
        gone: list[bytes] = []
        cursor = 0
        while True:
            cursor, raw = self._call(self.client.sscan, vec, cursor, count=_SCAN_COUNT)
            self._count("queries")
            members = [_b(m) for m in raw]
            hkeys = [self._entry_prefix + m for m in members]
            rows = self._fetch(hkeys, "question", "embedding", "expires_at")
            for m, (question, emb, exp) in zip(members, rows, strict=True):
                expires_at = float(exp or "inf")
                if emb is None:
                    gone.append(m)
                elif expires_at > now and emb:
                    out.append((m.decode(), _s(question), bytes(emb), expires_at))
            if cursor == 0:
                break
        if gone:  # expired by Redis: prune the index
            self._call(lambda: self.client.srem(vec, *gone))
        self._count("reads", max(len(out), 1))
        # SSCAN may repeat a member while the set changes
        return list({row[0]: row for row in out}.values())

    def index_mark(self) -> tuple[str, int] | None:
        """``P id`` (made here the first time) and Redis's own epoch number (``P epoch``)."""
        pipe = self.client.pipeline(transaction=False)
        pipe.set(self._id_key, uuid.uuid4().hex, nx=True)
        pipe.get(self._id_key)
        pipe.get(self._epoch_key)
        _, ident, epoch = self._call(pipe.execute)
        self._count("reads")
        return f"redis:{_s(ident)}", int(epoch or 0)

    def set_meta(self, name: str, value: int) -> None:
        self._call(lambda: self.client.set(self._p + b"meta:" + name.encode(), int(value)))
        self._count("writes")

    def get_meta(self, name: str) -> int | None:
        raw = self._call(lambda: self.client.get(self._p + b"meta:" + name.encode()))
        self._count("reads")
        return None if raw is None else int(raw)

    def count(self) -> int:
        return sum(len(b) for b in self._scan_entries("*"))

    def stats(self) -> StoreStats:
        n = 0
        sample: list[bytes] = []
        for batch in self._scan_entries("*"):
            n += len(batch)
            sample.extend(batch[: _SAMPLE_FOR_SIZE - len(sample)])
        size = 0
        if sample:
            pipe = self.client.pipeline(transaction=False)
            for k in sample:
                pipe.memory_usage(k)
            try:
                used = [u for u in self._call(pipe.execute) if u]
                if used:
                    size = int(sum(used) / len(used) * n)
            except StoreUnavailable as e:
                if not isinstance(e.__cause__, ResponseError):
                    raise  # MEMORY USAGE may be disabled; a dead Redis may not
        return StoreStats(entries=n, size_bytes=size, backend=self.backend)

    def epoch(self) -> int:
        """A local counter that moves whenever any instance removed something."""
        return self._epochs.epoch()

    def ping(self) -> bool:
        """True when Redis answers and invalidations from other instances reach us."""
        try:
            return bool(self._call(self.client.ping)) and self._epochs.wait_ready()
        except StoreUnavailable:
            return False

    def purge_expired(self, now: float, limit: int = PURGE_LIMIT) -> int:
        """Up to ``limit`` entries whose expiry has passed, by their score in ``P exp``: see
        the module's docstring. Counts each entry once, whether Redis had already removed its
        hash (then only its set members and record go) or not. No epoch bump."""
        limit = int(limit)
        keys = [self._exp_key, self._idx_key, self._puts_key]
        total = 0
        while total < limit:
            chunk = min(_PURGE_CHUNK, limit - total)
            with self._guard():
                purged, examined = self._purge(keys=keys, args=[self._p, repr(float(now)), chunk])
            self._count("queries")
            self._count("reads", max(int(examined), 1))
            if purged:
                self._count("deletes", int(purged))
            total += int(purged)
            if int(examined) < chunk:
                break
        return total

    def close(self) -> None:
        """Stop the subscriber thread and close the connections."""
        self._epochs.close()
        for c in {id(self.client): self.client, id(self._sub_client): self._sub_client}.values():
            try:
                c.close()
                c.connection_pool.disconnect()
            except (RedisError, OSError):
                pass
