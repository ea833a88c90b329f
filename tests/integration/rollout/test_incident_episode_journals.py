"""One incident per trigger episode, on real journals (``Journal``) and real incident files.

The rollbacks of one bad release (failed, superseded, escalated, resumed ...) attach to one
incident with one timeline entry each; refreshing a rollback changes nothing; another revision,
a rollback after the window or after the incident was resolved opens a new one; two rollbacks
ending at once (threads or processes) still make one incident.
"""

from __future__ import annotations

import json
import multiprocessing
import threading
import time
from pathlib import Path

import pytest

from ethos.rollout.incidents import record
from ethos.rollout.incidents.record import IncidentStore, after_rollback
from ethos.rollout.procedures.journal import Journal

PLAN = [{"name": "shift_traffic", "kind": "set_traffic"},
        {"name": "invalidate_cache:green", "kind": "invalidate_cache"},
        {"name": "verify_traffic", "kind": "verify_traffic"}, {"name": "notify", "kind": "notify"}]
ENV: dict[str, str] = {}


def rollback(state_dir: Path, procedure: str, *, green: str = "green", status: str = "done", cause: str = "errors",
             removed: int = 3, **params: str) -> str:
    """A finished rollback written through the journal's API; returns its id."""
    j = Journal(state_dir, durable=False)
    p = {"reason": f"{procedure}: green errors", "executed_by": "ethos-guard", "options": {"cause": cause}, **params}
    r = j.start(procedure, PLAN, params=p, targets={"blue": "blue", "green": green}, executed_by="ethos-guard",
                reason=p["reason"])
    r.step_ended("shift_traffic", "ok", "blue=100", {"before": {"blue": 50, green: 50},
                                                     "after": {"blue": 100, green: 0}}, 0.01)
    r.step_ended("invalidate_cache:green", "ok", f"removed {removed} entries", {"removed": removed}, 0.01)
    if status == "done":
        r.step_ended("verify_traffic", "ok", "traffic is blue=100", {}, 0.01)
        r.step_ended("notify", "ok", "notified", {"deliveries": [{"notifier": "slack", "ok": True}]}, 0.01)
    else:
        r.step_ended("verify_traffic", "failed", "traffic is not blue=100", {}, 0.01)
    r.ended(status, "all steps completed" if status == "done" else "verify_traffic failed")
    return r.rollback_id


def supersede(state_dir: Path, old: str, by: str) -> None:
    """What the newcomer writes into the run it took control from."""
    Journal(state_dir, durable=False).reopen(old).append("run_superseded", by=by, procedure="emergency",
                                                         priority=3, pid=1, reason="emergency")


def attached(inc: dict) -> list[str]:
    return [e["text"] for e in inc["timeline"] if e["event"] == "rollback_attached"]


def test_three_rollbacks_of_one_episode_make_one_incident_with_three_entries(tmp_path):
    store = IncidentStore(tmp_path, env=ENV)
    g = rollback(tmp_path, "gradual", status="failed")
    first = after_rollback(tmp_path, g, notify=False, env=ENV)
    s = rollback(tmp_path, "standard", status="failed")  # stopped half-way when the emergency took over
    em = rollback(tmp_path, "emergency", supersedes=s)
    supersede(tmp_path, s, em)
    second = after_rollback(tmp_path, em, notify=False, env=ENV)   # the emergency's hook runs first
    third = after_rollback(tmp_path, s, notify=False, env=ENV)     # then the superseded standard's
    assert first["id"] == second["id"] == third["id"] == "inc-" + g[3:]
    assert store.ids() == [first["id"]]
    inc = store.load(first["id"])
    assert inc["rollbacks"] == [g, em, s] and inc["rollback_id"] == g
    assert attached(inc) == [
        f"rollback {g} (gradual, failed) opened the incident",
        f"rollback {em} (emergency, done) attached: same candidate revision green, started "
        + next(t for t in attached(inc) if em in t).split("started ", 1)[1].split(" ", 1)[0]
        + f" s after {g} ended (episode window 3600 s); escalated: severity medium → critical",
        f"rollback {s} (standard, superseded) attached: superseded by {em}",
    ]
    assert inc["severity"] == "critical" and inc["outcome"] == "failed" and inc["procedure"] == "gradual"
    assert inc["impact"]["cache_entries_cleared"] == 9
    assert any(e["text"].startswith("superseded by emergency rollback " + em) for e in inc["timeline"])
    # the immediate criteria are judged on the last rollback that was not superseded (the emergency
    # that worked), not on the failed gradual nor on the standard it stopped (which ended later)
    assert inc["criteria_rollback_id"] == em and inc["rollback_end_t"] == Journal(tmp_path).load(em).events[-1]["t"]
    crit = {c["id"]: c["status"] for c in inc["criteria"] if c["horizon"] == "immediate"}
    assert crit["traffic_on_blue"] == "pass"
    md = store.report_path(inc["id"]).read_text()
    assert "## Rollbacks of this episode" in md and all(r in md for r in (g, em, s))
    assert "| Severity | critical |" in md and f"superseded by {em}" in md
    assert next(i for i in inc["checklist"] if i["id"] == "notify_stakeholders")["done"]


