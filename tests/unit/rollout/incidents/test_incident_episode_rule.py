"""One incident per trigger episode: the pure rule (:mod:`ethos.rollout.incidents.episode`)."""

from __future__ import annotations

import pytest

from ethos.rollout.incidents.episode import (
    EPISODE_S,
    EpisodeRun,
    episode_run,
    episode_window_s,
    higher_cause,
    higher_severity,
    match_episode,
    members,
    run_severity,
)
from ethos.rollout.incidents.record import attach_run, incident_from_run
from ethos.rollout.procedures.journal import Journal
from tests.unit.rollout.incidents._incident_fixtures import write_run

T = 1_800_000_000.0
W = 3600.0


def inc(iid: str, *runs: dict, status: str = "open") -> dict:
    return {"id": iid, "status": status, "runs": [{"links": {}, "green": "green", **r} for r in runs]}


def run(rid: str = "rb-new", *, green: str = "green", start: float = T, **links: str) -> EpisodeRun:
    return EpisodeRun(rid, green, start, start + 5, links)


def test_a_rollback_already_recorded_refreshes_its_incident_whatever_its_status():
    incidents = [inc("inc-a", {"rollback_id": "rb-a", "end_t": T - 10}, status="resolved"),
                 inc("inc-b", {"rollback_id": "rb-b", "end_t": T - 5})]
    m = match_episode(run("rb-a"), incidents, W)
    assert (m.incident_id, m.refresh, m.why) == ("inc-a", True, "refresh")


def test_same_candidate_revision_within_the_window_attaches():
    m = match_episode(run(start=T), [inc("inc-a", {"rollback_id": "rb-a", "end_t": T - 600})], W)
    assert m.incident_id == "inc-a" and not m.refresh
    assert m.why == "same candidate revision green, started 600 s after rb-a ended (episode window 3600 s)"
    # started while the incident's rollback still ran (concurrent rollbacks)
    m = match_episode(run(start=T - 60), [inc("inc-a", {"rollback_id": "rb-a", "end_t": T})], W)
    assert m.incident_id == "inc-a" and "while rb-a ran" in m.why
    # the window counts from the incident's LAST rollback
    m = match_episode(run(start=T + 2 * W), [inc("inc-a", {"rollback_id": "rb-a", "end_t": T},
                                                   {"rollback_id": "rb-b", "end_t": T + W + 1})], W)
    assert m.incident_id == "inc-a"


@pytest.mark.parametrize("case", ["after the window", "another green", "resolved", "closed"])
def test_otherwise_a_new_incident_opens(case):
    start, green, status = T + 600, "green", "open"
    if case == "after the window":
        start = T + W + 1
    elif case == "another green":
        green = "green-v2"
    else:
        status = case
    m = match_episode(run(start=start, green=green), [inc("inc-a", {"rollback_id": "rb-a", "end_t": T},
                                                          status=status)], W)
    assert (m.incident_id, m.why) == (None, "opened the incident")


@pytest.mark.parametrize("links, member_links, why", [
    ({"supersedes": "rb-a"}, {}, "superseded rb-a"),
    ({"escalated_from": "rb-a"}, {}, "escalated from rb-a"),
    ({"superseded_by": "rb-a"}, {}, "superseded by rb-a"),
    ({}, {"superseded_by": "rb-new"}, "superseded rb-a"),       # rb-a's journal: run_superseded by rb-new
    ({}, {"supersedes": "rb-new"}, "superseded by rb-a"),
    ({}, {"escalated_from": "rb-new"}, "escalated to rb-a"),
])
def test_a_linked_rollback_attaches_even_for_another_revision_and_after_the_window(links, member_links, why):
    incidents = [inc("inc-a", {"rollback_id": "rb-a", "end_t": T, "links": member_links})]
    m = match_episode(run(green="other", start=T + 10 * W, **links), incidents, W)
    assert (m.incident_id, m.why) == ("inc-a", why)
    # but not to a resolved incident
    incidents[0]["status"] = "resolved"
    assert match_episode(run(green="other", start=T + 10 * W, **links), incidents, W).incident_id is None


def test_a_link_wins_over_the_same_revision_then_the_latest_incident_wins():
    incidents = [inc("inc-a", {"rollback_id": "rb-a", "end_t": T - 100}),
                 inc("inc-b", {"rollback_id": "rb-b", "end_t": T - 10}),
                 inc("inc-c", {"rollback_id": "rb-c", "end_t": T - 50})]
    assert match_episode(run(supersedes="rb-a"), incidents, W).incident_id == "inc-a"
    assert match_episode(run(), incidents, W).incident_id == "inc-b"
    assert match_episode(run(), list(reversed(incidents)), W).incident_id == "inc-b"  # order does not matter


