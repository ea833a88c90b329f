"""The container image (issue 16): size, start to the first 200 on /health, SIGTERM to exit.

Goals: image size <= 450 MB; container start to first /health 200 <= 3 s; SIGTERM to exit
<= 2 s with exit code 0, in-flight streams finished or cut cleanly.

The container runs as Cloud Run runs it (read-only root, tmpfs /tmp, PORT, port published on
127.0.0.1; podman with runc). In the same run, `ethos serve` on the host is measured the same
way, so the container's own cost shows. Build the image first with `make image`.

    .venv/bin/python bench/image_bench.py [--runs 5] [--no-compressed]

- start: from `podman run` (or the host process's spawn) to the first 200 on /health; and on
  to the embedding model being ready (semantic tier, loaded in the background).
- stop: from just before `podman kill --signal TERM` to the container's exit as podman
  recorded it (an upper bound: it includes the podman command's own start), idle and with a
  stream in flight whose first byte comes 1 s late (it must finish: grace 5 s), and with a
  stream longer than a 1 s grace (it must be cut).
- size: `podman image inspect` (uncompressed, what the goal counts), its layers, and the
  image's gzip-compressed size (roughly what a registry stores and a node pulls).
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.image.image_helpers import IMAGE, Container, free_port, missing, podman  # noqa: E402

GOAL_SIZE_MB = 450
GOAL_START_S = 3.0
GOAL_STOP_S = 2.0
ETHOS = str(Path(sys.executable).parent / "ethos")
CHAT = "/api/ai/marketing-chat"


def image_size() -> tuple[int, list[tuple[str, int]]]:
    size = int(podman("image", "inspect", "--format", "{{.Size}}", IMAGE).stdout)
    layers = []
    out = podman("history", "--no-trunc", "--format", "{{.Size}}\t{{.CreatedBy}}", IMAGE).stdout
    for line in out.splitlines():
        human, created = line.split("\t", 1)
        if human not in ("0B", "0 B"):
            layers.append((created.replace("/bin/sh -c #(nop) ", "")[:70], human))
    return size, layers


def compressed_size() -> int:
    """Bytes of the image saved as a docker archive and gzipped (level 6, what registries use)."""
    proc = subprocess.Popen(["podman", "save", "--format", "docker-archive", IMAGE],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            env={**os.environ, "CONTAINERS_CONF": str(ROOT / "deploy" / "image" / "containers.conf")})
    assert proc.stdout is not None

    class Count:
        n = 0

        def write(self, b: bytes) -> int:
            self.n += len(b)
            return len(b)

        def flush(self) -> None:
            pass

    counter = Count()
    with gzip.GzipFile(fileobj=counter, mode="wb", compresslevel=6) as gz:  # type: ignore[arg-type]
        shutil.copyfileobj(proc.stdout, gz, 1 << 20)
    if proc.wait() != 0:
        raise RuntimeError("podman save failed")
    return counter.n


def wait_ready(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if httpx.get(f"{url}/health", timeout=5).json()["semantic"] == "ready":
            return
        time.sleep(0.02)
    raise RuntimeError("the embedding model did not load")


def container_start() -> tuple[float, float, float]:
    """(start -> /health 200, start -> model ready, SIGTERM -> exit) of one idle container."""
    with Container() as c:
        to_health = c.wait_health()
        wait_ready(c.url)
        assert c.started_at is not None
        to_ready = time.monotonic() - c.started_at
        t0 = time.time()
        c.kill("TERM")
        code = c.wait_exit()
        if code != 0:
            raise RuntimeError(f"exit code {code} after SIGTERM: {c.logs()[-2000:]}")
        stop = int(c.state()["finished_ns"]) / 1e9 - t0
    return to_health, to_ready, stop


def host_start() -> tuple[float, float, float]:
    """The same three figures for `ethos serve` on the host."""
    with tempfile.TemporaryDirectory() as state:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        t0 = time.monotonic()
        p = subprocess.Popen([ETHOS, "serve", "--port", str(port)], cwd=state,
                             env={**os.environ, "ETHOS_STATE_DIR": state},
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while True:
                if p.poll() is not None:
                    raise RuntimeError("ethos serve exited")
                try:
                    if httpx.get(f"{url}/health", timeout=0.5).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.01)
            to_health = time.monotonic() - t0
            wait_ready(url)
            to_ready = time.monotonic() - t0
            t1 = time.monotonic()
            p.send_signal(signal.SIGTERM)
            code = p.wait(30)
            stop = time.monotonic() - t1
            if code != 0:
                raise RuntimeError(f"ethos serve: exit code {code} after SIGTERM")
        finally:
            if p.poll() is None:
                p.kill()
                p.wait(10)
    return to_health, to_ready, stop


def stop_with_stream(ttft_ms: int, grace_s: float | None) -> tuple[float, int, str]:
    """SIGTERM while a stream is in flight: (SIGTERM -> exit, exit code, what the client got)."""
    env = {"ETHOS_FAULTS": f"ttft_ms={ttft_ms}"}
    if grace_s is not None:
        env["ETHOS_SHUTDOWN_GRACE_S"] = str(grace_s)
    got: dict[str, str] = {}
    headers = threading.Event()
    with Container(env) as c:
        c.wait_health()

        def stream() -> None:
            body = ""
            try:
                with httpx.stream("POST", f"{c.url}{CHAT}", timeout=120,
                                  json={"message": "What are your pricing plans?", "stream": True}) as r:
                    headers.set()
                    for text in r.iter_text():
                        body += text
                got["client"] = "finished (done event)" if "event: done" in body else "ended without done"
            except httpx.RemoteProtocolError:
                got["client"] = "cut (body ended early, no done event)" if "event: done" not in body else "?"
            except httpx.HTTPError as e:
                got["client"] = f"error: {e!r}"
            finally:
                headers.set()

        t = threading.Thread(target=stream, daemon=True)
        t.start()
        headers.wait(60)
        t0 = time.time()
        c.kill("TERM")
        code = c.wait_exit()
        stop = int(c.state()["finished_ns"]) / 1e9 - t0
        t.join(60)
    return stop, code, got.get("client", "no answer")


def fmt(xs: list[float]) -> str:
    return f"median {statistics.median(xs):.2f} s, max {max(xs):.2f} s"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--no-compressed", action="store_true", help="skip the gzip size (about 30 s)")
    args = ap.parse_args()
    why = missing()
    if why:
        print(f"error: {why}", file=sys.stderr)
        return 1

    size, layers = image_size()
    print(f"image {IMAGE}: {size / 1e6:.0f} MB uncompressed (goal <= {GOAL_SIZE_MB} MB:"
          f" {'met' if size / 1e6 <= GOAL_SIZE_MB else 'NOT met'})")
    for created, human in layers:
        print(f"  layer {human:>9}  {created}")
    if not args.no_compressed:
        print(f"  gzip-compressed (docker archive): {compressed_size() / 1e6:.0f} MB")

    cont = [container_start() for _ in range(args.runs)]
    host = [host_start() for _ in range(args.runs)]
    c_health, c_ready, c_stop = (list(x) for x in zip(*cont))
    h_health, h_ready, h_stop = (list(x) for x in zip(*host))
    print(f"\nstart to first /health 200 ({args.runs} runs each; the containers first, then the host):")
    print(f"  container (podman run, runc, read-only root): {fmt(c_health)}"
          f" (goal <= {GOAL_START_S:.0f} s: {'met' if max(c_health) <= GOAL_START_S else 'NOT met'})")
    print(f"  ethos serve on the host:                      {fmt(h_health)}")
    print(f"  container cost: {statistics.median(c_health) - statistics.median(h_health):+.2f} s (medians)")
    print("start to the embedding model ready (semantic tier, loads in the background):")
    print(f"  container: {fmt(c_ready)};  host: {fmt(h_ready)}")

    print(f"\nSIGTERM to exit, idle ({args.runs} runs; every exit code 0):")
    print(f"  container: {fmt(c_stop)} (goal <= {GOAL_STOP_S:.0f} s: {'met' if max(c_stop) <= GOAL_STOP_S else 'NOT met'})")
    print(f"  host:      {fmt(h_stop)}")
    fin = stop_with_stream(1000, None)
    cut = stop_with_stream(60000, 1.0)
    print("SIGTERM to exit with a stream in flight (container):")
    print(f"  first byte 1 s late, grace 5 s:  {fin[0]:.2f} s, exit {fin[1]}, stream {fin[2]}")
    print(f"  first byte 60 s late, grace 1 s: {cut[0]:.2f} s, exit {cut[1]}, stream {cut[2]}")

    print(f"\nreproduce: make image && .venv/bin/python bench/image_bench.py --runs {args.runs}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
