"""Signals from Cloud Monitoring: what Cloud Run itself records of each revision.

On Cloud Run a revision is many instances behind Google's front end: a revision URL's
``/metrics`` is one random instance, and no local router counts the requests. Cloud Run
records them itself, per revision:

- ``run.googleapis.com/request_count`` (DELTA, INT64; labels ``response_code``,
  ``response_code_class``) -> ``requests``, ``error_rate`` (5xx / all), ``http_error_rate``
  (4xx + 5xx / all);
- ``run.googleapis.com/request_latencies`` (DELTA distribution, ms) -> ``latency`` (per-request
  pseudo-values for the rank tests), ``latency_p50``, ``latency_p95``: quantiles of ONE merged
  distribution per revision (``ALIGN_DELTA`` then ``REDUCE_SUM`` grouped by revision sums the
  buckets of every instance and response class; a p95 of per-instance p95s is not a p95);
- optionally ``firestore.googleapis.com/document/{read,write,delete}_count`` of one database
  -> ``store_cost_usd_per_hour`` and ``store_cost_ratio`` (priced by the policy's table,
  against ``cost.projected_usd_per_hour``; the database is shared, so the figure is the
  database's, reported for each revision).

**Windows end where the data is complete.** The points are sampled every 60 s and become
visible up to 240 s later (``lag_s``). A window of W seconds read at ``now`` covers the whole
minutes ``(E - W', E]``, with ``E = floor((now - lag_s) / 60) * 60`` and W' = W rounded up to
whole minutes (at least one): every point in it has arrived. Data that has not arrived is not
read, so it can only be *no data* or *too few samples*, which hold, never a rollback. A
revision with no point at all in a window has no requests there (Cloud Run writes no point for
an idle minute): its rates have 0 samples (inconclusive). Each window is read once: the
answer is kept until ``E`` moves (once a minute), so a guard evaluating every 5 s reads Cloud
Monitoring about twice a minute, whatever its interval.

**Revisions** are our names (``blue``, ``green``) mapped to Cloud Run revision names, given
(``--revision-name blue=REV``) or resolved from the service's traffic tags through the Cloud
Run Admin API (a callable, re-read at most every ``names_ttl_s``).

**Errors**: no Application Default Credentials -> :class:`~.gcp.GcpCredentialsError` at
construction (the message says how to get them); 403 -> no data, the message names
``roles/monitoring.viewer``; quota (429 / RESOURCE_EXHAUSTED), deadline and unavailable ->
no data for that evaluation, then no call until a backoff (10 s doubling to 160 s) has passed;
such a failure is *quiet* (no alert) until it has lasted ``alert_after_s`` (120 s).

Test setting: ``ETHOS_GCP_MONITORING_ENDPOINT=HOST:PORT`` (plaintext gRPC, no credentials).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .base import Needs, SignalSource, SourceError
from .gcp import (
    MONITORING_ROLE,
    Backoff,
    GcpCredentialsError,
    GcpReadError,
    monitoring_endpoint,
    no_credentials,
    translate,
)
from .histograms import histogram_quantile, histogram_samples
from .measurements import Key, Measurement, proportion
from .pricing import PriceTable
from .signals import RevisionSignals, SignalsReader, SignalsUnavailable

REQUEST_COUNT = "run.googleapis.com/request_count"
REQUEST_LATENCIES = "run.googleapis.com/request_latencies"
RUN_REVISION = "cloud_run_revision"
FIRESTORE_DATABASE = "firestore.googleapis.com/Database"
FIRESTORE_COUNTS = {"read": "firestore.googleapis.com/document/read_count",
                    "write": "firestore.googleapis.com/document/write_count",
                    "delete": "firestore.googleapis.com/document/delete_count"}

COUNT_SIGNALS = frozenset({"requests", "error_rate", "http_error_rate"})
LATENCY_SIGNALS = frozenset({"latency", "latency_p50", "latency_p95"})
COST_SIGNALS = frozenset({"store_cost_usd_per_hour", "store_cost_ratio"})
#: every signal this source can report
PROVIDES = COUNT_SIGNALS | LATENCY_SIGNALS | COST_SIGNALS

#: Cloud Run's serving metrics are sampled every 60 s and visible up to 240 s later
DEFAULT_LAG_S = 240.0
PERIOD_S = 60.0


# --------------------------------------------------------------------------- pure helpers


@dataclass(frozen=True)
class CloudRunService:
    """``PROJECT/REGION/SERVICE`` and how our names find their revisions."""

    project: str
    region: str
    service: str
    #: our name -> Cloud Run revision name, given (``--revision-name blue=REV``)
    revision_names: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str, revision_names: Mapping[str, str] | None = None) -> CloudRunService:
        """``"P/R/S"``; ValueError naming what is wrong."""
        parts = [p.strip() for p in str(text).split("/")]
        if len(parts) != 3 or not all(parts):
            raise ValueError(f"--cloud-run takes PROJECT/REGION/SERVICE (e.g. my-project/australia-southeast1/"
                             f"marketing-api), got {text!r}")
        return cls(parts[0], parts[1], parts[2], dict(revision_names or {}))

    def __str__(self) -> str:
        return f"{self.project}/{self.region}/{self.service}"


def complete_end(now: float, lag_s: float = DEFAULT_LAG_S, period_s: float = PERIOD_S) -> float:
    """The end of the newest whole period whose points have all arrived at ``now``. Pure."""
    return math.floor((now - lag_s) / period_s) * period_s


def span_of(window_s: float, period_s: float = PERIOD_S) -> float:
    """A window rounded up to whole periods, at least one (a 10 s window reads one minute). Pure."""
    return max(period_s, math.ceil(max(0.0, float(window_s)) / period_s - 1e-9) * period_s)


def bucket_uppers(options: Any, n: int) -> list[float]:
    """Upper bounds of buckets ``0..n-1`` of a Cloud Monitoring distribution (the last finite
    bucket is followed by an overflow bucket whose upper bound is infinity). Pure."""
    which = options.WhichOneof("options") if hasattr(options, "WhichOneof") else None
    out: list[float] = []
    if which == "exponential_buckets":
        e = options.exponential_buckets
        last = int(e.num_finite_buckets)
        out = [float(e.scale) * float(e.growth_factor) ** i if i <= last else math.inf for i in range(n)]
    elif which == "linear_buckets":
        lin = options.linear_buckets
        last = int(lin.num_finite_buckets)
        out = [float(lin.offset) + float(lin.width) * i if i <= last else math.inf for i in range(n)]
    elif which == "explicit_buckets":
        b = list(options.explicit_buckets.bounds)
        out = [float(b[i]) if i < len(b) else math.inf for i in range(n)]
    else:  # no options: one bucket holding everything
        out = [math.inf] * n
    return out


def merge_buckets(into: dict[float, float], options: Any, counts: Sequence[int]) -> None:
    """Add one distribution's bucket counts to ``into`` (upper bound in ms -> count). Pure."""
    uppers = bucket_uppers(options, len(counts))
    for i, (ub, c) in enumerate(zip(uppers, counts, strict=True)):
        if c:
            into[ub] = into.get(ub, 0.0) + float(c)
            if i > 0 and math.isfinite(uppers[i - 1]):
                # the bucket's lower bound, so a quantile interpolates inside the bucket
                into.setdefault(uppers[i - 1], 0.0)


