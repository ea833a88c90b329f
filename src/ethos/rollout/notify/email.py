"""Email notifications over SMTP (``smtplib``): a plain-text message per notification.

The SMTP password, if any, comes from ``$ETHOS_SMTP_PASSWORD`` only and is never logged.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage

from .base import Notification, Notifier, NotifyError

PASSWORD_ENV = "ETHOS_SMTP_PASSWORD"


def email_message(n: Notification, sender: str, recipients: Sequence[str]) -> EmailMessage:
    """The message for ``n``: subject from the title, the runbook's fields in the body. Pure."""
    m = EmailMessage()
    m["Subject"] = f"[ethos] {n.title}"
    m["From"] = sender
    m["To"] = ", ".join(recipients)
    lines = [n.title, "", f"Reason: {n.reason or '(none given)'}", f"Time: {n.time}",
             f"Executed by: {n.executed_by}"]
    if n.procedure:
        lines.append(f"Procedure: {n.procedure}")
    if n.outcome:
        lines.append(f"Outcome: {n.outcome}")
    if n.rollback_id:
        lines.append(f"Rollback ID: {n.rollback_id}")
    for k, v in n.details.items():
        lines.append(f"{k}: {v}")
    m.set_content("\n".join(lines) + "\n")
    return m


class EmailNotifier(Notifier):
    """Sends to ``recipients`` through the SMTP server at ``host:port``."""

    kind = "email"

    def __init__(self, host: str, port: int, sender: str, recipients: Sequence[str], *,
                 starttls: bool = False, username: str | None = None, password: str | None = None,
                 timeout: float = 10.0, audience: str = "") -> None:
        if not recipients:
            raise ValueError("an email notifier needs at least one recipient")
        self.host, self.port, self.sender = host, port, sender
        self.recipients = list(recipients)
        self.starttls = starttls
        self.username = username
        self._password = password
        self.timeout = timeout
        self.audience = audience

    def describe(self) -> str:
        who = f" to {self.audience}" if self.audience else ""
        return f"{self.kind} ({self.host}{who}, {len(self.recipients)} recipients)"

    def send(self, n: Notification) -> None:
        msg = email_message(n, self.sender, self.recipients)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as s:
                if self.starttls:
                    s.starttls(context=ssl.create_default_context())
                if self.username and self._password:
                    s.login(self.username, self._password)
                refused = s.send_message(msg)
        except (OSError, smtplib.SMTPException) as e:
            raise NotifyError(f"{self.describe()}: {e.__class__.__name__}") from None
        if refused:
            raise NotifyError(f"{self.describe()}: {len(refused)} recipients refused")


__all__ = ["EmailNotifier", "email_message", "PASSWORD_ENV"]
