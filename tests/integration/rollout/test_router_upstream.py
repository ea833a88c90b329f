"""The router's upstream client against raw TCP servers that misbehave on purpose."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator

import httpx
import pytest

from ethos.rollout.router import RouterApp, RouterConfig
from tests.integration.rollout.rollout_servers import FakeRevision, ThreadedServer


class RawServer:
    """Accepts connections and hands each to ``handler(conn)`` in a thread."""

    def __init__(self, handler: Callable[[socket.socket], None]) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.handler = handler
        self.connections = 0
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                self.handler(conn)
            except OSError:
                pass

    def close(self) -> None:
        self.sock.close()


def read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            n = int(line.split(b":")[1])
            while len(body) < n:
                body += conn.recv(65536)
    return head


@pytest.fixture
def router_for() -> Iterator[Callable[..., ThreadedServer]]:
    servers: list[ThreadedServer] = []

    def make(url: str, **kw: object) -> ThreadedServer:
        srv = ThreadedServer(RouterApp(RouterConfig(revisions={"blue": url}, **kw)))  # type: ignore[arg-type]
        servers.append(srv.start())
        return srv

    yield make
    for s in servers:
        s.stop()


def test_body_delimited_by_close(router_for) -> None:
    def handler(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-type: text/plain\r\n\r\nall of it")

    raw = RawServer(handler)
    try:
        r = httpx.get(f"{router_for(raw.url).url}/x")
        assert r.status_code == 200 and r.text == "all of it"
    finally:
        raw.close()


def test_revision_dying_mid_body_is_an_error_not_a_success(router_for) -> None:
    def handler(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly part")

    raw = RawServer(handler)
    try:
        srv = router_for(raw.url)
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{srv.url}/x")
        stats = httpx.get(f"{srv.url}/router/stats").json()["revisions"]["blue"]["60s"]
        assert stats["errors"] == 1 and stats["status"]["none"] == 1
    finally:
        raw.close()


def test_silent_revision_gives_504(router_for) -> None:
    release = threading.Event()

    def handler(conn: socket.socket) -> None:
        read_request(conn)
        release.wait(10)

    raw = RawServer(handler)
    try:
        r = httpx.get(f"{router_for(raw.url, read_timeout_s=0.3).url}/x", timeout=10)
        assert r.status_code == 504 and r.json()["error"] == "upstream_timeout"
    finally:
        release.set()
        raw.close()


def test_garbage_gives_502(router_for) -> None:
    def handler(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"NOT HTTP AT ALL\r\n\r\n")

    raw = RawServer(handler)
    try:
        r = httpx.get(f"{router_for(raw.url).url}/x")
        assert r.status_code == 502 and r.json()["error"] == "upstream_failed"
    finally:
        raw.close()


def test_keep_alive_connections_are_reused_and_head_works(router_for) -> None:
    rev = FakeRevision("blue")
    with ThreadedServer(rev) as up:
        srv = router_for(up.url)
        with httpx.Client() as c:
            for _ in range(20):
                assert c.post(f"{srv.url}/api/ai/marketing-chat", json={"message": "x"}).status_code == 200
            h = c.head(f"{srv.url}/health")
            assert h.status_code == 200 and h.content == b""
            assert c.get(f"{srv.url}/health").json()["status"] == "ok"
        ports = {r["headers"].get("x-forwarded-for") for r in rev.requests}
        assert ports == {"127.0.0.1"}
        assert rev.requests[0]["headers"]["host"] == up.url.removeprefix("http://")


def test_sequential_requests_share_one_connection(router_for) -> None:
    def handler(conn: socket.socket) -> None:
        while read_request(conn):
            conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")

    raw = RawServer(handler)
    try:
        srv = router_for(raw.url)
        with httpx.Client() as c:
            assert all(c.post(f"{srv.url}/x", json={"n": i}).text == "ok" for i in range(10))
        assert raw.connections == 1
    finally:
        raw.close()
