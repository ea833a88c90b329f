"""What the load benchmarks share: a revision started as a user would, a cheap HTTP client, and
new questions to send it.

``Revision`` runs ``ethos serve`` on a free port of 127.0.0.1 in a fresh state directory (the
model cache is the caller's: ``ETHOS_MODEL_CACHE`` from the environment or ``env``);
``RawClient`` speaks just enough HTTP/1.1 to send the chat route a question and read the status;
``question(i)`` is the i-th of QQP's distinct questions, so that every request is a miss.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from semantic_common import load_qqp

from ethos.rollout.stack.state import free_port

ETHOS = str(Path(sys.executable).parent / "ethos")
CHAT = "/api/ai/marketing-chat"


def questions() -> list[str]:
    """Distinct real questions (QQP's), so that every request is a miss that costs what a new
    question costs: the embedding, the nearest stored questions, the pair model when one of
    them is close, the answerer."""
    seen: dict[str, None] = {}
    for p in load_qqp():
        for q in (p["text_a"], p["text_b"]):
            seen.setdefault(q.strip(), None)
    return [q for q in seen if 10 <= len(q) <= 300]


QUESTIONS: list[str] = []


def question(i: int) -> str:
    return QUESTIONS[i % len(QUESTIONS)]


class Revision:
    """``ethos serve`` on a free port of 127.0.0.1, in a fresh state directory."""

    def __init__(self, env: dict[str, str], cpus: str = "") -> None:
        self.dir = tempfile.TemporaryDirectory(prefix="ethos-bench-")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        e = {k: v for k, v in os.environ.items()
             if not k.startswith("ETHOS_") or k == "ETHOS_MODEL_CACHE"}
        e.update({"ETHOS_STATE_DIR": self.dir.name, "ETHOS_ADMIN_API_KEY": "bench-key", **env})
        pin = ["taskset", "-c", cpus] if cpus else []
        self.proc = subprocess.Popen([*pin, ETHOS, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                                     env=e, cwd=self.dir.name, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)

    def wait_ready(self, timeout: float = 300, poll: float = 0.5) -> None:
        """Until ``/health`` says the semantic tier and the pair model are ready."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise SystemExit(f"ethos serve exited with code {self.proc.returncode}")
            try:
                h = httpx.get(f"{self.url}/health", timeout=2).json()
                if h.get("semantic") == "ready" and h.get("pair_model") in ("ready", "off", None):
                    return
            except (httpx.HTTPError, json.JSONDecodeError):
                pass
            time.sleep(poll)
        raise SystemExit("the revision did not become ready")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.dir.cleanup()


@dataclass
class Result:
    sent_at: float
    status: int | None  # None: the client gave up
    latency: float


class RawClient:
    """A minimal HTTP/1.1 client over asyncio streams, with a pool of kept-alive connections.

    httpx costs about a millisecond of CPU per request; at a few hundred requests a second the
    load generator then falls behind its own schedule, and the figures measure it instead of
    the revision. This one sends prebuilt bytes and reads only the status and the body length.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    @staticmethod
    def request(message: str) -> bytes:
        body = json.dumps({"message": message}).encode()
        return (f"POST {CHAT} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode() + body

    async def post(self, message: str) -> int:
        conn = self.idle.pop() if self.idle else await asyncio.open_connection("127.0.0.1", self.port)
        reader, writer = conn
        try:
            writer.write(self.request(message))
            status_line = await reader.readline()
            if not status_line:
                raise ConnectionError("closed")
            length, keep = 0, True
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
                elif name.lower() == "connection" and "close" in value.lower():
                    keep = False
            await reader.readexactly(length)
        except BaseException:
            writer.close()  # a client that gives up closes its connection
            raise
        if keep:
            self.idle.append(conn)
        else:
            writer.close()
        return int(status_line.split()[1])

    def close(self) -> None:
        for _, w in self.idle:
            w.close()
        self.idle.clear()


async def one(client: RawClient, i: int, timeout: float) -> Result:
    """One request with a deadline on the whole exchange."""
    t0 = time.monotonic()
    try:
        async with asyncio.timeout(timeout):
            status = await client.post(question(i))
        return Result(t0, status, time.monotonic() - t0)
    except TimeoutError:
        return Result(t0, None, time.monotonic() - t0)
    except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError, IndexError):
        return Result(t0, 0, time.monotonic() - t0)
