"""Evidence export: window, files named like the runbook's, manifest, PII scan, verification."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest

from ethos.rollout.incidents.evidence import (
    EvidenceError,
    export_evidence,
    line_time,
    parse_since,
    request_counts,
    router_log_lines,
    scan_line,
    signal_series,
    verify_manifest,
)
from tests.unit.rollout.incidents._incident_fixtures import write_run


def _logs(sd: Path, records: list[dict]) -> None:
    (sd / "logs").mkdir(parents=True, exist_ok=True)
    with (sd / "logs" / "green.log").open("w") as f:
        f.write("Traceback (most recent call last):\n")
        for r in records:
            f.write(json.dumps(r) + "\n")


def _guard(sd: Path, t: float) -> None:
    (sd / "guard").mkdir(parents=True, exist_ok=True)
    rec = {"t": t, "decision": {"action": "emergency"}, "triggers": [
        {"trigger": "error_rate_critical", "signal": "error_rate", "revision": "green", "window_s": 60,
         "value": 0.3, "samples": 80}]}
    (sd / "guard" / "history.jsonl").write_text(json.dumps(rec) + "\n" + json.dumps({**rec, "t": t - 7200}) + "\n")


def test_export_writes_the_window_hashes_it_and_verifies(tmp_path):
    run = write_run(tmp_path)
    now = run.events[-1]["t"] + 5
    _logs(tmp_path, [
        {"ts": now - 10, "revision": "green", "msg": "request", "route": "/api/ai/marketing-chat", "status": 500,
         "request_id": "0477643956e644ca"},
        {"ts": now - 9, "revision": "green", "msg": "request", "route": "/api/ai/marketing-chat", "status": 200,
         "request_id": "269898293db44adc"},
        {"ts": now - 7200, "revision": "green", "msg": "request", "status": 200},  # outside the window
    ])
    _guard(tmp_path, now - 30)
    out = tmp_path / "ev"
    exp = export_evidence(tmp_path, out, since_s=3600, now=now)
    assert exp.clean, exp.pii  # hex request ids are not phone numbers
    names = sorted(exp.files)
    assert all(re.fullmatch(r"(rollback_logs|rollback_metrics|guard_evaluations|rollback_journal)"
                            r"_\d{8}_\d{6}\.jsonl?", n) for n in names), names
    assert exp.counts == {"log_records": 2, "guard_evaluations": 1, "journal_events": len(run.events)}
    logs = json.loads((out / next(n for n in names if n.startswith("rollback_logs"))).read_text())
    assert [r["status"] for r in logs] == [500, 200]
    metrics = json.loads((out / next(n for n in names if n.startswith("rollback_metrics"))).read_text())
    assert metrics["requests_from_logs"] == {"green": {"requests": 2, "errors": 1, "client_errors": 0}}
    assert metrics["signals_from_guard"]["green"]["error_rate@60s"] == [[now - 30, 0.3, 80]]
    res = verify_manifest(out)
    assert res["ok"] and res["checked"] == 4 and res["pii_clean"]
    # tampering is caught; so is a missing file
    logs_file = out / next(n for n in names if n.startswith("rollback_logs"))
    logs_file.write_text(logs_file.read_text().replace("500", "200"))
    (out / next(n for n in names if n.startswith("guard_"))).unlink()
    (out / "notes.txt").write_text("x")
    res = verify_manifest(out)
    assert not res["ok"] and res["mismatched"] == [logs_file.name] and len(res["missing"]) == 1
    assert res["extra"] == ["notes.txt"]


def test_pii_in_the_export_fails_it_and_is_reported_without_values(tmp_path):
    now = 1_800_000_000.0
    _logs(tmp_path, [{"ts": now - 1, "revision": "green", "msg": "answerer failed",
                      "error": "upstream said: contact jane.doe@example.com"}])
    exp = export_evidence(tmp_path, tmp_path / "ev", since_s=60, now=now)
    assert not exp.clean
    assert [(f.line, f.entities) for f in exp.pii] == [(2, {"EMAIL_ADDRESS": 1})]
    manifest = (tmp_path / "ev" / "manifest.json").read_text()
    assert "jane.doe" not in manifest and '"clean": false' in manifest


def test_scan_line_scans_ids_that_are_not_ids():
    assert scan_line('{"request_id": "0477643956e644ca"}') == {}
    assert scan_line('{"request_id": "call 0412 345 678"}') == {"PHONE_NUMBER": 1}
    assert scan_line("plain text with bob@example.org") == {"EMAIL_ADDRESS": 1}


def test_helpers():
    assert parse_since("1h") == 3600 and parse_since("90s") == 90 and parse_since("15m") == 900
    with pytest.raises(ValueError):
        parse_since("-1h")
    assert request_counts([{"msg": "request", "route": "/health", "revision": "b", "status": 200},
                           {"msg": "request", "revision": "b", "status": 404}]) == {
        "b": {"requests": 1, "errors": 0, "client_errors": 1}}
    assert signal_series([{"t": 1, "triggers": [{"signal": "up", "window_s": 0, "revision": "g", "value": None}]}]) == {}


def test_verify_without_a_manifest(tmp_path):
    with pytest.raises(EvidenceError, match="no manifest.json"):
        verify_manifest(tmp_path)


def test_pii_is_quarantined_with_a_redacted_copy_and_both_are_verified(tmp_path):
    now = 1_800_000_000.0
    _logs(tmp_path, [{"ts": now - 1, "revision": "green", "msg": "answerer failed",
                      "error": "upstream said: contact jane.doe@example.com"}])
    exp = export_evidence(tmp_path, tmp_path / "ev", since_s=60, now=now)
    assert not exp.clean and exp.redacted_clean
    (name,) = exp.quarantine
    raw = tmp_path / "ev" / "quarantine" / name
    assert oct(raw.stat().st_mode & 0o777) == "0o600" and "jane.doe" in raw.read_text()
    copy = (tmp_path / "ev" / name).read_text()
    assert "jane.doe" not in copy and "<EMAIL_ADDRESS>" in copy
    assert exp.files[name]["redacted"] and exp.quarantine[name]["path"] == f"quarantine/{name}"
    assert verify_manifest(tmp_path / "ev")["ok"]
    raw.write_text("tampered")
    assert verify_manifest(tmp_path / "ev")["mismatched"] == [f"quarantine/{name}"]
    raw.unlink()
    assert verify_manifest(tmp_path / "ev")["missing"] == [f"quarantine/{name}"]


def test_a_state_dir_that_does_not_exist_is_refused(tmp_path):
    with pytest.raises(EvidenceError, match="does not exist"):
        export_evidence(tmp_path / "nope", tmp_path / "ev", since_s=60, now=1_800_000_000.0)
    assert not (tmp_path / "ev").exists()


# --- the router's log (issue 20): exported with the revisions' logs, redacted the same way -------


def _asctime(t: float) -> str:
    """``logging``'s default time, as the router writes it (local time)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) + f",{int(t * 1000) % 1000:03d}"


