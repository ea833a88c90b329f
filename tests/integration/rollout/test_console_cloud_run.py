"""``ethos console --cloud-run``: the console's sampler over Cloud Run, with no router: the split
from the Cloud Run fake, health at the tag URLs, triggers from the Cloud Monitoring fake."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ethos.rollout.console import build_console
from ethos.rollout.sources.cloudmonitoring import CloudRunService, complete_end
from ethos.rollout.sources.monitoring_fake import FakeMetricService
from ethos.rollout.traffic.cloudrun_fake import FakeCloudRun, Target
from tests.integration.rollout._rollback_fakes import FakeRevision

BLUE, GREEN = "marketing-api-00012-xuv", "marketing-api-00013-bod"


def test_console_samples_cloud_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    metrics = FakeMetricService().start()
    blue, green = FakeRevision("blue").start(), FakeRevision("green").start()
    run = FakeCloudRun(revisions=[BLUE, GREEN],
                       traffic=[Target(90, BLUE), Target(10, GREEN), Target(0, BLUE, tag="blue"),
                                Target(0, GREEN, tag="green")],
                       tag_urls={"blue": blue.url, "green": green.url}).start()
    monkeypatch.setenv("ETHOS_GCP_MONITORING_ENDPOINT", metrics.address)
    end = complete_end(time.time())
    for k in range(-2, 12):  # two newer minutes too, in case one completes while the test runs
        metrics.record_requests(BLUE, end - 60 * k, {200: 300}, [100.0] * 300)
        metrics.record_requests(GREEN, end - 60 * k, {200: 270, 500: 30}, [100.0] * 300)
    try:
        c = build_console(tmp_path, cloud_run=CloudRunService("proj", "australia-southeast1", "marketing-api"),
                          cloudrun_api={"api_endpoint": run.url, "anonymous": True}, persist=False,
                          env={"ETHOS_ADMIN_API_KEY": "k"})
        reading = c.sampler.tick()
        assert reading.weights == {"blue": 90, "green": 10} and reading.traffic_error is None
        assert reading.health["green"]["status"] == "ok"
        ev = reading.evaluation or {}
        er = next(t for t in ev["triggers"] if t["trigger"] == "error_rate_critical")
        assert er["status"] == "firing" and er["samples"] == 300
        assert ev["decision"]["action"] == "emergency"
        t = c.operator.targets()
        assert t.traffic == "cloudrun" and t.cloudrun["resolved"] == {"blue": BLUE, "green": GREEN}
        preview = c.operator.preview("emergency", {})
        assert preview["targets"]["traffic"] == "cloudrun"
        c.sampler.stop()
    finally:
        for s in (run, blue, green):
            s.stop()
        metrics.stop()
