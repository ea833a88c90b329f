"""One typed settings object for the rollout side, read from ``ETHOS_*`` variables.

The service's revision reads :class:`ethos.settings.Settings`; the router, the guard, the
procedures, the console, the drills and the incident tools read :class:`RolloutSettings`.
Every ``ETHOS_*`` variable of the rollout side is a field here, with its default and unit,
and every lookup of the admin key goes through :func:`resolve_admin_key`.

Most callers take an ``env`` mapping (tests pass one; ``None`` means ``os.environ``), so the
settings are built per call with :meth:`RolloutSettings.from_env`, not cached: a test that
sets a variable sees it. Secrets are ``SecretStr`` and never appear in a repr or a log.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from .errors import PermanentError

if TYPE_CHECKING:
    from .stack.state import StackState

#: The variable that holds the admin key unless a command names another (``--admin-key-env``).
ADMIN_KEY_ENV = "ETHOS_ADMIN_API_KEY"
PREFIX = "ETHOS_"
#: Default state directory, relative to the working directory.
DEFAULT_STATE_DIR = Path(".ethos")
#: An incident episode: rollbacks of the same green within this many seconds share one incident.
DEFAULT_EPISODE_S = 3600.0


class SettingsError(PermanentError):
    """An ``ETHOS_*`` variable holds a value that cannot be used."""


def _none_if_empty(v: object) -> object:
    return None if isinstance(v, str) and not v.strip() else v


class RolloutSettings(BaseModel):
    """Settings of the rollout side (router, guard, procedures, console, drills, incidents)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    # --- where things are ----------------------------------------------------
    state_dir: Path = Field(DEFAULT_STATE_DIR, description="Stack file, journals, guard state, incidents.")
    router_url: str | None = Field(None, description="The local router's base URL (else the stack's).")
    cache_url: str | None = Field(None, description="The shared cache store (else the stack's).")
    runbook: Path | None = Field(None, description="The runbook Markdown the drills time against.")
    authority_file: Path | None = Field(None, description="Who may approve what (else STATE_DIR/authority.yaml).")

    # --- secrets -------------------------------------------------------------
    admin_api_key: SecretStr | None = Field(None, description="Admin key of the router and revisions.")
    slack_webhook_url: SecretStr | None = Field(None, description="Slack incoming webhook URL.")
    notify_webhook_url: SecretStr | None = Field(None, description="Generic JSON webhook URL.")
    pagerduty_routing_key: SecretStr | None = Field(None, description="PagerDuty Events v2 routing key.")
    smtp_password: SecretStr | None = Field(None, description="Password of the email notifier's SMTP login.")

    # --- incidents -----------------------------------------------------------
    pagerduty_url: str | None = Field(None, description="PagerDuty Events API URL (tests point it locally).")
    notify_config: Path | None = Field(None, description="Who is told of what (else STATE_DIR/notify.yaml).")
    incident_template: Path | None = Field(None, description="A Jinja2 template for incident reports.")
    incident_episode_s: float = Field(DEFAULT_EPISODE_S, description="Episode length, seconds.")
    no_auto_incident: bool = Field(False, description="A finished rollback opens no incident by itself.")

    # --- tests and drills only -------------------------------------------------
    rollback_crash: str | None = Field(None, description="Kill a rollback at a named step (fault tests).")

    _empty = field_validator(
        "router_url", "cache_url", "runbook", "authority_file", "admin_api_key", "slack_webhook_url",
        "notify_webhook_url", "pagerduty_routing_key", "smtp_password", "pagerduty_url",
        "notify_config", "incident_template", "rollback_crash", mode="before",
    )(_none_if_empty)

    @field_validator("state_dir", mode="before")
    @classmethod
    def _state_dir(cls, v: object) -> object:
        return DEFAULT_STATE_DIR if isinstance(v, str) and not v.strip() else v

    @field_validator("router_url", mode="after")
    @classmethod
    def _router_url(cls, v: str | None) -> str | None:
        return v.rstrip("/") if v else v

    @field_validator("incident_episode_s", mode="before")
    @classmethod
    def _episode(cls, v: object) -> object:
        # unreadable, negative or NaN: the default (a wrong value must not stop a rollback)
        try:
            f = float(str(v).strip()) if not isinstance(v, (int, float)) else float(v)
        except ValueError:
            return DEFAULT_EPISODE_S
        return f if f >= 0 and not math.isnan(f) else DEFAULT_EPISODE_S

    @field_validator("no_auto_incident", mode="before")
    @classmethod
    def _flag(cls, v: object) -> object:
        return str(v).strip().lower() in ("1", "true", "yes", "on") if isinstance(v, str) else bool(v)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RolloutSettings:
        """Read ``ETHOS_*`` from ``env`` (default ``os.environ``); SettingsError names the variable."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {
            k[len(PREFIX):].lower(): v for k, v in env.items() if k.startswith(PREFIX)
        }
        try:
            return cls.model_validate(values)
        except ValidationError as e:
            err = e.errors()[0]
            name = PREFIX + str(err["loc"][0]).upper() if err.get("loc") else "an ETHOS_ variable"
            raise SettingsError(f"{name}: {err['msg']}") from None

    def secret(self, name: str) -> str | None:
        """The plain value of a secret field, or None when unset."""
        v = getattr(self, name)
        return v.get_secret_value() if isinstance(v, SecretStr) else None


def resolve_state_dir(state_dir: str | os.PathLike[str] | None = None,
                      env: Mapping[str, str] | None = None) -> Path:
    """``state_dir`` if given, else ``$ETHOS_STATE_DIR``, else ``.ethos`` (relative to cwd)."""
    if state_dir:
        return Path(state_dir)
    env = os.environ if env is None else env
    return Path(env.get("ETHOS_STATE_DIR") or DEFAULT_STATE_DIR)


def resolve_admin_key(
    *,
    key_env: str | None = None,
    env: Mapping[str, str] | None = None,
    stack: StackState | None = None,
) -> str | None:
    """The admin key: the variable ``key_env`` names (default ``ETHOS_ADMIN_API_KEY``) in
    ``env`` (default ``os.environ``), else the key file of ``stack``, else None.

    The one place the rollout side looks the key up (``stack.state.admin_key_for`` finds the
    stack under a state dir first)."""
    env = os.environ if env is None else env
    key = env.get(key_env or ADMIN_KEY_ENV)
    if key:
        return key
    return stack.key_from_file() if stack is not None else None


__all__ = [
    "ADMIN_KEY_ENV", "DEFAULT_EPISODE_S", "DEFAULT_STATE_DIR", "RolloutSettings", "SettingsError",
    "resolve_admin_key", "resolve_state_dir",
]
