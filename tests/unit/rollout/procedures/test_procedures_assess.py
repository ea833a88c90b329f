"""Signal verdicts: issue confirmation, blue degradation, success criteria (pure)."""

from __future__ import annotations

from ethos.rollout.procedures import blue_degraded, confirm_issue, success_criteria
from ethos.rollout.sources.signals import RevisionSignals as S


def test_confirm_issue_on_green_error_rate():
    ok, reasons = confirm_issue({"green": S(count=200, error_rate=0.074), "blue": S(count=200)},
                                "blue", "green")
    assert ok and "7.4%" in reasons[0]


def test_confirm_issue_on_green_slower_than_blue():
    sig = {"green": S(count=100, p95_ms=900.0), "blue": S(count=100, p95_ms=300.0)}
    ok, reasons = confirm_issue(sig, "blue", "green")
    assert ok and "worse than blue" in reasons[0]


def test_not_confirmed_when_healthy_or_too_few_requests():
    ok, reasons = confirm_issue({"green": S(count=100, error_rate=0.001, p95_ms=50)}, "blue", "green")
    assert not ok and "healthy" in reasons[0]
    ok, reasons = confirm_issue({"green": S(count=3, error_rate=1.0)}, "blue", "green")
    assert not ok and "too few" in reasons[0]


def test_blue_degraded():
    base = S(count=100, p95_ms=100.0)
    assert blue_degraded(S(count=100, error_rate=0.0, p95_ms=110.0), base, "blue") == []
    assert blue_degraded(S(count=5, error_rate=1.0), base, "blue") == []  # too few to judge
    assert "error rate" in blue_degraded(S(count=100, error_rate=0.05), base, "blue")[0]
    assert "baseline" in blue_degraded(S(count=100, p95_ms=400.0), base, "blue")[0]


def test_success_criteria_pass_and_fail():
    good = success_criteria({"blue": 100, "green": 0}, {"blue": S(count=50, p95_ms=90.0)}, "blue",
                            S(count=50, p95_ms=80.0), True, "200")
    assert [c.passed for c in good] == [True, True, True, True]
    bad = success_criteria({"blue": 90, "green": 10}, {"blue": S(count=50, error_rate=0.04, p95_ms=900.0)},
                           "blue", S(count=50, p95_ms=80.0), False, "502")
    assert [c.passed for c in bad] == [False, False, False, False]
    assert bad[1].value.startswith("4.00%")


def test_success_criteria_without_data():
    crit = success_criteria(None, None, "blue", None, None)
    assert not any(c.passed for c in crit[:3])


def _statuses(crit):
    return {c.name: c.status for c in crit}


def test_success_criteria_quiet_blue_is_inconclusive_not_fail():
    crit = success_criteria({"blue": 100, "green": 0}, {"blue": S(count=0, window_s=60.0)}, "blue",
                            None, True, "200")
    assert _statuses(crit) == {"traffic_100_blue": "pass", "error_rate_below_1pct": "inconclusive",
                               "latency_at_baseline": "inconclusive", "no_user_facing_errors": "inconclusive"}
    assert [c.passed for c in crit] == [True, False, False, False]  # passed stays a bool: false
    assert "0 requests on blue in the 60 s window; needs 20" in crit[1].value
    assert "`ethos rollback verify` again" in crit[1].value
    # blue not in the stats at all: the same, the window taken from another revision
    crit = success_criteria({"blue": 100}, {"green": S(count=9, window_s=60.0)}, "blue", None, None)
    assert [c.status for c in crit[1:]] == ["inconclusive"] * 3
    assert crit[1].value.startswith("0 requests on blue in the 60 s window; needs 20")


def test_success_criteria_single_request_is_inconclusive_not_pass():
    crit = success_criteria({"blue": 100, "green": 0},
                            {"blue": S(count=1, p50_ms=20.0, p95_ms=30.0, window_s=60.0)}, "blue",
                            S(count=50, p95_ms=40.0), True, "200")
    assert [c.status for c in crit] == ["pass", "inconclusive", "inconclusive", "inconclusive"]
    assert crit[1].value.startswith("1 request on blue in the 60 s window; needs 20:")
    assert crit[3].value.endswith("; probe: 200")
    crit = success_criteria({"blue": 100}, {"blue": S(count=3)}, "blue", None, None)
    assert crit[1].value.startswith("3 requests on blue in the router's window; needs 20")  # no window_s


def test_success_criteria_enough_healthy_traffic_passes():
    crit = success_criteria({"blue": 100, "green": 0},
                            {"blue": S(count=20, p50_ms=20.0, p95_ms=40.0, window_s=60.0)}, "blue",
                            S(count=50, p95_ms=40.0), True, "200")
    assert [c.status for c in crit] == ["pass"] * 4 and all(c.passed for c in crit)
    assert crit[0].to_dict()["status"] == "pass" and crit[0].to_dict()["passed"] is True


def test_success_criteria_enough_traffic_with_errors_fails():
    crit = success_criteria({"blue": 100, "green": 0},
                            {"blue": S(count=20, error_rate=0.1, p95_ms=40.0, window_s=60.0)}, "blue",
                            S(count=50, p95_ms=40.0), True, "200")
    st = _statuses(crit)
    assert st["error_rate_below_1pct"] == "fail" and st["no_user_facing_errors"] == "fail"
    assert crit[1].value == "10.00% of 20" and crit[3].value.startswith("2 failed requests on blue")


def test_success_criteria_traffic_and_probe_judged_without_traffic():
    crit = success_criteria({"blue": 90, "green": 10}, {"blue": S(count=0, window_s=60.0)}, "blue",
                            None, True, "200")
    assert crit[0].status == "fail" and not crit[0].passed and crit[0].value == "blue=90, green=10"
    assert [c.status for c in crit[1:]] == ["inconclusive"] * 3
    crit = success_criteria({"blue": 100}, {"blue": S(count=2, window_s=60.0)}, "blue", None, False, "502")
    assert crit[3].status == "fail" and crit[3].value == "0 failed requests on blue; probe: 502"


def test_success_criteria_without_router_signals_fails():
    crit = success_criteria({"blue": 100}, None, "blue", None, True, "200")
    assert [c.status for c in crit[:3]] == ["pass", "fail", "fail"]
    assert crit[1].value == "no router signals read"


def test_criterion_status_follows_passed_unless_given():
    from ethos.rollout.procedures import Criterion

    assert Criterion("x", True, "v", "e").status == "pass"
    assert Criterion("x", False, "v", "e").status == "fail"
    c = Criterion("x", True, "v", "e", "inconclusive")
    assert c.status == "inconclusive" and c.passed is False
    assert c.to_dict() == {"name": "x", "passed": False, "value": "v", "expected": "e", "status": "inconclusive"}
