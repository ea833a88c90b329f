"""The router's Prometheus metrics, in a registry of its own (never the global one)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class RouterMetrics:
    """Counters and histograms per revision; ``render()`` gives the Prometheus text."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "ethos_router_requests", "Requests proxied, by revision and status class.",
            ["revision", "status_class"], registry=r,
        )
        self.latency = Histogram(
            "ethos_router_request_latency_seconds", "Request start to last body byte.",
            ["revision"], buckets=_BUCKETS, registry=r,
        )
        self.ttft = Histogram(
            "ethos_router_ttft_seconds", "Request start to first body byte from the revision.",
            ["revision"], buckets=_BUCKETS, registry=r,
        )
        self.connect_failures = Counter(
            "ethos_router_upstream_connect_failures", "Connections a revision refused.",
            ["revision"], registry=r,
        )
        self.retries = Counter(
            "ethos_router_retries", "Requests retried on another revision after a refused connection.",
            ["from_revision", "to_revision"], registry=r,
        )
        self.diverted = Counter(
            "ethos_router_diverted", "Requests drawn for an ejected revision (it refused connections"
            " moments ago) and sent to another instead; the weights are unchanged.",
            ["from_revision", "to_revision"], registry=r,
        )
        self.admin_auth_failures = Counter(
            "ethos_router_admin_auth_failures", "Admin requests refused, by reason (missing, wrong,"
            " not_configured, locked_out).", ["reason"], registry=r,
        )
        self.admin_auth_lockouts = Counter(
            "ethos_router_admin_auth_lockouts", "Client addresses locked out after repeated wrong admin keys.",
            registry=r,
        )
        self._children: dict[str, tuple[Any, Any]] = {}
        self.weight = Gauge("ethos_router_weight_percent", "Traffic weight in force.", ["revision"], registry=r)

    def record(self, revision: str, status_class: str, latency_s: float, ttft_s: float | None) -> None:
        """Count one outcome (label children are cached: this runs once per request)."""
        children = self._children.get(revision)
        if children is None:
            children = self._children[revision] = (self.latency.labels(revision), self.ttft.labels(revision))
        self.requests.labels(revision, status_class).inc()
        children[0].observe(latency_s)
        if ttft_s is not None:
            children[1].observe(ttft_s)

    def set_weights(self, weights: Mapping[str, int]) -> None:
        """Publish the weights now in force."""
        for name, w in weights.items():
            self.weight.labels(name).set(w)

    def render(self) -> bytes:
        """Prometheus text exposition of this registry."""
        return generate_latest(self.registry)


__all__ = ["RouterMetrics"]
