"""Redis hung (SIGSTOP), then killed (SIGKILL) and restarted, under traffic, in front of a
real ``ethos serve``.

A private ``redis-server`` on a free port (never the shared one), with an append-only file
synced on every write so that what it held survives the kill: after the restart every entry
must be whole (one MULTI/EXEC per write: a write cut by the kill is either all there or not
at all). A thread keeps asking repeated and new questions throughout. Asserted: no 5xx and
no failed request, ``/health`` ``degraded`` with a reason while Redis is down and ``ok`` again
by itself after the restart, and hits again once it is back. A second test kills Redis under
two writers going at full speed and checks every entry is whole and indexed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import redis

from ethos.cache.entry import Entry
from ethos.rollout.stack.state import free_port
from tests.polling import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.redis, pytest.mark.slow]

PREFIX = "faults:"
REPEATED = [
    "What are your pricing plans?",
    "Do you integrate with HubSpot?",
    "Do you offer refunds?",
    "Is there a free plan?",
]
#: every field ``RedisStore.put`` writes into an entry's hash
ENTRY_FIELDS = {b"data", b"hit_count", b"embedding", b"scope", b"question", b"format_version",
                b"namespace", b"expires_at"}


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


class DurableRedis:
    """redis-server on 127.0.0.1 with ``appendfsync always`` in ``dir``; SIGKILL-able."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.dir = directory
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--aof-load-truncated", "yes",
             "--dir", str(self.dir), "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while True:
            try:
                c = self.client()
                if c.ping():
                    c.close()
                    return
            except (redis.RedisError, OSError):
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.05)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None


@pytest.fixture
def durable_redis(tmp_path: Path):
    if shutil.which("redis-server") is None:
        if _in_ci():
            pytest.fail("CI=true and redis-server is not installed")
        pytest.skip("redis-server is not installed")
    d = tmp_path / "redis"
    d.mkdir()
    server = DurableRedis(d)
    server.start()
    try:
        yield server
    finally:
        server.kill()


