"""SIGTERM (what Cloud Run sends before it stops an instance) ends the container with exit 0:
at once when idle; after a stream in flight finishes; or, past the shutdown grace, with the
stream cut (the client sees the body end without its `done` event) and no stack trace."""

from __future__ import annotations

import threading

import httpx
import pytest

from tests.image.image_helpers import Container

pytestmark = pytest.mark.image

CHAT = "/api/ai/marketing-chat"


class Stream(threading.Thread):
    """One streamed chat request; ``started`` is set once the response headers are in."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.started = threading.Event()
        self.status: int | None = None
        self.body = ""
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            with httpx.stream("POST", f"{self.url}{CHAT}", timeout=120,
                              json={"message": "What are your pricing plans?", "stream": True}) as r:
                self.status = r.status_code
                self.started.set()
                for text in r.iter_text():
                    self.body += text
        except httpx.HTTPError as e:
            self.error = e
        finally:
            self.started.set()


def test_sigterm_when_idle_exits_0_and_port_comes_from_PORT(image: str) -> None:
    with Container(container_port=9090) as c:  # Cloud Run may set another PORT than 8080
        c.wait_health()
        c.kill("TERM")
        assert c.wait_exit() == 0, c.logs()[-3000:]
        assert "Traceback" not in c.logs()


def test_a_stream_in_flight_at_sigterm_finishes_then_exit_0(image: str) -> None:
    # the first byte of the body comes 1.5 s late, well inside the default grace of 5 s
    with Container({"ETHOS_FAULTS": "ttft_ms=1500"}) as c:
        c.wait_health()
        s = Stream(c.url)
        s.start()
        assert s.started.wait(60) and s.status == 200, s.error
        c.kill("TERM")
        s.join(60)
        assert s.error is None, s.error
        assert s.body.rstrip().splitlines()[-2:][0] == "event: done", s.body
        assert c.wait_exit() == 0, c.logs()[-3000:]
        assert "Traceback" not in c.logs()


def test_a_stream_longer_than_the_grace_is_cut_cleanly_then_exit_0(image: str) -> None:
    with Container({"ETHOS_FAULTS": "ttft_ms=60000", "ETHOS_SHUTDOWN_GRACE_S": "1"}) as c:
        c.wait_health()
        s = Stream(c.url)
        s.start()
        assert s.started.wait(60) and s.status == 200, s.error
        c.kill("TERM")
        assert c.wait_exit() == 0, c.logs()[-3000:]
        s.join(60)
        # cut: the connection closed before the chunked body ended, nothing was sent
        assert isinstance(s.error, httpx.RemoteProtocolError), (s.error, s.body)
        assert "event: done" not in s.body
        logs = c.logs()
        assert "a request still running after the shutdown grace was cut" in logs
        assert "Traceback" not in logs