def cumulative_seconds(buckets_ms: Mapping[float, float]) -> list[tuple[float, float]]:
    """``[(le seconds, cumulative count)]`` from upper bound (ms) -> count. Pure."""
    out, total = [], 0.0
    for ub in sorted(buckets_ms):
        total += buckets_ms[ub]
        out.append((ub / 1000.0 if math.isfinite(ub) else math.inf, total))
    return out


@dataclass
class Minute:
    """What one sampled period of one revision holds."""

    by_class: dict[str, int] = field(default_factory=dict)
    latency_ms: dict[float, float] = field(default_factory=dict)


@dataclass
class Reading:
    """One read: per Cloud Run revision, per period end -> :class:`Minute`; Firestore ops per end."""

    end: float
    start: float
    minutes: dict[str, dict[float, Minute]] = field(default_factory=dict)
    firestore: dict[float, dict[str, float]] = field(default_factory=dict)

    def window(self, revision: str, span_s: float) -> tuple[dict[str, int], dict[float, float]]:
        """Counts by class and merged latency buckets of ``revision`` over ``(end - span, end]``."""
        lo = self.end - span_s
        by_class: dict[str, int] = {}
        lat: dict[float, float] = {}
        for t, m in (self.minutes.get(revision) or {}).items():
            if lo < t <= self.end:
                for k, v in m.by_class.items():
                    by_class[k] = by_class.get(k, 0) + v
                for ub, c in m.latency_ms.items():
                    lat[ub] = lat.get(ub, 0.0) + c
        return by_class, lat

    def firestore_ops(self, span_s: float) -> dict[str, float] | None:
        lo = self.end - span_s
        got = [ops for t, ops in self.firestore.items() if lo < t <= self.end]
        if not got:
            return None
        out: dict[str, float] = {}
        for ops in got:
            for k, v in ops.items():
                out[k] = out.get(k, 0.0) + v
        return out


