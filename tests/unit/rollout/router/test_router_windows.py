"""Sliding windows and percentiles, driven by a fake clock."""

from __future__ import annotations

import pytest

from ethos.rollout.router.windows import Outcome, SlidingWindows, percentile


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_percentile_nearest_rank() -> None:
    values = sorted(float(i) for i in range(1, 101))
    assert percentile(values, 50) == 50.0
    assert percentile(values, 95) == 95.0
    assert percentile([3.0], 95) == 3.0
    assert percentile([], 50) is None


def test_counts_errors_and_percentiles() -> None:
    clock = FakeClock()
    w = SlidingWindows((60, 300), clock=clock)
    for i in range(1, 101):
        w.record(Outcome("blue", 200, latency_s=i / 1000, ttft_s=i / 2000))
    w.record(Outcome("blue", 503, latency_s=0.001, ttft_s=0.001))
    w.record(Outcome("blue", 404, latency_s=0.001, ttft_s=0.001))
    w.record(Outcome("blue", None, latency_s=0.001, ttft_s=None, connect_failed=True))
    s = w.summary(["blue", "green"])
    b = s["blue"]["60s"]
    assert b["count"] == 103
    assert b["errors"] == 2  # the 503 and the connect failure; a 404 is not an error
    assert b["error_rate"] == pytest.approx(2 / 103, abs=1e-6)
    assert b["status"] == {"2xx": 100, "3xx": 0, "4xx": 1, "5xx": 1, "none": 1}
    assert b["connect_failures"] == 1
    assert b["p95_latency_ms"] == pytest.approx(95.0, abs=1.0)
    assert s["green"]["60s"]["count"] == 0 and s["green"]["60s"]["p50_latency_ms"] is None


def test_old_outcomes_leave_the_windows() -> None:
    clock = FakeClock()
    w = SlidingWindows((60, 300), clock=clock)
    w.record(Outcome("blue", 500, 0.5, 0.1))
    clock.now += 61
    w.record(Outcome("blue", 200, 0.01, 0.005))
    s = w.summary()["blue"]
    assert s["60s"]["count"] == 1 and s["60s"]["errors"] == 0
    assert s["300s"]["count"] == 2 and s["300s"]["errors"] == 1
    clock.now += 300
    s = w.summary()["blue"]
    assert s["300s"]["count"] == 0


def test_windows_must_be_positive() -> None:
    with pytest.raises(ValueError):
        SlidingWindows((0,))


def test_fast_percentile_matches_the_sorted_definition() -> None:
    import random

    import numpy as np

    from ethos.rollout.router.windows import fast_percentile

    rng = random.Random(3)
    for n in (1, 2, 3, 10, 101, 1000):
        values = [rng.random() for _ in range(n)]
        for q in (50, 95, 99):
            assert fast_percentile(np.array(values), q) == percentile(sorted(values), q)
    assert fast_percentile(np.empty(0), 50) is None
