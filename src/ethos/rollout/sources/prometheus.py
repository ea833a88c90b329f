"""Signals from Prometheus (deployments beyond one machine): one PromQL query per signal.

Every query is a template with ``$revision`` and ``$window`` (``[$window]`` becomes
``[300s]``); the defaults below read the revisions' own series (each target scraped with a
``revision`` label, as ``ethos serve`` exports them). A policy trigger may replace the query
of its signal with ``query:`` (the value, or for rates the numerator) and ``samples_query:``
(the number of observations, for rates the denominator).

Rates are two instant queries (events, samples) so the guard keeps its sample-size rules;
latency and TTFT are ``sum by (le) (increase(..._bucket[$window]))``, from which the
distribution and the percentiles are rebuilt. ``increase()`` extrapolates, so counts are
rounded. Prometheus not answering, or answering an error, is a :class:`SourceError`; a query
that returns no series leaves the signal unreported (no data).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from string import Template
from typing import TYPE_CHECKING, Any

import httpx

from ..errors import RolloutError
from .base import Needs, SignalSource, SourceError
from .histograms import histogram_quantile, histogram_samples
from .measurements import DISTRIBUTIONS, PROPORTIONS, Key, Measurement, proportion
from .pricing import PriceTable

if TYPE_CHECKING:
    from ..guard.policy import Policy

_R = 'revision="$revision"'
_CHAT = f'{_R},route="/api/ai/marketing-chat"'


@dataclass(frozen=True)
class Query:
    """PromQL of one signal: ``value`` (or the numerator of a rate), ``samples``, ``kind``."""

    value: str
    samples: str | None = None
    kind: str = "value"  # value | rate | buckets | cost


DEFAULT_QUERIES: dict[str, Query] = {
    "requests": Query(f"sum(increase(ethos_requests_total{{{_CHAT}}}[$window]))",
                      f"sum(increase(ethos_requests_total{{{_CHAT}}}[$window]))"),
    "error_rate": Query(f'sum(increase(ethos_requests_total{{{_CHAT},status=~"5..|0"}}[$window]))',
                        f"sum(increase(ethos_requests_total{{{_CHAT}}}[$window]))", "rate"),
    "http_error_rate": Query(f'sum(increase(ethos_requests_total{{{_CHAT},status=~"[45]..|0"}}[$window]))',
                             f"sum(increase(ethos_requests_total{{{_CHAT}}}[$window]))", "rate"),
    "latency": Query(f"sum by (le) (increase(ethos_request_latency_seconds_bucket{{{_CHAT}}}[$window]))", kind="buckets"),
    "ttft": Query(f"sum by (le) (increase(ethos_ttft_seconds_bucket{{{_CHAT}}}[$window]))", kind="buckets"),
    "cache_hit_rate": Query(f'sum(increase(ethos_cache_lookups_total{{{_R},result=~"hit|semantic_hit"}}[$window]))',
                            f'sum(increase(ethos_cache_lookups_total{{{_R},result=~"hit|semantic_hit|miss"}}[$window]))', "rate"),
    "quality_rejection_rate": Query(f"sum(increase(ethos_cache_quality_rejections_total{{{_R}}}[$window]))",
                                    f"sum(increase(ethos_cache_admissions_total{{{_R}}}[$window]))", "rate"),
    "pii_detection_rate": Query(f'sum(increase(ethos_pii_exchanges_total{{{_R},has_pii="true"}}[$window]))',
                                f"sum(increase(ethos_pii_exchanges_total{{{_R}}}[$window]))", "rate"),
    "up": Query(f"min(up{{{_R}}})"),
    "store_up": Query(f"min(ethos_store_up{{{_R}}})"),
    "pii_selftest": Query(f"min(ethos_pii_detector_selftest{{{_R}}})"),
    "pii_leaks": Query(f"max(ethos_cache_pii_leaks{{{_R}}})"),
    "memory_utilisation": Query(f"max(process_resident_memory_bytes{{{_R}}})"),  # / memory limit
    "cpu_utilisation": Query(f"sum(rate(process_cpu_seconds_total{{{_R}}}[$window]))"),  # / cores
    "store_cost_usd_per_hour": Query(f"sum by (op) (increase(ethos_store_operations_total{{{_R}}}[$window]))",
                                     f"sum(increase(ethos_requests_total{{{_CHAT}}}[$window]))", "cost"),
}
for _p in ("50", "95"):
    DEFAULT_QUERIES[f"latency_p{_p}"] = Query(DEFAULT_QUERIES["latency"].value, kind="buckets")
    DEFAULT_QUERIES[f"ttft_p{_p}"] = Query(DEFAULT_QUERIES["ttft"].value, kind="buckets")
#: Instant windows (0 s) of counters read over this range instead.
_INSTANT_RANGE = 60.0


#: Managed Service for Prometheus on Cloud Run: the revisions' series arrive through Google's
#: Prometheus sidecar, which labels each with the Cloud Run revision (``revision_name``; the
#: source puts the Cloud Run name of blue / green in ``$revision``). ``up`` and ``process_*``
#: are not scraped there (Cloud Run's own metrics answer for them). In Cloud Monitoring these
#: series are ``prometheus.googleapis.com/NAME/counter`` (``.../gauge``, ``.../histogram``);
#: PromQL names them as Prometheus does.
GMP_QUERIES: dict[str, Query] = {
    k: Query(q.value.replace('revision="$revision"', 'revision_name="$revision"'),
             q.samples.replace('revision="$revision"', 'revision_name="$revision"') if q.samples else None, q.kind)
    for k, q in DEFAULT_QUERIES.items()
    if k != "up" and "process_" not in q.value
}


def managed_prometheus_url(project: str) -> str:
    """The PromQL API of Managed Service for Prometheus for ``project`` (``/api/v1/query`` below it)."""
    return f"https://monitoring.googleapis.com/v1/projects/{project}/location/global/prometheus"


def queries_for(policy: Policy, defaults: Mapping[str, Query] | None = None) -> dict[str, Query]:
    """The default queries (or ``defaults``) with the policy triggers' ``query`` / ``samples_query`` applied."""
    out = dict(DEFAULT_QUERIES if defaults is None else defaults)
    for t in policy.triggers:
        if t.query:
            base = out.get(t.signal, Query(t.query))
            kind = "rate" if t.signal in PROPORTIONS else ("buckets" if t.signal in DISTRIBUTIONS else base.kind)
            out[t.signal] = Query(t.query, t.samples_query or base.samples, kind)
    return out


