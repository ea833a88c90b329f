"""`ethos serve` stops on SIGTERM with exit 0 (Cloud Run sends SIGTERM before it stops an
instance; a death by the signal, 143, reads as a crash), and listens on $PORT when --port is
not given. The same behaviour inside the image: tests/image/test_shutdown.py."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.e2e

ETHOS = str(Path(sys.executable).parent / "ethos")
CHAT = "/api/ai/marketing-chat"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / f"serve-{self.port}.log"
        full = {**os.environ, "ETHOS_STATE_DIR": str(tmp_path / "state"),
                "ETHOS_SEMANTIC_ENABLED": "false", "PORT": str(self.port), **env}
        with self.log.open("w") as out:  # no --port: $PORT
            self.proc = subprocess.Popen([ETHOS, "serve"], cwd=tmp_path, env=full, stdout=out,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"ethos serve did not answer: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.02)

    def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(60)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def served(tmp_path: Path):
    started: list[Served] = []

    def start(**env: str) -> Served:
        s = Served(tmp_path, env)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


def _stream(url: str, out: dict, headers: threading.Event) -> None:
    body = ""
    try:
        with httpx.stream("POST", f"{url}{CHAT}", timeout=120,
                          json={"message": "What are your pricing plans?", "stream": True}) as r:
            out["status"] = r.status_code
            headers.set()
            for text in r.iter_text():
                body += text
    except httpx.HTTPError as e:
        out["error"] = e
    finally:
        out["body"] = body
        headers.set()


def test_sigterm_exits_0_and_port_comes_from_PORT(served) -> None:
    s = served()
    assert s.terminate() == 0, s.log.read_text()[-2000:]
    assert "Traceback" not in s.log.read_text()


def test_sigterm_lets_a_stream_in_flight_finish(served) -> None:
    s = served(ETHOS_FAULTS="ttft_ms=1500")
    out: dict = {}
    headers = threading.Event()
    t = threading.Thread(target=_stream, args=(s.url, out, headers), daemon=True)
    t.start()
    assert headers.wait(60) and out.get("status") == 200, out
    assert s.terminate() == 0, s.log.read_text()[-2000:]
    t.join(60)
    assert "error" not in out and "event: done" in out["body"], out


def test_a_stream_past_the_grace_is_cut_with_one_log_line(served) -> None:
    s = served(ETHOS_FAULTS="ttft_ms=60000", ETHOS_SHUTDOWN_GRACE_S="0.5")
    out: dict = {}
    headers = threading.Event()
    t = threading.Thread(target=_stream, args=(s.url, out, headers), daemon=True)
    t.start()
    assert headers.wait(60) and out.get("status") == 200, out
    assert s.terminate() == 0, s.log.read_text()[-2000:]
    t.join(60)
    assert isinstance(out.get("error"), httpx.RemoteProtocolError), out
    assert "event: done" not in out["body"]
    log = s.log.read_text()
    assert "a request still running after the shutdown grace was cut" in log
    assert "Traceback" not in log
