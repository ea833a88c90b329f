"""Weight validation, parsing, the fake traffic manager and the local-router client (mocked)."""

from __future__ import annotations

import json

import httpx
import pytest

import ethos.rollout as rollout
from ethos.rollout.errors import (
    InvalidWeightsError,
    PermanentError,
    TemporaryError,
    TrafficAuthError,
    TrafficError,
    TrafficUnreachableError,
    UnknownRevisionError,
)
from ethos.rollout.traffic import (
    FakeTrafficManager,
    LocalRouterTraffic,
    parse_weights,
    validate_weights,
)

KNOWN = ["blue", "green"]


def test_public_surface() -> None:
    assert set(rollout.__all__) >= {"TrafficManager", "validate_weights", "RolloutError", "TrafficError"}


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        ({"blue": 100, "green": 0}, {"blue": 100, "green": 0}),
        ({"green": 10, "blue": 90}, {"blue": 90, "green": 10}),
        ({"blue": 100}, {"blue": 100, "green": 0}),
        ({"green": 100}, {"blue": 0, "green": 100}),
    ],
)
def test_validate_ok(weights: dict, expected: dict) -> None:
    out = validate_weights(weights, KNOWN)
    assert out == expected
    assert list(out) == KNOWN  # order of known


@pytest.mark.parametrize(
    ("weights", "exc", "needle"),
    [
        ({"blue": 90, "green": 5}, InvalidWeightsError, "sum to 100, got 95"),
        ({"blue": 50.0, "green": 50}, InvalidWeightsError, "integer"),
        ({"blue": True, "green": 99}, InvalidWeightsError, "integer"),
        ({"blue": "100"}, InvalidWeightsError, "integer"),
        ({"blue": 110, "green": -10}, InvalidWeightsError, "0..100"),
        ({}, InvalidWeightsError, "non-empty"),
        ([("blue", 100)], InvalidWeightsError, "non-empty"),
        ({"purple": 100}, UnknownRevisionError, "unknown revision 'purple'"),
    ],
)
def test_validate_refuses(weights: object, exc: type, needle: str) -> None:
    with pytest.raises(exc, match=needle.replace("(", r"\(")):
        validate_weights(weights, KNOWN)  # type: ignore[arg-type]


def test_validate_errors_are_permanent_traffic_errors() -> None:
    with pytest.raises(TrafficError) as info:
        validate_weights({"blue": 1}, KNOWN)
    assert isinstance(info.value, PermanentError) and info.value.permanent


def test_validate_without_known_names() -> None:
    assert validate_weights({"x": 60, "y": 40}, None) == {"x": 60, "y": 40}


def test_parse_weights() -> None:
    assert parse_weights("blue=90, green=10") == {"blue": 90, "green": 10}
    for bad in ["", "blue", "blue=x", "=5"]:
        with pytest.raises(InvalidWeightsError):
            parse_weights(bad)


def test_temporary_error_has_retry_delay() -> None:
    e = TrafficUnreachableError("down", retry_delay=2.5)
    assert isinstance(e, TemporaryError) and not e.permanent and e.retry_delay == 2.5


def test_fake_manager_records_and_validates() -> None:
    fake = FakeTrafficManager({"blue": 50, "green": 50})
    assert fake.set_weights({"blue": 100}) == {"blue": 100, "green": 0}
    assert fake.get_weights() == {"blue": 100, "green": 0}
    with pytest.raises(InvalidWeightsError):
        fake.set_weights({"blue": 10})
    assert [c[0] for c in fake.calls] == ["set", "get", "set"]


def test_fake_manager_handler_can_fail() -> None:
    def handler(action: str, weights: dict | None) -> dict | None:
        if action == "set":
            raise TrafficUnreachableError("router down")
        return None

    fake = FakeTrafficManager(handler=handler)
    with pytest.raises(TrafficUnreachableError):
        fake.set_weights({"blue": 100})
    assert fake.get_weights() == {"blue": 100, "green": 0}


def _router(handler) -> LocalRouterTraffic:
    return LocalRouterTraffic("http://router.test", "k3y", transport=httpx.MockTransport(handler))


def test_local_router_client_get_and_put() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "PUT":
            return httpx.Response(200, json={"weights": json.loads(request.content)})
        return httpx.Response(200, json={"weights": {"blue": 100, "green": 0}})

    t = _router(handler)
    assert t.get_weights() == {"blue": 100, "green": 0}
    assert t.set_weights({"blue": 90, "green": 10}) == {"blue": 90, "green": 10}
    assert seen[1].headers["X-Admin-API-Key"] == "k3y"
    assert "X-Admin-API-Key" not in seen[0].headers  # the key is not sent where not needed


@pytest.mark.parametrize(
    ("status", "body", "exc"),
    [
        (401, {"error": "missing_admin_key", "detail": "x"}, TrafficAuthError),
        (403, {"error": "wrong_admin_key", "detail": "x"}, TrafficAuthError),
        (503, {"error": "admin_key_not_configured", "detail": "x"}, TrafficAuthError),
        (400, {"error": "unknown_revision", "detail": "unknown revision 'x'"}, UnknownRevisionError),
        (400, {"error": "invalid_weights", "detail": "sum"}, InvalidWeightsError),
        (502, {"error": "bad"}, TrafficUnreachableError),
    ],
)
def test_local_router_client_errors(status: int, body: dict, exc: type) -> None:
    t = _router(lambda r: httpx.Response(status, json=body))
    with pytest.raises(exc):
        t.set_weights({"blue": 100, "green": 0})


def test_local_router_client_unreachable_and_no_key() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(TrafficUnreachableError, match="unreachable"):
        _router(refuse).get_weights()
    with pytest.raises(TrafficAuthError, match="ETHOS_ADMIN_API_KEY"):
        LocalRouterTraffic("http://r", None).set_weights({"blue": 100})
    with pytest.raises(InvalidWeightsError):  # refused before any I/O
        _router(refuse).set_weights({"blue": 99})
