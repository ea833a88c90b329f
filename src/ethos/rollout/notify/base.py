"""Telling the team: a one-method :class:`Notifier`, and delivery.

:func:`deliver` tries every notifier with retries and exponential backoff and never raises:
it returns one :class:`Delivery` per notifier, which the procedure journals. A failed
notification never blocks or undoes a rollback.

Webhook URLs are secrets (a Slack URL is a credential): they are never logged or journaled;
notifiers describe themselves by kind and host only.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import RolloutError


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


__all__ = ["Delivery", "FakeNotifier", "Notification", "Notifier", "NotifyError", "deliver"]
