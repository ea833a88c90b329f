"""The console's sampler with fakes: a FakeSource for the signals and a mock transport for the
router's traffic and the revisions' /health. No servers, no clock of its own."""

from __future__ import annotations

import httpx

from ethos.rollout.console.sampler import Sampler
from ethos.rollout.console.series import SeriesStore
from ethos.rollout.guard.policy import load_policy
from ethos.rollout.sources.base import FakeSource, SourceError
from ethos.rollout.sources.measurements import Measurement, proportion


def _transport(green_up: bool = True) -> httpx.MockTransport:
    def handler(req: httpx.Request) -> httpx.Response:
        if req.url.path == "/router/traffic":
            return httpx.Response(200, json={"weights": {"blue": 90, "green": 10}})
        if req.url.host == "green" and not green_up:
            raise httpx.ConnectError("refused", request=req)
        return httpx.Response(200, json={"status": "ok", "revision": req.url.host, "cache_format_version": 2,
                                         "faults": {"error_rate": 0.1} if req.url.host == "green" else None})
    return httpx.MockTransport(handler)


def _errors(rate_events: int):
    def fn(needs, revisions, now):
        out = {}
        for w in needs.get("error_rate", []):
            out[("green", "error_rate", float(w))] = proportion(rate_events, 1000, window_s=float(w))
            out[("green", "requests", float(w))] = Measurement(1000.0, 1000, window_s=float(w))
        return out
    return fn


def test_tick_reads_traffic_health_signals_and_evaluates() -> None:
    clock = iter([1000.0, 1005.0]).__next__
    series = SeriesStore()
    s = Sampler(load_policy(), "http://router", {"blue": "http://blue", "green": "http://green"},
                [FakeSource(_errors(100))], series, clock=clock, transport=_transport())
    r = s.tick()
    assert r.weights == {"blue": 90, "green": 10} and r.traffic_error is None
    assert r.health["green"]["faults"] == {"error_rate": 0.1} and r.health["blue"]["cache_format_version"] == 2
    rows = {t["trigger"]: t for t in r.evaluation["triggers"]}
    assert rows["error_rate_critical"]["status"] == "firing"  # 10% > 5% with 1000 samples
    assert r.last_call and r.last_call["action"] == "emergency" and r.last_call["at"] == 1000.0
    sample = series.latest()
    assert sample is not None and sample.values["green"]["error_rate"] == 0.1
    assert sample.values["green"]["request_rate"] == 1000 / 60
    r2 = s.tick()  # the incident now holds the trigger: the call made at 1000 is still shown
    assert r2.evaluation["decision"]["action"] != "emergency" and r2.last_call["at"] == 1000.0
    s.stop()


def test_unreachable_parts_are_text_not_crashes() -> None:
    def broken(needs, revisions, now):
        raise SourceError("router down")
    s = Sampler(load_policy(), None, {"blue": "http://blue", "green": "http://green"},
                [FakeSource(broken, name="router")], SeriesStore(), clock=lambda: 5.0,
                transport=_transport(green_up=False))
    r = s.tick()
    assert r.weights is None and r.traffic_error == "no router configured"
    assert isinstance(r.health["green"], str) and "ConnectError" in r.health["green"]
    assert r.unavailable == {"router": "router down"}
    assert {t["status"] for t in r.evaluation["triggers"]} <= {"no-data", "inconclusive"}
    assert r.last_call is None
    s.stop()


def test_the_loop_starts_ticks_and_stops() -> None:
    s = Sampler(load_policy(), "http://router", {"blue": "http://blue"}, [], SeriesStore(),
                interval_s=0.05, transport=_transport())
    s.start()
    try:
        for _ in range(200):
            if len(s.series.samples()) >= 2:
                break
            s._stop.wait(0.02)
        assert len(s.series.samples()) >= 2
    finally:
        s.stop()
    assert s._thread is None
