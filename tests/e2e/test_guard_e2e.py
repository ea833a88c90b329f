"""The guard on a real local stack: a faulty green under 20 req/s, rolled back by itself.

Drives ``bench/guard_e2e.py``'s drill once: stack up (green with ETHOS_FAULTS=error_rate=0.1),
traffic through the router, ``ethos guard --exit-after-action``, green put at 50%. Asserts what
the guard must leave behind; the timings are printed (tests never assert wall-clock time).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import guard_e2e  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_guard_rolls_back_a_faulty_green_and_clears_the_cache(tmp_path: Path) -> None:
    r = guard_e2e.drill(tmp_path, rps=20.0, interval="5s", warmup_s=15.0)
    print("guard e2e:", json.dumps(r))
    assert r["final_weights"] == {"blue": 100, "green": 0}
    assert r["onset_to_shift_s"] is not None
    assert r["trigger"] == "error_rate_critical"
    assert r["guard_exit"] == 3
    assert r["probe_before"] == "HIT" and r["probe_after"] == "MISS"  # cache cleared
    assert r["green_after_shift"] == 0
    # the rollback was journaled by the procedure, the decision recorded by the guard
    journal = tmp_path / "state" / "journal" / f"{r['rollback_id']}.jsonl"
    events = [json.loads(x)["event"] for x in journal.read_text().splitlines()]
    assert events[0] == "run_started" and events[-1] == "run_ended"
    started = json.loads(journal.read_text().splitlines()[0])
    assert "error_rate_critical" in started["reason"]
    hist = (tmp_path / "state" / "guard" / "history.jsonl").read_text().splitlines()
    acted = [json.loads(x) for x in hist if '"outcome"' in x]
    assert acted and acted[0]["decision"]["action"] == "emergency"
    fired = [t for t in acted[0]["triggers"] if t["trigger"] == "error_rate_critical"][0]
    assert fired["status"] == "firing" and fired["value"] > 0.05 and fired["samples"] >= 50
