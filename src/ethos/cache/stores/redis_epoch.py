"""The removal epoch shared by every instance on one Redis, kept current by pub/sub.

Every removal INCRs ``P epoch`` and PUBLISHes the new value on ``P invalidate`` in one
script (:data:`BUMP_LUA`). Each instance runs one :class:`EpochSubscriber`: a thread that
listens on the channel and re-reads the key on every (re)connect, so reading the epoch
costs no round trip and every memory tier hears of a removal within milliseconds.

:meth:`EpochSubscriber.epoch` is a local counter, not Redis's number: it moves whenever the
observed number changes and on every reconnect. A Redis that restarts empty starts its
epoch again at 1, and removals while we were away could bring it back to the very number
we last saw; counting every reconnect as a move means no memory tier keeps a stale copy
(the price: one refill after a reconnect, which is rare). While the subscriber is not
connected a removal could go unheard, so :meth:`epoch` raises ``StoreUnavailable`` and the
cache is bypassed instead.
"""

from __future__ import annotations

import threading
import time

import redis
from redis.exceptions import RedisError

from .base import StoreUnavailable

#: INCR the epoch and announce it, atomically (no removal without its announcement)
BUMP_LUA = """
local e = redis.call('INCR', KEYS[1])
redis.call('PUBLISH', ARGV[1], e)
return e
"""

RECONNECT_PAUSE_S = 0.1
PING_EVERY_S = 1.0
#: no message nor pong for this long: the connection is dead even if the socket is open
SILENT_LIMIT_S = 3.0
POLL_S = 0.1  # how long one wait for a message lasts (bounds close() and stop latency)


class EpochSubscriber:
    """A thread that follows ``epoch_key`` through ``channel``; :meth:`close` stops it."""

    def __init__(
        self, client: redis.Redis, epoch_key: bytes, channel: bytes, *, timeout_s: float,
        name: str = "ethos-redis-epoch",
    ) -> None:
        self.client = client
        self.epoch_key = epoch_key
        self.channel = channel
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._seen: int | None = None
        self._generation = 0
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def observe(self, raw: bytes | str | int | None, *, force: bool = False) -> None:
        """Note the Redis epoch seen now (after a removal here, or announced from elsewhere)."""
        value = int(raw or 0)
        with self._lock:
            if force or value != self._seen:
                self._seen = value
                self._generation += 1

    def wait_ready(self, timeout_s: float | None = None) -> bool:
        """True once subscribed (waits up to ``timeout_s``, default the store timeout)."""
        return self._ready.wait(self.timeout_s if timeout_s is None else timeout_s)

    def epoch(self) -> int:
        """The local counter; raises ``StoreUnavailable`` while announcements could be missed."""
        if not self.wait_ready():
            raise StoreUnavailable("Redis cache: not subscribed to invalidations")
        with self._lock:
            return self._generation

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    # --- the thread ------------------------------------------------------------------
    def _run(self) -> None:
        connected_before = False
        while not self._stop.is_set():
            ps = None
            try:
                ps = self.client.pubsub()
                ps.subscribe(self.channel)
                self._await_confirmation(ps)
                # from here on no announcement is missed: read where the epoch stands
                self.observe(self.client.get(self.epoch_key), force=connected_before)
                connected_before = True
                self._ready.set()
                self._follow(ps)
            except (RedisError, OSError, ValueError):
                pass
            finally:
                self._ready.clear()
                if ps is not None:
                    try:
                        ps.close()
                    except (RedisError, OSError):
                        pass
            self._stop.wait(RECONNECT_PAUSE_S)

    def _await_confirmation(self, ps: redis.client.PubSub) -> None:
        deadline = time.monotonic() + max(self.timeout_s, 1.0)
        while True:
            msg = ps.get_message(timeout=POLL_S)
            if msg is not None and msg["type"] == "subscribe":
                return
            if time.monotonic() > deadline or self._stop.is_set():
                raise redis.ConnectionError("no subscribe confirmation")

    def _follow(self, ps: redis.client.PubSub) -> None:
        last_rx = last_ping = time.monotonic()
        while not self._stop.is_set():
            msg = ps.get_message(timeout=POLL_S)
            now = time.monotonic()
            if msg is not None:
                last_rx = now
                if msg["type"] == "message":
                    self.observe(msg["data"])
            if now - last_ping >= PING_EVERY_S:
                ps.ping()  # its pong proves the connection still carries messages
                last_ping = now
            if now - last_rx > SILENT_LIMIT_S:
                raise redis.ConnectionError("subscriber connection went silent")
