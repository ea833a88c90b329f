"""The local router's traffic: ``GET``/``PUT /router/traffic`` of ``ethos router``."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from ..router.client import RouterClient
from .base import TrafficManager, Weights, check_fence, validate_weights


class LocalRouterTraffic(TrafficManager):
    """The traffic manager of ``ethos router``: a thin layer over :class:`RouterClient`.

    ``router``: the router's URL (a client of its own is made, with ``admin_key``, ``timeout``
    and ``transport``), or a :class:`RouterClient` to share with the run's other readers of
    the router (it is then the owner's to close). Errors are the client's
    :class:`~ethos.rollout.errors.TrafficError` tree.
    """

    def __init__(
        self,
        router: str | RouterClient,
        admin_key: str | None = None,
        *,
        timeout: float = 5.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._owned = not isinstance(router, RouterClient)
        self.client = router if isinstance(router, RouterClient) else RouterClient(
            router, admin_key, timeout=timeout, transport=transport)

    @property
    def router_url(self) -> str:
        return self.client.router_url

    def describe(self) -> str:
        return self.client.describe()

    def close(self) -> None:
        """Close the pooled connection of a client this manager made (it reopens if used)."""
        if self._owned:
            self.client.close()

    def __enter__(self) -> LocalRouterTraffic:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get_weights(self) -> Weights:
        return self.client.traffic().weights

    def set_weights(self, weights: Mapping[str, int], *, fence: int | None = None) -> Weights:
        """PUT the weights; with ``fence``, in the ``X-Ethos-Fence`` header (the router checks it)."""
        # Shape check here so a bad call fails before any network; names are checked by the router.
        checked = validate_weights(dict(weights), None)
        return self.client.set_traffic(checked, fence=check_fence(fence)).weights


__all__ = ["LocalRouterTraffic"]
