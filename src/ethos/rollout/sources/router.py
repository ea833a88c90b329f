"""Signals of the local router: every request it proxied, per revision.

Each ``collect`` reads ``GET /router/metrics`` (counters and histograms since the router
started) and keeps the scrapes, so a window of any length the history covers is exact to one
interval: counts and errors by status class, and latency/TTFT distributions from the histogram
buckets (for the baseline rank tests) with their percentiles. Until the history covers a
window (the first evaluations, ``ethos guard --once``), the router's own sliding windows in
``GET /router/stats`` (60 s, 300 s by default) answer instead, and the measurement records the
window actually used. The weights in force come from the stats too. Both are read through the
:class:`~ethos.rollout.router.client.RouterClient`; stats not in the router's shape count as
no stats (the metrics still answer).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from ..errors import RouterReadError
from ..router.client import RouterClient
from ..router.windows import RouterStats
from .base import Needs, SignalSource, SourceError
from .histograms import histogram_quantile, histogram_samples
from .measurements import Key, Measurement, proportion
from .promtext import Scrape, ScrapeHistory

REQUEST_SIGNALS = frozenset(
    "requests error_rate http_error_rate latency ttft latency_p50 latency_p95 ttft_p50 ttft_p95".split()
)
#: A window of 0 s asks for "now"; for request signals the shortest history span is used.
_MIN_WINDOW = 10.0


class RouterSource(SignalSource):
    """``/router/metrics`` + ``/router/stats`` of ``ethos router`` at ``router_url``."""

    name = "router"

    def __init__(
        self,
        router_url: str,
        *,
        timeout: float = 2.0,
        transport: httpx.BaseTransport | None = None,
        horizon_s: float = 1800.0,
    ) -> None:
        self.router = RouterClient(router_url, timeout=timeout, transport=transport)
        self.router_url = self.router.router_url
        self.history = ScrapeHistory(horizon_s)
        self.weights: dict[str, int] | None = None

    def close(self) -> None:
        self.router.close()

    def collect(self, needs: Needs, revisions: Sequence[str], now: float) -> dict[Key, Measurement]:
        try:
            text = self.router.metrics_text()
        except RouterReadError as e:
            raise SourceError(str(e)) from e
        try:
            self.history.add(Scrape.parse(now, text))
        except ValueError as e:
            raise SourceError(f"{self.router_url}/router/metrics is not Prometheus text: {e}") from e
        try:
            stats: RouterStats | None = self.router.stats()
        except RouterReadError:
            stats = None  # metrics alone still give every window the history covers
        if stats is not None:
            self.weights = dict(stats.weights)
        out: dict[Key, Measurement] = {}
        wanted = {s: ws for s, ws in needs.items() if s in REQUEST_SIGNALS}
        windows = sorted({float(w) for ws in wanted.values() for w in ws})
        for rev in revisions:
            for w in windows:
                got = self._from_history(rev, max(w, _MIN_WINDOW)) or self._from_stats(stats, rev, max(w, _MIN_WINDOW))
                if got is None:
                    continue
                for sig, ws in wanted.items():
                    if w in ws and sig in got:
                        out[(rev, sig, w)] = got[sig]
        return out

    def _from_history(self, rev: str, w: float) -> dict[str, Measurement] | None:
        latest = self.history.latest
        base = self.history.base(w)
        if latest is None or base is None:
            return None
        span = latest.t - base.t
        now_c = latest.by_label("ethos_router_requests_total", "status_class", revision=rev)
        then_c = base.by_label("ethos_router_requests_total", "status_class", revision=rev)
        reset = any(now_c.get(k, 0.0) < v for k, v in then_c.items())
        grown = {k: (v if reset else v - then_c.get(k, 0.0)) for k, v in now_c.items()}
        n = int(round(sum(grown.values())))
        errors = int(round(grown.get("5xx", 0.0) + grown.get("none", 0.0)))
        http_errors = int(round(errors + grown.get("4xx", 0.0)))
        kw: dict[str, Any] = {"window_s": span, "source": "router/metrics"}
        out = {
            "requests": Measurement(float(n), n, **kw),
            "error_rate": proportion(errors, n, **kw),
            "http_error_rate": proportion(http_errors, n, **kw),
        }
        for sig, metric in (("latency", "ethos_router_request_latency_seconds_bucket"),
                            ("ttft", "ethos_router_ttft_seconds_bucket")):
            got = self.history.bucket_increase(w, metric, revision=rev)
            buckets = got[0] if got else []
            count = int(round(max((c for _, c in buckets), default=0.0)))
            p50 = histogram_quantile(0.5, buckets) if count else None
            out[sig] = Measurement(p50, count, distribution=histogram_samples(buckets) if count else (), **kw)
            out[f"{sig}_p50"] = Measurement(p50, count, **kw)
            out[f"{sig}_p95"] = Measurement(histogram_quantile(0.95, buckets) if count else None, count, **kw)
        return out

    @staticmethod
    def _from_stats(stats: RouterStats | None, rev: str, w: float) -> dict[str, Measurement] | None:
        d = stats.window(rev, at_least_s=w) if stats is not None else None
        if d is None:
            return None
        n = d.count
        http_errors = d.errors + d.status.get("4xx", 0)
        kw: dict[str, Any] = {"window_s": float(d.window_s), "source": "router/stats"}

        def s(ms: float | None) -> float | None:
            return ms / 1000.0 if ms is not None else None

        return {
            "requests": Measurement(float(n), n, **kw),
            "error_rate": proportion(d.errors, n, **kw),
            "http_error_rate": proportion(http_errors, n, **kw),
            "latency_p50": Measurement(s(d.p50_latency_ms), n, **kw),
            "latency_p95": Measurement(s(d.p95_latency_ms), n, **kw),
            "ttft_p50": Measurement(s(d.p50_ttft_ms), n, **kw),
            "ttft_p95": Measurement(s(d.p95_ttft_ms), n, **kw),
            # no per-request values here: baseline tests wait for the metrics history
            "latency": Measurement(s(d.p50_latency_ms), n, distribution=(), **kw),
            "ttft": Measurement(s(d.p50_ttft_ms), n, distribution=(), **kw),
        }


__all__ = ["RouterSource", "REQUEST_SIGNALS"]
