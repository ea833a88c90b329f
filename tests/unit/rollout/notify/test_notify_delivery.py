"""Notifiers: delivery with retries against fakes, the runbook's Slack fields."""

from __future__ import annotations

import httpx

from ethos.rollout.notify import (
    FakeNotifier,
    Notification,
    NotifyError,
    SlackNotifier,
    WebhookNotifier,
    deliver,
    notifiers_from_env,
    slack_payload,
)

N = Notification(title="ROLLBACK EXECUTED - Marketing Agent", reason="Error rate > 2%",
                 time="2026-11-28T16:00:00+00:00", executed_by="dev", procedure="standard",
                 rollback_id="rb-1", outcome="done")


def test_retries_with_backoff_then_succeeds():
    failures = iter([NotifyError("down"), NotifyError("down")])

    def flaky(n):
        e = next(failures, None)
        if e:
            raise e

    fake, sleeps, seen = FakeNotifier(flaky), [], []
    out = deliver([fake], N, attempts=3, backoff_s=0.5, sleep=sleeps.append,
                  on_failure=lambda who, a, err: seen.append((who, a, err)))
    assert out[0].ok and out[0].attempts == 3 and fake.sent == [N]
    assert sleeps == [0.5, 1.0]
    assert seen == [("fake", 1, "down"), ("fake", 2, "down")]


def test_gives_up_without_raising_and_tries_the_others():
    def broken(n):
        raise RuntimeError("kaput")

    ok = FakeNotifier()
    out = deliver([FakeNotifier(broken), ok], N, attempts=2, sleep=lambda s: None)
    assert [d.ok for d in out] == [False, True]
    assert out[0].error == "kaput" and out[0].attempts == 2
    assert ok.sent == [N]


def test_slack_payload_has_the_runbook_fields():
    p = slack_payload(N)
    fields = {f["title"]: f["value"] for f in p["attachments"][0]["fields"]}
    assert fields["Reason"] == "Error rate > 2%"
    assert fields["Rollback Time"] == N.time and fields["Executed By"] == "dev"
    assert "ROLLBACK EXECUTED" in p["text"]


def test_http_notifiers_with_mock_transport_and_no_url_in_errors():
    got = []

    def handler(request: httpx.Request) -> httpx.Response:
        got.append(request)
        return httpx.Response(500 if "fail" in request.url.path else 200)

    t = httpx.MockTransport(handler)
    SlackNotifier("https://hooks.example/services/SECRET", transport=t).send(N)
    WebhookNotifier("https://hook.example/x", transport=t).send(N)
    assert b'"Executed By"' in got[0].content and b'"type":"ethos.rollback"' in got[1].content.replace(b" ", b"")
    out = deliver([SlackNotifier("https://hooks.example/fail/SECRET", transport=t)], N,
                  attempts=1, sleep=lambda s: None)
    assert not out[0].ok and "500" in out[0].error and "SECRET" not in out[0].error
    assert "SECRET" not in out[0].notifier


def test_from_env():
    assert notifiers_from_env({}) == []
    kinds = [type(n).__name__ for n in notifiers_from_env(
        {"ETHOS_SLACK_WEBHOOK_URL": "http://127.0.0.1:1/s", "ETHOS_NOTIFY_WEBHOOK_URL": "http://127.0.0.1:1/w"})]
    assert kinds == ["SlackNotifier", "WebhookNotifier"]
