"""Signal verdicts: issue confirmation, blue degradation, success criteria (pure)."""

from __future__ import annotations

from ethos.rollout.procedures import blue_degraded, confirm_issue, success_criteria
from ethos.rollout.signals import RevisionSignals as S


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
