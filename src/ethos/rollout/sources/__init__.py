"""Signal sources of the guard: the router, the revisions' /metrics, local processes, Prometheus.

(``ethos.rollout.sources.signals`` is the procedures' own summary of the router's stats; these sources
give the guard every signal of its policy, per revision and window.)
"""

from __future__ import annotations

from .base import FakeSource, Needs, SignalSource, SourceError, collect_snapshot
from .pricing import FIRESTORE_MULTI_REGION_USD_PER_100K, PriceTable
from .process import ProcessSource
from .prometheus import DEFAULT_QUERIES, PrometheusSource, Query, queries_for
from .revision import RevisionMetricsSource
from .router import RouterSource

__all__ = [
    "DEFAULT_QUERIES",
    "FIRESTORE_MULTI_REGION_USD_PER_100K",
    "FakeSource",
    "Needs",
    "PriceTable",
    "ProcessSource",
    "PrometheusSource",
    "Query",
    "RevisionMetricsSource",
    "RouterSource",
    "SignalSource",
    "SourceError",
    "collect_snapshot",
    "queries_for",
]
