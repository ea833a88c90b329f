"""The guard's policy as data: the default covers the runbook; bad policies say what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ethos.rollout.guard import PolicyError, load_policy, parse_policy
from ethos.rollout.guard.policy import parse_duration


def test_default_policy_has_every_runbook_trigger() -> None:
    p = load_policy()
    by_action: dict[str, set[str]] = {}
    for t in p.triggers:
        by_action.setdefault(t.action, set()).add(t.name)
        assert t.runbook, t.name
        assert t.min_samples >= 1
    assert {"error_rate_critical", "service_down", "pii_in_cache", "latency_p95_critical",
            "cache_total_failure", "memory_exhaustion", "cpu_exhaustion"} <= by_action["emergency"]
    assert {"error_rate_sustained", "http_errors_rising", "latency_p95_sustained",
            "latency_p50_high", "ttft_regression", "cache_hit_rate_low", "pii_detector_broken",
            "pii_detection_zero", "quality_rejections_high", "store_cost_spike"} <= by_action["standard"]
    t = {x.name: x for x in p.triggers}
    assert t["error_rate_critical"].threshold == 0.05
    assert t["error_rate_sustained"].threshold == 0.02 and t["error_rate_sustained"].sustain_s == 300
    assert t["latency_p95_sustained"].threshold == 10 and t["latency_p95_sustained"].sustain_s == 600
    assert t["latency_p95_critical"].threshold == 30
    assert t["latency_p50_high"].threshold == 5
    assert t["cache_hit_rate_low"].threshold == 0.5
    assert t["quality_rejections_high"].threshold == 0.8
    assert t["store_cost_spike"].threshold == 2.0
    assert t["ttft_regression"].baseline is not None
    assert p.needs_approval("gradual") and not p.needs_approval("emergency")
    assert p.cost["prices_usd_per_100k"] == {"read": 0.06, "write": 0.18, "delete": 0.02}


def test_policy_round_trips_through_yaml(tmp_path: Path) -> None:
    p = load_policy()
    f = tmp_path / "policy.yaml"
    f.write_text(yaml.safe_dump(p.to_dict()))
    q = load_policy(f)
    assert q.triggers == p.triggers
    assert (q.interval_s, q.cooldown_s, q.clear_after_s) == (p.interval_s, p.cooldown_s, p.clear_after_s)


@pytest.mark.parametrize(
    ("text", "value"),
    [("90", 90.0), (90, 90.0), ("10s", 10.0), ("5m", 300.0), ("1h", 3600.0), ("500ms", 0.5), ("1.5m", 90.0)],
)
def test_durations(text: object, value: float) -> None:
    assert parse_duration(text) == value


@pytest.mark.parametrize("bad", ["5 minutes", "-1", -1, True, "m5"])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(PolicyError, match="duration|>= 0"):
        parse_duration(bad)


GOOD = {"name": "t", "signal": "error_rate", "comparator": ">", "threshold": 0.05, "action": "emergency"}


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"signal": "errors"}, "unknown signal 'errors'"),
        ({"comparator": "=>"}, "comparator must be one of"),
        ({"action": "panic"}, "action must be one of"),
        ({"severity": "high"}, "severity must be one of"),
        ({"threshold": "high"}, "threshold must be a number"),
        ({"min_samples": 0}, "min_samples must be an integer >= 1"),
        ({"confidence": 1.2}, "confidence must be within"),
        ({"windows": []}, "windows must not be empty"),
        ({"sustain": "forever"}, "sustain"),
        ({"thresold": 1}, "unknown field(s) thresold"),
        ({"signal": "latency_p95", "confidence": 0.9}, "confidence applies to rates only"),
        ({"signal": "ttft"}, "distribution"),
        ({"baseline": {"test": "mann_whitney"}}, "mann_whitney needs a distribution"),
        ({"signal": "ttft", "baseline": {"test": "fisher"}}, "fisher needs a rate"),
        ({"baseline": {"alpha": 0.9}}, "alpha"),
    ],
)
def test_bad_trigger_names_the_field(change: dict, words: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(PolicyError) as info:
        parse_policy({"triggers": [{**GOOD, **change}]})
    assert words in str(info.value)
    assert "trigger t" in str(info.value)


def test_threshold_required_and_names_unique() -> None:
    with pytest.raises(PolicyError, match="threshold is required"):
        parse_policy({"triggers": [{k: v for k, v in GOOD.items() if k != "threshold"}]})
    with pytest.raises(PolicyError, match="used twice"):
        parse_policy({"triggers": [GOOD, GOOD]})
    with pytest.raises(PolicyError, match="non-empty list"):
        parse_policy({"triggers": []})
    with pytest.raises(PolicyError, match="approval"):
        parse_policy({"triggers": [GOOD], "approval": {"gradual": "maybe"}})


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read policy"):
        load_policy(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("triggers: [\n")
    with pytest.raises(PolicyError, match="not valid YAML"):
        load_policy(bad)
