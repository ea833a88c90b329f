"""The Containerfile is hadolint-clean and the image passes its structure tests
(deploy/image/structure-test.yaml: user, entrypoint, environment, files, no torch)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.image.image_helpers import BUILD_COMMAND, IMAGE, ROOT, podman_env

pytestmark = pytest.mark.image

BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{name} is not installed (pyproject's `image` extra): run `{BUILD_COMMAND}`",
                    pytrace=False)
    return str(path)


def test_the_containerfile_is_hadolint_clean() -> None:
    r = subprocess.run([tool("hadolint"), str(ROOT / "Containerfile")],
                       capture_output=True, text=True, timeout=60)
    assert (r.returncode, r.stdout + r.stderr) == (0, "")


def test_hadolint_does_find_problems(tmp_path: Path) -> None:
    # the check above can fail: an unpinned base and a shell-form CMD are reported
    bad = tmp_path / "Containerfile"
    bad.write_text("FROM debian\nRUN cd /tmp\nCMD ethos serve\n")
    r = subprocess.run([tool("hadolint"), str(bad)], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "DL3006" in r.stdout and "DL3025" in r.stdout, r.stdout


@pytest.fixture
def docker_api(tmp_path: Path) -> Iterator[str]:
    """podman's Docker-compatible API on a private socket, for the structure test's docker driver
    (its tar driver extracts the whole image once per test: minutes)."""
    sock = tmp_path / "podman.sock"
    log = (tmp_path / "podman-service.log").open("w")
    proc = subprocess.Popen(["podman", "system", "service", "--time=0", f"unix://{sock}"],
                            env=podman_env(), stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not sock.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"podman system service did not start: {(tmp_path / 'podman-service.log').read_text()[-2000:]}",
                            pytrace=False)
            time.sleep(0.05)
        yield f"unix://{sock}"
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


def test_the_image_passes_its_structure_tests(image: str, docker_api: str) -> None:
    r = subprocess.run(
        [tool("container-structure-test"), "test", "--image", IMAGE,
         "--config", str(ROOT / "deploy" / "image" / "structure-test.yaml")],
        capture_output=True, text=True, timeout=240, env={**podman_env(), "DOCKER_HOST": docker_api},
    )
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-5000:]
    assert "Failures:    0" in out and "PASS" in out, out[-5000:]
