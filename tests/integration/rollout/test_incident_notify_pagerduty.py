"""PagerDuty Events API v2 notifier against a server on 127.0.0.1 speaking that API."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ethos.rollout.notify import Notification, NotifyError, deliver
from ethos.rollout.notify.pagerduty import PagerDutyNotifier

KEY = "R0UT1NGKEY0123456789abcdef012345"
N = Notification(title="Incident inc-1: emergency rollback", reason="error rate 7.4% > 5% on green",
                 time="2026-11-28T02:10:00+00:00", executed_by="ethos-guard", procedure="emergency",
                 rollback_id="rb-1", outcome="done", details={"incident_id": "inc-1", "kind": "rollback"})


class PagerDutyFake:
    """``POST /v2/enqueue``: 202 for a valid event, 400 like PagerDuty for an invalid one."""

    def __init__(self) -> None:
        events: list[dict] = []
        self.events = events
        self.open: dict[str, dict] = {}
        fake = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                events.append(body)
                ok = (self.path == "/v2/enqueue" and len(body.get("routing_key", "")) == 32
                      and body.get("event_action") in ("trigger", "acknowledge", "resolve")
                      and (body["event_action"] != "trigger"
                           or {"summary", "source", "severity"} <= set(body.get("payload") or {})))
                if ok and body["event_action"] == "trigger":
                    fake.open[body["dedup_key"]] = body
                elif ok and body["event_action"] == "resolve":
                    fake.open.pop(body["dedup_key"], None)
                out = (json.dumps({"status": "success", "message": "Event processed", "dedup_key": body.get("dedup_key")})
                       if ok else json.dumps({"status": "invalid event", "message": "Event object is invalid"}))
                self.send_response(202 if ok else 400)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(out.encode())

            def log_message(self, *a) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v2/enqueue"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def pd():
    f = PagerDutyFake()
    yield f
    f.stop()


def test_trigger_then_resolve_with_one_dedup_key_per_incident(pd):
    n = PagerDutyNotifier(KEY, url=pd.url)
    assert [d.ok for d in deliver([n], N)] == [True]
    trig = pd.events[-1]
    assert trig["event_action"] == "trigger" and trig["dedup_key"] == "inc-1"
    assert trig["payload"]["severity"] == "critical" and trig["payload"]["summary"].startswith("Incident inc-1")
    assert trig["payload"]["custom_details"]["rollback_id"] == "rb-1"
    assert set(pd.open) == {"inc-1"}
    deliver([n], N)  # a second alert of the same incident does not open another
    assert set(pd.open) == {"inc-1"}
    n.resolve(N)
    assert pd.events[-1] == {"routing_key": KEY, "event_action": "resolve", "dedup_key": "inc-1"}
    assert pd.open == {}


def test_a_refused_event_and_an_unreachable_endpoint_are_notify_errors(pd):
    with pytest.raises(NotifyError, match="answered 400") as e:
        PagerDutyNotifier("short", url=pd.url).send(N)
    assert "short" not in str(e.value)
    pd.stop()
    out = deliver([PagerDutyNotifier(KEY, url=pd.url)], N, attempts=2, backoff_s=0.01)
    assert not out[0].ok and KEY not in out[0].error and out[0].notifier == "pagerduty (127.0.0.1)"


def test_an_incident_pages_on_open_and_resolves_on_close(pd, tmp_path, monkeypatch):

    from click.testing import CliRunner

    from ethos.cli.incident import incident
    from ethos.rollout.incidents.record import after_rollback
    from tests.unit.rollout.incidents._incident_fixtures import write_run

    monkeypatch.setenv("ETHOS_PAGERDUTY_ROUTING_KEY", KEY)
    monkeypatch.delenv("ETHOS_NOTIFY_CONFIG", raising=False)
    (tmp_path / "notify.yaml").write_text(f"pagerduty: {{url: '{pd.url}'}}\n"
                                          "audiences: {oncall: {pagerduty: true}}\n")
    run = write_run(tmp_path)
    inc = after_rollback(tmp_path, run.rollback_id)
    assert set(pd.open) == {inc["id"]} and inc["notifications"][0]["ok"]
    r = CliRunner().invoke(incident, ["resolve", inc["id"], "--by", "dev", "--state-dir", str(tmp_path), "--json"])
    assert r.exit_code == 0, r.output
    assert pd.events[-1]["event_action"] == "resolve" and pd.events[-1]["dedup_key"] == inc["id"]
    assert pd.open == {}
