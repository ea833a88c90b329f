"""Route choice: bands, zero weights, stickiness, distribution, fallback, session id reading."""

from __future__ import annotations

import random

import pytest

from ethos.rollout.router.choice import (
    choose_revision,
    fallback_revision,
    route,
    session_id_of,
    session_point,
)


def test_bands() -> None:
    w = {"blue": 90, "green": 10}
    assert choose_revision(w, 0.0) == "blue"
    assert choose_revision(w, 89.999) == "blue"
    assert choose_revision(w, 90.0) == "green"
    assert choose_revision(w, 99.999) == "green"
    assert choose_revision(w, 100.0) == "green"  # rounding at the top edge


def test_zero_weight_never_chosen() -> None:
    for draw in (0.0, 0.5, 50.0, 99.99):
        assert choose_revision({"blue": 0, "green": 100}, draw) == "green"
        assert choose_revision({"blue": 100, "green": 0}, draw) == "blue"


def test_no_positive_weight_is_an_error() -> None:
    with pytest.raises(ValueError):
        choose_revision({"blue": 0}, 1.0)


def test_distribution_follows_weights() -> None:
    rng = random.Random(7)
    counts = {"blue": 0, "green": 0}
    for _ in range(20000):
        counts[route({"blue": 75, "green": 25}, rng.random() * 100, None)] += 1
    assert 0.73 < counts["blue"] / 20000 < 0.77


def test_sticky_session_stays_and_only_the_moved_band_switches() -> None:
    w1, w2 = {"blue": 50, "green": 50}, {"blue": 95, "green": 5}
    sessions = [f"s{i}" for i in range(2000)]
    first = {s: route(w1, random.random() * 100, s) for s in sessions}
    again = {s: route(w1, random.random() * 100, s) for s in sessions}
    assert first == again  # the draw is ignored for a session
    after = {s: route(w2, 0.0, s) for s in sessions}
    moved = [s for s in sessions if first[s] != after[s]]
    assert all(first[s] == "green" and after[s] == "blue" for s in moved)  # only green -> blue
    assert 0.4 < len(moved) / len(sessions) < 0.5  # ~45% of sessions sit in the band that moved


def test_session_point_is_stable_and_in_range() -> None:
    assert session_point("abc") == session_point("abc")
    assert all(0 <= session_point(f"x{i}") < 100 for i in range(1000))


def test_fallback() -> None:
    assert fallback_revision({"blue": 100, "green": 0}, "blue") == "green"
    assert fallback_revision({"blue": 60, "green": 40}, "green") == "blue"
    assert fallback_revision({"a": 50, "b": 0, "c": 50}, "a") == "c"
    assert fallback_revision({"blue": 100}, "blue") is None


def test_session_id_of() -> None:
    assert session_id_of("h1", b'{"session_id": "b1"}', "application/json") == "h1"
    assert session_id_of(None, b'{"message": "x", "session_id": "b1"}', "application/json") == "b1"
    assert session_id_of(None, b'{"message": "x"}', "application/json") is None
    assert session_id_of(None, b'{"session_id": 5}', None) is None
    assert session_id_of(None, b"not json session_id", None) is None
    assert session_id_of(None, b'{"session_id": "b"}', "text/plain") is None
    assert session_id_of("x" * 500, b"", None) is None
