"""``ethos guard --once --dry-run --json --cloud-run P/R/S`` as a user runs it: no local router, no
stack file; the signals come from a gRPC fake of Cloud Monitoring's Metric Service
(``ETHOS_GCP_MONITORING_ENDPOINT``), blue and green named explicitly or resolved from their tags
through the Cloud Run fake.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ethos.rollout.sources.cloudmonitoring import complete_end
from ethos.rollout.sources.monitoring_fake import FakeMetricService
from ethos.rollout.traffic.cloudrun_fake import FakeCloudRun, Target

REGION = "australia-southeast1"
WHERE = f"proj/{REGION}/marketing-api"
BLUE, GREEN = "marketing-api-00012-xuv", "marketing-api-00013-bod"
NAMES = ["--revision-name", f"blue={BLUE}", "--revision-name", f"green={GREEN}"]

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # the ethos CLI as a process per test


def ethos(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    e = {k: v for k, v in os.environ.items()
         if not k.startswith(("ETHOS_", "GOOGLE_", "CLOUDSDK_")) and k != "GCE_METADATA_HOST"}
    e.update(env)
    return subprocess.run([sys.executable, "-c", "from ethos.cli import main; main()", *args],
                          capture_output=True, text=True, env=e, timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture
def fake() -> Iterator[FakeMetricService]:
    f = FakeMetricService().start()
    yield f
    f.stop()


@pytest.fixture
def env(fake: FakeMetricService, tmp_path: Path) -> dict[str, str]:
    # no credentials anywhere: only the test endpoint makes Cloud Monitoring readable
    return {"ETHOS_GCP_MONITORING_ENDPOINT": fake.address, "HOME": str(tmp_path),
            "CLOUDSDK_CONFIG": str(tmp_path / "no-gcloud"), "NO_GCE_CHECK": "true"}


def traffic(fake: FakeMetricService, green_errors: int) -> float:
    end = complete_end(time.time())
    for k in range(16):  # complete minutes, plus two newer ones that must not be read
        t = end + 120 - 60 * k
        fake.record_requests(BLUE, t, {200: 299, 500: 1}, [110.0] * 300)
        fake.record_requests(GREEN, t, {200: 300 - green_errors, 500: green_errors}, [130.0] * 300)
    return end


def guard(tmp_path: Path, env: dict[str, str], *extra: str) -> tuple[int, dict, str]:
    r = ethos("guard", "--once", "--dry-run", "--json", "--state-dir", str(tmp_path / "state"),
              "--cloud-run", WHERE, *extra, env=env)
    doc = json.loads(r.stdout.strip().splitlines()[-1]) if r.stdout.strip() else {}
    return r.returncode, doc, r.stderr


def by_name(doc: dict) -> dict[str, dict]:
    return {t["trigger"]: t for t in doc["triggers"]}


def test_healthy_service_is_evaluated_from_cloud_monitoring_alone(fake, env, tmp_path) -> None:  # noqa: ANN001
    traffic(fake, green_errors=1)
    code, doc, err = guard(tmp_path, env, *NAMES)
    assert code == 4, err  # the app's own signals (cache, PII) are not in Cloud Monitoring: inconclusive
    assert doc["unavailable"] == {}
    t = by_name(doc)
    assert t["error_rate_critical"]["status"] == "ok" and t["error_rate_critical"]["samples"] == 300
    assert t["latency_p95_critical"]["status"] == "ok"
    assert t["pii_in_cache"]["status"] == "no-data"
    assert doc["decision"]["action"] in ("notify", "none") and doc["would_run"] is None
    assert not (tmp_path / "state" / "guard" / "history.jsonl").exists()  # a dry run records nothing
    assert fake.requests and all(r.name == "projects/proj" for r in fake.requests)


def test_green_failing_decides_an_emergency_from_cloud_monitoring_alone(fake, env, tmp_path) -> None:  # noqa: ANN001
    end = traffic(fake, green_errors=30)
    code, doc, err = guard(tmp_path, env, *NAMES)
    last = complete_end(time.time())  # a minute may have completed while the CLI ran
    assert doc["decision"]["action"] == "emergency" and doc["decision"]["trigger"] == "error_rate_critical"
    assert "on green over 60 s, 300 samples" in doc["decision"]["reason"]
    assert doc["would_run"].startswith("ethos rollback emergency --yes")
    # acting would need the Cloud Run Admin API, which is not there: the dry run says so, in one line
    assert code == 1 and "no Google Cloud credentials for Cloud Run" in doc["outcome"]["detail"]
    for r in fake.requests:
        # a complete minute as of some moment of the run; never one that was not yet complete
        assert r.interval.end_time.timestamp() in (end, last), (end, last)
        assert f'one_of("{BLUE}", "{GREEN}")' in r.filter


def test_tags_resolved_through_cloud_run_and_the_dry_run_checks_its_plan(fake, env, tmp_path) -> None:  # noqa: ANN001
    traffic(fake, green_errors=30)
    run = FakeCloudRun(revisions=[BLUE, GREEN],
                       traffic=[Target(70, BLUE), Target(30, GREEN), Target(0, BLUE, tag="blue"),
                                Target(0, GREEN, tag="green")]).start()
    try:
        code, doc, err = guard(tmp_path, env, "--cloudrun-endpoint", run.url, "--cloudrun-anonymous")
    finally:
        run.stop()
    assert code == 3, err
    assert doc["decision"]["action"] == "emergency" and doc["outcome"]["ok"] is True
    assert doc["weights"] == {"blue": 70, "green": 30}  # what Cloud Run has in force
    assert doc["would_run"].startswith("ethos rollback emergency")
    assert run.in_force() == {BLUE: 70, GREEN: 30}  # nothing changed
    assert any(f'one_of("{BLUE}", "{GREEN}")' in r.filter for r in fake.requests)


def test_permission_denied_holds_and_names_the_role(fake, env, tmp_path) -> None:  # noqa: ANN001
    traffic(fake, green_errors=30)
    fake.deny = True
    code, doc, err = guard(tmp_path, env, *NAMES)
    assert code == 4, err
    assert "roles/monitoring.viewer" in doc["unavailable"]["cloud-monitoring"]
    assert doc["decision"]["action"] == "notify" and doc["would_run"] is None
    r = ethos("guard", "--once", "--dry-run", "--state-dir", str(tmp_path / "s2"), "--cloud-run", WHERE, *NAMES,
              env=env)
    assert "no data from cloud-monitoring:" in r.stdout and "roles/monitoring.viewer" in r.stdout
    assert "Traceback" not in r.stdout + r.stderr


def test_no_credentials_is_one_line_naming_adc(tmp_path) -> None:  # noqa: ANN001
    env = {"HOME": str(tmp_path), "CLOUDSDK_CONFIG": str(tmp_path / "no-gcloud"), "NO_GCE_CHECK": "true"}
    r = ethos("guard", "--once", "--dry-run", "--state-dir", str(tmp_path / "s"), "--cloud-run", WHERE, *NAMES,
              env=env)
    assert r.returncode == 2
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith("error: no Google Cloud credentials for Cloud Monitoring")
    assert "Application Default Credentials" in line


def test_bad_cloud_run_flag_is_bad_input(tmp_path, env) -> None:  # noqa: ANN001
    r = ethos("guard", "--once", "--cloud-run", "proj/marketing-api", env=env)
    assert r.returncode == 2 and "PROJECT/REGION/SERVICE" in r.stderr
    r = ethos("guard", "--once", "--revision-name", "green=x", "--state-dir", str(tmp_path), env=env)
    assert r.returncode == 2 and "--revision-name needs --cloud-run" in r.stderr
