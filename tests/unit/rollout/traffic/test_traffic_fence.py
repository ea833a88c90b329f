"""Fencing of weight changes: FencedError, the fake's rules, the router client's header and 409,
the persisted high-water mark, and the fence in the router's OpenAPI document."""

from __future__ import annotations

import copy
import json
import pickle
from pathlib import Path

import httpx
import pytest

import ethos.rollout as rollout
from ethos.rollout.errors import (
    FencedError,
    InvalidWeightsError,
    PermanentError,
    TrafficError,
    TrafficUnreachableError,
)
from ethos.rollout.router import openapi
from ethos.rollout.router.app import parse_fence
from ethos.rollout.router.weights_store import SavedState, load_state, load_weights, save_weights
from ethos.rollout.traffic import FENCE_HEADER, FakeTrafficManager, LocalRouterTraffic, check_fence


def test_fenced_error_is_a_permanent_traffic_error_with_both_fences() -> None:
    e = FencedError(5, 10)
    assert isinstance(e, TrafficError) and isinstance(e, PermanentError) and e.permanent
    assert (e.fence, e.current) == (5, 10)
    assert str(e) == ("traffic was changed by a later holder of control (fence 10 > 5): "
                      "this procedure no longer controls traffic")
    for clone in (pickle.loads(pickle.dumps(e)), copy.copy(e)):
        assert (clone.fence, clone.current, str(clone)) == (5, 10, str(e))
    assert "FencedError" in rollout.__all__ and rollout.FencedError is FencedError


# --- FakeTrafficManager ---------------------------------------------------------------


def test_fake_accepts_equal_and_higher_fences_and_refuses_lower_ones() -> None:
    fake = FakeTrafficManager()
    assert fake.fence is None
    assert fake.set_weights({"blue": 90, "green": 10}, fence=10) == {"blue": 90, "green": 10}
    assert fake.fence == 10
    assert fake.set_weights({"blue": 80, "green": 20}, fence=10) == {"blue": 80, "green": 20}  # same holder
    with pytest.raises(FencedError) as info:
        fake.set_weights({"blue": 100, "green": 0}, fence=5)
    assert (info.value.fence, info.value.current) == (5, 10)
    assert fake.weights == {"blue": 80, "green": 20} and fake.fence == 10  # nothing changed
    assert fake.set_weights({"blue": 100, "green": 0}, fence=12) == {"blue": 100, "green": 0}
    assert fake.fence == 12
    assert fake.set_fences == [10, 10, 5, 12]


def test_fake_unfenced_change_is_always_accepted_and_keeps_the_mark() -> None:
    fake = FakeTrafficManager()
    assert fake.set_weights({"blue": 50, "green": 50}) == {"blue": 50, "green": 50}
    assert fake.fence is None  # no fence given: no mark
    fake.set_weights({"blue": 60, "green": 40}, fence=20)
    assert fake.set_weights({"blue": 100, "green": 0}) == {"blue": 100, "green": 0}
    assert fake.fence == 20  # an operator's change leaves the mark
    with pytest.raises(FencedError):
        fake.set_weights({"blue": 0, "green": 100}, fence=19)


def test_fake_checks_weights_before_the_fence_and_keeps_the_mark_on_failure() -> None:
    fake = FakeTrafficManager()
    fake.fence = 10
    with pytest.raises(InvalidWeightsError):
        fake.set_weights({"blue": 10}, fence=11)
    assert fake.fence == 10

    def down(action: str, weights: dict | None) -> dict | None:
        if action == "set":
            raise TrafficUnreachableError("router down")
        return None

    fake.handler = down
    with pytest.raises(TrafficUnreachableError):
        fake.set_weights({"blue": 0, "green": 100}, fence=11)
    assert fake.fence == 10 and fake.weights == {"blue": 100, "green": 0}


@pytest.mark.parametrize("bad", [-1, True, 1.0, "10", 2**63])
def test_a_fence_that_is_not_a_non_negative_integer_is_a_callers_bug(bad: object) -> None:
    with pytest.raises(ValueError, match="fence must be"):
        check_fence(bad)
    with pytest.raises(ValueError):
        FakeTrafficManager().set_weights({"blue": 100}, fence=bad)  # type: ignore[arg-type]
    assert check_fence(None) is None and check_fence(0) == 0 and check_fence(2**63 - 1) == 2**63 - 1