class PrometheusSource(SignalSource):
    """Instant queries to ``{base_url}/api/v1/query``.

    ``headers``: called before each query for extra headers (Managed Service for Prometheus:
    an OAuth bearer token from Application Default Credentials); ``revision_names``: our
    names -> the label values ``$revision`` stands for (Cloud Run revision names).
    """

    name = "prometheus"

    def __init__(
        self,
        base_url: str,
        queries: Mapping[str, Query] | None = None,
        *,
        prices: PriceTable | None = None,
        projected_usd_per_hour: float | None = None,
        baseline: str = "blue",
        memory_limit_bytes: float | None = None,
        cpu_limit_cores: float = 1.0,
        timeout: float = 3.0,
        transport: httpx.BaseTransport | None = None,
        headers: Callable[[], Mapping[str, str]] | None = None,
        revision_names: Callable[[], Mapping[str, str]] | None = None,
        name: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = headers
        self.revision_names = revision_names
        if name:
            self.name = name
        self.queries = dict(queries or DEFAULT_QUERIES)
        self.prices = prices or PriceTable.from_policy(None)
        self.projected = projected_usd_per_hour
        self.baseline = baseline
        self.memory_limit = memory_limit_bytes
        self.cpu_limit = cpu_limit_cores
        self._client = httpx.Client(timeout=timeout, transport=transport)

    def close(self) -> None:
        self._client.close()

    def query(self, promql: str) -> list[dict[str, Any]]:
        """Run one instant query; the ``result`` vector. SourceError when it fails."""
        url = f"{self.base_url}/api/v1/query"
        try:
            extra = dict(self.headers()) if self.headers is not None else {}
        except SourceError:
            raise
        except RolloutError as e:  # no Application Default Credentials
            raise SourceError(str(e)) from None
        try:
            r = self._client.get(url, params={"query": promql}, headers=extra)
        except httpx.HTTPError as e:
            raise SourceError(f"cannot reach Prometheus at {self.base_url}: {type(e).__name__}: {e}") from e
        if r.status_code in (401, 403) and self.headers is not None:
            raise SourceError(f"Managed Service for Prometheus refused the query ({r.status_code}): the caller "
                              "needs roles/monitoring.viewer on the project"
                              + (" (and working Application Default Credentials)" if r.status_code == 401 else ""))
        if r.status_code == 429:
            raise SourceError("Managed Service for Prometheus: quota exceeded (429); no data, holding")
        try:
            body = r.json()
        except ValueError as e:
            raise SourceError(f"Prometheus answered {r.status_code} without JSON") from e
        if r.status_code != 200 or body.get("status") != "success":
            raise SourceError(f"Prometheus refused {promql!r}: {body.get('error') or r.status_code}")
        result = body.get("data", {}).get("result", [])
        return result if isinstance(result, list) else []

    def _scalar(self, promql: str) -> float | None:
        res = self.query(promql)
        if not res:
            return None
        v = float(res[0]["value"][1])
        return v if math.isfinite(v) else None

    @staticmethod
    def _render(template: str, revision: str, window: float) -> str:
        w = max(window, 1.0) if window > 0 else _INSTANT_RANGE
        return Template(template).safe_substitute(revision=revision, window=f"{int(math.ceil(w))}s")

    def collect(self, needs: Needs, revisions: Sequence[str], now: float) -> dict[Key, Measurement]:
        out: dict[Key, Measurement] = {}
        label = {r: r for r in revisions}
        if self.revision_names is not None:
            try:
                names = dict(self.revision_names())
            except Exception as e:  # noqa: BLE001 - the Admin API or a bad mapping: no data now
                raise SourceError(f"cannot resolve the revisions' names: {e}") from None
            label = {r: names[r] for r in revisions if r in names}
        for ours, rev in label.items():
            for sig, ws in needs.items():
                q = self.queries.get(sig)
                if sig == "store_cost_ratio":
                    q = self.queries["store_cost_usd_per_hour"]
                if q is None:
                    continue
                for w in ws:
                    m = self._one(sig, q, rev, float(w), self._base_of(label))
                    if m is not None:
                        out[(ours, sig, float(w))] = m
        return out

    def _base_of(self, label: Mapping[str, str]) -> str:
        """The baseline's label value (for the cost projection)."""
        return label.get(self.baseline, self.baseline)

    def _one(self, sig: str, q: Query, rev: str, w: float, baseline: str | None = None) -> Measurement | None:
        kw: dict[str, Any] = {"window_s": w if w > 0 else _INSTANT_RANGE, "source": "prometheus"}
        if q.kind == "rate":
            n = self._scalar(self._render(q.samples or q.value, rev, w))
            if n is None:
                return None
            # No series for the numerator (no 5xx ever counted) with a denominator: zero events.
            ev = self._scalar(self._render(q.value, rev, w)) or 0.0
            return proportion(int(round(ev)), int(round(n)), **kw)
        if q.kind == "buckets":
            res = self.query(self._render(q.value, rev, w))
            buckets = [(float(s["metric"].get("le", "inf").replace("+Inf", "inf")), float(s["value"][1])) for s in res]
            if not buckets:
                return None
            count = int(round(max(c for _, c in buckets)))
            if sig.endswith("_p95"):
                return Measurement(histogram_quantile(0.95, buckets) if count else None, count, **kw)
            p50 = histogram_quantile(0.5, buckets) if count else None
            if sig.endswith("_p50"):
                return Measurement(p50, count, **kw)
            return Measurement(p50, count, distribution=histogram_samples(buckets) if count else (), **kw)
        if q.kind == "cost":
            got = self._cost(q, rev, w)
            if got is None:
                return None
            usd_h, n = got
            if sig == "store_cost_usd_per_hour":
                return Measurement(usd_h, n, **kw)
            projected = self.projected
            base_rev = baseline or self.baseline
            if not projected:
                if rev == base_rev:
                    return None
                base = self._cost(q, base_rev, w)
                if base is None or base[1] <= 0:
                    return None
                projected = base[0] / base[1] * n
            return Measurement(usd_h / projected if projected > 0 else None, n, **kw)
        v = self._scalar(self._render(q.value, rev, w))
        if v is None:
            return None
        n = 1
        if q.samples:
            s = self._scalar(self._render(q.samples, rev, w))
            n = int(round(s)) if s is not None else 0
        if sig == "memory_utilisation":
            if not self.memory_limit:
                return None
            v = v / self.memory_limit
        elif sig == "cpu_utilisation":
            v = v / self.cpu_limit
        return Measurement(v, n, **kw)

    def _cost(self, q: Query, rev: str, w: float) -> tuple[float, int] | None:
        res = self.query(self._render(q.value, rev, w))
        if not res:
            return None
        ops = {s["metric"].get("op", "?"): float(s["value"][1]) for s in res}
        span = w if w > 0 else _INSTANT_RANGE
        n = self._scalar(self._render(q.samples or "vector(0)", rev, w)) or 0.0
        return self.prices.cost(ops) * 3600.0 / span, int(round(n))


__all__ = ["PrometheusSource", "Query", "DEFAULT_QUERIES", "GMP_QUERIES", "managed_prometheus_url", "queries_for"]
