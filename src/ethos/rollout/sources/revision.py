"""Signals from each revision's own ``GET /metrics``: is it up, its cache, PII and store.

Series read (all labelled ``revision``):

- ``ethos_requests_total{route,status}`` of the chat route: ``requests``, and ``error_rate`` =
  5xx (and status 0, a response never sent) / requests, ``http_error_rate`` = 4xx and those /
  requests, as the revision itself answered them (a router, when there is one, is asked
  first: it also sees the requests that never reached the revision);
- ``ethos_cache_lookups_total{result}``: cache hit rate = (hit + semantic_hit) / (those + miss);
- ``ethos_cache_admissions_total{outcome}`` and ``ethos_cache_quality_rejections_total``:
  quality rejection rate = rejections / answers offered to the cache;
- ``ethos_store_operations_total{op}``: priced by a :class:`~.pricing.PriceTable` per hour;
  ``store_cost_ratio`` = the candidate's cost per hour / the projection (``cost.
  projected_usd_per_hour`` of the policy, else the baseline's cost per request times the
  candidate's request rate);
- ``ethos_store_up``, ``ethos_pii_detector_selftest``, ``ethos_cache_pii_leaks`` (gauges);
- ``ethos_pii_exchanges_total{has_pii}``: PII detection rate = exchanges with PII found /
  exchanges checked.

A series the revision does not expose is not reported (no data, never a guess). ``up`` is 1
when ``/metrics`` answered and 0 when it did not, but when *no* revision answers the guard
cannot tell a dead release from its own broken network: the source then fails as a whole
(no data: alert and hold).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx

from .base import Needs, SignalSource, SourceError
from .measurements import Key, Measurement, proportion
from .pricing import PriceTable
from .promtext import Scrape, ScrapeHistory

CHAT_ROUTE = "/api/ai/marketing-chat"
GAUGES = {
    "store_up": ("ethos_store_up", min),
    "pii_selftest": ("ethos_pii_detector_selftest", min),
    "pii_leaks": ("ethos_cache_pii_leaks", max),
}
SIGNALS = frozenset(
    ["up", *GAUGES, "cache_hit_rate", "quality_rejection_rate", "pii_detection_rate",
     "store_cost_usd_per_hour", "store_cost_ratio", "requests", "error_rate", "http_error_rate"]
)


def _server_error(status: str) -> bool:
    return status.startswith("5") or status == "0"


def _http_error(status: str) -> bool:
    return status.startswith(("4", "5")) or status == "0"


class RevisionMetricsSource(SignalSource):
    """Scrapes ``{url}/metrics`` of every revision in ``revisions`` (name -> base URL)."""

    name = "revisions"

    def __init__(
        self,
        revisions: Mapping[str, str],
        *,
        prices: PriceTable | None = None,
        projected_usd_per_hour: float | None = None,
        baseline: str = "blue",
        timeout: float = 2.0,
        transport: httpx.BaseTransport | None = None,
        horizon_s: float = 1800.0,
    ) -> None:
        self.revisions = {k: v.rstrip("/") for k, v in revisions.items()}
        self.prices = prices or PriceTable.from_policy(None)
        self.projected = projected_usd_per_hour
        self.baseline = baseline
        self.history = {name: ScrapeHistory(horizon_s) for name in self.revisions}
        self._client = httpx.Client(timeout=timeout, transport=transport)
        self.errors: dict[str, str] = {}

    def close(self) -> None:
        self._client.close()

    def _scrape(self, name: str, now: float) -> bool:
        url = f"{self.revisions[name]}/metrics"
        try:
            r = self._client.get(url)
            if r.status_code != 200:
                raise SourceError(f"{url} answered {r.status_code}")
            self.history[name].add(Scrape.parse(now, r.text))
        except (httpx.HTTPError, SourceError, ValueError) as e:
            self.errors[name] = f"{type(e).__name__}: {e}"
            return False
        self.errors.pop(name, None)
        return True

    def collect(self, needs: Needs, revisions: Sequence[str], now: float) -> dict[Key, Measurement]:
        wanted = {s: ws for s, ws in needs.items() if s in SIGNALS}
        up = {name: self._scrape(name, now) for name in self.revisions}
        if up and not any(up.values()):
            raise SourceError(
                "no revision answered /metrics ("
                + "; ".join(f"{k}: {v}" for k, v in self.errors.items())
                + "): the guard cannot tell who is down"
            )
        out: dict[Key, Measurement] = {}
        for name in self.revisions:
            for sig, ws in wanted.items():
                for w in ws:
                    m = self._measure(name, sig, float(w), up[name])
                    if m is not None:
                        out[(name, sig, float(w))] = m
        return out

    # ------------------------------------------------------------------ one signal

    def _grown(self, name: str, w: float, fn: Callable[[Scrape], float]) -> tuple[float, float | None] | None:
        """Growth over the window and its span; totals since start when history is short."""
        h = self.history[name]
        got = h.increase(w, fn)
        if got is not None:
            return got
        if h.latest is None:
            return None
        return fn(h.latest), None  # since the revision started: the best a single scrape gives

    def _measure(self, name: str, sig: str, w: float, up: bool) -> Measurement | None:
        kw: dict[str, Any] = {"source": "revision/metrics"}
        if sig == "up":
            return Measurement(1.0 if up else 0.0, 1, window_s=0.0, **kw)
        latest = self.history[name].latest
        if not up or latest is None:
            return None  # a revision that did not answer has no fresh values
        if sig in GAUGES:
            metric, pick = GAUGES[sig]
            values = [v for (n, labels), v in latest.series.items() if n == metric]
            return Measurement(pick(values), 1, window_s=0.0, **kw) if values else None
        if sig == "requests":
            if not latest.has("ethos_requests_total"):
                return None
            got = self._grown(name, w, self._chat_requests)
            if got is None:
                return None
            n = int(round(got[0]))
            return Measurement(float(n), n, window_s=got[1], **kw)
        if sig in ("error_rate", "http_error_rate"):
            bad = _server_error if sig == "error_rate" else _http_error
            return self._ratio(name, w, "ethos_requests_total",
                               lambda s: s.total("ethos_requests_total", route=CHAT_ROUTE, status=bad),
                               self._chat_requests)
        if sig == "cache_hit_rate":
            return self._ratio(name, w, "ethos_cache_lookups_total",
                               lambda s: s.total("ethos_cache_lookups_total", result=lambda r: r in ("hit", "semantic_hit")),
                               lambda s: s.total("ethos_cache_lookups_total", result=lambda r: r in ("hit", "semantic_hit", "miss")))
        if sig == "quality_rejection_rate":
            if not latest.has("ethos_cache_admissions_total"):
                return None
            return self._ratio(name, w, "ethos_cache_admissions_total",
                               lambda s: s.total("ethos_cache_quality_rejections_total"),
                               lambda s: s.total("ethos_cache_admissions_total"))
        if sig == "pii_detection_rate":
            # exchanges with any PII found / exchanges checked (ethos_pii_exchanges_total{has_pii})
            return self._ratio(name, w, "ethos_pii_exchanges_total",
                               lambda s: s.total("ethos_pii_exchanges_total", has_pii="true"),
                               lambda s: s.total("ethos_pii_exchanges_total"))
        if sig == "store_cost_usd_per_hour":
            cost = self._cost(name, w)
            if cost is None:
                return Measurement(None, 0, **kw) if latest.has("ethos_store_operations_total") else None
            usd_h, n, span = cost
            return Measurement(usd_h, n, window_s=span, **kw)
        if sig == "store_cost_ratio":
            return self._cost_ratio(name, w)
        return None

    @staticmethod
    def _chat_requests(s: Scrape) -> float:
        return s.total("ethos_requests_total", route=CHAT_ROUTE)

    def _ratio(self, name: str, w: float, needed: str, num: Callable[[Scrape], float],
               den: Callable[[Scrape], float]) -> Measurement | None:
        latest = self.history[name].latest
        if latest is None or not latest.has(needed):
            return None
        n = self._grown(name, w, num)
        d = self._grown(name, w, den)
        if n is None or d is None:
            return None
        return proportion(int(round(n[0])), int(round(d[0])), window_s=d[1], source="revision/metrics")

    def _cost(self, name: str, w: float) -> tuple[float, int, float | None] | None:
        """(USD per hour, chat requests, span) over the window; None without history."""
        h = self.history[name]
        if h.latest is None or not h.latest.has("ethos_store_operations_total"):
            return None
        base = h.base(w)
        if base is None:
            return None  # a rate needs two scrapes
        span = h.latest.t - base.t
        if span <= 0:
            return None
        now_ops = h.latest.by_label("ethos_store_operations_total", "op")
        then_ops = base.by_label("ethos_store_operations_total", "op")
        ops = {op: max(0.0, v - then_ops.get(op, 0.0)) for op, v in now_ops.items()}
        reqs = h.increase(w, self._chat_requests)
        n = int(round(reqs[0])) if reqs else 0
        return self.prices.cost(ops) * 3600.0 / span, n, span

    def _cost_ratio(self, name: str, w: float) -> Measurement | None:
        latest = self.history[name].latest
        if latest is None or not latest.has("ethos_store_operations_total"):
            return None
        mine = self._cost(name, w)
        if mine is None:  # one scrape: a rate needs two, wait for the next evaluation
            return Measurement(None, 0, source="revision/metrics")
        usd_h, n, span = mine
        if self.projected is not None and self.projected > 0:
            projected = self.projected
        else:
            if name == self.baseline or self.baseline not in self.history:
                return None
            base = self._cost(self.baseline, w)
            if base is None or base[1] <= 0 or not span:
                return Measurement(None, 0, window_s=span, source="revision/metrics")
            per_request = base[0] * (base[2] or 0) / 3600.0 / base[1]
            projected = per_request * n * 3600.0 / span
        if projected <= 0:
            return Measurement(None, n, window_s=span, source="revision/metrics")
        return Measurement(usd_h / projected, n, window_s=span, source="revision/metrics")


__all__ = ["RevisionMetricsSource", "SIGNALS", "CHAT_ROUTE"]
