"""Slack incoming webhooks and generic JSON webhooks.

Webhook URLs are secrets (a Slack URL is a credential): they are never logged or journaled;
notifiers describe themselves by kind and host only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from ..settings import RolloutSettings
from .base import Notification, Notifier, NotifyError

SLACK_ENV = "ETHOS_SLACK_WEBHOOK_URL"
WEBHOOK_ENV = "ETHOS_NOTIFY_WEBHOOK_URL"


def slack_payload(n: Notification) -> dict[str, Any]:
    """The runbook's Slack message (text + attachment with Reason, Rollback Time, Executed By)."""
    color = "danger" if n.outcome != "done" or n.procedure == "emergency" else "warning"
    fields = [
        {"title": "Reason", "value": n.reason or "(none given)", "short": True},
        {"title": "Rollback Time", "value": n.time, "short": True},
        {"title": "Executed By", "value": n.executed_by, "short": True},
    ]
    if n.procedure:
        fields.append({"title": "Procedure", "value": n.procedure, "short": True})
    if n.outcome:
        fields.append({"title": "Outcome", "value": n.outcome, "short": True})
    if n.rollback_id:
        fields.append({"title": "Rollback ID", "value": n.rollback_id, "short": True})
    for k, v in n.details.items():
        fields.append({"title": k, "value": str(v), "short": False})
    return {"text": f"\U0001f6a8 {n.title}", "attachments": [{"color": color, "fields": fields}]}


class _HTTPNotifier(Notifier):
    kind = "webhook"

    def __init__(self, url: str, *, timeout: float = 3.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self._url = url
        self._timeout = timeout
        self._transport = transport

    def describe(self) -> str:
        return f"{self.kind} ({urlsplit(self._url).hostname or '?'})"

    def payload(self, n: Notification) -> dict[str, Any]:
        raise NotImplementedError

    def send(self, n: Notification) -> None:
        try:
            with httpx.Client(timeout=self._timeout, transport=self._transport) as c:
                r = c.post(self._url, json=self.payload(n))
        except httpx.HTTPError as e:
            # the exception text may hold the URL: keep only its class
            raise NotifyError(f"{self.describe()}: {e.__class__.__name__}") from None
        if not 200 <= r.status_code < 300:
            raise NotifyError(f"{self.describe()}: answered {r.status_code}")


class SlackNotifier(_HTTPNotifier):
    """A Slack incoming webhook (``ETHOS_SLACK_WEBHOOK_URL``)."""

    kind = "slack"

    def payload(self, n: Notification) -> dict[str, Any]:
        return slack_payload(n)


class WebhookNotifier(_HTTPNotifier):
    """A generic JSON webhook (``ETHOS_NOTIFY_WEBHOOK_URL``): the notification as JSON."""

    kind = "webhook"

    def payload(self, n: Notification) -> dict[str, Any]:
        return {"type": "ethos.rollback", **n.to_dict()}


def notifiers_from_env(env: Mapping[str, str] | None = None) -> list[Notifier]:
    """Slack and/or generic webhook notifiers from ``ETHOS_SLACK_WEBHOOK_URL`` / ``..._NOTIFY_...``."""
    settings = RolloutSettings.from_env(env)
    out: list[Notifier] = []
    if slack := settings.secret("slack_webhook_url"):
        out.append(SlackNotifier(slack))
    if hook := settings.secret("notify_webhook_url"):
        out.append(WebhookNotifier(hook))
    return out
