"""A rollback journal written through the journal's own API, for incident tests."""

from __future__ import annotations

from ethos.rollout.procedures.journal import Journal, RunRecord

PLAN = [{"name": "snapshot", "kind": "snapshot"}, {"name": "verify_issue", "kind": "verify_issue"},
        {"name": "shift_traffic", "kind": "set_traffic"},
        {"name": "invalidate_cache:blue", "kind": "invalidate_cache"},
        {"name": "invalidate_cache:green", "kind": "invalidate_cache"},
        {"name": "verify_traffic", "kind": "verify_traffic"}, {"name": "verify_health", "kind": "verify_health"},
        {"name": "probe", "kind": "probe"}, {"name": "notify", "kind": "notify"}]
SIGNALS = {"blue": {"count": 400, "error_rate": 0.002, "p95_ms": 80.0},
           "green": {"count": 380, "error_rate": 0.074, "p95_ms": 95.0}}


def write_run(state_dir, *, procedure="standard", approval=None, probe_ok=True) -> RunRecord:
    j = Journal(state_dir, durable=False)
    params = {"reason": "error rate 7.4% on green", "executed_by": "dev", "options": {"cause": "errors"}}
    if approval:
        params["approval"] = approval
    r = j.start(procedure, PLAN, params=params, targets={"blue": "blue", "green": "green"},
                executed_by="dev", reason=params["reason"])
    r.step_ended("snapshot", "ok", "traffic blue=0, green=100", {"signals": SIGNALS}, 0.1)
    r.step_ended("verify_issue", "ok", "issue confirmed: green error rate 7.4% > 2%", {"signals": SIGNALS}, 0.1)
    r.step_ended("shift_traffic", "ok", "blue=100, green=0", {"before": {"blue": 0, "green": 100},
                                                              "after": {"blue": 100, "green": 0}}, 0.05)
    r.step_ended("invalidate_cache:blue", "ok", "removed 12 entries on blue", {"removed": 12}, 0.05)
    r.step_ended("invalidate_cache:green", "ok", "removed 0 entries on green", {"removed": 0}, 0.05)
    r.step_ended("verify_traffic", "ok", "traffic is blue=100, green=0", {"weights": {"blue": 100}}, 0.01)
    r.step_ended("verify_health", "ok", "all revisions ok", {}, 0.01)
    r.step_ended("probe", "ok" if probe_ok else "failed", "200, 300 chars" if probe_ok else "probe answered 500", {}, 0.1)
    r.step_ended("notify", "ok", "notified 1", {"deliveries": [{"notifier": "slack (hooks.slack.com)", "ok": True}]}, 0.1)
    r.ended("done", "all steps completed")
    return j.load(r.rollback_id)
