"""``ethos evidence export --cloud-run``: Cloud Run's logs of blue and green from a REST fake of
Cloud Logging's ``entries:list`` (paged), bounded, PII-scanned like the local logs, in the manifest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ethos.rollout.incidents.cloudlogging import CloudLoggingError, CloudLogs, logging_filter
from ethos.rollout.incidents.cloudlogging_fake import FakeCloudLogging
from ethos.rollout.incidents.evidence import export_evidence, verify_manifest
from ethos.rollout.traffic.cloudrun_fake import FakeCloudRun, Target

REGION = "australia-southeast1"
BLUE, GREEN = "marketing-api-00012-xuv", "marketing-api-00013-bod"
NAMES = {"blue": BLUE, "green": GREEN}
NOW = 1_800_000_000.0
IP, UA = "203.0.113.77", "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"


@pytest.fixture
def logs() -> Iterator[FakeCloudLogging]:
    f = FakeCloudLogging(max_page_size=3).start()
    yield f
    f.stop()


def request(f: FakeCloudLogging, rev: str, t: float, status: int = 200, **kw: object) -> None:
    f.add(rev, t, http={"requestMethod": "POST", "requestUrl": "https://green---marketing-api-x-ts.a.run.app"
                        "/api/ai/marketing-chat?session=abc&email=a@b.c", "status": status,
                        "latency": "0.250s", "remoteIp": IP, "userAgent": UA, "responseSize": "512"}, **kw)


def reader(f: FakeCloudLogging, **kw: object) -> CloudLogs:
    return CloudLogs("proj", REGION, "marketing-api", NAMES, endpoint=f.url, sleep=lambda s: None, **kw)  # type: ignore[arg-type]


def scripted(f: FakeCloudLogging) -> None:
    for k in range(4):
        request(f, BLUE, NOW - 500 + k)
        request(f, GREEN, NOW - 400 + k, status=500 if k % 2 else 200)
    f.add(GREEN, NOW - 300, log="stdout", payload={"msg": "request", "status": 500, "route": "/api/ai/marketing-chat"})
    f.add(GREEN, NOW - 200, log="stderr", severity="ERROR", text="Traceback: upstream timeout")
    request(f, BLUE, NOW - 7200)  # before the window
    request(f, "marketing-api-00001-old", NOW - 100)  # another revision
    request(f, BLUE, NOW - 100, service="other-service")  # another service


def test_paged_read_of_both_revisions_in_the_window(logs: FakeCloudLogging, tmp_path: Path) -> None:
    scripted(logs)
    r = reader(logs)
    got = list(r.entries(NOW - 3600, NOW))
    assert len(got) == 10 and r.pages == 4 and not r.truncated
    assert [g["ts"] for g in got] == sorted(g["ts"] for g in got)
    assert {g["revision"] for g in got} == {"blue", "green"}
    assert {g["log"] for g in got} == {"requests", "stdout", "stderr"}
    first = logs.requests[0]
    assert first["resourceNames"] == ["projects/proj"] and first["orderBy"] == "timestamp asc"
    assert first["filter"] == logging_filter("marketing-api", REGION, [BLUE, GREEN], NOW - 3600, NOW)
    assert 'resource.type = "cloud_run_revision"' in first["filter"] and 'timestamp >= "' in first["filter"]
    assert [q.get("pageToken") for q in logs.requests] == [None, "3", "6", "9"]
    req = next(g for g in got if g["log"] == "requests")
    assert req["http"] == {"method": "POST", "path": "/api/ai/marketing-chat", "status": 200, "latency_s": 0.25,
                           "response_size": 512}


def test_export_is_bounded_scanned_and_in_the_manifest(logs: FakeCloudLogging, tmp_path: Path) -> None:
    scripted(logs)
    logs.add(GREEN, NOW - 50, log="stdout", text="customer jane.doe@example.org asked about pricing")
    sd, out = tmp_path / "state", tmp_path / "out"
    sd.mkdir()
    exp = export_evidence(sd, out, since_s=3600, now=NOW, cloud_logs=reader(logs, max_entries=11))
    name = next(n for n in exp.files if n.startswith("cloud_run_logs_"))
    assert exp.counts["cloud_log_entries"] == 11
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["files"][name]["kind"] == "cloud_logs"
    assert manifest["cloud_logging"]["truncated"] is False and manifest["cloud_logging"]["pages"] == 4
    # the e-mail in a container log: the export fails its scan, the raw file is quarantined and
    # a redacted copy is left in its place, as for local logs
    assert not exp.clean and name in exp.quarantine
    assert "jane.doe@example.org" not in (out / name).read_text()
    assert "<EMAIL_ADDRESS>" in (out / name).read_text()
    # the caller's IP, user agent and query string are never written, not even in quarantine
    everything = "".join(p.read_text(errors="replace") for p in out.rglob("*") if p.is_file())
    assert IP not in everything and "Firefox" not in everything and "session=abc" not in everything
    assert verify_manifest(out)["ok"]
    metrics = json.loads((out / next(n for n in exp.files if n.startswith("rollback_metrics_"))).read_text())
    assert metrics["requests_from_cloud_logs"] == {"blue": {"requests": 4, "errors": 0, "client_errors": 0},
                                                   "green": {"requests": 4, "errors": 2, "client_errors": 0}}

    cut = export_evidence(sd, tmp_path / "cut", since_s=3600, now=NOW, cloud_logs=reader(logs, max_entries=5))
    assert cut.counts["cloud_log_entries"] == 5
    assert json.loads((tmp_path / "cut" / "manifest.json").read_text())["cloud_logging"]["truncated"] is True


def test_permission_denied_names_the_role_and_quota_is_retried(logs: FakeCloudLogging) -> None:
    scripted(logs)
    logs.deny = True
    with pytest.raises(CloudLoggingError, match="roles/logging.viewer"):
        list(reader(logs).entries(NOW - 3600, NOW))
    logs.deny = False
    logs.fail_next(429, times=2)
    slept: list[float] = []
    r = CloudLogs("proj", REGION, "marketing-api", NAMES, endpoint=logs.url, sleep=slept.append)
    assert len(list(r.entries(NOW - 3600, NOW))) == 10
    assert slept == [1.0, 2.0]
    logs.fail_next(429, times=10)
    with pytest.raises(CloudLoggingError, match=r"quota exceeded \(429\).*4 attempts"):
        list(reader(logs).entries(NOW - 3600, NOW))


def ethos(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    e = {k: v for k, v in os.environ.items()
         if not k.startswith(("ETHOS_", "GOOGLE_", "CLOUDSDK_")) and k != "GCE_METADATA_HOST"}
    e.update(env)
    return subprocess.run([sys.executable, "-c", "from ethos.cli import main; main()", *args], capture_output=True,
                          text=True, env=e, timeout=120, stdin=subprocess.DEVNULL)


@pytest.mark.slow
def test_cli_export_with_tags_resolved_through_cloud_run(logs: FakeCloudLogging, tmp_path: Path) -> None:
    now = time.time()
    for k in range(5):
        request(logs, BLUE, now - 600 + k)
        request(logs, GREEN, now - 300 + k, status=503)
    run = FakeCloudRun(revisions=[BLUE, GREEN], traffic=[Target(100, BLUE), Target(0, BLUE, tag="blue"),
                                                         Target(0, GREEN, tag="green")]).start()
    env = {"ETHOS_GCP_LOGGING_ENDPOINT": logs.url, "HOME": str(tmp_path), "NO_GCE_CHECK": "true"}
    try:
        r = ethos("evidence", "export", "--since", "1h", "--state-dir", str(tmp_path / "state"), "--out",
                  str(tmp_path / "out"), "--cloud-run", f"proj/{REGION}/marketing-api", "--cloudrun-endpoint",
                  run.url, "--cloudrun-anonymous", "--json", env=env)
    finally:
        run.stop()
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads(r.stdout)
    assert doc["counts"]["cloud_log_entries"] == 10 and doc["clean"]
    assert any(n.startswith("cloud_run_logs_") for n in doc["files"])
    logs.deny = True
    r = ethos("evidence", "export", "--since", "1h", "--state-dir", str(tmp_path / "state"), "--out",
              str(tmp_path / "out2"), "--cloud-run", f"proj/{REGION}/marketing-api", "--revision-name",
              f"blue={BLUE}", "--revision-name", f"green={GREEN}", env=env)
    assert r.returncode == 1
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith("error: Cloud Logging refused") and "roles/logging.viewer" in line
