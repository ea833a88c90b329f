"""The local router's traffic: ``GET``/``PUT /router/traffic`` of ``ethos router``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from ..errors import (
    FencedError,
    InvalidWeightsError,
    TrafficAuthError,
    TrafficError,
    TrafficUnreachableError,
    UnknownRevisionError,
)
from .base import FENCE_HEADER, TrafficManager, Weights, check_fence, validate_weights


class LocalRouterTraffic(TrafficManager):
    """The admin API of ``ethos router``: ``GET``/``PUT /router/traffic``.

    One pooled ``httpx.Client`` is made on first use and kept (a new client costs tens of ms,
    which an emergency rollback should not pay per call); :meth:`close` or ``with`` frees it.
    ``transport`` lets tests plug in ``httpx.MockTransport``; by default real HTTP is used.
    """

    def __init__(
        self,
        router_url: str,
        admin_key: str | None,
        *,
        timeout: float = 5.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.router_url = router_url.rstrip("/")
        self._admin_key = admin_key
        self._timeout = timeout
        self._transport = transport
        self._client: httpx.Client | None = None

    def describe(self) -> str:
        return f"local router {self.router_url}"

    def close(self) -> None:
        """Close the pooled connection (the manager can still be used: it reopens)."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def __del__(self) -> None:
        # A manager dropped without close() must not leak its socket (ResourceWarning).
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown; nothing useful to do
            pass

    def __enter__(self) -> LocalRouterTraffic:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get_weights(self) -> Weights:
        return self._weights_from(self._request("GET", None))

    def set_weights(self, weights: Mapping[str, int], *, fence: int | None = None) -> Weights:
        """PUT the weights; with ``fence``, in the ``X-Ethos-Fence`` header (the router checks it)."""
        # Shape check here so a bad call fails before any network; names are checked by the router.
        checked = validate_weights(dict(weights), None)
        fence = check_fence(fence)
        if not self._admin_key:
            raise TrafficAuthError(
                "no admin key to change router weights: set ETHOS_ADMIN_API_KEY "
                "(or use the key file of `ethos stack up`)"
            )
        return self._weights_from(self._request("PUT", checked, fence))

    # --- I/O ---------------------------------------------------------------------------

    def _request(self, method: str, body: Weights | None, fence: int | None = None) -> dict[str, Any]:
        url = f"{self.router_url}/router/traffic"
        headers = {"X-Admin-API-Key": self._admin_key} if self._admin_key and body is not None else {}
        if fence is not None:
            headers[FENCE_HEADER] = str(fence)
        if self._client is None:
            self._client = httpx.Client(timeout=self._timeout, transport=self._transport)
        try:
            r = self._client.request(method, url, json=body, headers=headers)
        except httpx.TimeoutException as e:
            raise TrafficUnreachableError(f"router {self.router_url} timed out ({e.__class__.__name__})") from e
        except httpx.TransportError as e:
            raise TrafficUnreachableError(f"router {self.router_url} unreachable: {e}") from e
        data = _json_or_empty(r)
        detail = data.get("detail") or r.text[:200]
        if r.status_code in (401, 403):
            raise TrafficAuthError(f"router refused the admin key ({r.status_code}): {detail}")
        if r.status_code == 503 and data.get("error") == "admin_key_not_configured":
            raise TrafficAuthError(f"router has no admin key configured: {detail}")
        if r.status_code == 409 and data.get("error") == "fenced" and fence is not None:
            current = data.get("fence")
            ok = isinstance(current, int) and not isinstance(current, bool)
            raise FencedError(fence, current if ok else None)
        if r.status_code == 400:
            if data.get("error") == "unknown_revision":
                raise UnknownRevisionError(str(detail))
            if data.get("error") == "invalid_fence":  # not sent by this client (checked above)
                raise TrafficError(f"router refused the fence: {detail}")
            raise InvalidWeightsError(str(detail))
        if r.status_code >= 500:
            raise TrafficUnreachableError(f"router {self.router_url} answered {r.status_code}: {detail}")
        if r.status_code != 200:
            raise TrafficError(f"router {self.router_url} answered {r.status_code}: {detail}")
        return data

    @staticmethod
    def _weights_from(data: Mapping[str, Any]) -> Weights:
        weights = data.get("weights")
        if not isinstance(weights, dict):
            raise TrafficError(f"router answered without weights: {data!r}")
        return {str(k): int(v) for k, v in weights.items()}


def _json_or_empty(r: httpx.Response) -> dict[str, Any]:
    try:
        data = r.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


__all__ = ["LocalRouterTraffic"]
