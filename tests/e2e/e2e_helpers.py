"""End-to-end helpers: run the ``ethos`` CLI as a user would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from ethos.rollout.stack import free_port

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
