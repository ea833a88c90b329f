"""A Cloud Monitoring Metric Service fake on 127.0.0.1, spoken to over real gRPC (tests, benches,
drills; never production).

It is a ``grpc`` server whose one method, ``google.monitoring.v3.MetricService/ListTimeSeries``,
is registered with the client library's own proto-plus serialisers
(``monitoring_v3.ListTimeSeriesRequest.deserialize`` / ``ListTimeSeriesResponse.serialize``),
so ``google-cloud-monitoring``'s ``MetricServiceClient`` talks to it unchanged, given
``MetricServiceGrpcTransport(channel=grpc.insecure_channel(fake.address))`` (or
``ETHOS_GCP_MONITORING_ENDPOINT=fake.address``).

What it serves: raw DELTA points (integers or distributions) per series, each with the moment
it becomes visible (``visible_at``: Cloud Run's metrics are sampled every 60 s and visible up to
240 s later); a point not yet visible by :attr:`clock` is not returned, as the real API does
not return data it has not ingested. ``ListTimeSeries`` honours:

- ``name`` (``projects/P``: another project is ``NOT_FOUND``);
- ``filter``: clauses joined by ``AND``, each ``KEY = "value"`` or ``KEY = one_of("a", "b")``
  on ``metric.type``, ``resource.type``, ``resource.labels.X``, ``metric.labels.X``; anything
  else is ``INVALID_ARGUMENT`` (so a malformed filter fails the test that sends it);
- ``interval``: points whose end time lies in ``(start, end]``;
- ``aggregation``: ``ALIGN_DELTA`` (or ``ALIGN_SUM``) over ``alignment_period`` buckets ending
  at the interval's end, then ``REDUCE_SUM`` (or ``REDUCE_NONE``) over ``group_by_fields``;
  distributions are merged bucket by bucket (same bucket options), as Cloud Monitoring does;
  a reducer without an aligner is ``INVALID_ARGUMENT``;
- ``page_size`` / ``page_token`` (``max_page_size`` forces small pages).

Scripted failures: ``fail_next(code, message, times)`` answers the next calls with a gRPC
status (``PERMISSION_DENIED``, ``RESOURCE_EXHAUSTED``, ``DEADLINE_EXCEEDED`` ...);
``deny = True`` refuses every call (``PERMISSION_DENIED``, as for a caller without
``roles/monitoring.viewer``). Every request received is kept in :attr:`requests` (the
client's own types) for tests of what a source sends.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

#: the resource and metric types of Cloud Run's serving-layer metrics
RUN_REVISION = "cloud_run_revision"
REQUEST_COUNT = "run.googleapis.com/request_count"
REQUEST_LATENCIES = "run.googleapis.com/request_latencies"
FIRESTORE_DATABASE = "firestore.googleapis.com/Database"
FIRESTORE_COUNTS = {"read": "firestore.googleapis.com/document/read_count",
                    "write": "firestore.googleapis.com/document/write_count",
                    "delete": "firestore.googleapis.com/document/delete_count"}
#: the fake's latency buckets (ms): exponential, scale 1 ms, growth 1.4, 100 finite buckets
LATENCY_BUCKETS = {"scale": 1.0, "growth_factor": 1.4, "num_finite_buckets": 100}


@dataclass(frozen=True)
class Dist:
    """A distribution value: explicit ``bounds`` (or exponential ``exp`` options) and counts."""

    counts: tuple[int, ...]
    mean: float = 0.0
    exp: tuple[float, float, int] | None = None  # (scale, growth_factor, num_finite_buckets)
    bounds: tuple[float, ...] | None = None

    @property
    def count(self) -> int:
        return int(sum(self.counts))

    def merged(self, other: Dist) -> Dist:
        if (self.exp, self.bounds) != (other.exp, other.bounds):
            raise ValueError("distributions with different bucket options cannot be summed")
        n = max(len(self.counts), len(other.counts))
        a = list(self.counts) + [0] * (n - len(self.counts))
        b = list(other.counts) + [0] * (n - len(other.counts))
        total = self.count + other.count
        mean = (self.mean * self.count + other.mean * other.count) / total if total else 0.0
        return Dist(tuple(x + y for x, y in zip(a, b, strict=True)), mean, self.exp, self.bounds)


def exponential_dist(values: Iterable[float], scale: float = LATENCY_BUCKETS["scale"],
                     growth: float = LATENCY_BUCKETS["growth_factor"],
                     n: int = int(LATENCY_BUCKETS["num_finite_buckets"])) -> Dist:
    """``values`` bucketed as Cloud Monitoring's exponential buckets: bucket 0 is ``(-inf, scale)``,
    bucket i (1..n) ``[scale*g^(i-1), scale*g^i)``, bucket n+1 the overflow. Trailing empty
    buckets are left out, as the API does."""
    counts = [0] * (n + 2)
    vals = list(values)
    for v in vals:
        if v < scale:
            i = 0
        else:
            i = min(n + 1, int(math.floor(math.log(v / scale) / math.log(growth))) + 1)
        counts[i] += 1
    while counts and counts[-1] == 0:
        counts.pop()
    mean = sum(vals) / len(vals) if vals else 0.0
    return Dist(tuple(counts), mean, exp=(scale, growth, n))


@dataclass
class RawPoint:
    end: float
    value: int | Dist
    visible_at: float


@dataclass
class Series:
    metric_type: str
    resource_type: str
    resource_labels: dict[str, str]
    metric_labels: dict[str, str]
    points: list[RawPoint] = field(default_factory=list)


class FilterError(ValueError):
    """The filter is not one the fake (or the API's grammar it models) accepts."""


_CLAUSE = re.compile(r'^\s*([A-Za-z_][\w.]*)\s*=\s*(.+?)\s*$')
_STR = re.compile(r'^"((?:[^"\\]|\\.)*)"$')
_ONE_OF = re.compile(r'^one_of\((.*)\)$')


def parse_filter(text: str) -> list[tuple[str, frozenset[str]]]:
    """``[(key, allowed values)]`` from ``KEY = "v" AND KEY = one_of("a","b")``; FilterError."""
    out: list[tuple[str, frozenset[str]]] = []
    if not text.strip():
        raise FilterError("a filter is required (at least metric.type)")
    for clause in re.split(r"\s+AND\s+", text.strip()):
        m = _CLAUSE.match(clause)
        if not m:
            raise FilterError(f"cannot parse filter clause {clause!r}")
        key, raw = m.groups()
        if not (key in ("metric.type", "resource.type") or key.startswith(
                ("resource.labels.", "resource.label.", "metric.labels.", "metric.label."))):
            raise FilterError(f"unknown filter key {key!r}")
        s = _STR.match(raw)
        if s:
            out.append((key, frozenset({s.group(1)})))
            continue
        o = _ONE_OF.match(raw)
        if o:
            items = [x.strip() for x in o.group(1).split(",") if x.strip()]
            vals = []
            for it in items:
                sm = _STR.match(it)
                if not sm:
                    raise FilterError(f"one_of takes quoted strings, got {it!r}")
                vals.append(sm.group(1))
            out.append((key, frozenset(vals)))
            continue
        raise FilterError(f"filter values must be quoted strings or one_of(...), got {raw!r}")
    if not any(k == "metric.type" for k, _ in out):
        raise FilterError("the filter must name a metric.type")
    return out


def _field(s: Series, key: str) -> str | None:
    if key == "metric.type":
        return s.metric_type
    if key == "resource.type":
        return s.resource_type
    for p in ("resource.labels.", "resource.label."):
        if key.startswith(p):
            return s.resource_labels.get(key[len(p):])
    for p in ("metric.labels.", "metric.label."):
        if key.startswith(p):
            return s.metric_labels.get(key[len(p):])
    return None


class FakeMetricService:
    """The fake (a context manager); ``address`` is ``127.0.0.1:PORT``."""

    def __init__(self, project: str = "proj", region: str = "australia-southeast1",
                 service: str = "marketing-api", *, clock: Callable[[], float] = time.time,
                 max_page_size: int | None = None) -> None:
        self.project, self.region, self.service = project, region, service
        self.clock = clock
        self.max_page_size = max_page_size
        self.deny = False
        self.requests: list[Any] = []
        self._series: dict[tuple[Any, ...], Series] = {}
        self._fail: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._server: Any = None
        self.port = 0

    # ------------------------------------------------------------------ lifecycle

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> FakeMetricService:
        import grpc
        from google.cloud import monitoring_v3

        handler = grpc.method_handlers_generic_handler("google.monitoring.v3.MetricService", {
            "ListTimeSeries": grpc.unary_unary_rpc_method_handler(
                self._list_time_series,
                request_deserializer=monitoring_v3.ListTimeSeriesRequest.deserialize,
                response_serializer=monitoring_v3.ListTimeSeriesResponse.serialize),
        })
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="fake-monitoring"))
        self._server.add_generic_rpc_handlers((handler,))
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self._server.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=None)
            self._server = None

    def __enter__(self) -> FakeMetricService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def client(self) -> Any:
        """A ``MetricServiceClient`` talking to this fake (plaintext, no credentials)."""
        import grpc
        from google.cloud import monitoring_v3
        from google.cloud.monitoring_v3.services.metric_service.transports import MetricServiceGrpcTransport

        return monitoring_v3.MetricServiceClient(
            transport=MetricServiceGrpcTransport(channel=grpc.insecure_channel(self.address)))

    # ------------------------------------------------------------------ scripting

    def fail_next(self, code: str, message: str | None = None, times: int = 1) -> None:
        """Answer the next ``times`` calls with the gRPC status ``code`` (e.g. RESOURCE_EXHAUSTED)."""
        with self._lock:
            self._fail.extend([(code, message or f"injected {code}")] * times)

    def add_point(self, metric_type: str, resource_type: str, resource_labels: Mapping[str, str],
                  metric_labels: Mapping[str, str], end: float, value: int | Dist,
                  visible_at: float | None = None) -> None:
        """One DELTA point covering ``(end - 60, end]``, visible from ``visible_at`` (default: at once)."""
        key = (metric_type, resource_type, tuple(sorted(resource_labels.items())), tuple(sorted(metric_labels.items())))
        with self._lock:
            s = self._series.get(key)
            if s is None:
                s = self._series[key] = Series(metric_type, resource_type, dict(resource_labels), dict(metric_labels))
            s.points.append(RawPoint(float(end), value, float(end if visible_at is None else visible_at)))

    def revision_labels(self, revision: str) -> dict[str, str]:
        return {"project_id": self.project, "service_name": self.service, "revision_name": revision,
                "configuration_name": self.service, "location": self.region}

    def record_requests(self, revision: str, end: float, codes: Mapping[int | str, int],
                        latencies_ms: Mapping[int | str, Sequence[float]] | Sequence[float] = (),
                        *, visible_at: float | None = None) -> None:
        """Cloud Run's points for one revision and one sampled minute ending at ``end``: a
        ``request_count`` point per response code, and ``request_latencies`` distributions per
        response code class (``latencies_ms``: per code, or one list for the first code)."""
        res = self.revision_labels(revision)
        by_class: dict[str, list[float]] = {}
        if not isinstance(latencies_ms, Mapping):
            first = next(iter(codes), 200)
            latencies_ms = {first: list(latencies_ms)}
        for code, n in codes.items():
            if n <= 0:
                continue
            cls = f"{str(code)[0]}xx"
            self.add_point(REQUEST_COUNT, RUN_REVISION, res,
                           {"response_code": str(code), "response_code_class": cls}, end, int(n), visible_at)
        for code, vals in latencies_ms.items():
            by_class.setdefault(f"{str(code)[0]}xx", []).extend(vals)
        for cls, vals in by_class.items():
            if vals:
                self.add_point(REQUEST_LATENCIES, RUN_REVISION, res, {"response_code_class": cls}, end,
                               exponential_dist(vals), visible_at)

    def record_firestore(self, end: float, ops: Mapping[str, int], *, database: str = "(default)",
                         visible_at: float | None = None) -> None:
        """Firestore's document read/write/delete counts of one minute (``ops``: read/write/delete)."""
        res = {"resource_container": self.project, "location": self.region, "database_id": database}
        for op, n in ops.items():
            if n > 0:
                self.add_point(FIRESTORE_COUNTS[op], FIRESTORE_DATABASE, res, {"type": "LOOKUP"} if op == "read" else {},
                               end, int(n), visible_at)

    # ------------------------------------------------------------------ the RPC

    def _list_time_series(self, request: Any, context: Any) -> Any:
        import grpc
        from google.cloud import monitoring_v3

        with self._lock:
            self.requests.append(request)
            fail = self._fail.pop(0) if self._fail else None
        if fail is not None:
            context.abort(getattr(grpc.StatusCode, fail[0]), fail[1])
        if self.deny:
            context.abort(grpc.StatusCode.PERMISSION_DENIED,
                          f"Permission monitoring.timeSeries.list denied (or the resource may not exist) on {request.name}.")
        if request.name not in (f"projects/{self.project}",):
            context.abort(grpc.StatusCode.NOT_FOUND, f"Project {request.name} not found.")
        try:
            clauses = parse_filter(request.filter)
        except FilterError as e:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"Field filter had an invalid value: {e}")
        end = float(request.interval.end_time.timestamp()) if request.interval.end_time else 0.0
        if end == 0:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "interval.end_time is required")
        start = float(request.interval.start_time.timestamp()) if request.interval.start_time else end
        if start > end:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "interval.start_time is after end_time")
        agg = request.aggregation
        aligner, reducer = monitoring_v3.Aggregation.Aligner, monitoring_v3.Aggregation.Reducer
        if agg.cross_series_reducer not in (reducer.REDUCE_NONE, reducer.REDUCE_SUM):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the fake reduces with REDUCE_SUM only")
        if agg.cross_series_reducer == reducer.REDUCE_SUM and agg.per_series_aligner == aligner.ALIGN_NONE:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          "The aligner cannot be ALIGN_NONE if cross series reduction is requested.")
        if agg.per_series_aligner not in (aligner.ALIGN_NONE, aligner.ALIGN_DELTA, aligner.ALIGN_SUM):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the fake aligns with ALIGN_DELTA / ALIGN_SUM only")
        period = agg.alignment_period.total_seconds() if agg.alignment_period else 0.0
        if agg.per_series_aligner != aligner.ALIGN_NONE and period < 60:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "The alignment period must be at least 60 seconds.")
        now = self.clock()
        with self._lock:
            selected = [s for s in self._series.values()
                        if all(_field(s, k) in vals for k, vals in clauses)]
            rows = []
            for s in selected:
                pts = [p for p in s.points if start < p.end <= end and p.visible_at <= now]
                if pts:
                    rows.append((s, pts))
        series = self._aggregate(rows, agg, start, end, period) if agg.per_series_aligner != aligner.ALIGN_NONE else [
            (s.metric_type, s.resource_type, s.resource_labels, s.metric_labels,
             sorted(((p.end - 60, p.end, p.value) for p in pts), key=lambda x: -x[1])) for s, pts in rows]
        size = min(request.page_size or 100000, self.max_page_size or 100000)
        offset = int(request.page_token or 0)
        page = series[offset:offset + size]
        token = str(offset + size) if offset + size < len(series) else ""
        return monitoring_v3.ListTimeSeriesResponse(time_series=[_to_proto(x) for x in page],
                                                    next_page_token=token)

    @staticmethod
    def _aggregate(rows: list[tuple[Series, list[RawPoint]]], agg: Any, start: float, end: float,
                   period: float) -> list[tuple[str, str, dict[str, str], dict[str, str], list[tuple[float, float, Any]]]]:
        from google.cloud import monitoring_v3

        reduce = agg.cross_series_reducer == monitoring_v3.Aggregation.Reducer.REDUCE_SUM
        fields = list(agg.group_by_fields)
        groups: dict[tuple[Any, ...], tuple[str, str, dict[str, str], dict[str, str], dict[float, Any]]] = {}
        for s, pts in rows:
            if reduce:
                rl = {f.split(".", 2)[2]: s.resource_labels.get(f.split(".", 2)[2], "")
                      for f in fields if f.startswith("resource.label")}
                ml = {f.split(".", 2)[2]: s.metric_labels.get(f.split(".", 2)[2], "")
                      for f in fields if f.startswith("metric.label")}
            else:
                rl, ml = dict(s.resource_labels), dict(s.metric_labels)
            key = (s.metric_type, tuple(sorted(rl.items())), tuple(sorted(ml.items())))
            g = groups.setdefault(key, (s.metric_type, s.resource_type, rl, ml, {}))
            for p in pts:
                k = math.floor((end - p.end) / period)
                bucket_end = end - k * period
                have = g[4].get(bucket_end)
                if have is None:
                    g[4][bucket_end] = p.value
                elif isinstance(have, Dist) and isinstance(p.value, Dist):
                    g[4][bucket_end] = have.merged(p.value)
                elif isinstance(have, int) and isinstance(p.value, int):
                    g[4][bucket_end] = have + p.value
        out = []
        for mt, rt, rl, ml, buckets in groups.values():
            out.append((mt, rt, rl, ml, [(e - period, e, v) for e, v in sorted(buckets.items(), reverse=True)]))
        return out


