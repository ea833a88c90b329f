"""The default policy replayed over synthetic traffic on a fake clock (no servers, no sleeps).

- healthy green, noisy heavy-tailed latency, occasional single errors, 1 request/s: no rollback;
- a 2x TTFT regression at the same traffic: caught within three windows;
- router stats unreachable for 10 minutes: no rollback, one alert;
- a 10% error rate at 10 requests/s: the emergency trigger within two evaluations.
"""

from __future__ import annotations

import numpy as np
import pytest

from ethos.rollout.guard import load_policy
from ethos.rollout.guard.simulate import simulate, synthetic

HOUR = 3600.0
WARMUP = 900.0  # the longest window of the default policy: evaluation starts with full windows


def _healthy(seed: int, end: float, rps: float = 1.0) -> dict:  # type: ignore[type-arg]
    rng = np.random.default_rng(seed)
    return {"blue": synthetic(rng, 0, end, rps), "green": synthetic(rng, 0, end, rps)}


@pytest.mark.slow
def test_24_hours_of_healthy_noise_at_low_traffic_roll_back_never() -> None:
    policy = load_policy()
    end = WARMUP + 24 * HOUR
    res = simulate(policy, _healthy(11, end), WARMUP, end)
    assert res.evaluations == 24 * 720 + 1
    assert res.rollbacks == 0, res.actions
    assert res.notifies == 0 and res.alerts == []


def test_two_hours_of_healthy_noise_roll_back_never() -> None:
    policy = load_policy()
    end = WARMUP + 2 * HOUR
    res = simulate(policy, _healthy(5, end), WARMUP, end)
    assert res.rollbacks == 0 and res.alerts == []


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_2x_ttft_regression_is_caught_within_three_windows(seed: int) -> None:
    policy = load_policy()
    window = 300.0  # the ttft_regression trigger's window
    onset = WARMUP + 600.0
    end = onset + 4 * window
    rng = np.random.default_rng(seed)
    traffic = {
        "blue": synthetic(rng, 0, end, 1.0),
        "green": synthetic(rng, 0, end, 1.0, ttft_factor=lambda t: np.where(t >= onset, 2.0, 1.0)),
    }
    res = simulate(policy, traffic, WARMUP, end, stop_on_action=True)
    assert res.actions, "the regression was not caught"
    t, action, trigger = res.actions[0]
    assert (action, trigger) == ("standard", "ttft_regression")
    assert onset < t <= onset + 3 * window


def test_ten_minute_signal_outage_holds_and_alerts_once() -> None:
    policy = load_policy()
    end = WARMUP + HOUR
    outage = (WARMUP + 600.0, WARMUP + 1200.0)
    res = simulate(policy, _healthy(7, end), WARMUP, end, outages=(outage,))
    assert res.rollbacks == 0
    assert len(res.alerts) == 1
    at, text = res.alerts[0]
    assert at == outage[0] and "no data" in text and "router" in text


def test_ten_percent_errors_fire_the_emergency_within_two_intervals() -> None:
    policy = load_policy()
    onset = WARMUP + 100.0
    end = onset + 120.0
    rng = np.random.default_rng(9)
    traffic = {
        "blue": synthetic(rng, 0, end, 10.0),
        "green": synthetic(rng, 0, end, 10.0, error_rate_at=lambda t: np.where(t >= onset, 0.1, 0.003)),
    }
    res = simulate(policy, traffic, WARMUP, end, stop_on_action=True)
    t, action, trigger = res.actions[0]
    assert (action, trigger) == ("emergency", "error_rate_critical")
    assert t - onset <= 15.0
