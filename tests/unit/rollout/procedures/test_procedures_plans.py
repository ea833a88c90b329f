"""Plans, stages and the cache decision: pure functions, plain values."""

from __future__ import annotations

import pytest

from ethos.rollout.procedures import (
    PlanOptions,
    Step,
    decide_cache,
    describe_plan,
    infer_cause,
    parse_stages,
    plan_emergency,
    plan_gradual,
    plan_standard,
)


def names(plan: list[Step]) -> list[str]:
    return [s.name for s in plan]


def test_emergency_shifts_then_clears_every_revision_then_verifies_and_notifies():
    plan = plan_emergency(PlanOptions())
    assert names(plan) == [
        "snapshot", "decide_cache", "shift_traffic", "invalidate_cache:blue",
        "invalidate_cache:green", "verify_traffic", "verify_health", "notify",
    ]
    shift = plan[2]
    assert shift.kind == "set_traffic" and shift.params["weights"] == {"blue": 100, "green": 0}
    assert plan[3].critical and not plan[4].critical  # green may be down; blue may not
    assert not plan[-1].critical  # a notification never fails the rollback


def test_standard_has_the_runbook_five_steps_in_order():
    plan = plan_standard(PlanOptions(force=True))
    kinds = [s.kind for s in plan]
    assert kinds[0] == "verify_issue" and plan[0].params["force"] is True
    assert kinds.index("set_traffic") < kinds.index("invalidate_cache") < kinds.index("verify_traffic")
    assert "probe" in kinds and kinds[-1] == "notify"
    assert plan[kinds.index("probe")].params["message"] == "What are your pricing plans?"


def test_warm_collects_questions_before_the_clear_and_warms_after():
    n = names(plan_emergency(PlanOptions(warm=200)))
    assert n.index("collect_top") < n.index("shift_traffic") < n.index("invalidate_cache:blue") < n.index("warm_cache")


def test_gradual_stages_and_final_shift():
    plan = plan_gradual(PlanOptions(stages=parse_stages("50:5s,25:5s,5:5s")))
    shifts = [s.params["weights"] for s in plan if s.kind == "set_traffic"]
    assert shifts == [{"blue": 50, "green": 50}, {"blue": 75, "green": 25},
                      {"blue": 95, "green": 5}, {"blue": 100, "green": 0}]
    monitors = [(s.params["green_percent"], s.params["seconds"]) for s in plan if s.kind == "monitor"]
    assert monitors == [(50, 5.0), (25, 5.0), (5, 5.0)]
    assert len(set(names(plan))) == len(plan)  # names are unique: the journal keys on them


def test_runbook_default_stages():
    plan = plan_gradual(PlanOptions())
    assert [s.params["seconds"] for s in plan if s.kind == "monitor"] == [900, 900, 1800]


def test_other_revisions_get_zero():
    o = PlanOptions(revisions=("blue", "green", "canary"))
    assert plan_emergency(o)[2].params["weights"] == {"blue": 100, "green": 0, "canary": 0}


def test_steps_round_trip_through_dicts():
    plan = plan_gradual(PlanOptions(warm=3))
    assert [Step.from_dict(s.to_dict()) for s in plan] == plan
    assert len(describe_plan(plan)) == len(plan)


@pytest.mark.parametrize("text,expected", [
    ("50:5s,25:5s,5:5s", ((50, 5.0), (25, 5.0), (5, 5.0))),
    ("50:15m,25:15m,5:30m,0", ((50, 900.0), (25, 900.0), (5, 1800.0))),
    ("60:1h, 10:500ms", ((60, 3600.0), (10, 0.5))),
    ("30", ((30, 0.0),)),
])
def test_parse_stages(text, expected):
    assert parse_stages(text) == expected


@pytest.mark.parametrize("text", ["", "50:5s,60:5s", "100:5s", "x:5s", "50:abc", "-5:1s"])
def test_parse_stages_refuses(text):
    with pytest.raises(ValueError):
        parse_stages(text)


@pytest.mark.parametrize("mode,blue,green,cause,action", [
    ("clear", 1, 1, "errors", "clear"),
    ("auto", 1, 1, "errors", "preserve"),
    ("auto", 3, 4, "errors", "clear"),
    ("auto", None, 1, "errors", "clear"),
    ("auto", 1, 1, "pii", "clear"),
    ("auto", 1, 1, "corruption", "clear"),
    ("preserve", 1, 1, "latency", "preserve"),
    ("preserve", 3, 4, "latency", "refuse"),
    ("preserve", 1, None, "latency", "refuse"),
    ("preserve", 1, 1, "pii", "refuse"),
])
def test_decide_cache(mode, blue, green, cause, action):
    d = decide_cache(mode, blue, green, cause)
    assert d.action == action
    assert d.reason


def test_refusal_names_the_formats():
    d = decide_cache("preserve", 3, 4, "errors")
    assert "format 3" in d.reason and "format 4" in d.reason


@pytest.mark.parametrize("reason,cause", [
    ("PII leak detected in cache", "pii"), ("GDPR violation", "pii"),
    ("data corruption in store", "corruption"), ("error rate > 5%", "unspecified"),
])
def test_infer_cause(reason, cause):
    assert infer_cause(reason) == cause
