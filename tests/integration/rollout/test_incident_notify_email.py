"""Email notifier and the routed incident notifications against an SMTP server on 127.0.0.1 (aiosmtpd)."""

from __future__ import annotations

from email import message_from_bytes

import pytest

aiosmtpd = pytest.importorskip("aiosmtpd.controller")

from ethos.rollout.incidents.record import after_rollback  # noqa: E402
from ethos.rollout.notify import Notification, deliver  # noqa: E402
from ethos.rollout.notify.email import EmailNotifier  # noqa: E402
from ethos.rollout.stack.state import free_port  # noqa: E402
from tests.unit.rollout.incidents._incident_fixtures import write_run  # noqa: E402

N = Notification(title="ROLLBACK EXECUTED - Marketing Agent", reason="Error rate > 2%",
                 time="2026-11-28T16:00:00+00:00", executed_by="dev", procedure="standard",
                 rollback_id="rb-1", outcome="done")


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp():
    inbox = Inbox()
    c = aiosmtpd.Controller(inbox, hostname="127.0.0.1", port=free_port())
    c.start()
    yield c.port, inbox
    c.stop()


def test_email_is_delivered_with_the_runbook_fields(smtp):
    port, inbox = smtp
    n = EmailNotifier("127.0.0.1", port, "ethos@example.com", ["devops@example.com", "sre@example.com"])
    assert [d.ok for d in deliver([n], N)] == [True]
    (sender, rcpts, raw), = inbox.messages
    msg = message_from_bytes(raw)
    assert sender == "ethos@example.com" and rcpts == ["devops@example.com", "sre@example.com"]
    assert msg["Subject"] == "[ethos] ROLLBACK EXECUTED - Marketing Agent"
    body = msg.get_payload()
    assert "Reason: Error rate > 2%" in body and "Executed by: dev" in body


def test_no_server_is_a_failed_delivery_not_an_exception():
    n = EmailNotifier("127.0.0.1", free_port(), "ethos@example.com", ["a@example.com"], timeout=2)
    out = deliver([n], N, attempts=1)
    assert not out[0].ok and "email (127.0.0.1" in out[0].notifier


def test_a_pii_leak_incident_reaches_the_dpo_and_a_rollback_does_not(smtp, tmp_path):
    port, inbox = smtp
    (tmp_path / "notify.yaml").write_text(
        f"smtp: {{host: 127.0.0.1, port: {port}, from: ethos@example.com}}\n"
        "audiences:\n  oncall: {chat: true}\n  stakeholders: {email: [product@example.com]}\n"
        "  dpo: {email: [dpo@example.com]}\n"
        "routes:\n  rollback: [oncall, stakeholders]\n  pii-leak: [oncall, stakeholders, dpo]\n")
    run = write_run(tmp_path)
    inc = after_rollback(tmp_path, run.rollback_id, env={})
    assert [m[1] for m in inbox.messages] == [["product@example.com"]]
    assert inc["notifications"][0]["ok"]
    run2 = write_run(tmp_path / "p")
    (tmp_path / "p" / "notify.yaml").write_text((tmp_path / "notify.yaml").read_text())
    after_rollback(tmp_path / "p", run2.rollback_id, kind="pii-leak", env={})
    assert sorted(m[1][0] for m in inbox.messages[1:]) == ["dpo@example.com", "product@example.com"]