def measurements(reading: Reading, names: Mapping[str, str], needs: Needs, *, period_s: float = PERIOD_S,
                 prices: PriceTable | None = None, projected_usd_per_hour: float | None = None,
                 firestore: bool = False) -> dict[Key, Measurement]:
    """Our measurements from one reading; ``names``: ours -> Cloud Run revision. Pure."""
    out: dict[Key, Measurement] = {}
    wanted = {s: ws for s, ws in needs.items() if s in PROVIDES}
    for ours, cloud in names.items():
        for sig, ws in wanted.items():
            for w in ws:
                span = span_of(w, period_s)
                by_class, lat = reading.window(cloud, span)
                n = int(sum(by_class.values()))
                kw: dict[str, Any] = {"window_s": span, "source": "cloud-monitoring"}
                m: Measurement | None = None
                if sig == "requests":
                    m = Measurement(float(n), n, **kw)
                elif sig == "error_rate":
                    m = proportion(by_class.get("5xx", 0), n, **kw)
                elif sig == "http_error_rate":
                    m = proportion(by_class.get("5xx", 0) + by_class.get("4xx", 0), n, **kw)
                elif sig in LATENCY_SIGNALS:
                    buckets = cumulative_seconds(lat)
                    count = int(round(buckets[-1][1])) if buckets else 0
                    if sig == "latency_p95":
                        m = Measurement(histogram_quantile(0.95, buckets) if count else None, count, **kw)
                    elif sig == "latency_p50":
                        m = Measurement(histogram_quantile(0.5, buckets) if count else None, count, **kw)
                    else:
                        m = Measurement(histogram_quantile(0.5, buckets) if count else None, count,
                                        distribution=histogram_samples(buckets) if count else (), **kw)
                elif sig in COST_SIGNALS and firestore:
                    ops = reading.firestore_ops(span)
                    if ops is None:
                        continue  # no Firestore point in the window: no data
                    usd_h = (prices or PriceTable.from_policy(None)).cost(ops) * 3600.0 / span
                    if sig == "store_cost_usd_per_hour":
                        m = Measurement(usd_h, n, **kw)
                    elif projected_usd_per_hour:
                        m = Measurement(usd_h / projected_usd_per_hour, n, **kw)
                if m is not None:
                    out[(ours, sig, float(w))] = m
    return out


def _quote(v: str) -> str:
    return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --------------------------------------------------------------------------- the source


