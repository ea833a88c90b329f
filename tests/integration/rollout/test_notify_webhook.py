"""Notifiers against a real webhook receiver on 127.0.0.1."""

from __future__ import annotations

import socket

import pytest

from ethos.rollout.notify import Notification, SlackNotifier, WebhookNotifier, deliver
from tests.integration.rollout._rollback_fakes import WebhookReceiver

N = Notification(title="ROLLBACK EXECUTED - Marketing Agent", reason="PII leak detected",
                 time="2026-11-28T16:00:00+00:00", executed_by="tom", procedure="emergency",
                 rollback_id="rb-x", outcome="done")


@pytest.fixture
def receiver():
    r = WebhookReceiver().start()
    yield r
    r.stop()


def test_slack_and_generic_webhook_are_received(receiver):
    out = deliver([SlackNotifier(receiver.url + "/slack"), WebhookNotifier(receiver.url + "/hook")], N)
    assert [d.ok for d in out] == [True, True]
    (p1, slack), (p2, generic) = receiver.received
    assert p1 == "/slack" and p2 == "/hook"
    fields = {f["title"]: f["value"] for f in slack["attachments"][0]["fields"]}
    assert fields["Reason"] == "PII leak detected" and fields["Executed By"] == "tom"
    assert generic["type"] == "ethos.rollback" and generic["rollback_id"] == "rb-x"


def test_retried_after_server_errors(receiver):
    receiver.fail_first = 2
    out = deliver([WebhookNotifier(receiver.url + "/hook")], N, attempts=3, backoff_s=0.01)
    assert out[0].ok and out[0].attempts == 3 and len(receiver.received) == 1


def test_unreachable_webhook_is_reported_not_raised():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = deliver([SlackNotifier(f"http://127.0.0.1:{port}/x")], N, attempts=2, backoff_s=0.01)
    assert not out[0].ok and out[0].attempts == 2 and "ConnectError" in out[0].error
