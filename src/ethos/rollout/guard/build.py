"""Where a guard's measurements come from, and the guard itself: built in one place.

``ethos guard``, the console's charts and the drills watch the same policy through the same
sources, configured the same way (prices, cost projection, baseline revision), so the three
never measure a trigger differently.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..sources.base import SignalSource
    from ..sources.cloudmonitoring import CloudRunService
    from ..sources.router import RouterSource
    from .actuator import Actuator, Alerter
    from .history import GuardHistory
    from .loop import Guard
    from .policy import Policy


@dataclass
class Watch:
    """The sources that watch a policy; ``router`` is the router's own (it also knows the weights);
    ``traffic``: on Cloud Run, reads the split in force from the Admin API."""

    sources: list[SignalSource] = field(default_factory=list)
    router: RouterSource | None = None
    traffic: Callable[[], dict[str, int]] | None = None

    def weights(self) -> dict[str, int] | None:
        """The weights the router last reported (or Cloud Run has in force), or None."""
        if self.router is not None:
            return self.router.weights
        if self.traffic is not None:
            try:
                return dict(self.traffic())
            except Exception:  # noqa: BLE001 - the weights are shown, never decided on
                return None
        return None

    @property
    def has_weights(self) -> bool:
        return self.router is not None or self.traffic is not None


def watch_sources(
    policy: Policy,
    *,
    router: str | None = None,
    revisions: Mapping[str, str] | None = None,
    prometheus: str | None = None,
    pids: Mapping[str, int] | None = None,
    cloud_run: CloudRunService | None = None,
    cloudrun_api: Mapping[str, Any] | None = None,
    managed_prometheus: bool = False,
    monitoring_client: Any = None,
) -> Watch:
    """The sources for ``policy``: on Cloud Run (``cloud_run``) Cloud Monitoring first (and,
    with ``managed_prometheus``, the revisions' own series through Managed Service for
    Prometheus); then Prometheus (when given), the router, the revisions' ``/metrics`` (with
    the policy's prices and cost projection) and the local processes of those revisions. The
    first source to report a signal wins.

    ``cloudrun_api``: options of the Cloud Run Admin API client that resolves blue and green
    from their tags (``api_endpoint``, ``anonymous``, ``tags``); not used for the names given
    in ``cloud_run.revision_names``. Raises ``GcpCredentialsError`` without credentials.
    """
    from ..sources import (
        PriceTable,
        ProcessSource,
        PrometheusSource,
        RevisionMetricsSource,
        RouterSource,
        queries_for,
    )

    cost = policy.cost or {}
    prices = PriceTable.from_policy(policy.cost)
    projected = cost.get("projected_usd_per_hour")
    w = Watch()
    if cloud_run is not None:
        _cloud_run_sources(w, policy, cloud_run, dict(cloudrun_api or {}), prices, projected,
                           managed_prometheus, monitoring_client)
    if prometheus:
        w.sources.append(PrometheusSource(prometheus, queries_for(policy), prices=prices,
                                          projected_usd_per_hour=projected, baseline=policy.baseline))
    if router:
        w.router = RouterSource(router)
        w.sources.append(w.router)
    revisions = dict(revisions or {})
    if revisions:
        w.sources.append(RevisionMetricsSource(revisions, prices=prices, projected_usd_per_hour=projected,
                                               baseline=policy.baseline))
    local = {k: v for k, v in (pids or {}).items() if k in revisions}
    if local:
        w.sources.append(ProcessSource(local))
    return w


def cloud_run_names(policy: Policy, cloud_run: CloudRunService, api: Mapping[str, Any]) -> tuple[Any, Any]:
    """``(names, traffic manager or None)``: our names -> Cloud Run revision names, the given
    ones as they are and the others (blue / green by default) from their traffic tags."""
    from ..sources.cloudmonitoring import RevisionNames

    given = dict(cloud_run.revision_names)
    names = tuple(dict.fromkeys([policy.baseline, policy.candidate, *given]))
    if all(n in given for n in (policy.baseline, policy.candidate)):
        return RevisionNames(given), None
    from ..traffic.cloudrun import CloudRunTraffic

    kwargs: dict[str, Any] = {"names": names, "revisions": given, "tags": dict(api.get("tags") or {})}
    if api.get("api_endpoint"):
        kwargs["api_endpoint"] = api["api_endpoint"]
    if api.get("anonymous"):
        from google.auth.credentials import AnonymousCredentials

        kwargs["credentials"] = AnonymousCredentials()
    tm = CloudRunTraffic(cloud_run.service, cloud_run.region, cloud_run.project, **kwargs)
    return RevisionNames(given, tm.resolved), tm


def _cloud_run_sources(w: Watch, policy: Policy, cloud_run: CloudRunService, api: dict[str, Any], prices: Any,
                       projected: Any, managed_prometheus: bool, client: Any) -> None:
    from ..sources.cloudmonitoring import CloudMonitoringSource
    from ..sources.gcp import PROMETHEUS_ENDPOINT_ENV, TokenSource
    from ..sources.prometheus import GMP_QUERIES, PrometheusSource, managed_prometheus_url, queries_for

    names, tm = cloud_run_names(policy, cloud_run, api)
    cost = policy.cost or {}
    w.sources.append(CloudMonitoringSource(cloud_run, names, client=client, prices=prices,
                                           projected_usd_per_hour=projected,
                                           firestore_database=cost.get("firestore_database")))
    if tm is not None:
        w.traffic = tm.get_weights
    if managed_prometheus:
        local = os.environ.get(PROMETHEUS_ENDPOINT_ENV, "").strip()
        url = local or managed_prometheus_url(cloud_run.project)
        w.sources.append(PrometheusSource(url, queries_for(policy, GMP_QUERIES), prices=prices,
                                          projected_usd_per_hour=projected, baseline=policy.baseline,
                                          headers=TokenSource("Managed Service for Prometheus",
                                                              anonymous=bool(local)).headers,
                                          revision_names=names, name="managed-prometheus"))


def build_guard(
    policy: Policy,
    watch: Watch,
    actuator: Actuator,
    alerter: Alerter,
    history: GuardHistory,
    *,
    dry_run: bool = False,
    **kw: Any,
) -> Guard:
    """The guard over ``watch``'s sources, reading the weights in force from its router."""
    from .loop import Guard

    return Guard(policy, watch.sources, actuator, alerter, history,
                 weights=watch.weights if watch.has_weights else None, dry_run=dry_run, **kw)


__all__ = ["Watch", "build_guard", "cloud_run_names", "watch_sources"]
