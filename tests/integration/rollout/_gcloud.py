"""The real Google Cloud CLI pointed at the Cloud Run fake (ethos.rollout.traffic.cloudrun_fake).

gcloud is on this kind of machine and in CI: when it is missing the tests that need it FAIL with
the command to install it; they are never skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import string
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ethos.rollout.traffic.cloudrun_fake import FakeCloudRun

REPO = Path(__file__).resolve().parents[3]
MANIFEST = REPO / "deploy" / "cloudrun" / "service.yaml"
REGION = "australia-southeast1"
INSTALL = ("the Google Cloud CLI (`gcloud`) is not installed, and these tests drive it against the Cloud Run "
           "fake: install it (Debian: add packages.cloud.google.com/apt and `apt-get install google-cloud-cli`; "
           "see https://cloud.google.com/sdk/docs/install), then run the tests again")


def gcloud_path() -> str:
    path = shutil.which("gcloud")
    if path is None:
        pytest.fail(INSTALL, pytrace=False)
    return path


class GCloud:
    """``gcloud ...`` with a private config dir, pointed at ``fake``; nothing of the user's gcloud is read."""

    def __init__(self, fake: FakeCloudRun, config_dir: Path) -> None:
        self.bin = gcloud_path()
        # no proxy or gcloud setting of the caller's leaks in
        base = {k: v for k, v in os.environ.items()
                if not k.startswith("CLOUDSDK_") and k.lower() not in ("http_proxy", "https_proxy", "no_proxy",
                                                                        "all_proxy")}
        self.env = {**base, **fake.gcloud_env(str(config_dir))}

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        r = subprocess.run([self.bin, *args], env=self.env, capture_output=True, text=True, timeout=180,
                           stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise AssertionError(f"gcloud {' '.join(args)} -> {r.returncode}\n{r.stdout}\n{r.stderr}")
        return r

    def shell(self, command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """A command line as written in the runbook (``gcloud run ...`` with its quoting)."""
        import shlex

        args = shlex.split(command)
        assert args[0] == "gcloud", command
        return self(*args[1:], check=check)

    def describe(self, service: str = "marketing-api", region: str = REGION) -> dict[str, Any]:
        """``gcloud run services describe SERVICE --region R --format json``: the Knative Service."""
        return json.loads(self("run", "services", "describe", service, f"--region={region}", "--format=json").stdout)


def gcloud_view(svc: dict[str, Any]) -> tuple[dict[str, int], dict[str, str]]:
    """(revision -> percent in force, tag -> revision) from gcloud's JSON of a service."""
    split: dict[str, int] = {}
    tags: dict[str, str] = {}
    for t in svc["status"]["traffic"]:
        rev = t.get("revisionName") or svc["status"]["latestReadyRevisionName"]
        if t.get("percent"):
            split[rev] = split.get(rev, 0) + int(t["percent"])
        if t.get("tag"):
            tags[t["tag"]] = rev
    return split, tags


def render_manifest(release: str, image: str, project: str = "proj", redis_host: str = "10.20.30.40") -> str:
    """deploy/cloudrun/service.yaml as `envsubst '$PROJECT_ID $IMAGE $RELEASE $REDIS_HOST'` renders it."""
    text = string.Template(MANIFEST.read_text(encoding="utf-8")).substitute(
        PROJECT_ID=project, IMAGE=image, RELEASE=release, REDIS_HOST=redis_host)
    assert "$" not in text
    return text
