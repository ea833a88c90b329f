"""The console's pure parts: charted values from a snapshot, thresholds, trigger rows, the
timeline, revision rows, and the hour of samples (memory and file)."""

from __future__ import annotations

import json
from pathlib import Path

from ethos.rollout.console.series import CHARTS, Sample, SeriesStore, columns
from ethos.rollout.console.views import (
    chart_specs,
    guard_is_fresh,
    merge_needs,
    revision_rows,
    sample_of,
    timeline,
    trigger_rows,
)
from ethos.rollout.guard.policy import load_policy
from ethos.rollout.procedures.journal import Journal
from ethos.rollout.sources.measurements import Measurement, Snapshot, proportion


def test_sample_of_reads_the_60s_window_and_turns_requests_into_a_rate() -> None:
    snap = Snapshot(100.0, {
        ("green", "requests", 60.0): Measurement(120.0, 120, window_s=30.0),
        ("green", "error_rate", 60.0): proportion(6, 120),
        ("green", "latency_p95", 300.0): Measurement(9.0, 120),  # another window: not charted
        ("blue", "cache_hit_rate", 60.0): proportion(3, 4),
    })
    s = sample_of(snap, ["blue", "green"])
    assert s.t == 100.0
    assert s.values["green"]["request_rate"] == 4.0  # 120 requests over the 30 s measured
    assert s.values["green"]["error_rate"] == 0.05
    assert s.values["green"]["latency_p95"] is None
    assert s.values["blue"]["cache_hit_rate"] == 0.75
    assert s.values["blue"]["request_rate"] is None
    assert set(s.values["blue"]) == set(CHARTS)


def test_chart_specs_draw_the_runbook_thresholds() -> None:
    specs = {c["signal"]: c for c in chart_specs(load_policy())}
    assert list(specs) == list(CHARTS)
    err = {(t["value"], t["action"]) for t in specs["error_rate"]["thresholds"]}
    assert err == {(0.05, "emergency"), (0.02, "standard")}
    p95 = {t["value"] for t in specs["latency_p95"]["thresholds"]}
    assert p95 == {30.0, 10.0}
    assert [t["value"] for t in specs["latency_p50"]["thresholds"] if not t["relative_to"]] == [5.0]
    ttft = specs["ttft_p50"]["thresholds"]
    assert ttft and ttft[0]["relative_to"] == "blue" and ttft[0]["value"] == 1.5  # "worse than baseline"
    assert any(t["value"] == 0.5 for t in specs["cache_hit_rate"]["thresholds"])
    assert [t["value"] for t in specs["quality_rejection_rate"]["thresholds"]] == [0.8]
    assert [t["value"] for t in specs["store_cost_ratio"]["thresholds"]] == [2.0]
    assert specs["request_rate"]["thresholds"] == []


def test_trigger_rows_cover_every_trigger_and_say_no_data_when_unreported() -> None:
    policy = load_policy()
    results = [{"trigger": "error_rate_critical", "status": "firing", "value": 0.074, "samples": 1912,
                "window_s": 60.0, "revision": "green"},
               {"trigger": "latency_p95_sustained", "status": "watching", "value": 12.0, "time_left_s": 310.0}]
    rows = trigger_rows(policy, results)
    assert [r["trigger"] for r in rows] == [t.name for t in policy.triggers]
    by = {r["trigger"]: r for r in rows}
    assert by["error_rate_critical"]["state_text"] == "Firing"
    assert by["error_rate_critical"]["threshold"] == 0.05 and by["error_rate_critical"]["value"] == 0.074
    assert by["latency_p95_sustained"]["state_text"] == "Watching"
    assert by["latency_p95_sustained"]["time_left_s"] == 310.0
    assert by["service_down"]["status"] == "no-data" and by["service_down"]["state_text"] == "No data"


def test_guard_freshness() -> None:
    assert guard_is_fresh({"t": 100.0}, 110.0, 5.0)
    assert not guard_is_fresh({"t": 100.0}, 200.0, 5.0)
    assert not guard_is_fresh(None, 1.0, 5.0)
    assert not guard_is_fresh({"t": "x"}, 1.0, 5.0)


def test_merge_needs() -> None:
    assert merge_needs({"a": [60, 10]}, {"a": [60.0], "b": [5]}) == {"a": [10.0, 60.0], "b": [5.0]}


