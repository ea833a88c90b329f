"""Run the ethos image (``make image``) with podman the way Cloud Run runs it.

Shared by the image tests (tests/image) and ``bench/image_bench.py``. A container here has a
read-only root, a tmpfs /tmp (Cloud Run's /tmp is in memory), PORT set, and its port published
on 127.0.0.1 only; podman's settings for this kind of machine (runc, ulimits) come from
``deploy/image/containers.conf`` through ``CONTAINERS_CONF``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
IMAGE = os.environ.get("ETHOS_IMAGE", "localhost/ethos:latest")
CONTAINERS_CONF = ROOT / "deploy" / "image" / "containers.conf"
BUILD_COMMAND = "make image"
#: the image's user (Containerfile: USER 10001:10001)
IMAGE_UID = 10001


def podman_env() -> dict[str, str]:
    return {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}


def podman(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``podman ARGS`` with this machine's settings; raises with podman's message if ``check``."""
    r = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout,
                       env=podman_env(), stdin=subprocess.DEVNULL)
    if check and r.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args[:2])} failed ({r.returncode}): {r.stderr.strip()[-2000:]}")
    return r


def missing() -> str | None:
    """Why the image cannot be run here, with the one command that fixes it; None if it can."""
    if shutil.which("podman") is None:
        return f"podman is not installed: run `{BUILD_COMMAND}` (it installs podman and builds {IMAGE})"
    if podman("image", "exists", IMAGE, check=False).returncode != 0:
        return f"the image {IMAGE} does not exist: run `{BUILD_COMMAND}`"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Container:
    """One container of the image, started by :meth:`start`, removed by :meth:`remove`."""

    def __init__(self, env: dict[str, str] | None = None, *, container_port: int = 8080,
                 read_only: bool = True) -> None:
        self.env = {"PORT": str(container_port), **(env or {})}
        self.container_port = int(self.env["PORT"])
        self.read_only = read_only
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.name = f"ethos-test-{uuid.uuid4().hex[:10]}"
        self.started_at: float | None = None

    def run_args(self) -> list[str]:
        args = ["run", "--detach", "--name", self.name,
                "--tmpfs", "/tmp:rw,size=256m,mode=1777",
                "--publish", f"127.0.0.1:{self.port}:{self.container_port}"]
        if self.read_only:
            args.append("--read-only")
        for k, v in self.env.items():
            args += ["--env", f"{k}={v}"]
        return [*args, IMAGE]

    def start(self) -> Container:
        self.started_at = time.monotonic()
        podman(*self.run_args())
        return self

    def __enter__(self) -> Container:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def state(self) -> dict[str, str]:
        fmt = "{{.State.Status}}|{{.State.ExitCode}}|{{.State.FinishedAt.UnixNano}}"
        status, code, finished = podman("inspect", "--format", fmt, self.name).stdout.strip().split("|")
        return {"status": status, "exit_code": code, "finished_ns": finished}

    def wait_health(self, timeout: float = 60) -> float:
        """Poll /health until it answers 200; the seconds since :meth:`start` began."""
        assert self.started_at is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return time.monotonic() - self.started_at
            except httpx.HTTPError:
                pass
            if self.state()["status"] == "exited":
                raise RuntimeError(f"the container exited: {self.logs()[-3000:]}")
            time.sleep(0.01)
        raise RuntimeError(f"no 200 on /health within {timeout} s: {self.logs()[-3000:]}")

    def wait_semantic(self, timeout: float = 120) -> str:
        """Poll /health until the embedding model is no longer loading; its state."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = httpx.get(f"{self.url}/health", timeout=5).json()["semantic"]
            if state != "loading":
                return state
            time.sleep(0.1)
        raise RuntimeError(f"the embedding model was still loading after {timeout} s")

    def kill(self, signal: str = "TERM") -> None:
        podman("kill", "--signal", signal, self.name)

    def wait_exit(self, timeout: float = 60) -> int:
        """Wait for the container to stop; its exit code."""
        out = podman("wait", self.name, timeout=timeout).stdout.strip()
        return int(out.splitlines()[-1])

    def exec(self, *cmd: str) -> subprocess.CompletedProcess[str]:
        return podman("exec", self.name, *cmd, check=False)

    def logs(self) -> str:
        r = podman("logs", self.name, check=False)
        return r.stdout + r.stderr

    def remove(self) -> None:
        podman("rm", "--force", "--time", "0", self.name, check=False)
