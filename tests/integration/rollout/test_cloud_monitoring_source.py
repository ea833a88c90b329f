"""The Cloud Monitoring source against a gRPC fake of the Metric Service (the client's own types).

Scripted series: healthy revisions, green failing, late data, gaps, permission denied, quota.
Each test checks the guard's decision AND what the source asked Cloud Monitoring (filter,
aggregation, interval): windows end where the data is complete (240 s of lag, whole minutes),
and data that has not arrived is no data, never a rollback.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import replace

import pytest

from ethos.rollout.guard.evaluate import GuardState, evaluate
from ethos.rollout.guard.policy import Policy, load_policy
from ethos.rollout.sources.base import SourceError, collect_snapshot
from ethos.rollout.sources.cloudmonitoring import (
    PROVIDES,
    CloudMonitoringSignals,
    CloudMonitoringSource,
    CloudRunService,
    complete_end,
)
from ethos.rollout.sources.gcp import Backoff
from ethos.rollout.sources.histograms import histogram_quantile
from ethos.rollout.sources.monitoring_fake import FakeMetricService

T0 = 1_800_000_000.0  # a whole minute
TARGET = CloudRunService("proj", "australia-southeast1", "marketing-api",
                         {"blue": "marketing-api-00012-xuv", "green": "marketing-api-00013-bod"})
BLUE, GREEN = TARGET.revision_names["blue"], TARGET.revision_names["green"]
POLICY = load_policy()
#: the runbook's triggers that Cloud Monitoring answers alone (no cache, PII or process signals)
REQUEST_POLICY = replace(POLICY, triggers=tuple(t for t in POLICY.triggers if t.signal in PROVIDES))


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def fake(clock: Clock) -> Iterator[FakeMetricService]:
    f = FakeMetricService(clock=clock).start()
    yield f
    f.stop()


def source(fake: FakeMetricService, **kw: object) -> CloudMonitoringSource:
    return CloudMonitoringSource(TARGET, client=fake.client(), **kw)  # type: ignore[arg-type]


def minute(fake: FakeMetricService, rev: str, end: float, ok: int, errors: int = 0, client_errors: int = 0,
           ms: float = 120.0, visible_at: float | None = None) -> None:
    codes = {200: ok, 500: errors, 404: client_errors}
    lat = {200: [ms] * ok, 500: [ms] * errors, 404: [ms] * client_errors}
    fake.record_requests(rev, end, codes, lat, visible_at=visible_at)


def steady(fake: FakeMetricService, end: float, minutes: int, *, green_errors: int = 1, blue_errors: int = 1,
           per_minute: int = 300) -> None:
    for k in range(minutes):
        t = end - 60 * k
        minute(fake, BLUE, t, per_minute - blue_errors, blue_errors)
        minute(fake, GREEN, t, per_minute - green_errors, green_errors)


def decide(src: CloudMonitoringSource, now: float, state: GuardState | None = None,
           policy: Policy = POLICY):  # noqa: ANN201
    snap = collect_snapshot([src], policy.needs(), [policy.candidate, policy.baseline], now)
    return evaluate(policy, snap, state or GuardState(), now), snap


def status(ev, trigger: str) -> str:  # noqa: ANN001
    return next(r.status for r in ev.results if r.trigger == trigger)


def test_healthy_revisions_hold_and_the_requests_say_what_cloud_monitoring_must_answer(
        fake: FakeMetricService, clock: Clock) -> None:
    now = T0 + 17.0
    end = complete_end(now)
    assert end == T0 - 240 and end <= now - 240
    steady(fake, end, 15)
    ev, snap = decide(source(fake), now)
    assert snap.unavailable == {}
    assert ev.decision.action not in ("emergency", "standard", "gradual")
    for t in ("error_rate_critical", "error_rate_sustained", "latency_p95_critical", "latency_p50_high"):
        assert status(ev, t) == "ok", t
    m = snap.get("green", "error_rate", 60.0)
    assert (m.samples, m.events, m.window_s, m.source) == (300, 1, 60.0, "cloud-monitoring")
    # a 10 s window reads the one whole minute that ends where the data is complete
    assert snap.get("green", "error_rate", 10.0).samples == 300
    assert snap.get("blue", "error_rate", 300.0).samples == 1500

    counts, latencies = fake.requests
    assert counts.name == "projects/proj"
    assert counts.filter == (
        'metric.type = "run.googleapis.com/request_count" AND resource.type = "cloud_run_revision"'
        ' AND resource.labels.service_name = "marketing-api" AND resource.labels.location = "australia-southeast1"'
        f' AND resource.labels.revision_name = one_of("{BLUE}", "{GREEN}")')
    agg = counts.aggregation
    assert agg.alignment_period.total_seconds() == 60
    assert agg.per_series_aligner.name == "ALIGN_DELTA" and agg.cross_series_reducer.name == "REDUCE_SUM"
    assert list(agg.group_by_fields) == ["resource.labels.revision_name", "metric.labels.response_code_class"]
    # the interval ends where the data is complete and spans the policy's longest window (600 s)
    assert counts.interval.end_time.timestamp() == end
    assert counts.interval.start_time.timestamp() == end - 600
    assert latencies.filter.startswith('metric.type = "run.googleapis.com/request_latencies"')
    assert list(latencies.aggregation.group_by_fields) == ["resource.labels.revision_name"]
    assert latencies.aggregation.per_series_aligner.name == "ALIGN_DELTA"
    assert latencies.aggregation.cross_series_reducer.name == "REDUCE_SUM"


def test_green_failing_is_an_emergency_on_complete_data(fake: FakeMetricService) -> None:
    now = T0 + 5
    steady(fake, complete_end(now), 15, green_errors=30)  # 10 % on green
    ev, snap = decide(source(fake), now)
    assert ev.decision.action == "emergency" and ev.decision.trigger == "error_rate_critical"
    assert "on green over 60 s, 300 samples" in ev.decision.reason
    assert snap.get("blue", "error_rate", 60.0).events == 1


def test_late_data_is_not_read_until_complete_then_decides_at_the_next_evaluation(
        fake: FakeMetricService, clock: Clock) -> None:
    now = T0 + 5
    end = complete_end(now)
    steady(fake, end, 15)  # healthy up to where the data is complete
    # green starts failing in the minute after: its 5xx points have arrived early, its 2xx
    # points not yet (a partly ingested minute), both visible by the documented 240 s
    t1 = end + 60
    fake.record_requests(GREEN, t1, {500: 60}, {500: [120.0] * 60}, visible_at=now - 1)
    fake.record_requests(GREEN, t1, {200: 240}, {200: [120.0] * 240}, visible_at=t1 + 200)
    fake.record_requests(BLUE, t1, {200: 300}, {200: [120.0] * 300}, visible_at=t1 + 200)
    src = source(fake)
    ev, snap = decide(src, now)
    assert status(ev, "error_rate_critical") == "ok"  # the partial minute was not read
    assert snap.get("green", "error_rate", 60.0).events == 1
    assert all(r.interval.end_time.timestamp() <= now - 240 for r in fake.requests)

    state = ev.state
    step = POLICY.interval_s
    t = now
    decided_at = None
    while t < t1 + 400:
        t += step
        clock.t = t
        ev, _ = decide(src, t, state)
        state = ev.state
        if ev.decision.action == "emergency":
            decided_at = t
            break
    assert decided_at is not None
    # the minute ending at t1 is complete at t1 + 240: decided within one evaluation of that
    assert t1 + 240 <= decided_at < t1 + 240 + step


def test_gaps_are_fewer_samples_and_a_revision_without_points_is_inconclusive(fake: FakeMetricService) -> None:
    now = T0 + 5
    end = complete_end(now)
    for k in range(15):
        t = end - 60 * k
        minute(fake, BLUE, t, 300)
        if k % 2:  # green: every other minute missing
            minute(fake, GREEN, t, 250, 50)
    ev, snap = decide(source(fake), now)
    # the newest minute of green is missing: its 60 s window has no requests (inconclusive),
    # the 300 s window holds the two minutes that did arrive
    assert snap.get("green", "error_rate", 60.0).samples == 0
    assert status(ev, "error_rate_critical") == "inconclusive"
    assert snap.get("green", "error_rate", 300.0).samples == 600
    assert ev.decision.action != "emergency"

    fresh = FakeMetricService().start()
    try:
        for k in range(15):
            minute(fresh, BLUE, end - 60 * k, 300)
        ev2, snap2 = decide(CloudMonitoringSource(TARGET, client=fresh.client()), now)
        assert snap2.get("green", "error_rate", 60.0).samples == 0
        assert status(ev2, "error_rate_critical") == "inconclusive"
        assert ev2.decision.action not in ("emergency", "standard", "gradual")
    finally:
        fresh.stop()


def test_permission_denied_is_no_data_naming_the_role(fake: FakeMetricService) -> None:
    fake.deny = True
    now = T0 + 5
    src = source(fake)
    with pytest.raises(SourceError) as e:
        src.collect(POLICY.needs(), ["green", "blue"], now)
    msg = str(e.value)
    assert "roles/monitoring.viewer" in msg and "403" in msg and "\n" not in msg
    ev, snap = decide(source(fake), now)
    assert "cloud-monitoring" in snap.unavailable
    assert status(ev, "error_rate_critical") == "no-data"
    assert ev.decision.action == "notify" and any("no data" in a for a in ev.decision.alerts)


def test_quota_is_no_data_backed_off_and_alerted_only_when_it_lasts(fake: FakeMetricService, clock: Clock) -> None:
    now = T0 + 5
    steady(fake, complete_end(now) + 600, 40)
    src = source(fake, backoff=Backoff(base_s=10, max_s=40, alert_after_s=60))
    fake.fail_next("RESOURCE_EXHAUSTED", "Quota exceeded for quota metric 'Time series queries'", times=100)
    state = GuardState()
    alerts: list[str] = []
    calls: list[int] = []
    t = now
    for _ in range(12):  # 60 s, every 5 s
        clock.t = t
        ev, snap = decide(src, t, state, REQUEST_POLICY)
        state = ev.state
        alerts.extend(ev.decision.alerts)
        calls.append(len(fake.requests))
        assert ev.decision.action in ("none", "watch", "notify")
        assert "quota exceeded" in snap.unavailable["cloud-monitoring"]
        t += 5
    assert alerts == []  # a short quota failure holds without paging anyone
    # backed off: 10 s, then 20 s, then 40 s between calls, not one call per evaluation
    assert calls[-1] <= 4
    for _ in range(12):
        clock.t = t
        ev, _ = decide(src, t, state, REQUEST_POLICY)
        state = ev.state
        alerts.extend(ev.decision.alerts)
        t += 5
    assert len(alerts) == 1 and "no data" in alerts[0]  # it lasted: alerted once
    fake._fail.clear()
    t += 60
    clock.t = t
    ev, snap = decide(src, t, state, REQUEST_POLICY)
    assert "cloud-monitoring" not in snap.unavailable
    assert snap.get("green", "error_rate", 60.0).samples == 300


def test_one_read_per_minute_of_complete_data_whatever_the_interval(fake: FakeMetricService) -> None:
    now = T0 + 1
    steady(fake, complete_end(now) + 120, 20)
    src = source(fake)
    for k in range(12):  # one minute at 5 s
        src.collect(POLICY.needs(), ["green", "blue"], now + 5 * k)
    assert src.reads == 2  # request counts + latencies, once
    src.collect(POLICY.needs(), ["green", "blue"], now + 60)
    assert src.reads == 4


def test_pages_are_followed(fake: FakeMetricService) -> None:
    fake.max_page_size = 1
    now = T0 + 5
    steady(fake, complete_end(now), 5, green_errors=3)
    got = source(fake).collect({"error_rate": [60.0]}, ["green", "blue"], now)
    assert got[("green", "error_rate", 60.0)].events == 3
    assert any(r.page_token for r in fake.requests)


def test_latency_quantiles_come_from_one_merged_distribution(fake: FakeMetricService) -> None:
    now = T0 + 5
    end = complete_end(now)
    # green: 2xx fast, 5xx slow, in separate series of two minutes
    fake.record_requests(GREEN, end, {200: 90, 500: 10}, {200: [100.0] * 90, 500: [8000.0] * 10})
    fake.record_requests(GREEN, end - 60, {200: 100}, {200: [100.0] * 100})
    got = source(fake).collect({"latency_p95": [120.0], "latency_p50": [120.0], "latency": [120.0]},
                               ["green"], now)
    p95, p50 = got[("green", "latency_p95", 120.0)], got[("green", "latency_p50", 120.0)]
    assert p95.samples == 200
    # 10 slow of 200 (5 %): the 95th percentile is at the top of the fast bucket, not 8 s
    assert p95.value is not None and p95.value < 0.2
    assert p50.value is not None and 0.07 < p50.value < 0.2
    assert len(got[("green", "latency", 120.0)].distribution or ()) == 200
    # and the per-minute p95 of the first minute alone is the slow bucket (what a REDUCE_MAX of
    # per-series percentiles would have reported)
    one = source(fake).collect({"latency_p95": [60.0]}, ["green"], now)[("green", "latency_p95", 60.0)]
    assert one.value is not None and one.value > 5.0


def test_procedures_signals_from_cloud_monitoring(fake: FakeMetricService) -> None:
    now = T0 + 5
    steady(fake, complete_end(now), 6, green_errors=15)
    reader = CloudMonitoringSignals(source(fake), window_s=300, clock=lambda: now)
    got = reader.read()
    assert got["green"].count == 1500 and math.isclose(got["green"].error_rate, 0.05)
    assert got["blue"].window_s == 300.0 and got["blue"].p95_ms is not None
    fake.deny = True
    from ethos.rollout.sources.signals import SignalsUnavailable

    with pytest.raises(SignalsUnavailable, match="roles/monitoring.viewer"):
        CloudMonitoringSignals(source(fake), clock=lambda: now).read()


def test_histogram_quantile_of_the_fake_buckets_is_within_one_bucket() -> None:
    # the fake's exponential buckets (growth 1.4): a quantile is exact to one bucket
    from ethos.rollout.sources.cloudmonitoring import cumulative_seconds, merge_buckets
    from ethos.rollout.sources.monitoring_fake import exponential_dist

    vals = [float(v) for v in range(10, 5000, 7)]
    d = exponential_dist(vals)
    from google.api import distribution_pb2

    opts = distribution_pb2.Distribution.BucketOptions()
    opts.exponential_buckets.scale, opts.exponential_buckets.growth_factor = d.exp[0], d.exp[1]  # type: ignore[index]
    opts.exponential_buckets.num_finite_buckets = d.exp[2]  # type: ignore[index]
    buckets: dict[float, float] = {}
    merge_buckets(buckets, opts, list(d.counts))
    q = histogram_quantile(0.95, cumulative_seconds(buckets))
    true = sorted(vals)[int(0.95 * len(vals))] / 1000
    assert q is not None and true / 1.4 <= q <= true * 1.4


def test_store_cost_from_firestore_usage_against_the_projection(fake: FakeMetricService) -> None:
    now = T0 + 5
    end = complete_end(now)
    steady(fake, end, 10)
    for k in range(10):  # 6,000 reads, 1,200 writes, 60 deletes a minute on the default database
        fake.record_firestore(end - 60 * k, {"read": 6000, "write": 1200, "delete": 60})
    fake.record_firestore(end, {"read": 10**6}, database="another-db")  # not ours
    from ethos.rollout.sources.pricing import PriceTable

    prices = PriceTable.of({"read": 0.06, "write": 0.18, "delete": 0.02})
    src = source(fake, firestore_database="(default)", prices=prices, projected_usd_per_hour=0.15)
    got = src.collect({"store_cost_usd_per_hour": [300.0], "store_cost_ratio": [300.0]}, ["green"], now)
    usd_h = (6000 * 0.06 + 1200 * 0.18 + 60 * 0.02) / 100_000 * 60  # per minute x 60
    cost = got[("green", "store_cost_usd_per_hour", 300.0)]
    assert math.isclose(cost.value or 0, usd_h) and cost.samples == 1500  # green's requests back it
    assert math.isclose(got[("green", "store_cost_ratio", 300.0)].value or 0, usd_h / 0.15)
    firestore = [r for r in fake.requests if "firestore.googleapis.com" in r.filter]
    assert {r.filter.split('"')[1] for r in firestore} == {
        "firestore.googleapis.com/document/read_count", "firestore.googleapis.com/document/write_count",
        "firestore.googleapis.com/document/delete_count"}
    assert all('resource.labels.database_id = "(default)"' in r.filter for r in firestore)
    # the default policy's trigger: ratio 2.3 > 2 for 10 minutes on enough requests
    ev, _ = decide(src, now, policy=replace(POLICY, cost={**POLICY.cost, "projected_usd_per_hour": 0.15}))
    assert status(ev, "store_cost_spike") == "watching"
    # without a projection the ratio is not guessed: no data
    none = source(fake, firestore_database="(default)").collect({"store_cost_ratio": [300.0]}, ["green"], now)
    assert none == {}