# --- LocalRouterTraffic over httpx.MockTransport --------------------------------------


def _router(handler) -> LocalRouterTraffic:
    return LocalRouterTraffic("http://router.test", "k3y", transport=httpx.MockTransport(handler))


def test_local_router_client_sends_the_fence_header_only_when_given() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"weights": json.loads(request.content), "fence": 1234})

    t = _router(handler)
    assert t.set_weights({"blue": 90, "green": 10}, fence=1_700_000_000_123) == {"blue": 90, "green": 10}
    assert t.set_weights({"blue": 100, "green": 0}) == {"blue": 100, "green": 0}
    assert seen[0].headers[FENCE_HEADER] == "1700000000123"
    assert FENCE_HEADER not in seen[1].headers
    assert all(r.headers["X-Admin-API-Key"] == "k3y" for r in seen)


def test_local_router_client_maps_409_fenced_to_fenced_error() -> None:
    t = _router(lambda r: httpx.Response(409, json={"error": "fenced", "detail": "x", "fence": 10}))
    with pytest.raises(FencedError) as info:
        t.set_weights({"blue": 100, "green": 0}, fence=5)
    assert (info.value.fence, info.value.current) == (5, 10)
    assert "fence 10 > 5" in str(info.value)


def test_local_router_client_other_409_and_bad_fence() -> None:
    t = _router(lambda r: httpx.Response(409, json={"error": "conflict", "detail": "x"}))
    with pytest.raises(TrafficError) as info:
        t.set_weights({"blue": 100, "green": 0}, fence=5)
    assert not isinstance(info.value, FencedError)

    def never(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request may be sent")

    with pytest.raises(ValueError):  # refused before any I/O
        _router(never).set_weights({"blue": 100}, fence=-1)


# --- the router: header parsing, persisted mark, OpenAPI ------------------------------


@pytest.mark.parametrize("value", ["", "-1", "+1", " 1", "1.0", "1e3", "1_000", "abc", "١٢", str(2**63), "9" * 40])
def test_router_refuses_a_fence_header_that_is_not_a_non_negative_integer(value: str) -> None:
    with pytest.raises(ValueError):
        parse_fence(value)


def test_router_parses_fence_headers() -> None:
    assert parse_fence(None) is None
    assert parse_fence("0") == 0 and parse_fence("1700000000123") == 1_700_000_000_123
    assert parse_fence(str(2**63 - 1)) == 2**63 - 1


def test_weights_store_keeps_the_fence_and_reads_old_files(tmp_path: Path) -> None:
    path = tmp_path / "router-weights.json"
    assert load_state(path, ["blue", "green"]) == SavedState(None, None)  # no file
    save_weights(path, {"blue": 30, "green": 70}, 42)
    state = load_state(path, ["blue", "green"])
    assert (state.weights, state.fence) == ({"blue": 30, "green": 70}, 42)
    assert json.loads(path.read_text())["fence"] == 42
    assert load_weights(path, ["blue", "green"]) == {"blue": 30, "green": 70}
    # stale weights (other revisions): no weights, but the mark is kept
    assert load_state(path, ["red"]) == SavedState(None, 42)
    # a file from before fencing (no "fence"), a null one and a bad one: no mark
    for fence_part in ("", ', "fence": null', ', "fence": -3', ', "fence": true', ', "fence": "7"'):
        path.write_text('{"weights": {"blue": 100, "green": 0}' + fence_part + "}")
        assert load_state(path, ["blue", "green"]) == SavedState({"blue": 100, "green": 0}, None), fence_part
    path.write_text("[1, 2]")
    assert load_state(path, ["blue"]) == SavedState(None, None)


def test_openapi_documents_the_fence() -> None:
    doc = openapi.document(["blue", "green"])
    put = doc["paths"]["/router/traffic"]["put"]
    (param,) = put["parameters"]
    assert param["name"] == "X-Ethos-Fence" and param["in"] == "header" and not param["required"]
    assert param["schema"] == {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}
    assert "409" in put["responses"] and "fenced" in put["responses"]["409"]["description"]
    assert "fence" in doc["components"]["schemas"]["Traffic"]["required"]
    assert doc["paths"]["/router/traffic"]["post"]["parameters"] == put["parameters"]
