"""Who is told of what: audiences (on-call, stakeholders, DPO ...) and the events they hear of.

YAML at ``$ETHOS_NOTIFY_CONFIG``, else ``<state dir>/notify.yaml``::

    pagerduty: {url: https://events.pagerduty.com/v2/enqueue}   # key: $ETHOS_PAGERDUTY_ROUTING_KEY
    smtp: {host: smtp.example.com, port: 587, from: ethos@example.com, starttls: true,
           username: ethos}                                     # password: $ETHOS_SMTP_PASSWORD
    audiences:
      oncall: {pagerduty: true, chat: true}        # chat: the Slack / webhook of the environment
      engineering: {email: [devops@example.com]}
      stakeholders: {email: [product@example.com, success@example.com]}
      dpo: {email: [dpo@example.com]}
    routes:
      rollback: [oncall, engineering, stakeholders]
      pii-leak: [oncall, engineering, stakeholders, dpo]
      drill: [engineering]

Without a file, every event goes to the chat notifiers of the environment (Slack / webhook),
and to PagerDuty when ``$ETHOS_PAGERDUTY_ROUTING_KEY`` is set.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from ..errors import PermanentError
from ..notify import Notifier, notifiers_from_env
from ..notify.email import EmailNotifier
from ..notify.pagerduty import PAGERDUTY_URL, PagerDutyNotifier
from ..settings import RolloutSettings

CONFIG_ENV = "ETHOS_NOTIFY_CONFIG"
CONFIG_FILE = "notify.yaml"
EVENTS = ("rollback", "pii-leak", "drill", "resolved")
DEFAULT_ROUTES: dict[str, list[str]] = {e: ["oncall"] for e in EVENTS}


class RoutingError(PermanentError):
    """The notification configuration is unreadable or inconsistent."""


def load_routing(state_dir: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The configuration as a dict (empty when there is no file)."""
    path = RolloutSettings.from_env(env).notify_config or Path(state_dir) / CONFIG_FILE
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, yaml.YAMLError) as e:
        raise RoutingError(f"cannot read {path}: {e}") from e
    if data is not None and not isinstance(data, Mapping):
        raise RoutingError(f"{path}: expected a mapping")
    return dict(data or {})


def audiences_for(event: str, config: Mapping[str, Any]) -> list[str]:
    """The audiences told of ``event``. Pure."""
    routes = config.get("routes") or DEFAULT_ROUTES
    return list(routes.get(event) or routes.get("rollback") or ["oncall"])


def notifiers_for(event: str, config: Mapping[str, Any],
                  env: Mapping[str, str] | None = None) -> list[Notifier]:
    """Build the notifiers that tell the audiences of ``event`` (deduplicated)."""
    env = os.environ if env is None else env
    settings = RolloutSettings.from_env(env)
    routing_key = settings.secret("pagerduty_routing_key")
    audiences = config.get("audiences") or {"oncall": {"pagerduty": True, "chat": True}}
    smtp = config.get("smtp") or {}
    pd = config.get("pagerduty") or {}
    out: list[Notifier] = []
    seen: set[str] = set()
    emails: dict[str, list[str]] = {}
    for name in audiences_for(event, config):
        a = audiences.get(name)
        if a is None:
            raise RoutingError(f"route {event!r} names an unknown audience {name!r}")
        if a.get("chat") and "chat" not in seen:
            seen.add("chat")
            out.extend(notifiers_from_env(env))
        if a.get("pagerduty") and "pagerduty" not in seen and routing_key:
            seen.add("pagerduty")
            out.append(PagerDutyNotifier(routing_key,
                                         url=str(pd.get("url") or settings.pagerduty_url or PAGERDUTY_URL)))
        for addr in a.get("email") or []:
            emails.setdefault(name, []).append(str(addr))
    if emails:
        if not smtp.get("host"):
            raise RoutingError("audiences have email addresses but no smtp.host is configured")
        for name, addrs in emails.items():
            out.append(EmailNotifier(
                str(smtp["host"]), int(smtp.get("port", 25)), str(smtp.get("from", "ethos@localhost")),
                addrs, starttls=bool(smtp.get("starttls", False)), username=smtp.get("username"),
                password=settings.secret("smtp_password"), audience=name))
    return out


__all__ = ["load_routing", "audiences_for", "notifiers_for", "RoutingError", "CONFIG_ENV", "EVENTS"]
