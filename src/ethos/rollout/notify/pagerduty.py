"""PagerDuty Events API v2: trigger and resolve, one dedup key per incident.

``POST {url}`` (default ``https://events.pagerduty.com/v2/enqueue``) with
``{"routing_key", "event_action": "trigger"|"resolve", "dedup_key", "payload": {...}}``;
PagerDuty answers ``202`` with ``{"status": "success", "dedup_key": ...}``. The routing key is a
secret (read from ``$ETHOS_PAGERDUTY_ROUTING_KEY``): never logged, never in ``describe()``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx

from .base import Notification, Notifier, NotifyError

PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue"
ROUTING_KEY_ENV = "ETHOS_PAGERDUTY_ROUTING_KEY"
URL_ENV = "ETHOS_PAGERDUTY_URL"


def dedup_key(n: Notification) -> str:
    """One key per incident: the incident id, else the rollback id, else the title. Pure."""
    return str(n.details.get("incident_id") or n.rollback_id or n.title)[:255]


def severity_of(n: Notification) -> str:
    """PagerDuty severity: critical for emergencies and failures, else error. Pure."""
    if n.procedure == "emergency" or n.outcome in ("failed", "held") or n.details.get("kind") == "pii-leak":
        return "critical"
    return "error"


def pagerduty_event(n: Notification, routing_key: str, action: str = "trigger",
                    source: str = "ethos") -> dict[str, Any]:
    """The Events API v2 body for ``n``. Pure."""
    if action not in ("trigger", "acknowledge", "resolve"):
        raise ValueError(f"unknown PagerDuty event_action {action!r}")
    body: dict[str, Any] = {"routing_key": routing_key, "event_action": action, "dedup_key": dedup_key(n)}
    if action == "trigger":
        body["payload"] = {
            "summary": f"{n.title}: {n.reason}"[:1024],
            "source": source,
            "severity": severity_of(n),
            "timestamp": n.time,
            "component": "marketing-api",
            "group": n.procedure or "rollback",
            "class": str(n.details.get("kind") or "rollback"),
            "custom_details": {"executed_by": n.executed_by, "outcome": n.outcome,
                               "rollback_id": n.rollback_id,
                               **{k: str(v) for k, v in n.details.items()}},
        }
    return body


class PagerDutyNotifier(Notifier):
    """Sends a notification as a PagerDuty event (trigger by default; ``resolve`` closes it)."""

    kind = "pagerduty"

    def __init__(self, routing_key: str, *, url: str = PAGERDUTY_URL, timeout: float = 5.0,
                 transport: httpx.BaseTransport | None = None, action: str = "trigger") -> None:
        self._key = routing_key
        self._url = url
        self._timeout = timeout
        self._transport = transport
        self.action = action

    def describe(self) -> str:
        return f"{self.kind} ({urlsplit(self._url).hostname or '?'})"

    def send(self, n: Notification) -> None:
        self.post(pagerduty_event(n, self._key, self.action))

    def resolve(self, n: Notification) -> None:
        """Resolve the alert that ``n``'s incident triggered (same dedup key)."""
        self.post(pagerduty_event(n, self._key, "resolve"))

    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        try:
            with httpx.Client(timeout=self._timeout, transport=self._transport) as c:
                r = c.post(self._url, json=body)
        except httpx.HTTPError as e:
            raise NotifyError(f"{self.describe()}: {e.__class__.__name__}") from None
        if r.status_code not in (200, 202):
            raise NotifyError(f"{self.describe()}: answered {r.status_code}")
        try:
            data = r.json()
        except ValueError:
            data = {}
        return data if isinstance(data, dict) else {}


__all__ = ["PagerDutyNotifier", "pagerduty_event", "dedup_key", "severity_of",
           "PAGERDUTY_URL", "ROUTING_KEY_ENV", "URL_ENV"]