def test_timeline_newest_first_with_who_and_steps(tmp_path: Path) -> None:
    j = Journal(tmp_path, durable=False)
    run = j.start("emergency", [{"name": "shift_traffic"}], params={}, targets={}, executed_by="dev",
                  reason="error rate 7.4%", rollback_id="rb-20261128T020000Z-0001")
    run.step_ended("shift_traffic", "ok", "blue=100, green=0", {}, 0.1)
    run.ended("done")
    j.start("gradual", [], params={}, targets={}, executed_by="priya", reason="p95 up",
            rollback_id="rb-20261128T030000Z-0002")
    rows = timeline(j.runs())
    assert [r["procedure"] for r in rows] == ["gradual", "emergency"]
    assert rows[0]["status"] == "incomplete" and rows[0]["executed_by"] == "priya"
    assert rows[1]["executed_by"] == "dev" and rows[1]["reason"] == "error rate 7.4%"
    assert rows[1]["events"][0]["message"] == "blue=100, green=0"
    assert rows[1]["duration_s"] is not None


def test_revision_rows_text_states() -> None:
    rows = revision_rows({"blue": 90, "green": 10}, {"blue": "http://b", "green": "http://g"},
                         {"blue": {"status": "ok", "cache_format_version": 3, "faults": None},
                          "green": "unreachable: ConnectError"})
    assert rows[0] == {"name": "blue", "url": "http://b", "weight": 90, "health": "ok", "health_detail": "",
                       "cache_format_version": 3, "faults": None}
    assert rows[1]["health"] == "down" and "ConnectError" in rows[1]["health_detail"]
    assert revision_rows(None, {"blue": "u"}, {})[0]["weight"] is None


def test_series_keeps_one_hour_and_reloads_from_file(tmp_path: Path) -> None:
    path = tmp_path / "console" / "history.jsonl"
    store = SeriesStore(horizon_s=3600.0, path=path)
    for t in (0.0, 1800.0, 3700.0):
        store.add(Sample(t, {"blue": {"error_rate": t / 10000}}))
    assert [s.t for s in store.samples()] == [1800.0, 3700.0]  # 0 is older than an hour
    with path.open("a") as f:
        f.write('{"t": 3710, "values": {"blue": {"error_rate": "NaN"')  # torn by a crash
    again = SeriesStore(horizon_s=3600.0, path=path)
    assert again.load(now=3720.0) == 2
    assert [s.t for s in again.samples(since=2000.0)] == [3700.0]
    cols = columns(again.samples(), ["error_rate"], ["blue", "green"])
    assert cols == {"t": [1800.0, 3700.0], "series": {"error_rate": {"blue": [0.18, 0.37], "green": [None, None]}}}
    assert json.loads(path.read_text().splitlines()[0])["t"] == 0.0


def test_series_rewrites_the_file_past_max_lines(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    store = SeriesStore(horizon_s=10.0, path=path, max_lines=5)
    for t in range(20):
        store.add(Sample(float(t), {}))
    assert len(path.read_text().splitlines()) <= 11
    assert Sample.from_dict({"t": 1, "values": {"b": {"x": True, "y": float("inf"), "z": 2}}}).values == {
        "b": {"x": None, "y": None, "z": 2.0}}


def test_incident_and_drill_views() -> None:
    from ethos.rollout.console.records import drill_view, incident_view

    inc = {"id": "inc-1", "status": "open", "title": "emergency rollback: error rate", "opened_at": "t",
           "checklist": [{"id": "clear_cache", "title": "Clear cache", "phase": "during", "done": True, "by": "system"},
                         {"id": "root_cause", "title": "Root cause analysis", "phase": "follow-up", "done": False}],
           "compliance": {"gdpr_deadline": "2026-12-01T02:10:00+00:00"},
           "criteria": [{"id": "1h", "status": "pending", "due_at": "2026-11-28T03:10:00+00:00"}]}
    v = incident_view(inc)
    assert [i["done"] for i in v["checklist"]] == [True, False]
    assert v["deadlines"][0]["title"].startswith("GDPR") and len(v["deadlines"]) == 2
    d = drill_view({"last_drill": {"started": "2026-11-01T00:00:00+00:00", "scenario": "emergency", "passed": True,
                                   "report": "r.md"}, "overdue": False, "next_due": "2026-12-01T00:00:00+00:00"})
    assert d["result"] == "passed" and d["overdue"] is False and d["report"] == "r.md"
    assert drill_view({"last_drill": None, "overdue": True})["result"] is None


def test_the_guard_history_is_read_from_its_end(tmp_path: Path) -> None:
    from ethos.rollout.console.app import _last_record

    path = tmp_path / "history.jsonl"
    assert _last_record(path) is None
    lines = [json.dumps({"t": float(i), "triggers": [{"trigger": "x" * 50}]}) for i in range(5000)]
    path.write_text("\n".join(lines) + '\n{"t": 9999, "trig')  # the last line was cut by a crash
    assert _last_record(path, tail=4096) == json.loads(lines[-1])
