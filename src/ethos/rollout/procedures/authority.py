"""Rollback authority: who may approve a rollback, and the check each procedure passes.

The runbook names a primary (Engineering Manager), a secondary (DevOps Lead) and an
emergency (CTO) authority. Names come from YAML: ``$ETHOS_AUTHORITY_FILE``, else
``<state dir>/authority.yaml``::

    primary: [maria]          # a name or a list of names
    secondary: [dev]
    emergency: [cto-sam]

Rules (:func:`check_authority`, pure):

- ``standard`` and ``gradual`` need ``--approved-by NAME`` of someone holding a role;
- ``emergency`` proceeds without approval (the runbook: "if time permits"), but then a
  justification is recorded (given, or the reason);
- with no roles configured at all, nothing can be checked: standard and gradual proceed and
  the record says ``unchecked``;
- the guard acting alone (``executed_by`` starting ``ethos-guard``) is its own actor and the
  policy trigger (its reason) is the authority.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import PermanentError
from ..settings import RolloutSettings

ROLES = ("primary", "secondary", "emergency")
AUTHORITY_ENV = "ETHOS_AUTHORITY_FILE"
AUTHORITY_FILE = "authority.yaml"
GUARD_ACTOR_PREFIX = "ethos-guard"
NEEDS_APPROVAL = frozenset({"standard", "gradual"})


class AuthorityError(PermanentError):
    """The approval is missing or names someone without authority; or the file is bad."""


@dataclass(frozen=True)
class Authority:
    """Names per role (lower-cased for comparison, as written for display)."""

    roles: dict[str, tuple[str, ...]] = field(default_factory=dict)
    source: str = ""

    def role_of(self, name: str) -> str | None:
        """The first role ``name`` holds (primary before secondary before emergency)."""
        key = name.strip().lower()
        for role in ROLES:
            if key in (n.lower() for n in self.roles.get(role, ())):
                return role
        return None

    @property
    def configured(self) -> bool:
        return any(self.roles.get(r) for r in ROLES)


@dataclass(frozen=True)
class Approval:
    """What is recorded with the rollback: who acted, on whose authority, why."""

    procedure: str
    actor: str
    approved_by: str | None
    role: str | None
    authority: str  # "primary: maria" | "policy trigger: ..." | "emergency without approval"
    justification: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_authority(data: Any, source: str = "") -> Authority:
    """``{"primary": "a" | [..], ...}`` -> :class:`Authority`. Raises AuthorityError. Pure."""
    if data is None:
        return Authority({}, source)
    if not isinstance(data, Mapping):
        raise AuthorityError(f"{source or 'authority'}: expected a mapping of role -> names")
    roles: dict[str, tuple[str, ...]] = {}
    for key, value in data.items():
        if key not in ROLES:
            raise AuthorityError(f"{source or 'authority'}: unknown role {key!r} (use {', '.join(ROLES)})")
        names = [value] if isinstance(value, str) else list(value or [])
        if not all(isinstance(n, str) and n.strip() for n in names):
            raise AuthorityError(f"{source or 'authority'}: {key}: names must be non-empty strings")
        roles[key] = tuple(n.strip() for n in names)
    return Authority(roles, source)


def authority_path(state_dir: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Path:
    """``$ETHOS_AUTHORITY_FILE`` or ``<state dir>/authority.yaml``."""
    return RolloutSettings.from_env(env).authority_file or Path(state_dir) / AUTHORITY_FILE


def load_authority(state_dir: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Authority:
    """Read the roles; an absent file gives no roles (then approvals cannot be checked)."""
    path = authority_path(state_dir, env)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return Authority({}, str(path))
    except OSError as e:
        raise AuthorityError(f"cannot read {path}: {e.strerror or e}") from e
    try:
        return parse_authority(yaml.safe_load(text), str(path))
    except yaml.YAMLError as e:
        raise AuthorityError(f"{path} is not valid YAML: {e}") from e


def check_authority(
    procedure: str,
    authority: Authority,
    *,
    actor: str,
    approved_by: str | None = None,
    justification: str = "",
    reason: str = "",
) -> Approval:
    """Decide whether ``procedure`` may run; return what to record. Raises AuthorityError. Pure."""
    approver = (approved_by or "").strip() or None
    if actor.startswith(GUARD_ACTOR_PREFIX) and approver is None:
        return Approval(procedure, actor, None, None, f"policy trigger: {reason or 'guard decision'}",
                        justification or reason)
    if approver is not None:
        role = authority.role_of(approver)
        if role is None:
            known = ", ".join(f"{r}: {', '.join(authority.roles.get(r, ())) or '-'}" for r in ROLES)
            where = authority.source or AUTHORITY_FILE
            if not authority.configured:
                raise AuthorityError(f"--approved-by {approver}: no rollback authority is configured "
                                     f"(write {where} with primary/secondary/emergency names)")
            raise AuthorityError(f"--approved-by {approver}: not a rollback authority ({known}; from {where})")
        return Approval(procedure, actor, approver, role, f"{role}: {approver}", justification)
    if procedure in NEEDS_APPROVAL:
        if not authority.configured:
            # No roles written down yet: nothing to check against. Recorded, not refused, so a
            # team that has not configured authority can still roll back.
            return Approval(procedure, actor, None, None, "unchecked: no rollback authority configured",
                            justification or reason)
        raise AuthorityError(f"a {procedure} rollback needs --approved-by NAME of a rollback authority "
                             "(primary, secondary or emergency); an emergency rollback proceeds without")
    text = justification.strip() or reason.strip() or "(no justification given)"
    return Approval(procedure, actor, None, None, "emergency without approval", text)


def recorded_approval(procedure: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The approval a run's journal records (``params.approval``), with its ``actor``. Pure.

    A run of the guard acting alone journaled without one (the guard's in-process rollbacks
    recorded none before issue 20) gets what :func:`check_authority` gives the guard: itself as
    the actor, its policy trigger (the run's reason) as the authority.
    """
    approval = dict(params.get("approval") or {})
    actor = str(params.get("executed_by") or "")
    if not approval.get("authority") and actor.startswith(GUARD_ACTOR_PREFIX) and not params.get("approved_by"):
        approval = check_authority(procedure, Authority(), actor=actor, reason=str(params.get("reason") or "")).to_dict()
    approval.setdefault("actor", actor)
    return approval


__all__ = [
    "Authority", "Approval", "AuthorityError", "ROLES", "AUTHORITY_ENV", "AUTHORITY_FILE", "GUARD_ACTOR_PREFIX",
    "parse_authority", "load_authority", "authority_path", "check_authority", "recorded_approval", "NEEDS_APPROVAL",
]