def test_records_written_before_episodes_count_as_one_rollback():
    legacy = {"id": "inc-a", "status": "open", "rollback_id": "rb-a", "green": "green", "rollback_end_t": T,
              "procedure": "gradual", "outcome": "done", "trigger": {"cause": "errors"},
              "impact": {"rollback_duration_s": 30.0}}
    (m,) = members(legacy)
    assert (m["rollback_id"], m["start_t"], m["end_t"], m["severity"]) == ("rb-a", T - 30, T, "medium")
    assert match_episode(run(start=T + 1), [legacy], W).incident_id == "inc-a"
    assert match_episode(run("rb-a"), [legacy], W).refresh


def test_the_window_from_the_environment():
    assert episode_window_s({}) == EPISODE_S == 3600.0
    assert episode_window_s({"ETHOS_INCIDENT_EPISODE_S": "90"}) == 90.0
    assert episode_window_s({"ETHOS_INCIDENT_EPISODE_S": "0"}) == 0.0
    for bad in ("soon", "-5", "nan"):
        assert episode_window_s({"ETHOS_INCIDENT_EPISODE_S": bad}) == EPISODE_S


def test_severity_and_cause_only_go_up():
    assert [run_severity(p, "errors") for p in ("set_weights", "gradual", "standard", "emergency")] == [
        "low", "medium", "high", "critical"]
    assert run_severity("gradual", "pii") == run_severity("standard", "corruption") == "critical"
    assert higher_severity("medium", "critical") == "critical" and higher_severity("critical", "high") == "critical"
    assert higher_severity(None, "high") == "high"
    assert higher_cause("errors", "pii") == "pii" and higher_cause("pii", "errors") == "pii"
    assert higher_cause(None, "latency") == "latency" and higher_cause("errors", None) == "errors"
    assert higher_cause("errors", "something-new") == "errors"


def test_the_rules_view_of_a_journal_names_its_links(tmp_path):
    a = write_run(tmp_path)
    j = Journal(tmp_path, durable=False)
    r = j.start("emergency", [], params={"reason": "x", "supersedes": a.rollback_id, "escalated_from": "rb-g"},
                targets={"blue": "blue", "green": "green-v7"}, executed_by="dev", reason="x")
    r.ended("done")
    j.reopen(a.rollback_id).append("run_superseded", by=r.rollback_id, procedure="emergency")
    er = episode_run(j.load(r.rollback_id))
    assert er.green == "green-v7" and er.links == {"supersedes": a.rollback_id, "escalated_from": "rb-g"}
    assert er.start_t <= er.end_t
    assert episode_run(j.load(a.rollback_id)).links == {"superseded_by": r.rollback_id}


def test_attaching_is_idempotent_and_escalates_severity_and_cause(tmp_path):
    first = write_run(tmp_path, procedure="gradual")
    second = write_run(tmp_path, procedure="emergency")
    path = Journal(tmp_path).path(second.rollback_id)
    path.write_text(path.read_text().replace('"cause":"errors"', '"cause":"pii"'))
    second = Journal(tmp_path).load(second.rollback_id)
    rec = incident_from_run(first, requests={}, now=T)
    assert rec["severity"] == "medium" and rec["rollbacks"] == [first.rollback_id]
    done = attach_run(rec, second, "superseded x", requests={}, now=T)
    assert done == {"new": True, "escalation": "severity medium → critical, cause errors → pii",
                    "kind_escalated": True}
    assert rec["rollbacks"] == [first.rollback_id, second.rollback_id] and rec["rollback_id"] == first.rollback_id
    assert rec["severity"] == "critical" and rec["trigger"]["cause"] == "pii" and rec["kind"] == "pii-leak"
    entries = [e["text"] for e in rec["timeline"] if e["event"] == "rollback_attached"]
    assert entries == [f"rollback {first.rollback_id} (gradual, done) opened the incident",
                       f"rollback {second.rollback_id} (emergency, done) attached: superseded x; "
                       "escalated: severity medium → critical, cause errors → pii"]
    assert rec["impact"]["cache_entries_cleared"] == 24  # 12 + 12
    # the journal's criteria are judged again on the later rollback
    imm = [c for c in rec["criteria"] if c["horizon"] == "immediate"]
    assert all(c["status"] == "pending" and c["due_t"] == second.events[-1]["t"] for c in imm)
    snapshot = repr(rec)
    again = attach_run(rec, second, "something else", requests={}, now=T + 99)
    assert again == {"new": False, "escalation": None, "kind_escalated": False}
    assert repr(rec) == snapshot
    attach_run(rec, first, "refresh", requests={}, now=T + 99)
    assert repr(rec) == snapshot