def _ts(t: float) -> dict[str, int]:
    return {"seconds": int(math.floor(t)), "nanos": int(round((t - math.floor(t)) * 1e9))}


def _to_proto(row: tuple[str, str, dict[str, str], dict[str, str], list[tuple[float, float, Any]]]) -> Any:
    from google.api import distribution_pb2, metric_pb2, monitored_resource_pb2
    from google.cloud import monitoring_v3

    mt, rt, rl, ml, points = row
    out_points = []
    is_dist = False
    for s, e, v in points:
        if isinstance(v, Dist):
            is_dist = True
            opts = distribution_pb2.Distribution.BucketOptions()
            if v.exp is not None:
                opts.exponential_buckets.scale, opts.exponential_buckets.growth_factor, \
                    opts.exponential_buckets.num_finite_buckets = v.exp[0], v.exp[1], v.exp[2]
            elif v.bounds is not None:
                opts.explicit_buckets.bounds.extend(v.bounds)
            d = distribution_pb2.Distribution(count=v.count, mean=v.mean, bucket_options=opts,
                                              bucket_counts=list(v.counts))
            tv = monitoring_v3.TypedValue(distribution_value=d)
        else:
            tv = monitoring_v3.TypedValue(int64_value=int(v))
        out_points.append(monitoring_v3.Point(interval=monitoring_v3.TimeInterval(start_time=_ts(s), end_time=_ts(e)),
                                              value=tv))
    return monitoring_v3.TimeSeries(
        metric=metric_pb2.Metric(type=mt, labels=ml),
        resource=monitored_resource_pb2.MonitoredResource(type=rt, labels=rl),
        metric_kind=monitoring_v3.TimeSeries.meta.fields["metric_kind"].enum.DELTA,
        value_type=(monitoring_v3.TimeSeries.meta.fields["value_type"].enum.DISTRIBUTION if is_dist
                    else monitoring_v3.TimeSeries.meta.fields["value_type"].enum.INT64),
        points=out_points)


__all__ = ["FakeMetricService", "Dist", "exponential_dist", "parse_filter", "FilterError", "REQUEST_COUNT",
           "REQUEST_LATENCIES", "RUN_REVISION", "FIRESTORE_COUNTS", "FIRESTORE_DATABASE", "LATENCY_BUCKETS"]
