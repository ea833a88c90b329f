"""Telling the team: a one-method :class:`Notifier`, Slack and generic webhooks, and delivery.

:func:`deliver` tries every notifier with retries and exponential backoff and never raises:
it returns one :class:`Delivery` per notifier, which the procedure journals. A failed
notification never blocks or undoes a rollback.

Webhook URLs are secrets (a Slack URL is a credential): they are never logged or journaled;
notifiers describe themselves by kind and host only.
"""

from __future__ import annotations

import abc
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from .errors import RolloutError

SLACK_ENV = "ETHOS_SLACK_WEBHOOK_URL"
WEBHOOK_ENV = "ETHOS_NOTIFY_WEBHOOK_URL"


class NotifyError(RolloutError):
    """A notification was not accepted (network error, non-2xx answer)."""


@dataclass(frozen=True, slots=True)
class Notification:
    """What a rollback tells the team: the runbook's fields (reason, time, executed by) and more."""

    title: str
    reason: str
    time: str  # ISO 8601 UTC
    executed_by: str
    procedure: str = ""
    rollback_id: str = ""
    outcome: str = ""  # done | failed | held
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Notifier(abc.ABC):
    """Sends one notification; raises :class:`NotifyError` when it was not accepted."""

    @abc.abstractmethod
    def send(self, n: Notification) -> None: ...

    def describe(self) -> str:
        return type(self).__name__


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


class FakeNotifier(Notifier):
    """Records notifications; ``fn(n)`` may raise NotifyError to simulate a failure."""

    def __init__(self, fn: Callable[[Notification], None] | None = None) -> None:
        self.fn = fn
        self.sent: list[Notification] = []
        self.attempts = 0

    def send(self, n: Notification) -> None:
        self.attempts += 1
        if self.fn is not None:
            self.fn(n)
        self.sent.append(n)

    def describe(self) -> str:
        return "fake"


@dataclass(frozen=True, slots=True)
class Delivery:
    """How one notifier fared: ``ok``, attempts made, the last error (no secrets)."""

    notifier: str
    ok: bool
    attempts: int
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def deliver(
    notifiers: Sequence[Notifier],
    n: Notification,
    *,
    attempts: int = 3,
    backoff_s: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
    on_failure: Callable[[str, int, str], None] | None = None,
) -> list[Delivery]:
    """Send ``n`` through each notifier, retrying with backoff (0.5 s, 1 s, ...). Never raises.

    ``on_failure(notifier, attempt, error)`` is called on every failed attempt (the
    procedure journals it).
    """
    out = []
    for notifier in notifiers:
        error = ""
        for attempt in range(1, max(1, attempts) + 1):
            try:
                notifier.send(n)
            except Exception as e:  # noqa: BLE001 - a notifier must never break the rollback
                error = str(e) or e.__class__.__name__
                if on_failure is not None:
                    on_failure(notifier.describe(), attempt, error)
                if attempt < attempts:
                    sleep(backoff_s * 2 ** (attempt - 1))
                continue
            out.append(Delivery(notifier.describe(), True, attempt))
            break
        else:
            out.append(Delivery(notifier.describe(), False, max(1, attempts), error))
    return out


def notifiers_from_env(env: Mapping[str, str] | None = None) -> list[Notifier]:
    """Slack and/or generic webhook notifiers from ``ETHOS_SLACK_WEBHOOK_URL`` / ``..._NOTIFY_...``."""
    env = os.environ if env is None else env
    out: list[Notifier] = []
    if env.get(SLACK_ENV):
        out.append(SlackNotifier(env[SLACK_ENV]))
    if env.get(WEBHOOK_ENV):
        out.append(WebhookNotifier(env[WEBHOOK_ENV]))
    return out


__all__ = [
    "Notification", "Notifier", "SlackNotifier", "WebhookNotifier", "FakeNotifier",
    "Delivery", "NotifyError", "deliver", "notifiers_from_env", "slack_payload",
    "SLACK_ENV", "WEBHOOK_ENV",
]