class RevisionNames:
    """Our names -> Cloud Run revision names: ``given`` as is, the others from ``resolve()``
    (the service's tags through the Admin API), re-read at most every ``ttl_s``."""

    def __init__(self, given: Mapping[str, str] | None = None,
                 resolve: Callable[[], Mapping[str, str]] | None = None, *, ttl_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.given = dict(given or {})
        self.resolve = resolve
        self.ttl_s = ttl_s
        self.clock = clock
        self._cached: dict[str, str] | None = None
        self._at = 0.0

    def __call__(self) -> dict[str, str]:
        if self.resolve is None:
            return dict(self.given)
        now = self.clock()
        if self._cached is None or now - self._at >= self.ttl_s:
            self._cached = {**dict(self.resolve()), **self.given}
            self._at = now
        return dict(self._cached)


def make_client(endpoint: str | None = None, credentials: Any = None) -> Any:
    """A ``MetricServiceClient``: plaintext gRPC to ``endpoint`` (or ``$ETHOS_GCP_MONITORING_ENDPOINT``)
    without credentials, else Google's endpoint with ADC. GcpCredentialsError without ADC."""
    from google.cloud import monitoring_v3

    endpoint = endpoint or monitoring_endpoint()
    if endpoint:
        import grpc
        from google.cloud.monitoring_v3.services.metric_service.transports import MetricServiceGrpcTransport

        return monitoring_v3.MetricServiceClient(
            transport=MetricServiceGrpcTransport(channel=grpc.insecure_channel(endpoint)))
    try:
        return monitoring_v3.MetricServiceClient(credentials=credentials)
    except Exception as e:
        if type(e).__module__.startswith("google.auth"):
            raise no_credentials("Cloud Monitoring") from None
        raise


class CloudMonitoringSource(SignalSource):
    """Request count, error rates and latency of Cloud Run revisions from Cloud Monitoring."""

    name = "cloud-monitoring"

    def __init__(
        self,
        target: CloudRunService,
        names: Callable[[], Mapping[str, str]] | Mapping[str, str] | None = None,
        *,
        client: Any = None,
        endpoint: str | None = None,
        credentials: Any = None,
        lag_s: float = DEFAULT_LAG_S,
        period_s: float = PERIOD_S,
        timeout_s: float = 10.0,
        prices: PriceTable | None = None,
        projected_usd_per_hour: float | None = None,
        firestore_database: str | None = None,
        backoff: Backoff | None = None,
        page_size: int = 0,
    ) -> None:
        self.target = target
        if names is None:
            names = dict(target.revision_names)
        if callable(names):
            self.names: Callable[[], Mapping[str, str]] = names
        else:
            fixed = dict(names)

            def given() -> Mapping[str, str]:
                return fixed

            self.names = given
        self.lag_s = lag_s
        self.period_s = period_s
        self.timeout_s = timeout_s
        self.prices = prices or PriceTable.from_policy(None)
        self.projected = projected_usd_per_hour
        self.firestore_database = firestore_database
        self.backoff = backoff or Backoff()
        self.page_size = page_size
        self.client = client if client is not None else make_client(endpoint, credentials)
        self.reads = 0  # calls made to the API (tests, benches)
        self._cache_key: tuple[Any, ...] | None = None
        self._cache: Reading | None = None
        self._last_transient = False

    @property
    def where(self) -> str:
        return f"projects/{self.target.project}"

    # ------------------------------------------------------------------ requests

    def _request(self, metric: str, start: float, end: float, group_by: Sequence[str],
                 revisions: Sequence[str] | None) -> Any:
        from google.cloud import monitoring_v3

        agg_t = monitoring_v3.Aggregation
        if revisions is not None:
            t = self.target
            flt = (f'metric.type = "{metric}" AND resource.type = "{RUN_REVISION}"'
                   f" AND resource.labels.service_name = {_quote(t.service)}"
                   f" AND resource.labels.location = {_quote(t.region)}"
                   f" AND resource.labels.revision_name = one_of({', '.join(_quote(r) for r in sorted(revisions))})")
        else:
            flt = (f'metric.type = "{metric}" AND resource.type = "{FIRESTORE_DATABASE}"'
                   f" AND resource.labels.database_id = {_quote(self.firestore_database or '(default)')}")
        return monitoring_v3.ListTimeSeriesRequest(
            name=self.where, filter=flt,
            interval=monitoring_v3.TimeInterval(start_time=_ts(start), end_time=_ts(end)),
            aggregation=agg_t(alignment_period={"seconds": int(self.period_s)},
                          per_series_aligner=agg_t.Aligner.ALIGN_DELTA,
                          cross_series_reducer=agg_t.Reducer.REDUCE_SUM, group_by_fields=list(group_by)),
            view=monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.FULL,
            page_size=self.page_size)

    def _list(self, request: Any) -> list[Any]:
        self.reads += 1
        try:
            return list(self.client.list_time_series(request=request, retry=None, timeout=self.timeout_s))
        except Exception as e:  # noqa: BLE001 - translated to one line naming what to do
            raise translate(e, "Cloud Monitoring", self.where, MONITORING_ROLE) from None

    def read(self, revisions: Sequence[str], start: float, end: float, kinds: frozenset[str]) -> Reading:
        """The points of ``revisions`` (Cloud Run names) over ``(start, end]``; GcpReadError."""
        out = Reading(end, start)
        if "counts" in kinds and revisions:
            req = self._request(REQUEST_COUNT, start, end,
                                ["resource.labels.revision_name", "metric.labels.response_code_class"], revisions)
            for ts in self._list(req):
                rev = ts.resource.labels.get("revision_name", "")
                cls = ts.metric.labels.get("response_code_class", "")
                for p in ts.points:
                    m = out.minutes.setdefault(rev, {}).setdefault(_t(p.interval.end_time), Minute())
                    m.by_class[cls] = m.by_class.get(cls, 0) + int(p.value.int64_value)
        if "latency" in kinds and revisions:
            req = self._request(REQUEST_LATENCIES, start, end, ["resource.labels.revision_name"], revisions)
            for ts in self._list(req):
                rev = ts.resource.labels.get("revision_name", "")
                for p in ts.points:
                    d = p.value.distribution_value
                    m = out.minutes.setdefault(rev, {}).setdefault(_t(p.interval.end_time), Minute())
                    merge_buckets(m.latency_ms, d.bucket_options, list(d.bucket_counts))
        if "firestore" in kinds:
            for op, metric in FIRESTORE_COUNTS.items():
                for ts in self._list(self._request(metric, start, end, ["resource.labels.database_id"], None)):
                    for p in ts.points:
                        ops = out.firestore.setdefault(_t(p.interval.end_time), {})
                        ops[op] = ops.get(op, 0.0) + float(p.value.int64_value)
        return out

    # ------------------------------------------------------------------ collect

    def _kinds(self, needs: Needs) -> frozenset[str]:
        kinds = set()
        for s in needs:
            if s in COUNT_SIGNALS or s in COST_SIGNALS:
                kinds.add("counts")
            if s in LATENCY_SIGNALS:
                kinds.add("latency")
            if s in COST_SIGNALS and self.firestore_database:
                kinds.add("firestore")
        return frozenset(kinds)

    def _failure(self, now: float, message: str, transient: bool) -> GcpReadError:
        lasted = self.backoff.failing_for(now)
        wait = self.backoff.blocked(now)
        more = []
        if lasted >= 1:
            more.append(f"failing for {lasted:.0f} s")
        if wait:
            more.append(f"next try in {wait:.0f} s")
        err = GcpReadError(message + (f" ({', '.join(more)})" if more else "") + "; no data, holding",
                           transient=transient)
        if transient and not self.backoff.lasting(now):
            err.quiet_signals = PROVIDES
        return err

    def collect(self, needs: Needs, revisions: Sequence[str], now: float) -> dict[Key, Measurement]:
        wanted = {s: ws for s, ws in needs.items() if s in PROVIDES}
        if not wanted:
            return {}
        if self.backoff.blocked(now):
            raise self._failure(now, self.backoff.last_error, self._last_transient)
        try:
            names = {r: n for r, n in dict(self.names()).items() if r in revisions}
        except GcpCredentialsError as e:
            raise SourceError(str(e)) from None
        except Exception as e:  # noqa: BLE001 - the Admin API or a bad mapping: no data now
            raise SourceError(f"cannot resolve the Cloud Run revisions of {self.target}: {e}") from None
        end = complete_end(now, self.lag_s, self.period_s)
        longest = max(span_of(w, self.period_s) for ws in wanted.values() for w in ws)
        kinds = self._kinds(wanted)
        key = (end, longest, tuple(sorted(names.items())), kinds)
        if key != self._cache_key or self._cache is None:
            try:
                reading = self.read(sorted(set(names.values())), end - longest, end, kinds)
            except GcpReadError as e:
                self.backoff.failed(now, str(e))
                self._last_transient = e.transient
                raise self._failure(now, str(e), e.transient) from None
            self.backoff.ok()
            self._cache_key, self._cache = key, reading
        return measurements(self._cache, names, wanted, period_s=self.period_s, prices=self.prices,
                            projected_usd_per_hour=self.projected, firestore=bool(self.firestore_database))

    def close(self) -> None:
        transport = getattr(self.client, "transport", None)
        close = getattr(transport, "close", None)
        if close is not None:
            try:
                close()
            except Exception:  # noqa: BLE001, S110 - closing is best effort
                pass


class CloudMonitoringSignals(SignalsReader):
    """The procedures' signals (count, error rate, p50 / p95 in ms) from a
    :class:`CloudMonitoringSource`, over a window ending where the data is complete."""

    def __init__(self, source: CloudMonitoringSource, *, window_s: float = 60.0,
                 clock: Callable[[], float] = time.time, owns: bool = True) -> None:
        self.source = source
        self.window_s = window_s
        self.clock = clock
        self.owns = owns

    def describe(self) -> str:
        return f"cloud monitoring {self.source.target} (window {span_of(self.window_s):g} s, lag {self.source.lag_s:g} s)"

    def read(self) -> dict[str, RevisionSignals]:
        w = float(self.window_s)
        needs = {"requests": [w], "error_rate": [w], "latency_p50": [w], "latency_p95": [w]}
        try:
            names = list(self.source.names())
            got = self.source.collect(needs, names, self.clock())
        except SourceError as e:
            raise SignalsUnavailable(str(e)) from None
        out: dict[str, RevisionSignals] = {}
        for name in names:
            req = got.get((name, "requests", w))
            if req is None:
                continue
            err = got.get((name, "error_rate", w))
            p50 = got.get((name, "latency_p50", w))
            p95 = got.get((name, "latency_p95", w))
            out[name] = RevisionSignals(
                count=req.samples, error_rate=float(err.value) if err is not None and err.value is not None else 0.0,
                p50_ms=p50.value * 1000.0 if p50 is not None and p50.value is not None else None,
                p95_ms=p95.value * 1000.0 if p95 is not None and p95.value is not None else None,
                window_s=req.window_s)
        return out

    def close(self) -> None:
        if self.owns:
            self.source.close()


def _ts(t: float) -> dict[str, int]:
    return {"seconds": int(math.floor(t)), "nanos": int(round((t - math.floor(t)) * 1e9))}


def _t(ts: Any) -> float:
    return float(ts.timestamp()) if hasattr(ts, "timestamp") else float(ts.seconds) + ts.nanos / 1e9


__all__ = [
    "COUNT_SIGNALS", "DEFAULT_LAG_S", "LATENCY_SIGNALS", "PERIOD_S", "PROVIDES", "REQUEST_COUNT",
    "REQUEST_LATENCIES", "CloudMonitoringSignals", "CloudMonitoringSource", "CloudRunService", "Reading",
    "RevisionNames", "bucket_uppers", "complete_end", "cumulative_seconds", "make_client", "measurements",
    "merge_buckets", "span_of",
]
