"""Prometheus metrics of one revision, in a registry of its own (fresh per app, per test)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

from ..cache.purge import in_purge, outcome
from ..cache.response_cache import PurgeReport
from ..cache.scan.periodic import in_periodic_scan
from ..cache.stores.pricing import FIRESTORE_MULTI_REGION_USD_PER_100K, OPS, PriceTable
from .capacity import SHED_REASONS

_OP_OF_KIND = {"reads": "read", "writes": "write", "deletes": "delete", "queries": "query"}

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class ServiceMetrics:
    """Every series carries the ``revision`` label."""

    def __init__(self, revision: str, registry: CollectorRegistry | None = None, *,
                 prices: Mapping[str, float] | None = None) -> None:
        self.revision = revision
        self.prices = PriceTable.of(prices if prices is not None else FIRESTORE_MULTI_REGION_USD_PER_100K)
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        # process_resident_memory_bytes, process_cpu_seconds_total: the guard's exhaustion
        # triggers read them through Prometheus
        ProcessCollector(registry=r)
        self.requests = Counter(
            "ethos_requests", "HTTP requests by route and status.",
            ["revision", "route", "status"], registry=r,
        )
        self.latency = Histogram(
            "ethos_request_latency_seconds", "Time to the last byte of the response.",
            ["revision", "route"], buckets=LATENCY_BUCKETS, registry=r,
        )
        self.ttft = Histogram(
            "ethos_ttft_seconds", "Time to the first byte of the response body.",
            ["revision", "route"], buckets=LATENCY_BUCKETS, registry=r,
        )
        self.cache_lookups = Counter(
            "ethos_cache_lookups", "Cache lookups by result (hit, semantic_hit, miss, bypass).",
            ["revision", "result"], registry=r,
        )
        self.store_ops = Counter(
            "ethos_store_operations", "Store operations of the requests by store (sqlite, redis,"
            " firestore) and kind: read, write, delete (documents, as billed: a query that finds"
            " nothing reads one), query (queries run; their documents are in read).",
            ["revision", "store", "op"], registry=r,
        )
        self.store_cost = Counter(
            "ethos_store_estimated_cost_usd",
            "Estimated USD of the requests' store operations, priced by"
            " ETHOS_STORE_PRICES_USD_PER_100K (default: Firestore's multi-region list prices).",
            ["revision", "store"], registry=r,
        )
        self.store_price = Gauge(
            "ethos_store_price_usd_per_100k", "The price table of ethos_store_estimated_cost_usd.",
            ["revision", "op"], registry=r,
        )
        for op in OPS:
            self.store_price.labels(revision, op).set(self.prices.usd_per_100k.get(op, 0.0))
        self.store_up = Gauge(
            "ethos_store_up", "1 when the cache store answers, else 0.", ["revision"],
            registry=r,
        )
        self.store_errors = Counter(
            "ethos_store_errors",
            "Store failures (cache bypassed) by kind: unavailable, disk_full, read_only.",
            ["revision", "kind"], registry=r,
        )
        self.admissions = Counter(
            "ethos_cache_admissions", "Answers offered to the cache by outcome.",
            ["revision", "outcome"], registry=r,
        )
        self.quality_rejections = Counter(
            "ethos_cache_quality_rejections", "Answers not stored, by reason.",
            ["revision", "reason"], registry=r,
        )
        self.admin_auth_failures = Counter(
            "ethos_admin_auth_failures", "Admin requests refused, by reason (missing, wrong,"
            " not_configured, locked_out).",
            ["revision", "reason"], registry=r,
        )
        self.admin_auth_lockouts = Counter(
            "ethos_admin_auth_lockouts", "Client addresses locked out after repeated wrong admin keys.",
            ["revision"], registry=r,
        )
        self.llm_errors = Counter(
            "ethos_answerer_errors", "Answerer failures by HTTP status given.",
            ["revision", "status"], registry=r,
        )
        self.shed = Counter(
            "ethos_requests_shed", "Chat requests refused 503 for want of capacity, by reason:"
            " queue_full, queue_timeout, client_gone (ethos.service.capacity).",
            ["revision", "reason"], registry=r,
        )
        for reason in SHED_REASONS:  # every reason at 0 from the start, so rate() sees the first
            self.shed.labels(revision, reason)
        self.capacity_active = Gauge(
            "ethos_capacity_active", "Chat requests holding a slot of the slow path.",
            ["revision"], registry=r,
        )
        self.capacity_queued = Gauge(
            "ethos_capacity_queued", "Chat requests waiting for a slot.", ["revision"], registry=r,
        )
        self.faults_on = Gauge(
            "ethos_faults_enabled", "1 when fault injection is switched on.", ["revision"],
            registry=r,
        )
        self.pii_detections = Counter(
            "ethos_pii_detections", "PII findings in answered exchanges, by entity and place.",
            ["revision", "entity", "where"], registry=r,
        )
        self.pii_exchanges = Counter(
            "ethos_pii_exchanges",
            "Answered exchanges checked for PII, by whether any was found (their ratio is the"
            " PII detection rate).",
            ["revision", "has_pii"], registry=r,
        )
        self.pii_selftest = Gauge(
            "ethos_pii_detector_selftest",
            "Share of the detector's synthetic self-test sample it finds (1 when healthy).",
            ["revision"], registry=r,
        )
        self.cache_pii_leaks = Gauge(
            "ethos_cache_pii_leaks",
            "Entries holding PII, as the last complete scan of the whole store found them (any"
            " instance's; a failed or partial scan never changes it). Absent until one completes.",
            ["revision"], registry=r,
        )
        self.cache_pii_scan_failures = Counter(
            "ethos_cache_pii_scan_failures",
            "Cache PII scans that did not complete, by pass (full, since, request) and reason"
            " (store, detector, error); they leave the leak gauge as it was.",
            ["revision", "pass", "reason"], registry=r,
        )
        self.cache_pii_scan_last_success = Gauge(
            "ethos_cache_pii_scan_last_success_timestamp_seconds",
            "Unix time of the last complete PII scan of the store (by any instance).",
            ["revision"], registry=r,
        )
        self.pii_scan_store_ops = Counter(
            "ethos_cache_pii_scan_store_operations",
            "Store operations of the periodic PII scan, by store and kind (not in"
            " ethos_store_operations, which prices the requests' store use).",
            ["revision", "store", "op"], registry=r,
        )
        self.cache_pii_scanned = Counter(
            "ethos_cache_pii_scanned_entries",
            "Entries read by this revision's periodic PII scan, by pass (full, since).",
            ["revision", "pass"], registry=r,
        )
        self.cache_purged = Counter(
            "ethos_cache_purged_entries",
            "Expired entries removed by this revision's periodic purge, by tier: store (from the"
            " shared store; on Redis, which drops expired hashes itself, the expired entries whose"
            " index members and records it removed), memory and semantic (this process's copies"
            " and vector rows).",
            ["revision", "tier"], registry=r,
        )
        self.cache_purge_passes = Counter(
            "ethos_cache_purge_passes",
            "Periodic purge passes by result: complete, limited (removed ETHOS_CACHE_PURGE_BATCH"
            " entries; the next pass follows within seconds), failed (the store did not answer;"
            " tried again after ETHOS_CACHE_PURGE_INTERVAL_S).",
            ["revision", "result"], registry=r,
        )
        self.cache_purge_duration = Histogram(
            "ethos_cache_purge_duration_seconds", "Time one periodic purge pass took.",
            ["revision"], buckets=LATENCY_BUCKETS, registry=r,
        )
        self.purge_store_ops = Counter(
            "ethos_cache_purge_store_operations",
            "Store operations of the periodic purge, by store and kind (not in"
            " ethos_store_operations, which prices the requests' store use).",
            ["revision", "store", "op"], registry=r,
        )
        self.semantic_ready = Gauge(
            "ethos_semantic_ready", "1 when the semantic tier answers, else 0.", ["revision"],
            registry=r,
        )
        self.semantic_rows = Gauge(
            "ethos_semantic_index_rows",
            "Questions this process's vector indexes answer paraphrases from (all scopes).",
            ["revision"], registry=r,
        )
        self.semantic_synced = Counter(
            "ethos_semantic_synced_rows",
            "Questions other instances stored, added to this process's vector indexes by the"
            " semantic sync (ETHOS_SEMANTIC_SYNC_INTERVAL_S).",
            ["revision"], registry=r,
        )
        self.semantic_refusals = Gauge(
            "ethos_semantic_refusals",
            "Nearest stored questions the semantic verifier refused since the process started,"
            " by reason (threshold, numbers, names, asks, negation, entity, ambiguous; pair: the"
            " pair model's probability was under p*).",
            ["revision", "reason"], registry=r,
        )
        self.semantic_pair_model_ready = Gauge(
            "ethos_semantic_pair_model_ready",
            "1 when the pair model decides semantic hits, else 0 (off, loading, or failed to"
            " load: the cosine rules decide).", ["revision"], registry=r,
        )
        self.semantic_evicted = Gauge(
            "ethos_semantic_index_evicted",
            "Questions retired from this process's vector indexes because one was full"
            " (ETHOS_SEMANTIC_MAX_ROWS), since the process started.",
            ["revision"], registry=r,
        )
        self._lookup_children = {
            res: self.cache_lookups.labels(revision, res)
            for res in ("hit", "semantic_hit", "miss", "bypass")
        }
        # (store, kind) -> (operations child, cost child, USD per operation)
        self._op_children: dict[tuple[str, str], tuple] = {}
        self._scan_op_children: dict[tuple[str, str], Any] = {}
        self._purge_op_children: dict[tuple[str, str], Any] = {}
        self._route_children: dict[tuple[str, int], tuple] = {}
        self.store_up.labels(revision).set(1)

    def count_pii(self, findings: dict[str, list[str]]) -> None:
        found = False
        for where, entities in findings.items():
            for entity in entities:
                self.pii_detections.labels(self.revision, entity, where).inc()
                found = True
        self.pii_exchanges.labels(self.revision, "true" if found else "false").inc()

    def count_lookup(self, result: str) -> None:
        self._lookup_children[result].inc()

    def watch_store(self, store) -> None:
        """Count every operation of ``store`` (a :class:`~ethos.cache.stores.Store`)."""
        backend = store.backend
        for kind in _OP_OF_KIND:  # every series exists from the start, at 0
            self.count_store_op(kind, 0, backend)
        store.on_op(lambda kind, n: self.count_store_op(kind, n, backend))

    def count_store_op(self, kind: str, n: int, store: str = "unknown") -> None:
        """``kind`` is a field of OpCounter (reads, writes, deletes, queries)."""
        op = _OP_OF_KIND.get(kind, kind)
        if in_purge():
            child = self._purge_op_children.get((store, op))
            if child is None:
                child = self._purge_op_children[(store, op)] = self.purge_store_ops.labels(
                    self.revision, store, op)
            child.inc(n)
            return
        if in_periodic_scan():
            child = self._scan_op_children.get((store, op))
            if child is None:
                child = self._scan_op_children[(store, op)] = self.pii_scan_store_ops.labels(
                    self.revision, store, op)
            child.inc(n)
            return
        children = self._op_children.get((store, op))
        if children is None:
            children = self._op_children[(store, op)] = (
                self.store_ops.labels(self.revision, store, op),
                self.store_cost.labels(self.revision, store),
                self.prices.price(op),
            )
        ops, cost, price = children
        ops.inc(n)
        if price:
            cost.inc(price * n)

    def watch_purge(self) -> None:
        """Make the purge's series exist at 0 (a dashboard tells "none yet" from "no purge")."""
        for tier in ("store", "memory", "semantic"):
            self.cache_purged.labels(self.revision, tier)
        for result in ("complete", "limited", "failed"):
            self.cache_purge_passes.labels(self.revision, result)

    def count_purge(self, report: PurgeReport, seconds: float) -> None:
        """One periodic purge pass (see :mod:`ethos.cache.purge`)."""
        rev = self.revision
        for tier, n in (("store", report.store), ("memory", report.memory), ("semantic", report.semantic)):
            if n:
                self.cache_purged.labels(rev, tier).inc(n)
        self.cache_purge_passes.labels(rev, outcome(report)).inc()
        self.cache_purge_duration.labels(rev).observe(seconds)

    def observe_request(self, route: str, status: int, latency: float, ttft: float | None) -> None:
        children = self._route_children.get((route, status))
        if children is None:
            children = (
                self.requests.labels(self.revision, route, str(status)),
                self.latency.labels(self.revision, route),
                self.ttft.labels(self.revision, route),
            )
            self._route_children[(route, status)] = children
        req, lat, first = children
        req.inc()
        lat.observe(latency)
        if ttft is not None:
            first.observe(ttft)

    def render(self) -> bytes:
        return generate_latest(self.registry)