def _router_log(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines))


def test_the_routers_log_is_exported_for_the_window(tmp_path):
    now = 1_800_000_000.0
    _logs(tmp_path, [{"ts": now - 10, "revision": "green", "msg": "request", "status": 500}])
    old = f"{_asctime(now - 7200)} WARNING ethos.router: revision green refused a connection; retrying on blue"
    _router_log(tmp_path / "logs" / "router.log", [
        "router on http://127.0.0.1:8000 -> blue=http://127.0.0.1:8001, green=http://127.0.0.1:8002",
        old,
        "router on http://127.0.0.1:8000 -> blue=http://127.0.0.1:8001, green=http://127.0.0.1:8002",  # restarted
        f"{_asctime(now - 30)} WARNING ethos.router: revision green refused a connection; retrying on blue",
        f"{_asctime(now - 20)} ERROR ethos.router: upstream failed",
        "Traceback (most recent call last):",  # belongs to the record above
        '  File "app.py", line 12, in proxy',
        "WARNING:  Invalid HTTP request received.",
        f"{_asctime(now + 60)} WARNING ethos.router: after the window",
    ])
    out = tmp_path / "ev"
    exp = export_evidence(tmp_path, out, since_s=3600, now=now)
    assert exp.clean, exp.pii
    (name,) = [n for n in exp.files if n.startswith("router_log_")]
    assert re.fullmatch(r"router_log_\d{8}_\d{6}\.log", name) and exp.files[name]["kind"] == "router_log"
    lines = (out / name).read_text().splitlines()
    assert lines == [
        "router on http://127.0.0.1:8000 -> blue=http://127.0.0.1:8001, green=http://127.0.0.1:8002",
        f"{_asctime(now - 30)} WARNING ethos.router: revision green refused a connection; retrying on blue",
        f"{_asctime(now - 20)} ERROR ethos.router: upstream failed",
        "Traceback (most recent call last):",
        '  File "app.py", line 12, in proxy',
        "WARNING:  Invalid HTTP request received.",
    ]
    # the restart's start line went with the time written after it; the first run's stayed out
    assert old not in lines and exp.counts["router_log_lines"] == 6 and exp.counts["log_records"] == 1
    res = verify_manifest(out)
    assert res["ok"] and res["checked"] == 5
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["files"][name]["sha256"] == exp.files[name]["sha256"]
    assert manifest["counts"]["router_log_lines"] == 6


