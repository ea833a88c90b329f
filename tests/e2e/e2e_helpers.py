"""End-to-end helpers: run the ``ethos`` CLI as a user would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from ethos.rollout.stack.state import free_port
from tests.polling import wait_until  # noqa: F401 - the e2e tests' poller, re-exported

ETHOS = str(Path(sys.executable).parent / "ethos")


class Serve:
    """An ``ethos serve`` process on a free port."""

    def __init__(self, cwd: Path, env: dict[str, str], revision: str = "blue") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = cwd / f"serve-{revision}-{self.port}.log"
        self._out = self.log.open("w")
        self.proc = subprocess.Popen(
            [ETHOS, "serve", "--port", str(self.port), "--revision", revision],
            cwd=cwd, env={**os.environ, **env}, stdout=self._out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )

    def wait_healthy(self, timeout: float = 30.0) -> float:
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ethos serve exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return time.monotonic() - start
            except httpx.HTTPError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"ethos serve not healthy: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        self._out.close()
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


class ChatTraffic:
    """Client threads asking ``questions`` through ``router`` in turn until stopped; every
    request recorded as ``(start, status, error, routed_to)`` ("" error: a 200 with a reply)."""

    def __init__(self, router: str, questions: list[str], *, threads: int = 2,
                 pause_s: float = 0.01) -> None:
        self.router, self.questions, self.pause_s = router, questions, pause_s
        self.stop_ = threading.Event()
        self.lock = threading.Lock()
        self.results: list[tuple[float, int | None, str, str]] = []
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                        for i in range(threads)]

    def _run(self, i: int) -> None:
        with httpx.Client(timeout=30) as c:
            n = i
            while not self.stop_.is_set():
                q = self.questions[n % len(self.questions)]
                n += 1
                t = time.monotonic()
                try:
                    r = c.post(f"{self.router}/api/ai/marketing-chat", json={"message": q})
                    good = r.status_code == 200 and bool(r.json().get("reply"))
                    # the error is the body as sent (tests parse it), never empty
                    err = "" if good else (r.text[:300] or f"{r.status_code} without a reply")
                    rec = (t, r.status_code, err, r.headers.get("x-routed-to", ""))
                except httpx.HTTPError as e:
                    rec = (t, None, f"{type(e).__name__}: {e}", "")
                with self.lock:
                    self.results.append(rec)
                time.sleep(self.pause_s)

    def failed(self, since: float = 0.0) -> list[tuple[float, int | None, str, str]]:
        with self.lock:
            return [r for r in self.results if r[0] >= since and r[2]]

    def count(self, since: float = 0.0) -> int:
        with self.lock:
            return sum(1 for r in self.results if r[0] >= since)

    def ok(self, since: float = 0.0) -> int:
        return self.count(since) - len(self.failed(since))

    def __enter__(self) -> ChatTraffic:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_.set()
        for t in self.threads:
            t.join(timeout=30)




class WeightSampler:
    """A thread reading ``GET {router}/router/traffic`` every ``every_s`` seconds until stopped;
    every read recorded as ``(time.time(), weights)`` (failed reads are skipped)."""

    def __init__(self, router: str, every_s: float = 0.1) -> None:
        self.router, self.every_s = router, every_s
        self.samples: list[tuple[float, dict[str, int]]] = []
        self.stop_ = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=5) as c:
            while not self.stop_.is_set():
                try:
                    w = c.get(f"{self.router}/router/traffic").json()["weights"]
                    self.samples.append((time.time(), {k: int(v) for k, v in w.items()}))
                except (httpx.HTTPError, ValueError, KeyError):
                    pass
                self.stop_.wait(self.every_s)

    def max_share(self, name: str) -> int:
        return max(w.get(name, 0) for _, w in self.samples)

    def __enter__(self) -> WeightSampler:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_.set()
        self.thread.join(timeout=10)
