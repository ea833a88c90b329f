"""Pure parts of the Cloud Run sources: windows that end where data is complete, bucket layouts,
``--cloud-run`` parsing, error translation, tokens, and Managed Prometheus through the
Prometheus source (bearer token, Cloud Run revision labels)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from google.api import distribution_pb2
from google.api_core import exceptions as gexc

from ethos.rollout.guard import load_policy
from ethos.rollout.sources.cloudmonitoring import (
    CloudRunService,
    RevisionNames,
    bucket_uppers,
    complete_end,
    cumulative_seconds,
    merge_buckets,
    span_of,
)
from ethos.rollout.sources.gcp import Backoff, GcpCredentialsError, GcpReadError, TokenSource, translate
from ethos.rollout.sources.prometheus import GMP_QUERIES, PrometheusSource, managed_prometheus_url, queries_for


def test_windows_end_where_the_data_is_complete() -> None:
    assert complete_end(1000.0) == 720.0  # 1000 - 240 = 760 -> the minute ending at 720
    assert complete_end(1020.0) == 780.0
    assert complete_end(1019.9) == 720.0
    assert complete_end(1000.0, lag_s=0) == 960.0
    assert [span_of(w) for w in (0, 10, 60, 61, 300, 900)] == [60, 60, 60, 120, 300, 900]


def test_bucket_layouts() -> None:
    o = distribution_pb2.Distribution.BucketOptions()
    o.exponential_buckets.scale, o.exponential_buckets.growth_factor, o.exponential_buckets.num_finite_buckets = 1, 2, 3
    assert bucket_uppers(o, 5) == [1, 2, 4, 8, math.inf]
    o = distribution_pb2.Distribution.BucketOptions()
    o.linear_buckets.offset, o.linear_buckets.width, o.linear_buckets.num_finite_buckets = 10, 5, 2
    assert bucket_uppers(o, 4) == [10, 15, 20, math.inf]
    o = distribution_pb2.Distribution.BucketOptions()
    o.explicit_buckets.bounds.extend([100, 250, 1000])
    assert bucket_uppers(o, 4) == [100, 250, 1000, math.inf]
    b: dict[float, float] = {}
    merge_buckets(b, o, [0, 3, 1, 1])
    merge_buckets(b, o, [0, 1])
    # counts per upper bound (ms), with the lower bound of each filled bucket at 0
    assert b == {100: 0.0, 250: 4.0, 1000: 1.0, math.inf: 1.0}
    assert cumulative_seconds(b) == [(0.1, 0.0), (0.25, 4.0), (1.0, 5.0), (math.inf, 6.0)]


def test_cloud_run_flag() -> None:
    s = CloudRunService.parse("p/australia-southeast1/marketing-api", {"green": "r2"})
    assert (s.project, s.region, s.service, dict(s.revision_names)) == ("p", "australia-southeast1", "marketing-api",
                                                                         {"green": "r2"})
    assert str(s) == "p/australia-southeast1/marketing-api"
    for bad in ("p/r", "p//s", "p/r/s/x", ""):
        with pytest.raises(ValueError, match="PROJECT/REGION/SERVICE"):
            CloudRunService.parse(bad)


def test_revision_names_from_tags_are_cached_and_given_names_win() -> None:
    calls = []
    t = [0.0]

    def resolve() -> dict[str, str]:
        calls.append(1)
        return {"blue": "r1", "green": "r2"}

    names = RevisionNames({"green": "pinned"}, resolve, ttl_s=30, clock=lambda: t[0])
    assert names() == {"blue": "r1", "green": "pinned"}
    t[0] = 29
    names()
    assert len(calls) == 1
    t[0] = 31
    names()
    assert len(calls) == 2


def test_errors_name_what_to_do() -> None:
    e = translate(gexc.PermissionDenied("Permission monitoring.timeSeries.list denied"), "Cloud Monitoring",
                  "projects/p", "roles/monitoring.viewer")
    assert isinstance(e, GcpReadError) and not e.transient and "roles/monitoring.viewer" in str(e)
    q = translate(gexc.ResourceExhausted("Quota exceeded"), "Cloud Monitoring", "projects/p", "x")
    assert isinstance(q, GcpReadError) and q.transient and "quota exceeded" in str(q)
    d = translate(gexc.DeadlineExceeded("Deadline"), "Cloud Monitoring", "projects/p", "x")
    assert isinstance(d, GcpReadError) and d.transient and "deadline exceeded" in str(d)
    from google.auth.exceptions import DefaultCredentialsError

    c = translate(DefaultCredentialsError("no"), "Cloud Monitoring", "projects/p", "x")
    assert isinstance(c, GcpCredentialsError) and "Application Default Credentials" in str(c)


def test_backoff_doubles_and_says_when_a_failure_lasts() -> None:
    b = Backoff(base_s=10, max_s=40, alert_after_s=60)
    assert b.blocked(0) == 0
    assert [b.failed(t, "x") for t in (0, 10, 30, 70)] == [10, 20, 40, 40]
    assert b.blocked(75) == 35 and b.lasting(75) and not Backoff().lasting(0)
    b.ok()
    assert b.blocked(75) == 0 and b.failing_for(75) == 0


class Creds:
    def __init__(self) -> None:
        self.token, self.valid, self.expiry, self.refreshed = "tok-1", True, None, 0

    def refresh(self, request: object) -> None:
        self.refreshed += 1
        self.token, self.valid = f"tok-{self.refreshed + 1}", True
        self.expiry = datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=1)


def test_token_source_refreshes_before_expiry() -> None:
    c = Creds()
    ts = TokenSource("Managed Service for Prometheus", credentials=c)
    assert ts.headers() == {"Authorization": "Bearer tok-1"}
    c.expiry = datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=30)  # expires soon
    assert ts.headers() == {"Authorization": "Bearer tok-2"} and c.refreshed == 1
    assert TokenSource("x", anonymous=True).headers() == {}


def test_managed_prometheus_queries_by_cloud_run_revision_with_a_bearer_token() -> None:
    seen: list[httpx.Request] = []

    def answer(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        q = parse_qs(urlsplit(str(req.url)).query)["query"][0]
        value = "0"
        if "ethos_cache_lookups_total" in q:
            value = "90" if "hit|semantic_hit\"" in q and "miss" not in q else "100"
        return httpx.Response(200, json={"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {}, "value": [0, value]}]}})

    url = managed_prometheus_url("proj")
    assert url == "https://monitoring.googleapis.com/v1/projects/proj/location/global/prometheus"
    src = PrometheusSource(url, queries_for(load_policy(), GMP_QUERIES), transport=httpx.MockTransport(answer),
                           headers=lambda: {"Authorization": "Bearer t"},
                           revision_names=lambda: {"blue": "marketing-api-00012-xuv", "green": "marketing-api-00013-bod"},
                           name="managed-prometheus")
    got = src.collect({"cache_hit_rate": [300.0]}, ["green", "blue"], 0.0)
    m = got[("green", "cache_hit_rate", 300.0)]
    assert (m.events, m.samples) == (90, 100)
    assert str(seen[0].url).startswith(url + "/api/v1/query?")
    assert all(r.headers["Authorization"] == "Bearer t" for r in seen)
    queries = [parse_qs(urlsplit(str(r.url)).query)["query"][0] for r in seen]
    assert any('revision_name="marketing-api-00013-bod"' in q for q in queries)
    assert not any('revision="' in q for q in queries)
    assert "up" not in GMP_QUERIES and "memory_utilisation" not in GMP_QUERIES

    denied = PrometheusSource(url, GMP_QUERIES, transport=httpx.MockTransport(lambda r: httpx.Response(403, json={})),
                              headers=lambda: {"Authorization": "Bearer t"})
    from ethos.rollout.sources.base import SourceError

    with pytest.raises(SourceError, match="roles/monitoring.viewer"):
        denied.collect({"cache_hit_rate": [300.0]}, ["green"], 0.0)
