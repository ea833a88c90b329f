"""The router when a revision dies: what is retried (a refused connection) and what never is.

A request the revision has already received may have been acted on; the router does not send
it again: it fails cleanly (502 JSON before the answer started; a cut body after), and the
other revision never sees it. Raw TCP servers on 127.0.0.1 make each case deterministic.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

import httpx
import pytest

from ethos.rollout.router import RouterApp, RouterConfig
from tests.integration.rollout.rollout_servers import FakeRevision, ThreadedServer, free_port


class RawRevision:
    """Accepts connections and hands each to ``handler`` in a thread; counts requests it read."""

    def __init__(self, handler: Callable[[socket.socket], None]) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.handler = handler
        self.requests = 0
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            self.requests += 1
            try:
                self.handler(conn)
            except OSError:
                pass

    def close(self) -> None:
        self.sock.close()


def close_at_once(conn: socket.socket) -> None:
    """The process died after reading the request: the kernel closes the socket (RST)."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")


def start_stream_then_die(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
                 b"16\r\ndata: {\"delta\": \"one\"}\n\n\r\n")
    close_at_once(conn)


@pytest.fixture
def green() -> FakeRevision:
    return FakeRevision("green")


def router_over(blue_url: str, green_url: str) -> tuple[RouterApp, ThreadedServer]:
    app = RouterApp(RouterConfig(revisions={"blue": blue_url, "green": green_url},
                                 initial_weights={"blue": 100, "green": 0}))
    return app, ThreadedServer(app).start()


@pytest.mark.parametrize("handler", [close_at_once, lambda conn: None], ids=["reset", "closed"])
def test_a_request_the_revision_received_is_not_retried(green, handler) -> None:
    blue = RawRevision(handler)
    with ThreadedServer(green) as g:
        _, srv = router_over(blue.url, g.url)
        try:
            r = httpx.post(f"{srv.url}/api/ai/marketing-chat", json={"message": "x"}, timeout=10)
            assert r.status_code == 502 and r.headers["content-type"].startswith("application/json")
            assert r.json()["error"] == "upstream_failed" and "blue" in r.json()["detail"]
            assert blue.requests == 1 and green.requests == [], "sent once, to blue only"
            stats = httpx.get(f"{srv.url}/router/stats").json()["revisions"]
            assert stats["blue"]["60s"]["errors"] == 1 and stats["blue"]["60s"]["connect_failures"] == 0
            assert stats["green"]["60s"]["count"] == 0
            assert "ethos_router_retries_total{" not in httpx.get(f"{srv.url}/router/metrics").text
        finally:
            srv.stop()
            blue.close()


def test_a_stream_cut_by_the_revision_dying_is_cut_for_the_client_not_retried(green) -> None:
    blue = RawRevision(start_stream_then_die)
    with ThreadedServer(green) as g:
        _, srv = router_over(blue.url, g.url)
        try:
            got = b""
            with pytest.raises(httpx.HTTPError):
                with httpx.stream("POST", f"{srv.url}/api/ai/marketing-chat",
                                  json={"message": "x", "stream": True}, timeout=10) as r:
                    assert r.status_code == 200
                    for chunk in r.iter_raw():
                        got += chunk
            assert b'"one"' in got  # what the revision sent before dying reached the client
            assert blue.requests == 1 and green.requests == []
            stats = httpx.get(f"{srv.url}/router/stats").json()["revisions"]["blue"]["60s"]
            assert stats["errors"] == 1 and stats["status"]["none"] == 1
        finally:
            srv.stop()
            blue.close()


def test_refused_then_answered_requests_are_all_counted(green) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with ThreadedServer(green) as g:
        app = RouterApp(RouterConfig(revisions={"blue": g.url, "green": dead},
                                     initial_weights={"blue": 50, "green": 50}))
        with ThreadedServer(app) as srv, httpx.Client(timeout=10) as c:
            answers = [c.post(f"{srv.url}/api/ai/marketing-chat", json={"message": str(i)}) for i in range(40)]
            assert all(a.status_code == 200 and a.headers["x-routed-to"] == "blue" for a in answers)
            stats = httpx.get(f"{srv.url}/router/stats").json()
            refused = stats["revisions"]["green"]["60s"]["connect_failures"]
            assert 0 < refused < 40 and stats["revisions"]["blue"]["60s"]["retried"] == refused
            assert stats["weights"] == {"blue": 50, "green": 50}  # the router never moves weights itself


def test_a_refusing_revision_is_passed_over_for_a_while_then_probed_weights_untouched(green) -> None:
    port = free_port()
    shift = [0.0]  # the router's clock runs ahead by this much (ejection expiry without waiting)
    with ThreadedServer(green) as g:
        app = RouterApp(RouterConfig(revisions={"blue": g.url, "green": f"http://127.0.0.1:{port}"},
                                     initial_weights={"blue": 50, "green": 50}, eject_base_s=5.0),
                        clock=lambda: time.monotonic() + shift[0])
        with ThreadedServer(app) as srv, httpx.Client(timeout=10) as c:
            def ask(n: int) -> list[httpx.Response]:
                return [c.post(f"{srv.url}/api/ai/marketing-chat", json={"message": str(i)}) for i in range(n)]

            def figures() -> tuple[float, float, dict]:
                m = c.get(f"{srv.url}/router/metrics").text
                return (metric(m, 'ethos_router_upstream_connect_failures_total{revision="green"}'),
                        metric(m, 'ethos_router_diverted_total{from_revision="green",to_revision="blue"}'),
                        c.get(f"{srv.url}/router/health").json())

            assert all(r.status_code == 200 for r in ask(40))
            refused, diverted, health = figures()
            assert refused == 1 and diverted > 5, "one refusal, then green is passed over"
            assert 0 < health["ejected"]["green"] <= 5 and health["weights"] == {"blue": 50, "green": 50}
            assert c.get(f"{srv.url}/router/traffic").json()["weights"] == {"blue": 50, "green": 50}

            shift[0] += 6  # ejection over: the next request drawn for green probes it, refused again
            assert all(r.status_code == 200 for r in ask(20))
            refused, _, health = figures()
            assert refused == 2 and 5 < health["ejected"]["green"] <= 10, "twice as long after a second refusal"

            with ThreadedServer(FakeRevision("green"), port=port):  # green is back
                shift[0] += 11
                back = ask(40)
                assert all(r.status_code == 200 for r in back)
                assert {r.headers["x-routed-to"] for r in back} == {"blue", "green"}
                assert figures()[2]["ejected"] == {}


def metric(text: str, series: str) -> float:
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0
