"""Load test, short (CI): the code of ``bench/load_soak.py`` at a modest rate for 20 s.

A real stack (``ethos stack up``), an open-loop generator through the router with the mix of
repeated questions, paraphrases, new questions, PII-bearing messages (each sent twice) and
SSE streams; one weight change (50/50) and one emergency rollback under the load. Asserts:
zero failed requests, the rollback done and 100 % blue (and nothing sent after it answered by
green), no PII-bearing message answered by an exact cache hit, no reply holding another
request's personal values, and no sent personal value in the store. No latency assertions.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))  # bench/ is scripts, not a package
from loadsoak.session import run_load  # noqa: E402

pytestmark = pytest.mark.e2e

RATE, SECONDS = 8.0, 20.0


def test_load_through_weight_change_and_emergency_rollback():
    lines: list[str] = []
    # KB questions only (no shared data set needed), so every machine runs the same mix.
    rep = run_load(rate=RATE, seconds=SECONDS, seed=9, short=True, data_dir=None, rss_interval_s=2.0,
                   log=lines.append)
    o = rep["overall"]
    assert o["requests"] == int(RATE * SECONDS)
    assert o["failed"] == 0, (o["failed_by_reason"], lines)
    assert set(rep["by_kind"]) == {"new", "repeat", "paraphrase", "pii"}
    assert rep["streams"]["requests"] > 0 and rep["streams"]["failed"] == 0

    phases = list(rep["phases"])
    assert phases[:2] == ["before", "w50/50"] and "after" in phases, phases
    weights = [e for e in rep["events"] if e["action"] == "weights"]
    assert [e["weights"] for e in weights] == [{"blue": 50, "green": 50}]
    (rb,) = [e for e in rep["events"] if e["action"] == "rollback emergency"]
    assert rb["exit_code"] == 0 and rb["status"] == "done", rb
    assert rep["final_weights"] == {"blue": 100, "green": 0}
    assert rep["not_blue_after_rollback"] == 0
    assert {"router", "blue", "green"} <= set(rep["rss"])  # every process sampled

    pii = rep["pii"]
    assert pii["sent"] > 0
    assert pii["exact_hits"] == 0, pii
    assert pii["leaks_in_replies"] == 0, pii
    scans = pii["entries_in_store"]
    assert len(scans) == 2 and all(s is not None and s["entries"] > 0 and s["with_pii"] == 0 for s in scans), scans