def test_pii_in_the_routers_log_is_quarantined_and_redacted_like_the_others(tmp_path):
    now = 1_800_000_000.0
    _router_log(tmp_path / "logs" / "router.log", [
        f"{_asctime(now - 5)} WARNING ethos.router: bad request from jane.doe@example.com, call 0412 345 678",
        f"{_asctime(now - 4)} WARNING ethos.router: revision green refused a connection; retrying on blue",
    ])
    out = tmp_path / "ev"
    exp = export_evidence(tmp_path, out, since_s=60, now=now)
    (name,) = [n for n in exp.files if n.startswith("router_log_")]
    assert not exp.clean and [(f.file, f.line) for f in exp.pii] == [(name, 1)]
    assert set(exp.pii[0].entities) == {"EMAIL_ADDRESS", "PHONE_NUMBER"}
    raw = out / "quarantine" / name
    assert oct(raw.stat().st_mode & 0o777) == "0o600" and "jane.doe@example.com" in raw.read_text()
    copy = (out / name).read_text()
    assert "jane.doe" not in copy and "0412 345 678" not in copy
    assert "<EMAIL_ADDRESS>" in copy and "<PHONE_NUMBER>" in copy and "retrying on blue" in copy
    assert exp.redacted_clean and exp.files[name]["redacted"] and verify_manifest(out)["ok"]
    assert "jane.doe" not in (out / "manifest.json").read_text()


def test_the_routers_log_where_the_stack_file_says(tmp_path):
    from ethos.rollout.stack.state import StackState, save_stack

    now = time.time()
    elsewhere = tmp_path / "elsewhere" / "r.log"
    _router_log(elsewhere, [f"{_asctime(now - 5)} WARNING ethos.router: from the recorded log"])
    _router_log(tmp_path / "logs" / "router.log", [f"{_asctime(now - 5)} WARNING ethos.router: not this one"])
    save_stack(StackState(router="http://127.0.0.1:9", revisions={}, logs={"router": str(elsewhere)}), tmp_path)
    exp = export_evidence(tmp_path, tmp_path / "ev", since_s=60, now=now)
    (name,) = [n for n in exp.files if n.startswith("router_log_")]
    assert (tmp_path / "ev" / name).read_text().endswith("from the recorded log\n")


def test_a_routers_log_without_times_goes_by_when_it_was_written(tmp_path):
    now = time.time()
    log = tmp_path / "logs" / "router.log"
    _router_log(log, ["router on http://127.0.0.1:8000 -> blue=http://127.0.0.1:8001"])
    assert router_log_lines(log, now - 60, now + 60) == ["router on http://127.0.0.1:8000 -> blue=http://127.0.0.1:8001"]
    os.utime(log, (now - 7200, now - 7200))
    assert router_log_lines(log, now - 60, now + 60) == []
    assert router_log_lines(tmp_path / "nope.log", 0, now) is None
    # no router log at all: no router file in the export
    log.unlink()
    exp = export_evidence(tmp_path, tmp_path / "ev", since_s=60, now=now)
    assert not any(n.startswith("router_log_") for n in exp.files) and "router_log_lines" not in exp.counts


def test_line_times():
    t = 1_800_000_000.25
    assert line_time(f"{_asctime(t)} WARNING ethos.router: x") == pytest.approx(t)
    assert line_time('{"ts": 12.5, "msg": "request"}') == 12.5
    assert line_time("router on http://127.0.0.1:8000") is None
    assert line_time("{not json") is None and line_time('["ts"]') is None
