"""``ethos rollback standard --cloud-run P/R/S``: step 1 confirms the issue on what Cloud Run
recorded (the Cloud Monitoring fake), the shift goes through the Cloud Run fake by tag."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from ethos.rollout.sources.cloudmonitoring import complete_end
from ethos.rollout.sources.monitoring_fake import FakeMetricService
from ethos.rollout.traffic.cloudrun_fake import FakeCloudRun, Target
from tests.integration.rollout._rollback_fakes import FakeRevision

pytestmark = pytest.mark.slow  # the CLI as a process

REGION = "australia-southeast1"
BLUE, GREEN = "marketing-api-00012-xuv", "marketing-api-00013-bod"


def ethos(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    e = {k: v for k, v in os.environ.items()
         if not k.startswith(("ETHOS_", "GOOGLE_", "CLOUDSDK_")) and k != "GCE_METADATA_HOST"}
    e.update(env)
    return subprocess.run([sys.executable, "-c", "from ethos.cli import main; main()", *args], capture_output=True,
                          text=True, env=e, timeout=180, stdin=subprocess.DEVNULL)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[SimpleNamespace]:
    metrics = FakeMetricService().start()
    blue, green = FakeRevision("blue").start(), FakeRevision("green").start()
    run = FakeCloudRun(revisions=[BLUE, GREEN],
                       traffic=[Target(50, BLUE), Target(50, GREEN), Target(0, BLUE, tag="blue"),
                                Target(0, GREEN, tag="green")],
                       tag_urls={"blue": blue.url, "green": green.url}).start()
    flags = ["--cloud-run", f"proj/{REGION}/marketing-api", "--cloudrun-endpoint", run.url, "--cloudrun-anonymous",
             "--state-dir", str(tmp_path / "state")]
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "authority.yaml").write_text("primary: [maria]\n")
    env = {"ETHOS_ADMIN_API_KEY": "k", "ETHOS_GCP_MONITORING_ENDPOINT": metrics.address, "ETHOS_NO_AUTO_INCIDENT": "1"}
    yield SimpleNamespace(metrics=metrics, run=run, flags=flags, env=env)
    for s in (run, blue, green):
        s.stop()
    metrics.stop()


def traffic(metrics: FakeMetricService, green_errors: int) -> None:
    end = complete_end(time.time())
    for k in range(-2, 6):  # two newer minutes too, in case one completes while the command runs
        metrics.record_requests(BLUE, end - 60 * k, {200: 100}, [100.0] * 100)
        metrics.record_requests(GREEN, end - 60 * k, {200: 100 - green_errors, 500: green_errors}, [100.0] * 100)


def test_standard_confirms_on_cloud_monitoring_and_shifts_by_tag(world: SimpleNamespace) -> None:
    traffic(world.metrics, green_errors=5)  # 5 % > the runbook's 2 % for 5 minutes
    r = ethos("rollback", "standard", *world.flags, "--yes", "--json", "--reason", "errors",
              "--approved-by", "maria", env=world.env)
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout)
    step = next(s for s in out["steps"] if s["name"] == "verify_issue")
    assert step["status"] == "ok", step
    assert world.run.in_force() == {BLUE: 100}
    windows = {q.interval.end_time.timestamp() - q.interval.start_time.timestamp() for q in world.metrics.requests}
    assert 300.0 in windows  # the runbook's "for 5 minutes", on whole complete minutes


def test_standard_stops_when_cloud_monitoring_shows_no_issue(world: SimpleNamespace) -> None:
    traffic(world.metrics, green_errors=0)
    r = ethos("rollback", "standard", *world.flags, "--yes", "--json", "--reason", "errors",
              "--approved-by", "maria", env=world.env)
    assert r.returncode == 3, r.stdout + r.stderr
    assert world.run.in_force() == {BLUE: 50, GREEN: 50}
