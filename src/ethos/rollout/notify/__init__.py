"""Telling the team: one :class:`Notifier` contract (``base``), one module per channel.

- :mod:`.base`: :class:`Notification`, :class:`Notifier`, :func:`deliver` (retries, never raises);
- :mod:`.webhook`: Slack and generic JSON webhooks (``notifiers_from_env``);
- :mod:`.pagerduty`: PagerDuty Events API v2; :mod:`.email`: SMTP.
"""

from __future__ import annotations

from .base import Delivery, FakeNotifier, Notification, Notifier, NotifyError, deliver
from .webhook import (
    SLACK_ENV,
    WEBHOOK_ENV,
    SlackNotifier,
    WebhookNotifier,
    notifiers_from_env,
    slack_payload,
)

__all__ = [
    "Delivery", "FakeNotifier", "Notification", "Notifier", "NotifyError", "deliver",
    "SLACK_ENV", "WEBHOOK_ENV", "SlackNotifier", "WebhookNotifier", "notifiers_from_env",
    "slack_payload",
]
