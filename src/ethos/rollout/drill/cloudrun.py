"""The ``cloudrun`` drill: the emergency rollback through Cloud Run's API, on a sandbox.

Cloud Run is played by the Cloud Run fake (:mod:`ethos.rollout.traffic.cloudrun_fake`, the one
the real gcloud is tested against): service ``marketing-api`` in ``australia-southeast1`` with
two revisions tagged blue and green, in force with the sandbox's split, whose tag URLs are the
sandbox's revisions. The sandbox router is its data plane: each time Cloud Run puts a new split
in force, the fake pushes it to the router, as Cloud Run's own front end would route. The drill
runs ``ethos rollback emergency --traffic cloudrun`` against it (blue and green by tag, their
URLs read from the service's status), then checks that the fake's state, the router and, when
gcloud is installed, ``gcloud run services describe`` agree.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from typing import Any

from ..errors import RolloutError
from ..router.client import RouterClient
from ..traffic.cloudrun_fake import FakeCloudRun, Service, Target

PROJECT = "drill-project"
REGION = "australia-southeast1"
SERVICE = "marketing-api"
REVISIONS = {"blue": f"{SERVICE}-00001-drl", "green": f"{SERVICE}-00002-drl"}


class CloudRunSandbox:
    """The fake Cloud Run of a drill over ``stack`` (a :class:`~ethos.rollout.stack.state.StackState`)."""

    def __init__(self, stack: Any) -> None:
        self.stack = stack
        self.pushes: list[dict[str, int]] = []
        self.push_errors: list[str] = []
        with RouterClient(stack.router, timeout=5) as router:
            now = router.traffic().weights
        blue, green = REVISIONS["blue"], REVISIONS["green"]
        traffic = [Target(int(now.get("blue", 0)), blue), Target(int(now.get("green", 0)), green),
                   Target(0, blue, tag="blue"), Target(0, green, tag="green")]
        self.fake = FakeCloudRun(PROJECT, REGION, SERVICE, revisions=[blue, green],
                                 traffic=[t for t in traffic if t.percent or t.tag],
                                 tag_urls={"blue": stack.revisions["blue"], "green": stack.revisions["green"]})
        self.fake.state.on_change.append(self._push)

    def _push(self, service: Service) -> None:
        """Route as Cloud Run now would: the split in force, by tag, to the sandbox router."""
        weights = self.weights(service)
        try:
            with RouterClient(self.stack.router, self.stack.admin_key(), timeout=5) as router:
                router.set_traffic(weights)
            self.pushes.append(weights)
        except RolloutError as e:
            self.push_errors.append(str(e))

    def weights(self, service: Service | None = None) -> dict[str, int]:
        """Blue and green's shares in force on the fake, by tag."""
        s = service or self.fake.service
        split, tags = self.fake.state.in_force(s), self.fake.state.tags(s)
        return {name: split.get(tags.get(name, ""), 0) for name in ("blue", "green")}

    def args(self) -> list[str]:
        """The target flags of ``ethos rollback`` for this Cloud Run (no --revision: the tag URLs)."""
        return ["--traffic", "cloudrun", "--service", SERVICE, "--region", REGION, "--project", PROJECT,
                "--cloudrun-endpoint", self.fake.url, "--cloudrun-anonymous"]

    def gcloud_view(self) -> dict[str, Any] | None:
        """``gcloud run services describe --format json`` of the fake, as split and tags by
        revision; None when gcloud is not installed (the drill then says so)."""
        exe = shutil.which("gcloud")
        if exe is None:
            return None
        with tempfile.TemporaryDirectory(prefix="ethos-drill-gcloud-") as cfg:
            env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDSDK_")
                   and k.lower() not in ("http_proxy", "https_proxy", "no_proxy", "all_proxy")}
            env.update(self.fake.gcloud_env(cfg, PROJECT))
            p = subprocess.run([exe, "run", "services", "describe", SERVICE, f"--region={REGION}", "--format=json"],
                               capture_output=True, text=True, env=env, timeout=120, stdin=subprocess.DEVNULL)
        if p.returncode != 0:
            return {"error": (p.stderr.strip().splitlines() or ["gcloud failed"])[-1]}
        svc = json.loads(p.stdout)
        split: dict[str, int] = {}
        tags: dict[str, str] = {}
        for t in svc["status"]["traffic"]:
            rev = t.get("revisionName") or svc["status"].get("latestReadyRevisionName", "")
            if t.get("percent"):
                split[rev] = split.get(rev, 0) + int(t["percent"])
            if t.get("tag"):
                tags[t["tag"]] = rev
        return {"split": split, "tags": tags}

    def facts(self) -> dict[str, Any]:
        """What the checks report: the fake's state, the pushes to the router, gcloud's view."""
        s = self.fake.service
        out: dict[str, Any] = {"service": s.full_name, "in_force": self.fake.state.in_force(s),
                               "tags": self.fake.state.tags(s), "weights": self.weights(s),
                               "router_pushes": list(self.pushes), "push_errors": list(self.push_errors)}
        view = self.gcloud_view()
        out["gcloud"] = view if view is not None else "not installed: gcloud's view not checked"
        if view is not None and "split" in view:
            out["gcloud_agrees"] = view == {"split": out["in_force"], "tags": out["tags"]}
        return out

    def start(self) -> CloudRunSandbox:
        self.fake.start()
        return self

    def stop(self) -> None:
        self.fake.stop()


@contextlib.contextmanager
def sandbox_for(scenario: str, stack: Any) -> Iterator[CloudRunSandbox | None]:
    """A running :class:`CloudRunSandbox` for the ``cloudrun`` scenario, else None."""
    if scenario != "cloudrun":
        yield None
        return
    sb = CloudRunSandbox(stack).start()
    try:
        yield sb
    finally:
        sb.stop()


__all__ = ["CloudRunSandbox", "sandbox_for", "PROJECT", "REGION", "SERVICE", "REVISIONS"]
