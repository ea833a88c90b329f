"""PII Leak Response: scan before clearing, GDPR deadline, served counts, compliance tasks."""

from __future__ import annotations

import time

from ethos.cache import Entry, open_store
from ethos.rollout.incidents.pii_leak import compliance_record, tick_task
from ethos.rollout.incidents.record import IncidentStore
from ethos.rollout.incidents.respond import pii_leak_response
from tests.unit.rollout.incidents._incident_fixtures import write_run

T = 1_800_000_000.0  # 2027-01-15T08:00:00Z


def test_compliance_record_shows_the_72_hour_deadline_and_whether_pii_was_served():
    rec = compliance_record(T, [{"key": "k1", "entities": {"PHONE_NUMBER": 1}, "served": 0},
                                {"key": "k2", "entities": {"PHONE_NUMBER": 2}, "served": 0}],
                            rescan_clean=True, evidence_clean=True)
    assert rec["detected_at"] == "2027-01-15T08:00:00+00:00"
    assert rec["gdpr_deadline"] == "2027-01-18T08:00:00+00:00"
    assert [t["id"] for t in rec["tasks"]] == ["document", "notify_dpo", "user_notification", "gdpr_review"]
    served = next(q for q in rec["questions"] if q["id"] == "served")
    assert served["answer"].startswith("2 leaking entries, served 0 times") and "no other user" in served["answer"]
    assert "PHONE_NUMBER x3" in rec["questions"][0]["answer"]
    assert tick_task(rec, "notify_dpo", "tom", "t") and rec["tasks"][1]["by"] == "tom"
    assert not tick_task(rec, "nope", "tom", "t")


def _entry(key: str, q: str, a: str) -> Entry:
    return Entry(key=key, namespace="marketing", format_version=1, scope="s", question=q, reply=a,
                 created_at=time.time(), ttl_s=3600)


def test_response_scans_before_clearing_then_clears_rescans_and_opens_the_incident(tmp_path):
    url = f"sqlite:///{tmp_path / 'cache.sqlite3'}"
    store = open_store(url)
    store.put(_entry("marketing:v1:s:a:1", "What are your plans?", "Starter, Team, Enterprise."))
    store.put(_entry("marketing:v1:s:b:2", "Call me?", "We will call you on 0412 345 678."))
    store.add_hits({"marketing:v1:s:b:2": 3})
    store.close()
    calls = []

    def fake_rollback(sd, reason, by, justification):
        calls.append((reason, by, justification))
        run = write_run(sd, procedure="emergency")
        return {"status": "done", "rollback_id": run.rollback_id, "exit_code": 0}

    res = pii_leak_response(tmp_path, url, executed_by="tom", rollback=fake_rollback, env={})
    assert calls and calls[0][0] == "PII leak: 1 cached entries hold personal data"
    assert res["ok"], res["steps"]
    assert res["steps"]["scan_before"]["leaks"] == [
        {"key": "marketing:v1:s:b:2", "entities": {"PHONE_NUMBER": 1}, "served": 3}]
    assert res["steps"]["clear_all_cache"]["removed"] == 2
    assert res["steps"]["scan_after"] == {"scanned": 0, "leaking": 0, "clean": True}
    inc = res["incident"]
    assert inc["kind"] == "pii-leak" and inc["compliance"]["served_total"] == 3
    md = IncidentStore(tmp_path, env={}).report_path(inc["id"]).read_text()
    assert "Deadline: " in md and "Notify data protection officer" in md
    assert "served 3 times" in md and "0412" not in md
    assert next(i for i in inc["checklist"] if i["id"] == "export_evidence")["done"]
    assert res["errors"] == []


def test_a_state_dir_that_does_not_exist_is_refused_and_not_created(tmp_path):
    import pytest

    from ethos.rollout.incidents.record import IncidentError

    with pytest.raises(IncidentError, match="does not exist"):
        pii_leak_response(tmp_path / "nope", None, executed_by="tom", env={},
                          rollback=lambda *a: {"status": "done", "exit_code": 0})
    assert not (tmp_path / "nope").exists()


def test_a_failed_rollback_fails_the_response_but_still_opens_an_incident(tmp_path):
    res = pii_leak_response(tmp_path, None, executed_by="tom", env={},
                            rollback=lambda *a: {"status": "failed", "exit_code": 1, "message": "no stack"})
    assert not res["ok"]
    assert res["incident"]["kind"] == "pii-leak" and res["incident"]["compliance"]["gdpr_deadline"]
    # every failure says what failed and what to do: the rollback's own message, the cache never reached
    assert res["steps"]["emergency_rollback"]["message"] == "no stack"
    assert any("emergency rollback did not complete" in e and "no stack" in e for e in res["errors"])
    assert any("not scanned before clearing" in e for e in res["errors"])
    assert IncidentStore(tmp_path, env={}).ids() == [res["incident"]["id"]]


def test_a_rollback_with_cause_pii_opens_a_pii_leak_incident_with_its_tasks(tmp_path):
    from ethos.rollout.incidents.record import after_rollback
    from ethos.rollout.procedures.journal import Journal

    run = write_run(tmp_path, procedure="emergency")
    # the guard's PII trigger runs the emergency procedure with --cause pii
    path = Journal(tmp_path).path(run.rollback_id)
    path.write_text(path.read_text().replace('"cause":"errors"', '"cause":"pii"'))
    inc = after_rollback(tmp_path, run.rollback_id, notify=False, env={})
    assert inc["kind"] == "pii-leak" and inc["compliance"]["gdpr_deadline"]
    assert next(q for q in inc["compliance"]["questions"] if q["id"] == "served")["answer"].startswith("Unknown")
