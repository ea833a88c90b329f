"""Signal sources with fake HTTP (httpx.MockTransport): router, revision /metrics, /proc, pricing."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from ethos.rollout.router.windows import RouterStats, WindowStats
from ethos.rollout.sources import (
    FakeSource,
    PriceTable,
    ProcessSource,
    RevisionMetricsSource,
    RouterSource,
    SourceError,
    collect_snapshot,
)
from ethos.rollout.sources.promtext import Scrape, ScrapeHistory

BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class RouterFake:
    """The router's metrics as a real prometheus_client registry, and its stats JSON."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.req = Counter("ethos_router_requests", "", ["revision", "status_class"], registry=r)
        self.lat = Histogram("ethos_router_request_latency_seconds", "", ["revision"], buckets=BUCKETS, registry=r)
        self.ttft = Histogram("ethos_router_ttft_seconds", "", ["revision"], buckets=BUCKETS, registry=r)
        self.up = True
        self.stats = RouterStats(weights={"blue": 50, "green": 50}, sticky=False, windows_s=(60, 300), revisions={
            "green": {"60s": WindowStats(60, count=100, errors=7, error_rate=0.07, rps=1.667,
                                         status={"2xx": 90, "3xx": 0, "4xx": 3, "5xx": 7, "none": 0},
                                         p50_latency_ms=800.0, p95_latency_ms=3000.0,
                                         p50_ttft_ms=300.0, p95_ttft_ms=900.0),
                      "300s": WindowStats(300, count=400, errors=8, error_rate=0.02, rps=1.333,
                                          status={"2xx": 392, "3xx": 0, "4xx": 0, "5xx": 8, "none": 0},
                                          p50_latency_ms=700.0, p95_latency_ms=2000.0)}}).to_json()

    def record(self, rev: str, n: int, status_class: str, latency: float, ttft: float) -> None:
        for _ in range(n):
            self.req.labels(rev, status_class).inc()
            self.lat.labels(rev).observe(latency)
            self.ttft.labels(rev).observe(ttft)

    def transport(self) -> httpx.MockTransport:
        def handler(request: httpx.Request) -> httpx.Response:
            if not self.up:
                raise httpx.ConnectError("refused", request=request)
            if request.url.path == "/router/metrics":
                return httpx.Response(200, content=generate_latest(self.registry))
            if request.url.path == "/router/stats":
                return httpx.Response(200, json=self.stats)
            return httpx.Response(404)

        return httpx.MockTransport(handler)


NEEDS = {"error_rate": [10.0, 60.0], "http_error_rate": [60.0], "latency_p95": [60.0],
         "ttft": [60.0], "requests": [60.0]}


def test_router_first_read_uses_its_stats_windows() -> None:
    fake = RouterFake()
    src = RouterSource("http://router", transport=fake.transport())
    got = src.collect(NEEDS, ["green"], 1000.0)
    m = got[("green", "error_rate", 60.0)]
    assert (m.events, m.samples, m.window_s, m.source) == (7, 100, 60.0, "router/stats")
    assert got[("green", "http_error_rate", 60.0)].events == 10
    assert got[("green", "latency_p95", 60.0)].value == pytest.approx(3.0)
    assert got[("green", "ttft", 60.0)].distribution == ()  # no per-request values from stats
    assert src.weights == {"blue": 50, "green": 50}


def test_router_history_gives_exact_windows_and_distributions() -> None:
    fake = RouterFake()
    src = RouterSource("http://router", transport=fake.transport())
    fake.record("green", 50, "2xx", 0.7, 0.3)
    src.collect(NEEDS, ["green", "blue"], 1000.0)
    fake.record("green", 90, "2xx", 0.7, 0.3)
    fake.record("green", 8, "5xx", 0.05, 0.05)
    fake.record("green", 2, "none", 5.0, 5.0)
    fake.record("blue", 40, "2xx", 0.7, 0.3)
    got = src.collect(NEEDS, ["green", "blue"], 1010.0)
    m = got[("green", "error_rate", 10.0)]
    assert (m.events, m.samples, m.window_s, m.source) == (10, 100, 10.0, "router/metrics")
    d = got[("green", "ttft", 60.0)]
    assert d.samples == 100 and len(d.distribution or ()) == 100
    assert got[("blue", "requests", 60.0)].samples == 40
    assert got[("blue", "error_rate", 60.0)].value == 0.0