def test_refreshing_a_rollback_changes_nothing(tmp_path):
    store = IncidentStore(tmp_path, env=ENV)
    a = rollback(tmp_path, "standard")
    b = rollback(tmp_path, "emergency", escalated_from=a)
    now = time.time()
    after_rollback(tmp_path, a, notify=False, env=ENV, now=now)
    inc = after_rollback(tmp_path, b, notify=False, env=ENV, now=now)
    before = (store.dir / f"{inc['id']}.json").read_text()
    md = store.report_path(inc["id"]).read_text()
    for rid in (b, a, b):  # the CLI and the guard both call the hook; a resume calls it again
        again = after_rollback(tmp_path, rid, notify=False, env=ENV, now=now)
        assert again["id"] == inc["id"]
    assert store.ids() == [inc["id"]]
    assert (store.dir / f"{inc['id']}.json").read_text() == before
    assert store.report_path(inc["id"]).read_text() == md
    assert attached(inc)[1] == (f"rollback {b} (emergency, done) attached: escalated from {a}; "
                                "escalated: severity high → critical")


def test_a_killed_then_resumed_rollback_refreshes_its_entries(tmp_path):
    store = IncidentStore(tmp_path, env=ENV)
    a = rollback(tmp_path, "standard")
    j = Journal(tmp_path, durable=False)
    r = j.start("emergency", PLAN, params={"reason": "x", "executed_by": "dev"},
                targets={"blue": "blue", "green": "green"}, executed_by="dev", reason="x")
    r.step_ended("shift_traffic", "failed", "router unreachable", {}, 0.01)
    r.ended("failed", "router unreachable")
    after_rollback(tmp_path, a, notify=False, env=ENV)
    inc = after_rollback(tmp_path, r.rollback_id, notify=False, env=ENV)
    assert f"rollback {r.rollback_id} (emergency, failed) attached" in attached(inc)[1]
    run = j.reopen(r.rollback_id)
    run.step_ended("shift_traffic", "ok", "blue=100", {"after": {"blue": 100, "green": 0}}, 0.01)
    run.ended("done")
    inc = after_rollback(tmp_path, r.rollback_id, notify=False, env=ENV)
    assert store.ids() == [inc["id"]] and inc["rollbacks"] == [a, r.rollback_id]
    assert len(attached(inc)) == 2 and f"rollback {r.rollback_id} (emergency, done) attached" in attached(inc)[1]
    assert sum(1 for e in inc["timeline"] if e["event"] == "run_resumed") == 1
    assert [e["text"] for e in inc["timeline"]].count("shift_traffic: failed — router unreachable (0.01 s)") == 1


@pytest.mark.parametrize("case", ["another green", "after the window", "resolved"])
def test_a_new_incident_opens_for_another_revision_after_the_window_or_once_resolved(tmp_path, case):
    env = {"ETHOS_INCIDENT_EPISODE_S": "0.3"} if case == "after the window" else ENV
    store = IncidentStore(tmp_path, env=env)
    first = after_rollback(tmp_path, rollback(tmp_path, "standard"), notify=False, env=env)
    if case == "after the window":
        time.sleep(0.5)
    if case == "resolved":
        rec = store.load(first["id"])
        rec["status"] = "resolved"
        store.save(rec)
    b = rollback(tmp_path, "emergency", green="green-v2" if case == "another green" else "green")
    second = after_rollback(tmp_path, b, notify=False, env=env)
    assert second["id"] != first["id"] and second["id"] == "inc-" + b[3:]
    assert store.ids() == sorted([first["id"], second["id"]])
    assert store.load(first["id"])["rollbacks"] == first["rollbacks"]
    assert second["rollbacks"] == [b] and attached(second) == [f"rollback {b} (emergency, done) opened the incident"]


def test_within_the_window_even_with_a_short_one(tmp_path):
    env = {"ETHOS_INCIDENT_EPISODE_S": "30"}
    a = after_rollback(tmp_path, rollback(tmp_path, "standard"), notify=False, env=env)
    b = after_rollback(tmp_path, rollback(tmp_path, "standard"), notify=False, env=env)
    assert a["id"] == b["id"] and len(b["rollbacks"]) == 2


def test_a_rollback_linked_to_a_resolved_incident_opens_a_new_one(tmp_path):
    store = IncidentStore(tmp_path, env=ENV)
    a = rollback(tmp_path, "gradual")
    first = after_rollback(tmp_path, a, notify=False, env=ENV)
    rec = store.load(first["id"])
    rec["status"] = "closed"
    store.save(rec)
    b = rollback(tmp_path, "emergency", escalated_from=a)
    assert after_rollback(tmp_path, b, notify=False, env=ENV)["id"] == "inc-" + b[3:]


