"""The one client of the router's admin API: health, stats, metrics and traffic.

Every reader and writer of ``ethos router`` goes through :class:`RouterClient`: the traffic
manager (:class:`~ethos.rollout.traffic.local.LocalRouterTraffic`), the procedures' signals
(:class:`~ethos.rollout.sources.signals.RouterSignals`), the guard's
:class:`~ethos.rollout.sources.router.RouterSource`, the console, the drill, the incident
evidence and ``ethos stack status``. One pooled ``httpx.Client`` per instance, made on first
use (a run's traffic manager and signal readers share one instance, so one pool); every
``httpx.Client`` of the process verifies TLS with one SSL context (:func:`default_ssl_context`).

Errors:

- traffic calls (``traffic``, ``set_traffic``) raise the
  :class:`~ethos.rollout.errors.TrafficError` tree: unreachable, timeout or 5xx ->
  ``TrafficUnreachableError``; 401/403, or no key configured on the router ->
  ``TrafficAuthError``; 409 ``fenced`` -> ``FencedError``; 400 ``unknown_revision`` ->
  ``UnknownRevisionError``; another 400 -> ``InvalidWeightsError``; anything else ->
  ``TrafficError``;
- reads (``health``, ``stats``, ``metrics_text``) raise
  :class:`~ethos.rollout.errors.RouterReadError` (a ``TemporaryError``): refused, timed out,
  not 200, not JSON, or stats not in the router's shape (:class:`~.windows.RouterStats`).
"""

from __future__ import annotations

import functools
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from ..errors import (
    FencedError,
    InvalidWeightsError,
    RouterReadError,
    TrafficAuthError,
    TrafficError,
    TrafficUnreachableError,
    UnknownRevisionError,
)
from ..weights import FENCE_HEADER, Weights
from .windows import RouterStats, StatsFormatError


@functools.cache
def default_ssl_context() -> ssl.SSLContext:
    """The verifying SSL context every HTTP client of the run shares (made once: ~25 ms each)."""
    return httpx.create_ssl_context()


@dataclass(frozen=True, slots=True)
class TrafficView:
    """The body of ``GET``/``PUT /router/traffic``: the split in force and what it is over."""

    weights: Weights
    revisions: dict[str, str] = field(default_factory=dict)  # name -> base URL
    sticky: bool = False
    fence: int | None = None  # the highest X-Ethos-Fence the router has accepted

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TrafficView:
        """Read the router's answer; :class:`TrafficError` when it holds no weights."""
        weights = data.get("weights")
        if not isinstance(weights, dict):
            raise TrafficError(f"router answered without weights: {data!r}")
        try:
            split = {str(k): int(v) for k, v in weights.items()}
        except (TypeError, ValueError):
            raise TrafficError("router answered weights that are not integers") from None
        revisions = data.get("revisions")
        fence = data.get("fence")
        return cls(
            weights=split,
            revisions={str(k): str(v) for k, v in revisions.items()} if isinstance(revisions, dict) else {},
            sticky=data.get("sticky") is True,
            fence=fence if isinstance(fence, int) and not isinstance(fence, bool) else None,
        )


class RouterClient:
    """``ethos router``'s admin API at ``router_url``.

    ``admin_key`` is sent (``X-Admin-API-Key``) on ``PUT /router/traffic`` only; it never
    appears in a message or repr. ``transport`` lets tests plug in ``httpx.MockTransport``.
    The client is made on first use and kept; :meth:`close` (or ``with``) frees it, and a
    closed client reopens when used again.
    """

    def __init__(
        self,
        router_url: str,
        admin_key: str | None = None,
        *,
        timeout: float = 5.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.router_url = router_url.rstrip("/")
        self._admin_key = admin_key
        self._timeout = timeout
        self._transport = transport
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RouterClient({self.router_url!r}, admin_key={'set' if self._admin_key else None})"

    def describe(self) -> str:
        return f"local router {self.router_url}"

    # --- lifecycle ---------------------------------------------------------------------

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(timeout=self._timeout, transport=self._transport,
                                            verify=default_ssl_context())
            return self._client

    def close(self) -> None:
        """Close the pooled connections (the client reopens if used again)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def __del__(self) -> None:
        # A client dropped without close() must not leak its socket (ResourceWarning).
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown, or __init__ never ran
            pass

    def __enter__(self) -> RouterClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- reads -------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """``GET /router/health``: ``{"status": "ok", "revisions": …, "weights": …, "ejected": …}``."""
        data = self._read_json("/router/health")
        if not isinstance(data, dict):
            raise RouterReadError(f"{self.router_url}/router/health did not answer a JSON object")
        return data

    def stats(self) -> RouterStats:
        """``GET /router/stats``, read strictly into :class:`~.windows.RouterStats`."""
        data = self._read_json("/router/stats")
        try:
            return RouterStats.from_json(data)
        except StatsFormatError as e:
            raise RouterReadError(f"{self.router_url}/router/stats is not the router's stats: {e}") from e

    def metrics_text(self) -> str:
        """``GET /router/metrics``: Prometheus text."""
        return self._read("/router/metrics").text

    def _read(self, path: str) -> httpx.Response:
        url = f"{self.router_url}{path}"
        try:
            r = self._http().get(url)
        except httpx.HTTPError as e:
            raise RouterReadError(f"cannot read {url}: {type(e).__name__}: {e}") from e
        if r.status_code != 200:
            raise RouterReadError(f"{url} answered {r.status_code}", status=r.status_code)
        return r

    def _read_json(self, path: str) -> Any:
        r = self._read(path)
        try:
            return r.json()
        except (ValueError, RecursionError) as e:
            raise RouterReadError(f"{self.router_url}{path} did not answer JSON") from e

    # --- traffic -----------------------------------------------------------------------

    def traffic(self) -> TrafficView:
        """``GET /router/traffic``: the split in force."""
        return TrafficView.from_json(self._traffic("GET", None))

    def set_traffic(self, weights: Mapping[str, int], *, fence: int | None = None) -> TrafficView:
        """``PUT /router/traffic`` with the admin key; ``fence`` in ``X-Ethos-Fence``.

        The router checks the weights and the fence (:class:`InvalidWeightsError`,
        :class:`UnknownRevisionError`); without a key nothing is sent. The traffic manager
        (:class:`~ethos.rollout.traffic.local.LocalRouterTraffic`) checks their shape first.
        """
        if not self._admin_key:
            raise TrafficAuthError(
                "no admin key to change router weights: set ETHOS_ADMIN_API_KEY "
                "(or use the key file of `ethos stack up`)"
            )
        return TrafficView.from_json(self._traffic("PUT", dict(weights), fence))

    def _traffic(self, method: str, body: Weights | None, fence: int | None = None) -> dict[str, Any]:
        url = f"{self.router_url}/router/traffic"
        headers = {"X-Admin-API-Key": self._admin_key} if self._admin_key and body is not None else {}
        if fence is not None:
            headers[FENCE_HEADER] = str(fence)
        try:
            r = self._http().request(method, url, json=body, headers=headers)
        except httpx.TimeoutException as e:
            raise TrafficUnreachableError(f"router {self.router_url} timed out ({e.__class__.__name__})") from e
        except httpx.TransportError as e:
            raise TrafficUnreachableError(f"router {self.router_url} unreachable: {e}") from e
        data = _json_object(r)
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


def _json_object(r: httpx.Response) -> dict[str, Any]:
    try:
        data = r.json()
    except (ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


__all__ = ["FENCE_HEADER", "RouterClient", "TrafficView", "Weights", "default_ssl_context"]
