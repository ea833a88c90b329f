"""The guard's simulations on the Cloud Monitoring source: synthetic traffic written, minute by
minute, into the Metric Service fake as Cloud Run records it (each minute visible 30-240 s
after it ends), read back over gRPC by :class:`CloudMonitoringSource` on a fake clock.

Request signals (count, error rates, latency) come from Cloud Monitoring only; the app's own
signals (TTFT, cache, PII: Managed Prometheus on Cloud Run) from the simulated traffic.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from ethos.rollout.guard import load_policy
from ethos.rollout.guard.simulate import publish_minutes, simulate, synthetic
from ethos.rollout.sources.cloudmonitoring import (
    COUNT_SIGNALS,
    DEFAULT_LAG_S,
    LATENCY_SIGNALS,
    CloudMonitoringSource,
    CloudRunService,
    complete_end,
)
from ethos.rollout.sources.monitoring_fake import FakeMetricService

HOUR = 3600.0
WARMUP = 1200.0
NAMES = {"blue": "marketing-api-00012-xuv", "green": "marketing-api-00013-bod"}
TARGET = CloudRunService("proj", "australia-southeast1", "marketing-api", NAMES)
FROM_MONITORING = COUNT_SIGNALS | LATENCY_SIGNALS


class Clock:
    t = 0.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def world() -> Iterator[tuple[FakeMetricService, Clock]]:
    clock = Clock()
    fake = FakeMetricService(clock=clock).start()
    yield fake, clock
    fake.stop()


def run(fake: FakeMetricService, clock: Clock, traffic: dict, start: float, end: float, seed: int,  # type: ignore[type-arg]
        **kw: object):  # noqa: ANN201
    rng = np.random.default_rng(seed)
    publish_minutes(fake, traffic, NAMES, 0.0, end, delay=lambda: float(rng.uniform(30.0, DEFAULT_LAG_S)))
    src = CloudMonitoringSource(TARGET, client=fake.client())

    def tick(now: float) -> None:
        clock.t = now

    try:
        return simulate(load_policy(), traffic, start, end, sources=[src], from_sources=FROM_MONITORING,
                        before_step=tick, **kw), src
    finally:
        src.close()


def healthy(seed: int, end: float, rps: float = 1.0) -> dict:  # type: ignore[type-arg]
    rng = np.random.default_rng(seed)
    return {"blue": synthetic(rng, 0, end, rps), "green": synthetic(rng, 0, end, rps)}


def test_two_hours_of_healthy_noise_on_cloud_monitoring_roll_back_never(world) -> None:  # noqa: ANN001
    fake, clock = world
    end = WARMUP + 2 * HOUR
    res, src = run(fake, clock, healthy(5, end), WARMUP, end, seed=1)
    assert res.evaluations == 2 * 720 + 1
    assert res.rollbacks == 0 and res.alerts == [], (res.actions, res.alerts)
    # read once per complete minute (counts + latencies), not once per evaluation
    assert src.reads <= 2 * (2 * 60 + 2)
    assert res.last is not None
    er = next(r for r in res.last.results if r.trigger == "error_rate_critical")
    assert er.status == "ok" and er.window_s == 60.0


@pytest.mark.slow
def test_24_hours_of_healthy_noise_on_cloud_monitoring_roll_back_never(world) -> None:  # noqa: ANN001
    fake, clock = world
    end = WARMUP + 24 * HOUR
    res, _ = run(fake, clock, healthy(11, end), WARMUP, end, seed=2)
    assert res.evaluations == 24 * 720 + 1
    assert res.rollbacks == 0, res.actions
    assert res.alerts == []


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_fault_is_decided_within_one_evaluation_of_its_data_being_complete(world, seed: int) -> None:  # noqa: ANN001
    fake, clock = world
    onset = WARMUP + 300.0 + seed * 17.3
    end = onset + 900.0
    rng = np.random.default_rng(200 + seed)
    traffic = {"blue": synthetic(rng, 0, end, 10.0),
               "green": synthetic(rng, 0, end, 10.0, error_rate_at=lambda t: np.where(t >= onset, 0.1, 0.003))}
    res, _ = run(fake, clock, traffic, WARMUP, end, seed=seed, stop_on_action=True)
    assert res.actions and res.actions[0][1:] == ("emergency", "error_rate_critical"), res.actions
    decided = res.actions[0][0]
    used_end = complete_end(decided)
    # the window that decided ended where the data was complete, after the onset ...
    assert used_end > onset
    # ... and the decision came at the first evaluation after that minute became complete
    assert used_end + DEFAULT_LAG_S <= decided < used_end + DEFAULT_LAG_S + load_policy().interval_s
    # decided on the first or the second whole minute after the onset (the first may hold too
    # little of the fault: the onset falls inside it)
    assert used_end < onset + 120.0