def test_an_incident_written_before_episodes_takes_the_next_rollback(tmp_path):
    store = IncidentStore(tmp_path, env=ENV)
    a = rollback(tmp_path, "standard")
    old = after_rollback(tmp_path, a, notify=False, env=ENV)
    rec = store.load(old["id"])
    for k in ("runs", "rollbacks", "severity"):
        del rec[k]
    for e in rec["timeline"] + rec["actions"]:
        e.pop("rollback_id", None)
    rec["timeline"] = [e for e in rec["timeline"] if e["event"] != "rollback_attached"]
    store.save(rec)
    b = rollback(tmp_path, "emergency")
    inc = after_rollback(tmp_path, b, notify=False, env=ENV)
    assert inc["id"] == old["id"] and inc["rollbacks"] == [a, b] and inc["severity"] == "critical"
    again = after_rollback(tmp_path, a, notify=False, env=ENV)  # the old opener, refreshed
    assert again["rollbacks"] == [a, b] and len(attached(again)) == 2
    assert sum(1 for e in again["timeline"] if e["event"] == "run_started") == 2


def test_a_pii_rollback_turns_the_episode_into_a_pii_leak(tmp_path):
    a = after_rollback(tmp_path, rollback(tmp_path, "standard"), notify=False, env=ENV)
    assert a["kind"] == "rollback" and a["compliance"] is None
    inc = after_rollback(tmp_path, rollback(tmp_path, "emergency", cause="pii"), notify=False, env=ENV)
    assert inc["id"] == a["id"] and inc["kind"] == "pii-leak" and inc["trigger"]["cause"] == "pii"
    assert inc["compliance"]["gdpr_deadline"] and "cause errors → pii" in attached(inc)[1]


def test_only_the_incident_that_opens_notifies(tmp_path, monkeypatch):
    sent = []
    monkeypatch.setattr(record, "notify_incident", lambda inc, event, *a, **k: sent.append((inc["id"], event)))
    a = after_rollback(tmp_path, rollback(tmp_path, "standard"), env=ENV)
    after_rollback(tmp_path, rollback(tmp_path, "gradual"), env=ENV)
    after_rollback(tmp_path, rollback(tmp_path, "emergency", cause="pii"), env=ENV)
    assert sent == [(a["id"], "rollback"), (a["id"], "pii-leak")]


def _slow_logs(monkeypatch):
    """Widen the window between reading the incidents and writing one (the race the lock closes)."""
    real = record.read_logs

    def slow(*a, **k):
        time.sleep(0.3)
        return real(*a, **k)
    monkeypatch.setattr(record, "read_logs", slow)


def test_two_threads_finishing_at_once_make_one_incident(tmp_path, monkeypatch):
    _slow_logs(monkeypatch)
    ids = [rollback(tmp_path, "standard"), rollback(tmp_path, "emergency")]
    barrier, out, errors = threading.Barrier(2), {}, []

    def hook(rid):
        barrier.wait()
        try:
            out[rid] = after_rollback(tmp_path, rid, notify=False, env=ENV)["id"]
        except Exception as e:  # noqa: BLE001
            errors.append(e)
    threads = [threading.Thread(target=hook, args=(rid,)) for rid in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors and len(set(out.values())) == 1
    store = IncidentStore(tmp_path, env=ENV)
    (iid,) = store.ids()
    assert sorted(store.load(iid)["rollbacks"]) == sorted(ids) and len(attached(store.load(iid))) == 2


def _child(state_dir: str, rid: str, barrier, q) -> None:
    barrier.wait()
    try:
        q.put((rid, after_rollback(state_dir, rid, notify=False, env=ENV)["id"]))
    except Exception as e:  # noqa: BLE001
        q.put((rid, f"error: {type(e).__name__}: {e}"))


def test_two_processes_finishing_at_once_make_one_incident(tmp_path, monkeypatch):
    _slow_logs(monkeypatch)  # inherited by the forked children
    ctx = multiprocessing.get_context("fork")
    ids = [rollback(tmp_path, "gradual"), rollback(tmp_path, "emergency")]
    barrier, q = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_child, args=(str(tmp_path), rid, barrier, q)) for rid in ids]
    for p in procs:
        p.start()
    got = dict(q.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    assert len(set(got.values())) == 1 and not str(next(iter(got.values()))).startswith("error"), got
    store = IncidentStore(tmp_path, env=ENV)
    (iid,) = store.ids()
    rec = json.loads((store.dir / f"{iid}.json").read_text())
    assert sorted(rec["rollbacks"]) == sorted(ids) and len(attached(rec)) == 2