def test_router_down_is_a_source_error_and_no_data() -> None:
    fake = RouterFake()
    fake.up = False
    src = RouterSource("http://router", transport=fake.transport())
    with pytest.raises(SourceError, match="cannot read http://router/router/metrics"):
        src.collect(NEEDS, ["green"], 0.0)
    snap = collect_snapshot([src], NEEDS, ["green"], 0.0)
    assert "router" in snap.unavailable and not snap.measurements


def test_a_broken_source_never_crashes_the_snapshot() -> None:
    def boom(needs, revisions, now):  # type: ignore[no-untyped-def]
        raise RuntimeError("bug")

    snap = collect_snapshot([FakeSource(boom, "b")], NEEDS, ["green"], 0.0)
    assert snap.unavailable == {"b": "RuntimeError: bug"}


class RevisionFake:
    def __init__(self, rev: str, pii: bool = True) -> None:
        r = self.registry = CollectorRegistry()
        self.rev = rev
        self.requests = Counter("ethos_requests", "", ["revision", "route", "status"], registry=r)
        self.lookups = Counter("ethos_cache_lookups", "", ["revision", "result"], registry=r)
        self.ops = Counter("ethos_store_operations", "", ["revision", "op"], registry=r)
        self.admissions = Counter("ethos_cache_admissions", "", ["revision", "outcome"], registry=r)
        self.quality = Counter("ethos_cache_quality_rejections", "", ["revision", "reason"], registry=r)
        Gauge("ethos_store_up", "", ["revision"], registry=r).labels(rev).set(1)
        if pii:
            Gauge("ethos_pii_detector_selftest", "", ["revision"], registry=r).labels(rev).set(1)
            Gauge("ethos_cache_pii_leaks", "", ["revision"], registry=r).labels(rev).set(0)
            self.pii = Counter("ethos_pii_exchanges", "", ["revision", "has_pii"], registry=r)
        self.up = True

    def traffic(self, n: int, hits: int, reads: int, writes: int) -> None:
        self.requests.labels(self.rev, "/api/ai/marketing-chat", "200").inc(n)
        self.lookups.labels(self.rev, "hit").inc(hits)
        self.lookups.labels(self.rev, "miss").inc(n - hits)
        self.ops.labels(self.rev, "read").inc(reads)
        self.ops.labels(self.rev, "write").inc(writes)
        if hasattr(self, "pii"):
            self.pii.labels(self.rev, "true").inc(n // 50)
            self.pii.labels(self.rev, "false").inc(n - n // 50)


def _revisions_transport(fakes: dict[str, RevisionFake]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        f = fakes[request.url.host]
        if not f.up:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, content=generate_latest(f.registry))

    return httpx.MockTransport(handler)


RNEEDS = {"up": [0.0], "store_up": [0.0], "pii_selftest": [0.0], "pii_leaks": [0.0],
          "cache_hit_rate": [300.0], "quality_rejection_rate": [300.0], "pii_detection_rate": [300.0],
          "store_cost_ratio": [300.0], "store_cost_usd_per_hour": [300.0]}


def test_revision_metrics_signals_and_cost_ratio_against_blue() -> None:
    fakes = {"blue": RevisionFake("blue"), "green": RevisionFake("green", pii=False)}
    src = RevisionMetricsSource({"blue": "http://blue", "green": "http://green"},
                                transport=_revisions_transport(fakes))
    first = src.collect(RNEEDS, ["blue", "green"], 0.0)
    assert first[("green", "store_cost_ratio", 300.0)].samples == 0  # a rate needs two scrapes
    assert first[("green", "quality_rejection_rate", 300.0)].samples == 0  # declared, never counted
    fakes["blue"].traffic(1000, 700, 1000, 300)
    fakes["green"].traffic(1000, 200, 3000, 800)  # 3x the store operations per request
    got = src.collect(RNEEDS, ["blue", "green"], 3600.0)
    assert got[("green", "up", 0.0)].value == 1.0
    assert got[("blue", "pii_selftest", 0.0)].value == 1.0
    assert ("green", "pii_selftest", 0.0) not in got  # not exported: no data, not a guess
    pii = got[("blue", "pii_detection_rate", 300.0)]
    assert (pii.events, pii.samples) == (20, 1000)
    assert ("green", "pii_detection_rate", 300.0) not in got  # green exports no PII series
    hit = got[("green", "cache_hit_rate", 300.0)]
    assert (hit.events, hit.samples) == (200, 1000)
    blue_usd = 0.06 * 1000 / 1e5 + 0.18 * 300 / 1e5
    green_usd = 0.06 * 3000 / 1e5 + 0.18 * 800 / 1e5
    assert got[("blue", "store_cost_usd_per_hour", 300.0)].value == pytest.approx(blue_usd)
    assert got[("green", "store_cost_ratio", 300.0)].value == pytest.approx(green_usd / blue_usd)


def test_revision_down_is_up_zero_but_all_down_is_no_data() -> None:
    fakes = {"blue": RevisionFake("blue"), "green": RevisionFake("green")}
    src = RevisionMetricsSource({"blue": "http://blue", "green": "http://green"},
                                transport=_revisions_transport(fakes))
    fakes["green"].up = False
    got = src.collect(RNEEDS, ["blue", "green"], 0.0)
    assert got[("green", "up", 0.0)].value == 0.0 and got[("blue", "up", 0.0)].value == 1.0
    assert ("green", "store_up", 0.0) not in got
    fakes["blue"].up = False
    with pytest.raises(SourceError, match="cannot tell who is down"):
        src.collect(RNEEDS, ["blue", "green"], 5.0)


def test_projection_from_policy() -> None:
    fakes = {"green": RevisionFake("green")}
    src = RevisionMetricsSource({"green": "http://green"}, projected_usd_per_hour=0.001,
                                transport=_revisions_transport(fakes))
    src.collect(RNEEDS, ["green"], 0.0)
    fakes["green"].traffic(100, 50, 10_000, 0)  # $0.006 in an hour
    got = src.collect(RNEEDS, ["green"], 3600.0)
    assert got[("green", "store_cost_ratio", 300.0)].value == pytest.approx(6.0)


def test_price_table_default_is_firestore_multi_region() -> None:
    t = PriceTable.from_policy(None)
    assert t.cost({"read": 100_000, "write": 100_000, "delete": 100_000}) == pytest.approx(0.26)
    assert PriceTable.from_policy({"prices_usd_per_100k": {"read": 0.03}}).cost({"read": 200_000}) == pytest.approx(0.06)


def test_scrape_history_handles_counter_reset() -> None:
    h = ScrapeHistory()
    text = "# TYPE c counter\nc_total {v}\n"
    h.add(Scrape.parse(0, text.replace("{v}", "100")))
    h.add(Scrape.parse(10, text.replace("{v}", "5")))  # restarted
    assert h.increase(10, lambda s: s.total("c_total")) == (5.0, 10.0)


def test_process_source_reads_proc(tmp_path: Path) -> None:
    (tmp_path / "42").mkdir()
    (tmp_path / "meminfo").write_text("MemTotal:       1000 kB\n")
    stat = "42 (python x) S " + " ".join(["0"] * 10) + " {u} {s} " + " ".join(["0"] * 30)
    (tmp_path / "42" / "stat").write_text(stat.format(u=100, s=0))
    (tmp_path / "42" / "status").write_text("Name: python\nVmRSS:     960 kB\n")
    src = ProcessSource({"green": 42}, proc=tmp_path, memory_limit=1000 * 1024)
    needs = {"memory_utilisation": [0.0], "cpu_utilisation": [60.0]}
    got = src.collect(needs, ["green"], 0.0)
    assert got[("green", "memory_utilisation", 0.0)].value == pytest.approx(0.96)
    assert got[("green", "cpu_utilisation", 60.0)].samples == 0
    ticks = ProcessSource.__module__ and __import__("os").sysconf("SC_CLK_TCK")
    (tmp_path / "42" / "stat").write_text(stat.format(u=100 + 60 * ticks, s=0))
    got = src.collect(needs, ["green"], 60.0)
    assert got[("green", "cpu_utilisation", 60.0)].value == pytest.approx(1.0)
    assert ProcessSource({"green": 999}, proc=tmp_path, memory_limit=1.0).collect(needs, ["green"], 0.0) == {}