@dataclass
class Traffic:
    """Asks questions in a thread until stopped; records (time, status, X-Cache)."""

    url: str
    results: list[tuple[float, int, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        n = 0
        with httpx.Client(base_url=self.url, timeout=15) as client:
            while not self.stop.is_set():
                n += 1
                # three repeated questions, then a new one
                q = REPEATED[n % len(REPEATED)] if n % 4 else f"Do you integrate with tool {n}?"
                stream = n % 5 == 0  # some answers streamed
                try:
                    r = client.post("/api/ai/marketing-chat", json={"message": q, "stream": stream})
                    status = r.status_code
                    if status == 200 and stream and "event: done" not in r.text:
                        status = -1  # a stream cut short is a failed request too
                    self.results.append((time.monotonic(), status, r.headers.get("X-Cache", "")))
                except httpx.HTTPError as e:
                    self.errors.append(f"{type(e).__name__}: {e}")
                time.sleep(0.01)

    def since(self, t: float) -> list[tuple[float, int, str]]:
        return [r for r in self.results if r[0] >= t]




def test_redis_hung_then_killed_and_restarted_under_traffic(durable_redis: DurableRedis, serve_factory, tmp_path: Path) -> None:
    s = serve_factory({"ETHOS_CACHE_URL": f"{durable_redis.url}?prefix={PREFIX}",
                       "ETHOS_STATE_DIR": str(tmp_path / "state")})

    def health() -> dict:
        return httpx.get(f"{s.url}/health", timeout=10).json()

    assert health()["status"] == "ok" and health()["store"]["backend"] == "redis"
    traffic = Traffic(s.url)
    thread = threading.Thread(target=traffic.run, name="redis-fault-traffic", daemon=True)
    thread.start()
    try:
        assert eventually(lambda: sum(1 for r in traffic.results if r[2] == "HIT") >= 10, 20), traffic.results[-5:]

        # hung first (SIGSTOP: connections open, nothing answers), then resumed
        durable_redis.proc.send_signal(signal.SIGSTOP)
        try:
            hung = time.monotonic()
            assert eventually(lambda: health()["status"] == "degraded", 10), health()
            assert eventually(lambda: sum(1 for r in traffic.since(hung) if r[2] == "BYPASS") >= 5, 20)
        finally:
            durable_redis.proc.send_signal(signal.SIGCONT)
        resumed = time.monotonic()
        assert eventually(lambda: health()["status"] == "ok", 20), health()
        assert eventually(lambda: sum(1 for r in traffic.since(resumed) if r[2] == "HIT") >= 5, 20)

        durable_redis.kill()
        killed = time.monotonic()
        assert eventually(lambda: health()["status"] == "degraded", 10), health()
        h = health()
        assert h["store"]["reachable"] is False and "redis" in h["store"]["detail"].lower(), h
        assert eventually(lambda: sum(1 for r in traffic.since(killed) if r[2] == "BYPASS") >= 10, 20)
        metrics = httpx.get(f"{s.url}/metrics", timeout=10).text
        assert 'ethos_store_up{revision="blue"} 0.0' in metrics

        durable_redis.start()  # same port, same append-only file
        restarted = time.monotonic()
        assert eventually(lambda: health()["status"] == "ok", 20), health()
        assert eventually(lambda: sum(1 for r in traffic.since(restarted) if r[2] == "HIT") >= 10, 20)
    finally:
        traffic.stop.set()
        thread.join(20)

    statuses = [st for _, st, _ in traffic.results]
    server_errors = [st for st in statuses if st >= 500]
    print(f"redis hung, killed, restarted: {len(statuses) + len(traffic.errors)} requests sent, "
          f"{len(traffic.errors) + sum(1 for st in statuses if st != 200)} failed, "
          f"{len(server_errors)} 5xx; {sum(1 for _, _, c in traffic.results if c == 'BYPASS')} bypassed")
    assert traffic.errors == []
    assert server_errors == []
    assert set(statuses) == {200}
    assert any(c == "HIT" for t, _, c in traffic.results if t < killed)
    log = s.log.read_text()
    assert "cache store failing" in log and "cache store answers again" in log

    # every entry Redis holds after the kill and the restart is whole
    c = durable_redis.client()
    try:
        keys = list(c.scan_iter(match=f"{PREFIX}e:*", count=1000))
        assert keys, "nothing survived the kill: the append-only file was not used"
        for k in keys:
            h = c.hgetall(k)
            assert set(h) == ENTRY_FIELDS, (k, set(h))
            entry = Entry.from_json(h[b"data"])
            assert k == f"{PREFIX}e:{entry.key}".encode()
            assert h[b"question"].decode() == entry.question
            assert int(h[b"hit_count"]) >= 0
    finally:
        c.close()


def test_puts_cut_by_sigkill_leave_no_half_entry(durable_redis: DurableRedis) -> None:
    """Writers at full speed, Redis SIGKILLed under them: after the restart every entry is
    whole AND indexed (hash, source sets and vector set come from one MULTI/EXEC)."""
    from ethos.cache.stores import StoreUnavailable
    from ethos.cache.stores.redis import RedisStore

    store = RedisStore.from_url(durable_redis.url, prefix="atomic:")
    written = [0, 0]

    def writer(w: int) -> None:
        i = 0
        while True:
            i += 1
            e = Entry(key=f"marketing:w{w}:{i}", namespace="marketing", format_version=1,
                      scope="s1", question=f"question {w} {i}", reply="x" * 2000,
                      sources=["plans-and-pricing.md", f"doc-{i % 7}.md"], created_at=time.time(),
                      ttl_s=3600, embedding=b"\x01\x02\x03\x04" * 96)
            try:
                store.put(e)
            except StoreUnavailable:
                return
            written[w] += 1

    threads = [threading.Thread(target=writer, args=(w,), daemon=True) for w in (0, 1)]
    try:
        for t in threads:
            t.start()
        assert eventually(lambda: sum(written) >= 200, 20)
        durable_redis.kill()
        for t in threads:
            t.join(10)
        durable_redis.start()
    finally:
        store.close()

    c = durable_redis.client()
    try:
        keys = list(c.scan_iter(match="atomic:e:*", count=1000))
        # nothing acknowledged is lost (appendfsync always); one more may have been applied
        # whose reply the kill cut off
        assert len(keys) >= sum(written) >= 200
        src_all = c.smembers("atomic:src:plans-and-pricing.md")
        vec = c.smembers("atomic:vec:marketing:v1:s1")
        for k in keys:
            h = c.hgetall(k)
            assert set(h) == ENTRY_FIELDS, (k, set(h))
            entry = Entry.from_json(h[b"data"])
            member = entry.key.encode()
            assert k == b"atomic:e:" + member and len(h[b"embedding"]) == 384
            assert c.pttl(k) > 0  # the expiry came with it
            assert member in src_all and member in vec
            assert c.sismember(f"atomic:src:{entry.sources[1]}", member)
    finally:
        c.close()
    print(f"redis kill under writers: {sum(written)} puts acknowledged, {len(keys)} entries after restart, all whole")
