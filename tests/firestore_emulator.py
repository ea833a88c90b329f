"""The real Firestore emulator (``gcloud emulators firestore start``), started by the tests.

Its java child outlives the gcloud wrapper, so it runs in a process group of its own and the
whole group is stopped. ``reset(project)`` empties one project (each test has its own).
The emulator keeps everything in memory: a restart starts empty.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from ethos.rollout.stack.state import free_port

INSTALL = (
    "the Firestore emulator is not installed: install it with"
    " `apt-get install -y google-cloud-cli-firestore-emulator openjdk-17-jre-headless`"
    " (Google Cloud CLI apt repository), then check `gcloud emulators firestore --help`"
)


def emulator_installed() -> str | None:
    """None when ``gcloud emulators firestore`` works, else why not."""
    try:
        r = subprocess.run(["gcloud", "emulators", "firestore", "--help"], capture_output=True,
                           timeout=60, env={**os.environ, "CLOUDSDK_CORE_DISABLE_PROMPTS": "1"})
    except FileNotFoundError:
        return "gcloud is not installed"
    except subprocess.TimeoutExpired:
        return "`gcloud emulators firestore --help` did not finish"
    if r.returncode != 0:
        lines = (r.stderr or r.stdout).decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else f"`gcloud emulators firestore --help` exited {r.returncode}"
    return None


class FirestoreEmulator:
    """One emulator on 127.0.0.1:port that a test may kill, pause and start again."""

    def __init__(self, port: int | None = None, log: Path | None = None) -> None:
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = log

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def answers(self, timeout_s: float = 0.5) -> bool:
        try:
            with urllib.request.urlopen(f"http://{self.host}/", timeout=timeout_s) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def start(self, timeout_s: float = 90.0) -> FirestoreEmulator:
        """Start it (again, on the same port) and wait until it answers."""
        if self.proc is not None and self.proc.poll() is None:
            return self
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            ["gcloud", "emulators", "firestore", "start", f"--host-port={self.host}"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, "CLOUDSDK_CORE_DISABLE_PROMPTS": "1"},
        )
        if out is not subprocess.DEVNULL:
            out.close()
        deadline = time.monotonic() + timeout_s
        while not self.answers(0.3):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the Firestore emulator did not start on {self.host}")
            time.sleep(0.1)
        self.warm_up()
        return self

    def warm_up(self) -> None:
        """A few writes and reads: the emulator's first calls are slow (its JIT warms up)."""
        from google.cloud import firestore

        before = os.environ.get("FIRESTORE_EMULATOR_HOST")
        os.environ["FIRESTORE_EMULATOR_HOST"] = self.host
        try:
            client = firestore.Client(project="ethos-warm-up")
            col = client.collection("warm-up")
            for i in range(20):
                col.document(f"d{i}").set({"i": i, "k": f"k{i}"}, timeout=30)
                col.document(f"d{i}").get(timeout=30)
            list(col.where(filter=firestore.FieldFilter("k", ">=", "k")).order_by("k").get(timeout=30))
            client.close()
        finally:
            if before is None:
                os.environ.pop("FIRESTORE_EMULATOR_HOST", None)
            else:
                os.environ["FIRESTORE_EMULATOR_HOST"] = before
        self.reset("ethos-warm-up")

    def _signal(self, sig: int) -> None:
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self) -> None:
        """Kill the whole process group (the java child too); its port is free afterwards."""
        if self.proc is None:
            return
        self._signal(signal.SIGCONT)
        self._signal(signal.SIGKILL)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        deadline = time.monotonic() + 10
        while self.answers(0.2) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.proc = None

    kill = stop

    def pause(self) -> None:
        """SIGSTOP: it holds its connections and answers nothing (calls time out)."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def reset(self, project: str) -> None:
        """Delete every document of ``project``'s (default) database."""
        req = urllib.request.Request(
            f"http://{self.host}/emulator/v1/projects/{project}/databases/(default)/documents",
            method="DELETE",
        )
        try:
            urllib.request.urlopen(req, timeout=10).read()
        except (urllib.error.URLError, OSError):
            pass
