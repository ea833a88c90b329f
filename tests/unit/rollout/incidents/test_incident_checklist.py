"""Checklist ticks from a rollback's journal, and by people."""

from __future__ import annotations

import pytest

from ethos.rollout.incidents.checklist import ITEM_IDS, apply_ticks, auto_ticks, new_checklist, progress, tick
from tests.unit.rollout.incidents._incident_fixtures import write_run


def test_what_the_journal_proves_is_ticked_with_time_and_evidence(tmp_path):
    run = write_run(tmp_path)
    ticks = auto_ticks(run)
    assert set(ticks) == {"verify_issue", "execute_rollback", "clear_cache", "monitor_error_rate",
                          "verify_traffic", "notify_stakeholders"}
    assert "12 entries removed" in ticks["clear_cache"][1]
    assert "blue error rate 0.20% over 400 requests" in ticks["monitor_error_rate"][1]
    assert ticks["execute_rollback"][0].startswith("20")


def test_approval_recorded_in_the_run_ticks_the_approval_item(tmp_path):
    run = write_run(tmp_path, approval={"approved_by": "maria", "authority": "primary: maria"})
    assert auto_ticks(run)["approval"][1] == "primary: maria"
    run = write_run(tmp_path / "e", procedure="emergency",
                    approval={"approved_by": None, "authority": "emergency without approval"})
    assert "approval" not in auto_ticks(run)


def test_people_tick_the_rest_and_progress_counts_per_phase(tmp_path):
    cl = new_checklist()
    assert apply_ticks(cl, auto_ticks(write_run(tmp_path))) and progress(cl)["during"] == (4, 4)
    item = tick(cl, "root_cause", "dev", "2026-11-29T09:00:00+00:00", "JIRA-12")
    assert item["done"] and item["by"] == "dev" and item["evidence"] == "JIRA-12"
    assert progress(cl)["follow-up"] == (1, 4)
    with pytest.raises(KeyError, match="unknown checklist item"):
        tick(cl, "nope", "dev", "t")
    assert len(ITEM_IDS) == len(set(ITEM_IDS)) == len(cl)


def test_a_tick_is_never_overwritten_by_a_later_automatic_one(tmp_path):
    cl = new_checklist()
    tick(cl, "clear_cache", "tom", "t0", "cleared by hand")
    apply_ticks(cl, auto_ticks(write_run(tmp_path)))
    assert next(i for i in cl if i["id"] == "clear_cache")["by"] == "tom"
