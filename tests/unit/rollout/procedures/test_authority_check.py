"""Rollback authority: who may approve, what is recorded (pure)."""

from __future__ import annotations

import pytest

from ethos.rollout.procedures.authority import (
    Authority,
    AuthorityError,
    check_authority,
    load_authority,
    parse_authority,
)

ROLES = parse_authority({"primary": ["Maria"], "secondary": "dev", "emergency": ["cto-sam"]}, "test.yaml")


@pytest.mark.parametrize("procedure", ["standard", "gradual"])
def test_standard_and_gradual_need_an_approver(procedure):
    with pytest.raises(AuthorityError, match="needs --approved-by"):
        check_authority(procedure, ROLES, actor="priya")


def test_approver_must_hold_a_role():
    with pytest.raises(AuthorityError, match="not a rollback authority"):
        check_authority("standard", ROLES, actor="priya", approved_by="mallory")


def test_approval_is_recorded_with_the_role_case_insensitively():
    a = check_authority("gradual", ROLES, actor="priya", approved_by="maria")
    assert (a.approved_by, a.role, a.authority) == ("maria", "primary", "primary: maria")
    assert check_authority("standard", ROLES, actor="x", approved_by="DEV").role == "secondary"


def test_emergency_proceeds_without_approval_and_records_a_justification():
    a = check_authority("emergency", ROLES, actor="dev", justification="error rate 30%")
    assert a.approved_by is None and a.authority == "emergency without approval"
    assert a.justification == "error rate 30%"
    assert check_authority("emergency", ROLES, actor="dev", reason="site down").justification == "site down"


def test_guard_acting_alone_is_its_own_actor_and_the_trigger_is_the_authority():
    a = check_authority("standard", ROLES, actor="ethos-guard", reason="guard: error_rate_sustained: 3% > 2%")
    assert a.actor == "ethos-guard"
    assert a.authority == "policy trigger: guard: error_rate_sustained: 3% > 2%"


def test_without_configured_roles_standard_is_recorded_as_unchecked():
    a = check_authority("standard", Authority({}, "none"), actor="priya")
    assert a.authority.startswith("unchecked")
    with pytest.raises(AuthorityError, match="no rollback authority is configured"):
        check_authority("standard", Authority({}, "none"), actor="priya", approved_by="maria")


def test_bad_files_are_refused(tmp_path):
    with pytest.raises(AuthorityError, match="unknown role"):
        parse_authority({"boss": ["x"]})
    with pytest.raises(AuthorityError, match="non-empty"):
        parse_authority({"primary": [""]})
    (tmp_path / "authority.yaml").write_text("primary: [maria]\n")
    assert load_authority(tmp_path, env={}).role_of("maria") == "primary"
    other = tmp_path / "other.yaml"
    other.write_text("emergency: cto\n")
    assert load_authority(tmp_path, env={"ETHOS_AUTHORITY_FILE": str(other)}).role_of("cto") == "emergency"
    assert not load_authority(tmp_path / "none", env={}).configured


def test_the_recorded_approval_of_a_guard_run_journaled_without_one():
    """The guard's in-process rollbacks journaled no approval before issue 20: the incident
    built from such a journal still shows the guard's standing authority (docs/incidents.md)."""
    from ethos.rollout.procedures.authority import recorded_approval

    old = {"reason": "guard: err5: error rate 15% > 5% on green", "executed_by": "ethos-guard", "approved_by": ""}
    a = recorded_approval("emergency", old)
    assert a["actor"] == "ethos-guard" and a["approved_by"] is None
    assert a["authority"] == "policy trigger: guard: err5: error rate 15% > 5% on green"
    # what a run recorded is kept as it is
    given = check_authority("standard", ROLES, actor="dev", approved_by="maria").to_dict()
    assert recorded_approval("standard", {"executed_by": "dev", "approval": given}) == given
    # a person's run without an approval recorded is not made up
    assert recorded_approval("emergency", {"executed_by": "dev", "reason": "x"}) == {"actor": "dev"}
