"""Success criteria evaluated when due, on a fake clock."""

from __future__ import annotations

from ethos.rollout.incidents.checklist import new_checklist, tick
from ethos.rollout.incidents.criteria import due, evaluate_horizon, new_criteria

END = 1_800_000_000.0
STEPS = {
    "verify_traffic": {"kind": "verify_traffic", "status": "ok", "message": "traffic is blue=100", "values": {}},
    "probe": {"kind": "probe", "status": "ok", "message": "200, 300 chars", "values": {}},
    "snapshot": {"kind": "snapshot", "status": "ok", "message": "",
                 "values": {"signals": {"blue": {"count": 400, "error_rate": 0.002, "p95_ms": 80.0}}}},
}


def run_due(crit, now, checklist, live=None):
    out = []
    for h in due(crit, now):
        out += evaluate_horizon(crit, h, now, steps=STEPS, checklist=checklist, live=live)
    return out


def test_each_horizon_is_evaluated_once_when_its_time_comes():
    crit, cl = new_criteria(END), new_checklist()
    assert due(crit, END - 10) == []  # before the rollback ended
    first = run_due(crit, END + 1, cl)
    assert {c["horizon"] for c in first} == {"immediate"}
    assert all(c["status"] == "pass" for c in first)
    assert run_due(crit, END + 3599, cl) == []  # 1 h not yet
    tick(cl, "create_report", "system", "t")
    tick(cl, "notify_stakeholders", "system", "t")
    second = run_due(crit, END + 3600, cl, live=lambda: ("pass", "error rate 0.1%"))
    got = {c["id"]: c["status"] for c in second}
    assert got == {"metrics_stable": "pass", "no_customer_complaints": "fail",
                   "incident_report_created": "pass", "team_notified": "pass"}
    assert run_due(crit, END + 86399, cl) == []
    tick(cl, "root_cause", "dev", "t")
    third = {c["id"]: c["status"] for c in run_due(crit, END + 86400, cl)}
    assert third == {"root_cause_identified": "pass", "fix_implemented": "fail",
                     "redeployment_plan_created": "fail"}
    assert due(crit, END + 10 * 86400) == []
    assert all(c["evaluated_t"] is not None for c in crit)


def test_immediate_criteria_fail_on_bad_evidence_and_unknown_without_it():
    crit = new_criteria(END)
    steps = {"verify_traffic": {"kind": "verify_traffic", "status": "failed", "message": "traffic is blue=50",
                                "values": {}},
             "monitor": {"kind": "monitor", "status": "ok", "message": "",
                         "values": {"signals": {"blue": {"count": 100, "error_rate": 0.03, "p95_ms": 12000}}}}}
    out = {c["id"]: (c["status"], c["value"]) for c in evaluate_horizon(crit, "immediate", END, steps=steps,
                                                                        checklist=[])}
    assert out["traffic_on_blue"][0] == "fail"
    assert out["error_rate_below_1pct"] == ("fail", "blue error rate 3.00% over 100 requests")
    assert out["latency_at_baseline"][0] == "fail"
    assert out["no_user_facing_errors"][0] == "unknown"


def test_metrics_stable_without_a_live_reading_is_unknown():
    crit = new_criteria(END)
    out = evaluate_horizon(crit, "short-term", END + 4000, steps={}, checklist=[])
    assert next(c for c in out if c["id"] == "metrics_stable")["status"] == "unknown"
