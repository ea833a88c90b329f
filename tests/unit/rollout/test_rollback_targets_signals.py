"""Targets from flags / environment / stack file, and the router's stats read into signals."""

from __future__ import annotations

import json

import httpx
import pytest

from ethos.rollout.sources.signals import FakeSignals, RevisionSignals, RouterSignals, SignalsUnavailable, parse_router_stats
from ethos.rollout.traffic.targets import TargetError, resolve_targets

REVS = ["blue=http://127.0.0.1:1", "green=http://127.0.0.1:2/"]


def test_flags_win_and_the_key_comes_from_the_environment(tmp_path):
    t = resolve_targets(router="http://r:1/", revisions=REVS, state_dir=tmp_path,
                        env={"ETHOS_ADMIN_API_KEY": "s3cret", "ETHOS_ROUTER_URL": "http://other"})
    assert t.router == "http://r:1" and t.revisions["green"] == "http://127.0.0.1:2"
    assert t.admin_key == "s3cret" and "s3cret" not in repr(t) and "s3cret" not in json.dumps(t.public())


def test_environment_router_and_named_key_variable(tmp_path):
    t = resolve_targets(revisions=REVS, admin_key_env="MY_KEY", state_dir=tmp_path,
                        env={"ETHOS_ROUTER_URL": "http://env:8000", "MY_KEY": "k"})
    assert t.router == "http://env:8000" and t.admin_key == "k" and t.source == "env"
    with pytest.raises(TargetError, match="MY_KEY"):
        resolve_targets(revisions=REVS, router="http://r", admin_key_env="MY_KEY", state_dir=tmp_path, env={})


def test_stack_file_fills_what_flags_do_not_give(tmp_path):
    (tmp_path / "admin_key").write_text("from-file\n")
    (tmp_path / "stack.json").write_text(json.dumps({
        "router": "http://127.0.0.1:8000",
        "revisions": {"blue": "http://127.0.0.1:8001", "green": "http://127.0.0.1:8002"},
        "admin_key_file": str(tmp_path / "admin_key")}))
    t = resolve_targets(state_dir=tmp_path, env={})
    assert t.source == "stack" and t.router == "http://127.0.0.1:8000" and t.admin_key == "from-file"


@pytest.mark.parametrize("kw,match", [
    ({"revisions": REVS, "blue": "purple"}, "unknown revision 'purple'"),
    ({"revisions": REVS, "blue": "green"}, "same revision"),
    ({"revisions": ["blue:http://x"]}, "NAME=http"),
    ({"revisions": []}, "no revision URLs"),
    ({"revisions": REVS, "router": None}, "no router"),
])
def test_bad_targets(tmp_path, kw, match):
    kw = {"router": "http://r", **kw}
    with pytest.raises(TargetError, match=match):
        resolve_targets(state_dir=tmp_path, env={}, **kw)


ROUTER_STATS = {
    "weights": {"blue": 100, "green": 0}, "windows_s": [60, 300],
    "revisions": {
        "blue": {"60s": {"window_s": 60, "count": 120, "errors": 1, "error_rate": 0.008333,
                         "p50_latency_ms": 12.5, "p95_latency_ms": 40.0, "p50_ttft_ms": 8.0, "p95_ttft_ms": 20.0},
                 "300s": {"window_s": 300, "count": 600, "error_rate": 0.0}},
        "green": {"60s": {"window_s": 60, "count": 0, "error_rate": 0.0, "p50_latency_ms": None}},
    },
}


def test_parse_router_stats_uses_the_shortest_window():
    s = parse_router_stats(ROUTER_STATS)
    assert s["blue"] == RevisionSignals(count=120, error_rate=0.008333, p50_ms=12.5, p95_ms=40.0,
                                        ttft_p50_ms=8.0, ttft_p95_ms=20.0, window_s=60.0)
    assert s["blue"].errors == 1 and s["green"].p50_ms is None
    assert parse_router_stats(ROUTER_STATS, "300s")["blue"].count == 600


def test_parse_router_stats_rejects_garbage():
    with pytest.raises(SignalsUnavailable):
        parse_router_stats([1, 2])
    with pytest.raises(SignalsUnavailable):
        parse_router_stats({"revisions": 3})


def test_router_signals_over_mock_transport():
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/router/stats":
            return httpx.Response(200, json=ROUTER_STATS)
        return httpx.Response(404)

    src = RouterSignals("http://router.test", transport=httpx.MockTransport(handler))
    assert src.read()["blue"].count == 120
    src.close()
    bad = RouterSignals("http://router.test", transport=httpx.MockTransport(lambda r: httpx.Response(404)))
    with pytest.raises(SignalsUnavailable, match="404"):
        bad.read()


def test_fake_signals_and_round_trip():
    s = RevisionSignals(count=3, error_rate=0.5, p95_ms=9.0)
    fake = FakeSignals(lambda: {"blue": s})
    assert fake.read() == {"blue": s} and fake.reads == 1
    assert RevisionSignals.from_dict(s.to_dict()) == s
