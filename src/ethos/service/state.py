"""Everything one running revision holds, built at start and closed at stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from ..agent import KnowledgeBase, KnowledgeBaseAnswerer
from ..agent.base import Answerer
from ..agent.grounding import Embed
from ..cache import ResponseCache, Scope, Store, StoreError, open_store
from ..cache.gates.admission import Exchange, completeness_gate
from ..cache.gates.pii import pii_check
from ..cache.gates.quality import make_quality_gate
from ..cache.purge import PeriodicPurge, PurgeSchedule
from ..cache.scan.leaks import PII_LEAKS_META, PII_SCAN_OK_META
from ..cache.scan.periodic import PeriodicLeakScan, ScanSchedule
from ..settings import Settings
from .capacity import Capacity, CapacitySettings
from .faults import FaultSwitch
from .metrics import ServiceMetrics
from .sessions import SessionHistory
from .unavailable import UnavailableStore

if TYPE_CHECKING:
    from ..cache.semantic import SemanticTier

log = logging.getLogger("ethos.service")

#: how often pending hit counts are written, and the store is pinged while down (seconds)
HIT_FLUSH_INTERVAL_S = 1.0
STORE_CHECK_INTERVAL_S = 2.0
#: at stop, how long a purge pass still running may take before the store is closed anyway
PURGE_STOP_WAIT_S = 10.0
#: how long the grounding's warm-up waits for the semantic tier's model (seconds)
SEMANTIC_LOAD_WAIT_S = 300.0


def build_answerer(settings: Settings, kb: KnowledgeBase, embed: Embed | None = None) -> Answerer:
    """The LLM answerer when one is configured, else the embedded one, which judges whether
    the knowledge base answers with ``embed`` (the semantic tier's model) when given."""
    if settings.llm_base_url:
        from ..agent.llm import OpenAICompatibleAnswerer

        return OpenAICompatibleAnswerer(
            settings.llm_base_url,
            settings.llm_api_key.get_secret_value(),
            settings.llm_model,
            kb=kb,
            timeout_s=settings.llm_timeout_s,
            retries=settings.llm_retries,
        )
    return KnowledgeBaseAnswerer(kb, embed=embed)


def open_cache_store(settings: Settings) -> Store:
    url = settings.resolved_cache_url()
    try:
        return open_store(url, timeout_s=settings.cache_store_timeout_s)
    except StoreError as e:
        log.warning("cache store unavailable at start", extra={"error": str(e)})
        return UnavailableStore(str(e), getattr(e, "kind", "unavailable"))


@dataclass
class AppState:
    settings: Settings
    metrics: ServiceMetrics
    kb: KnowledgeBase
    answerer: Answerer
    cache: ResponseCache
    sessions: SessionHistory = field(default_factory=SessionHistory)
    #: the faults in force (ETHOS_FAULTS at start; switched by /api/admin/faults)
    faults: FaultSwitch = field(default_factory=FaultSwitch)
    #: slots of the slow path of a chat request (ETHOS_MAX_CONCURRENT and friends)
    capacity: Capacity = field(default_factory=Capacity)
    tasks: list[asyncio.Task] = field(default_factory=list)
    #: at stop, wait for a model still loading (in-process use); `ethos serve` exits at once
    wait_for_model: bool = True
    leak_scan: PeriodicLeakScan | None = None
    purge: PeriodicPurge | None = None

    def semantic_loading(self) -> bool:
        return self.cache.semantic is not None and self.cache.semantic.state == "loading"

    def _semantic_tier(self) -> SemanticTier | None:
        """The cache's semantic tier, with its life cycle (``start``, ``wait_ready``, ``store``).

        The cache needs only a ``SemanticMatcher``; :meth:`build`, the only way an AppState
        is made, gives it a ``SemanticTier`` or nothing.
        """
        return cast("SemanticTier | None", self.cache.semantic)

    @property
    def revision(self) -> str:
        return self.settings.revision

    @classmethod
    def build(cls, settings: Settings) -> AppState:
        metrics = ServiceMetrics(settings.revision, prices=settings.store_prices_usd_per_100k)
        kb = KnowledgeBase.from_dir(settings.kb_dir) if settings.kb_dir else KnowledgeBase.bundled()
        # The embedded answerer's grounding uses the semantic tier's model once it is loaded
        # (built below: the tier's scope needs the answerer first); words and BM25 until then.
        tiers: list[Any] = []

        def embed(texts: list[str]):
            tier = tiers[0] if tiers else None
            return tier.embedder.embed(texts) if tier is not None and tier.state == "ready" else None

        answerer = build_answerer(settings, kb, embed)
        scope = Scope(
            namespace=settings.cache_namespace,
            format_version=settings.cache_format_version,
            answerer=answerer.id,
            prompt_version=answerer.prompt_version,
            kb_version=answerer.kb_version,
        )
        store = open_cache_store(settings)
        metrics.watch_store(store)

        def pii_gate(ex: Exchange):
            # Counted here so that the detection rate covers every answered exchange.
            findings, rejection = pii_check(ex)
            metrics.count_pii(findings)
            return rejection

        gates = (
            pii_gate,
            completeness_gate,
            make_quality_gate(plan_names=kb.plan_names()),
        )
        semantic = None
        if settings.semantic_enabled and settings.cache_enabled:
            from ..cache.semantic import MiniLMEmbedder, SemanticTier
            from ..cache.semantic.pair_model import configured

            pair_model = configured(settings.semantic_pair_model, threads=settings.onnx_threads)
            if pair_model is None and settings.semantic_pair_model.strip().lower() != "off":
                log.info("semantic tier: the package ships no pair model; the cosine rules decide")
            semantic = SemanticTier(store, MiniLMEmbedder(threads=settings.onnx_threads),
                                    names=[*kb.plan_names(), *kb.product_names()],
                                    index_dir=settings.resolved_semantic_index_dir(),
                                    max_rows=settings.semantic_max_rows,
                                    thresholds=settings.resolved_semantic_thresholds(),
                                    pair_model=pair_model,
                                    pair_thresholds=settings.resolved_pair_thresholds(),
                                    pair_floors=settings.resolved_pair_floors())
            tiers.append(semantic)
        cache = ResponseCache(
            store,
            scope,
            default_ttl_s=settings.cache_ttl_s,
            max_ttl_s=settings.cache_max_ttl_s,
            memory_entries=settings.cache_memory_entries,
            gates=gates,
            semantic=semantic,
            enabled=settings.cache_enabled,
        )
        cache.on_lookup.append(lambda lk: metrics.count_lookup(lk.result))

        def on_reject(rej, ex) -> None:
            metrics.admissions.labels(settings.revision, rej.gate).inc()
            if rej.gate in ("quality", "completeness"):
                metrics.quality_rejections.labels(settings.revision, rej.reason).inc()

        cache.on_reject.append(on_reject)
        cache.on_store_error.append(
            lambda kind: metrics.store_errors.labels(settings.revision, kind).inc()
        )
        if isinstance(store, UnavailableStore):
            cache.mark_unavailable(store.reason, store.kind)
        capacity = Capacity(CapacitySettings(
            settings.max_concurrent, settings.max_queued, settings.queue_timeout_s))
        metrics.capacity_active.labels(settings.revision).set_function(lambda: capacity.active)
        metrics.capacity_queued.labels(settings.revision).set_function(lambda: capacity.queued)
        return cls(settings, metrics, kb, answerer, cache, capacity=capacity)

    def depends_on_history(self, session_id: str | None, message: str) -> bool:
        """A follow-up ("and the other one?") in a conversation that has earlier turns."""
        if not self.sessions.has_history(session_id):
            return False
        from ..cache.semantic import depends_on_history

        return depends_on_history(message)

    # --- background work -----------------------------------------------------------
    async def start(self) -> None:
        self.tasks.append(asyncio.create_task(asyncio.to_thread(self.kb.warm), name="ethos.kb-warm"))
        tier = self._semantic_tier()
        if tier is not None:
            # the model in one thread, the default scope's index in another (from its saved
            # file when that is still valid)
            tier.start(scopes=[self.cache.scope] if self.cache.enabled else [])
            grounding = getattr(self.answerer, "grounding", None)
            if grounding is not None:
                # the knowledge base's sentence vectors, once the model is there, here only:
                # a request never waits for them (it is judged without the cosines until then)
                grounding.warm_on_use = False
                self.tasks.append(asyncio.create_task(asyncio.to_thread(
                    lambda: tier.wait_ready(SEMANTIC_LOAD_WAIT_S) and grounding.warm()),
                    name="ethos.grounding-warm"))
        self.tasks.append(asyncio.create_task(self._selftest_loop(), name="ethos.pii-selftest"))
        self.tasks.append(asyncio.create_task(self._flush_hits_loop(), name="ethos.flush-hits"))
        self.tasks.append(asyncio.create_task(self._store_watch_loop(), name="ethos.store-watch"))
        if self.settings.pii_scan_interval_s > 0 and self.settings.cache_enabled:
            self.leak_scan = self.make_leak_scan()
            self.tasks.append(asyncio.create_task(self._leak_scan_loop(), name="ethos.pii-scan"))
        if self.settings.cache_purge_interval_s > 0 and self.settings.cache_enabled:
            self.purge = self.make_purge()
            self.tasks.append(asyncio.create_task(self._purge_loop(), name="ethos.cache-purge"))
        if tier is not None and self.settings.semantic_sync_interval_s > 0:
            self.tasks.append(asyncio.create_task(self._semantic_sync_loop(tier),
                                                  name="ethos.semantic-sync"))

    def make_purge(self) -> PeriodicPurge:
        """The periodic purge of expired entries (store, memory tier, vector indexes),
        reporting to this revision's metrics."""
        self.metrics.watch_purge()
        return PeriodicPurge(
            self.cache.purge_expired,
            PurgeSchedule(self.settings.cache_purge_interval_s),
            limit=self.settings.cache_purge_batch,
            on_pass=self.metrics.count_purge,
        )

    async def _purge_loop(self) -> None:
        """One bounded pass at a time in a worker thread; a pass never raises (a store that
        is down is logged and counted, and tried again after the interval)."""
        purge = self.purge
        assert purge is not None
        delay = purge.schedule.first_delay()
        while delay != float("inf"):
            await asyncio.sleep(delay)
            delay = await asyncio.to_thread(purge.step)

    def make_leak_scan(self) -> PeriodicLeakScan:
        """The periodic PII scan of this revision's store, reporting to its metrics."""
        s, m, rev = self.settings, self.metrics, self.revision

        def complete(kind: str, scanned: int, leaking: int, now: float) -> None:
            m.cache_pii_leaks.labels(rev).set(leaking)
            m.cache_pii_scan_last_success.labels(rev).set(now)
            m.cache_pii_scanned.labels(rev, kind).inc(scanned)

        return PeriodicLeakScan(
            lambda: self.cache.store,
            ScanSchedule(s.pii_scan_interval_s, s.pii_scan_full_interval_s),
            batch=s.pii_scan_batch,
            cpu_share=s.pii_scan_cpu_share,
            on_complete=complete,
            on_failure=lambda kind, reason: m.cache_pii_scan_failures.labels(rev, kind, reason).inc(),
        )

    async def _leak_scan_loop(self) -> None:
        """Scan the store for PII by itself: one batch per step in a worker thread, with pauses
        that keep its CPU share bounded (see :mod:`ethos.cache.scan.periodic`)."""
        scan = self.leak_scan
        assert scan is not None
        while True:
            delay = await asyncio.to_thread(scan.step)
            if delay == float("inf"):  # switched off
                return
            await asyncio.sleep(delay)

    async def _semantic_sync_loop(self, tier: SemanticTier) -> None:
        """Other instances' new questions into this one's vector indexes, so that their
        paraphrases hit here too. A store that is down is skipped until the next turn (the
        store watch reports it)."""
        from ..cache import StoreError

        while True:
            await asyncio.sleep(self.settings.semantic_sync_interval_s)
            if not self.cache.store_up:
                continue
            try:
                added = await asyncio.to_thread(tier.sync)
            except StoreError as e:
                log.info("semantic sync skipped: store unavailable", extra={"error": str(e)})
                continue
            if added:
                self.metrics.semantic_synced.labels(self.revision).inc(added)

    async def _flush_hits_loop(self) -> None:
        while True:
            await asyncio.sleep(HIT_FLUSH_INTERVAL_S)
            await asyncio.to_thread(self.cache.flush_hits)

    async def _selftest_loop(self) -> None:
        """Run the PII detector on its synthetic sample now and then (0 means broken)."""
        from ..pii import selftest

        while True:
            score = await asyncio.to_thread(selftest)
            self.metrics.pii_selftest.labels(self.revision).set(score)
            if score < 1.0:
                log.error("PII detector self-test failed", extra={"score": score})
            await asyncio.sleep(self.settings.pii_selftest_interval_s)

    def refresh_gauges(self) -> None:
        """Gauges read at scrape time: semantic readiness and the last PII scan's leaks."""
        m, rev = self.metrics, self.revision
        m.semantic_ready.labels(rev).set(1 if self.cache.semantic_ready() else 0)
        if self.cache.semantic is not None:
            rows, evicted = self.cache.semantic.index_counts()
            m.semantic_rows.labels(rev).set(rows)
            m.semantic_evicted.labels(rev).set(evicted)
            for reason, n in self.cache.semantic.refusals().items():
                m.semantic_refusals.labels(rev, reason).set(n)
            m.semantic_pair_model_ready.labels(rev).set(
                1 if self.cache.semantic.pair_model_state() == "ready" else 0)
        m.store_up.labels(rev).set(1 if self.cache.store_up else 0)
        if self.cache.store_up:
            # the store's truth, written only by complete scans (any instance's): a scan that
            # failed, or a store that does not answer, leaves the gauge as it was
            try:
                leaks = self.cache.store.get_meta(PII_LEAKS_META)
                ok_at = self.cache.store.get_meta(PII_SCAN_OK_META)
            except StoreError:
                return
            if leaks is not None:
                m.cache_pii_leaks.labels(rev).set(leaks)
            if ok_at is not None:
                m.cache_pii_scan_last_success.labels(rev).set(ok_at)

    async def _store_watch_loop(self) -> None:
        """While the store is down, ping it (or reopen it) so the cache comes back by itself."""
        while True:
            await asyncio.sleep(STORE_CHECK_INTERVAL_S)
            if self.cache.store_up:
                self.metrics.store_up.labels(self.revision).set(1)
                continue
            if isinstance(self.cache.store, UnavailableStore):
                store = await asyncio.to_thread(open_cache_store, self.settings)
                if not isinstance(store, UnavailableStore):
                    self.metrics.watch_store(store)
                    self.cache.use_store(store)
                    tier = self._semantic_tier()
                    if tier is not None:
                        tier.store = store
            ok = await asyncio.to_thread(self.cache.check_store)
            self.metrics.store_up.labels(self.revision).set(1 if ok else 0)

    async def stop(self) -> None:
        for t in self.tasks:
            t.cancel()
        for t in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self.tasks.clear()
        if self.purge is not None:
            # a cancelled loop leaves its worker thread running: let the pass end before the
            # store is closed under it
            if not await asyncio.to_thread(self.purge.wait_idle, PURGE_STOP_WAIT_S):
                log.warning("cache purge still running at stop; closing the store anyway")
        tier = self._semantic_tier()
        if self.wait_for_model and tier is not None and self.semantic_loading():
            # let the loader thread finish: a process that exits while it is inside torch
            # aborts ("terminate called without an active exception")
            await asyncio.to_thread(tier.wait_ready, 120)
        await asyncio.to_thread(self.cache.close)
        await self.answerer.aclose()
