"""Fencing against a real router on 127.0.0.1: ``X-Ethos-Fence`` on ``PUT /router/traffic``.

A procedure preempted by a later one (its process hung in the middle of a call) must never
change traffic when it wakes: the router refuses a fence lower than one it already accepted,
and keeps its mark across a restart.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from ethos.rollout.errors import FencedError
from ethos.rollout.router.weights_store import WEIGHTS_FILE
from ethos.rollout.traffic import LocalRouterTraffic
from tests.integration.rollout.test_router_proxy import KEY, revisions, start_router  # noqa: F401  (the `revisions` fixture)


def _put(url: str, weights: dict[str, int], fence: object = None) -> httpx.Response:
    headers = {"X-Admin-API-Key": KEY}
    if fence is not None:
        headers["X-Ethos-Fence"] = str(fence)
    return httpx.put(f"{url}/router/traffic", json=weights, headers=headers, timeout=10)


def _shown(url: str) -> dict:
    return httpx.get(f"{url}/router/traffic", timeout=10).json()


def test_a_lower_fence_is_refused_and_changes_nothing(revisions, tmp_path: Path) -> None:
    app, srv = start_router(revisions, tmp_path)
    try:
        assert _shown(srv.url)["fence"] is None  # nothing fenced yet
        r = _put(srv.url, {"blue": 90, "green": 10}, fence=10)
        assert r.status_code == 200, r.text
        assert r.json()["weights"] == {"blue": 90, "green": 10} and r.json()["fence"] == 10

        r = _put(srv.url, {"blue": 0, "green": 100}, fence=5)  # the preempted procedure wakes up
        assert r.status_code == 409, r.text
        body = r.json()
        assert body["error"] == "fenced" and body["fence"] == 10
        assert "later holder of control (fence 10 > 5)" in body["detail"]
        shown = _shown(srv.url)
        assert shown["weights"] == {"blue": 90, "green": 10} and shown["fence"] == 10  # untouched
        assert json.loads((tmp_path / WEIGHTS_FILE).read_text())["weights"] == {"blue": 90, "green": 10}
        assert app.weights == {"blue": 90, "green": 10} and app.fence == 10

        assert _put(srv.url, {"blue": 80, "green": 20}, fence=10).status_code == 200  # the same holder again
        r = _put(srv.url, {"blue": 100, "green": 0})  # no header: an operator's change, always accepted
        assert r.status_code == 200 and r.json()["weights"] == {"blue": 100, "green": 0}
        assert r.json()["fence"] == 10  # ... and it leaves the mark
        assert _put(srv.url, {"blue": 0, "green": 100}, fence=9).status_code == 409
        assert _put(srv.url, {"blue": 50, "green": 50}, fence=11).json()["fence"] == 11
    finally:
        srv.stop()


def test_the_fence_survives_a_router_restart(revisions, tmp_path: Path) -> None:
    app, srv = start_router(revisions, tmp_path)
    try:
        assert _put(srv.url, {"blue": 30, "green": 70}, fence=1_700_000_000_123).status_code == 200
    finally:
        srv.stop()
    saved = json.loads((tmp_path / WEIGHTS_FILE).read_text())
    assert saved["weights"] == {"blue": 30, "green": 70} and saved["fence"] == 1_700_000_000_123

    app2, srv2 = start_router(revisions, tmp_path, initial_weights={"blue": 100, "green": 0})
    try:
        assert _shown(srv2.url)["fence"] == 1_700_000_000_123 and app2.fence == 1_700_000_000_123
        r = _put(srv2.url, {"blue": 100, "green": 0}, fence=1_700_000_000_122)
        assert r.status_code == 409 and r.json()["fence"] == 1_700_000_000_123
        assert _shown(srv2.url)["weights"] == {"blue": 30, "green": 70}
        assert _put(srv2.url, {"blue": 100, "green": 0}, fence=1_700_000_000_124).status_code == 200
    finally:
        srv2.stop()


def test_a_state_file_from_before_fencing_still_loads(revisions, tmp_path: Path) -> None:
    (tmp_path / WEIGHTS_FILE).write_text('{"weights": {"blue": 40, "green": 60}, "updated_at": "2024-01-01T00:00:00+00:00"}\n')
    app, srv = start_router(revisions, tmp_path)
    try:
        shown = _shown(srv.url)
        assert shown["weights"] == {"blue": 40, "green": 60} and shown["fence"] is None
        assert _put(srv.url, {"blue": 100, "green": 0}, fence=1).status_code == 200
    finally:
        srv.stop()


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "+3", "1_000", str(2**63), ""])
def test_an_invalid_fence_header_is_a_400(revisions, tmp_path: Path, value: str) -> None:
    app, srv = start_router(revisions, tmp_path)
    try:
        r = httpx.put(f"{srv.url}/router/traffic", json={"blue": 0, "green": 100},
                      headers={"X-Admin-API-Key": KEY, "X-Ethos-Fence": value}, timeout=10)
        assert r.status_code == 400 and r.json()["error"] == "invalid_fence", r.text
        assert value not in r.json()["detail"] or value == ""  # the value is not echoed
        assert _shown(srv.url)["weights"] == {"blue": 100, "green": 0} and app.fence is None
    finally:
        srv.stop()


def test_the_fence_is_checked_after_the_admin_key(revisions, tmp_path: Path) -> None:
    app, srv = start_router(revisions, tmp_path)
    try:
        r = httpx.put(f"{srv.url}/router/traffic", json={"blue": 100}, headers={"X-Ethos-Fence": "abc"}, timeout=10)
        assert r.status_code == 401
    finally:
        srv.stop()


def test_local_router_traffic_raises_fenced_error(revisions, tmp_path: Path) -> None:
    app, srv = start_router(revisions, tmp_path)
    try:
        with LocalRouterTraffic(srv.url, KEY) as emergency, LocalRouterTraffic(srv.url, KEY) as gradual:
            assert gradual.set_weights({"blue": 50, "green": 50}, fence=100) == {"blue": 50, "green": 50}
            assert emergency.set_weights({"blue": 100, "green": 0}, fence=200) == {"blue": 100, "green": 0}
            with pytest.raises(FencedError) as info:
                gradual.set_weights({"blue": 25, "green": 75}, fence=100)
            assert (info.value.fence, info.value.current) == (100, 200)
            assert gradual.get_weights() == {"blue": 100, "green": 0}
    finally:
        srv.stop()


def test_concurrent_fenced_changes_leave_the_highest_holder_in_force(revisions, tmp_path: Path) -> None:
    """The check and the change are one step: whatever the order, the split in force is the
    one of the highest fence, and every lower fence that arrived after it was refused."""
    app, srv = start_router(revisions, tmp_path)
    try:
        splits = {f: {"blue": f, "green": 100 - f} for f in range(1, 31)}
        with ThreadPoolExecutor(8) as pool:
            codes = dict(zip(splits, pool.map(lambda f: _put(srv.url, splits[f], fence=f).status_code, splits)))
        assert set(codes.values()) <= {200, 409} and codes[30] == 200
        shown = _shown(srv.url)
        assert shown["fence"] == 30 and shown["weights"] == splits[30]
        assert json.loads((tmp_path / WEIGHTS_FILE).read_text())["fence"] == 30
    finally:
        srv.stop()
