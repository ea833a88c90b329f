"""Targets from flags / environment / stack file, and the router's stats read into signals."""

from __future__ import annotations

import json

import httpx
import pytest

from ethos.rollout.router.windows import RouterStats
from ethos.rollout.sources.signals import (
    FakeSignals,
    RevisionSignals,
    RouterSignals,
    SignalsUnavailable,
    signals_from_stats,
)
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


def _window(window_s: int, count: int = 0, errors: int = 0, error_rate: float = 0.0, p50: float | None = None,
            p95: float | None = None, ttft50: float | None = None, ttft95: float | None = None) -> dict:
    """One window exactly as ``ethos router`` sends it."""
    return {"window_s": window_s, "count": count, "errors": errors, "error_rate": error_rate,
            "rps": round(count / window_s, 3),
            "status": {"2xx": count - errors, "3xx": 0, "4xx": 0, "5xx": errors, "none": 0},
            "connect_failures": 0, "retried": 0, "p50_latency_ms": p50, "p95_latency_ms": p95,
            "p50_ttft_ms": ttft50, "p95_ttft_ms": ttft95}


ROUTER_STATS = {
    "weights": {"blue": 100, "green": 0}, "sticky": False, "windows_s": [60, 300],
    "revisions": {
        "blue": {"60s": _window(60, 120, 1, 0.008333, 12.5, 40.0, 8.0, 20.0), "300s": _window(300, 600)},
        "green": {"60s": _window(60), "300s": _window(300)},
    },
    "ejected": {},
}


def _signals(answer) -> RouterSignals:
    return RouterSignals("http://router.test", transport=httpx.MockTransport(lambda r: answer))


def test_router_signals_use_the_shortest_window_unless_told():
    s = signals_from_stats(RouterStats.from_json(ROUTER_STATS))
    assert s["blue"] == RevisionSignals(count=120, error_rate=0.008333, p50_ms=12.5, p95_ms=40.0,
                                        ttft_p50_ms=8.0, ttft_p95_ms=20.0, window_s=60.0)
    assert s["blue"].errors == 1 and s["green"].p50_ms is None
    assert signals_from_stats(RouterStats.from_json(ROUTER_STATS), 300)["blue"].count == 600


@pytest.mark.parametrize("garbage", [
    [1, 2],
    {"revisions": 3},
    {**ROUTER_STATS, "revisions": {"blue": {"requests": 120, "p50_ms": 12.5}}},  # no windows: not the router's
], ids=["list", "revisions-not-an-object", "flat-aliases"])
def test_router_stats_not_in_the_routers_shape_are_unavailable(garbage):
    with pytest.raises(SignalsUnavailable, match="not the router's stats"):
        _signals(httpx.Response(200, json=garbage)).read()


def test_router_signals_over_mock_transport():
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/router/stats":
            return httpx.Response(200, json=ROUTER_STATS)
        return httpx.Response(404)

    src = RouterSignals("http://router.test", transport=httpx.MockTransport(handler))
    assert src.read()["blue"].count == 120
    src.close()
    with pytest.raises(SignalsUnavailable, match="404"):
        _signals(httpx.Response(404)).read()
    with pytest.raises(SignalsUnavailable, match="did not answer JSON"):
        _signals(httpx.Response(200, text="<html>")).read()


def test_fake_signals_and_round_trip():
    s = RevisionSignals(count=3, error_rate=0.5, p95_ms=9.0)
    fake = FakeSignals(lambda: {"blue": s})
    assert fake.read() == {"blue": s} and fake.reads == 1
    assert RevisionSignals.from_dict(s.to_dict()) == s
