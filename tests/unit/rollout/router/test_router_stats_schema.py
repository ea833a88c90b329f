"""The schema of ``GET /router/stats``: what the windows summarise is what the readers parse.

``RouterStats.from_json`` takes exactly the router's shape; anything else is a
``StatsFormatError`` that says what is wrong and where.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from ethos.rollout.router.windows import (
    Outcome,
    RouterStats,
    SlidingWindows,
    StatsFormatError,
    WindowStats,
    summarise,
)

#: The keys of one window, in the order the router sends them (the wire format).
WIRE_KEYS = ["window_s", "count", "errors", "error_rate", "rps", "status", "connect_failures", "retried",
             "p50_latency_ms", "p95_latency_ms", "p50_ttft_ms", "p95_ttft_ms"]


def _windows() -> SlidingWindows:
    now = [5000.0]  # the clock, moved by hand
    w = SlidingWindows((60, 300), clock=lambda: now[0])
    for i in range(1, 41):
        w.record(Outcome("blue", 200 if i % 10 else 502, i / 1000, i / 4000 if i % 3 else None, retried=i == 7))
    w.record(Outcome("green", None, 0.3, None, connect_failed=True))
    w.record(Outcome("green", 404, 0.02, 0.01))
    now[0] += 90  # blue's outcomes leave the 60 s window, stay in the 300 s one
    w.record(Outcome("blue", 301, 0.005, 0.002))
    return w


def _stats(w: SlidingWindows) -> RouterStats:
    return RouterStats(weights={"blue": 90, "green": 10, "red": 0}, sticky=True, windows_s=w.windows,
                       revisions=w.stats(["blue", "green", "red"]), ejected={"green": 1.5})


def _wire() -> dict[str, Any]:
    """A real answer, through JSON as it travels."""
    return json.loads(json.dumps(_stats(_windows()).to_json()))


def test_what_the_windows_summarise_is_what_the_readers_parse() -> None:
    w = _windows()
    stats = _stats(w)
    wire = json.loads(json.dumps(stats.to_json()))
    back = RouterStats.from_json(wire)
    assert back == stats
    assert back.to_json() == wire
    assert json.dumps(back.to_json()) == json.dumps(stats.to_json())  # same keys, same order
    assert wire["revisions"] == w.summary(["blue", "green", "red"])
    blue = back.revisions["blue"]
    assert (blue["60s"].count, blue["300s"].count, blue["300s"].errors, blue["300s"].retried) == (1, 41, 4, 1)
    assert blue["60s"].status == {"2xx": 0, "3xx": 1, "4xx": 0, "5xx": 0, "none": 0}
    green = back.revisions["green"]["300s"]
    assert (green.errors, green.connect_failures, green.status["4xx"], green.status["none"]) == (1, 1, 1, 1)
    red = back.revisions["red"]["60s"]
    assert red.count == 0 and red.p50_latency_ms is None and red.error_rate == 0.0


def test_summarise_builds_a_window_in_the_wire_order() -> None:
    empty = summarise([], 60)
    assert empty == WindowStats(60)
    assert list(empty.to_json()) == WIRE_KEYS
    assert list(_wire()["revisions"]["blue"]["60s"]) == WIRE_KEYS
    assert WindowStats.from_json(empty.to_json()) == empty


def test_the_window_for_a_wanted_length() -> None:
    stats = RouterStats.from_json(_wire())
    assert stats.window("blue").window_s == 60  # shortest by default
    assert stats.window("blue", at_least_s=10).window_s == 60
    assert stats.window("blue", at_least_s=61).window_s == 300
    assert stats.window("blue", at_least_s=3600).window_s == 300  # none that long: the longest
    assert stats.window("purple") is None


def test_keys_the_reader_does_not_know_are_ignored() -> None:
    wire = _wire()
    wire["build"] = "newer router"
    wire["revisions"]["blue"]["60s"]["p99_latency_ms"] = 9.0
    assert RouterStats.from_json(wire) == RouterStats.from_json(_wire())


def _broken(change) -> dict[str, Any]:
    wire = copy.deepcopy(_wire())
    change(wire)
    return wire


def _win(wire: dict[str, Any]) -> dict[str, Any]:
    return wire["revisions"]["blue"]["60s"]


MALFORMED = {
    "not-an-object": (lambda w: None, "stats must be a JSON object, got list"),
    "no-weights": (lambda w: w.pop("weights"), "stats has no 'weights'"),
    "no-sticky": (lambda w: w.pop("sticky"), "stats has no 'sticky'"),
    "no-ejected": (lambda w: w.pop("ejected"), "stats has no 'ejected'"),
    "weights-not-integers": (lambda w: w["weights"].update(blue="90"), "stats['weights']['blue'] must be an integer"),
    "sticky-not-bool": (lambda w: w.update(sticky="yes"), "stats['sticky'] must be true or false"),
    "windows-empty": (lambda w: w.update(windows_s=[]), "stats['windows_s'] must be a non-empty list"),
    "windows-zero": (lambda w: w.update(windows_s=[0, 300]), "must be an integer >= 1, got 0"),
    "windows-twice": (lambda w: w.update(windows_s=[60, 60, 300]), "lists a window twice"),
    "revisions-not-object": (lambda w: w.update(revisions=3), "stats['revisions'] must be a JSON object, got 3"),
    "flat-revision": (lambda w: w["revisions"].update(blue={"requests": 3, "p50_ms": 1.0}),
                      "stats['revisions']['blue'] has windows ['p50_ms', 'requests'], expected ['60s', '300s']"),
    "window-label-5m": (lambda w: w["revisions"]["blue"].update({"5m": w["revisions"]["blue"].pop("300s")}),
                        "expected ['60s', '300s']"),
    "window-length-mismatch": (lambda w: _win(w).update(window_s=300), "['60s'].window_s is 300, expected 60"),
    "no-count": (lambda w: _win(w).pop("count"), "stats['revisions']['blue']['60s'] has no 'count'"),
    "count-negative": (lambda w: _win(w).update(count=-1), "['count'] must be an integer >= 0, got -1"),
    "count-bool": (lambda w: _win(w).update(count=True), "['count'] must be an integer >= 0, got bool"),
    "count-float": (lambda w: _win(w).update(count=1.5), "['count'] must be an integer >= 0, got 1.5"),
    "error-rate-above-one": (lambda w: _win(w).update(error_rate=1.5), "['error_rate'] must be within 0..1"),
    "error-rate-text": (lambda w: _win(w).update(error_rate="0.1"), "['error_rate'] must be a number >= 0, got str"),
    "latency-alias": (lambda w: _win(w).update(p50_ms=_win(w).pop("p50_latency_ms")), "has no 'p50_latency_ms'"),
    "latency-nested": (lambda w: _win(w).update(p95_latency_ms={"p95_ms": 3.0}),
                       "['p95_latency_ms'] must be a number >= 0, got dict"),
    "latency-nan": (lambda w: _win(w).update(p95_ttft_ms=float("nan")), "['p95_ttft_ms'] must be a number >= 0"),
    "status-class-missing": (lambda w: _win(w)["status"].pop("none"), "['status'] has no none"),
    "status-negative": (lambda w: _win(w)["status"].update({"5xx": -2}), "['status']['5xx'] must be an integer >= 0"),
    "ejected-text": (lambda w: w["ejected"].update(green="soon"), "stats['ejected']['green'] must be a number"),
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_stats_are_a_clear_error(name: str) -> None:
    change, message = MALFORMED[name]
    data: Any = [1, 2] if name == "not-an-object" else _broken(change)
    with pytest.raises(StatsFormatError) as e:
        RouterStats.from_json(data)
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_a_stray_string_is_named_by_its_type_never_echoed() -> None:
    wire = _broken(lambda w: _win(w).update(count="alice@example.com"))
    with pytest.raises(StatsFormatError) as e:
        RouterStats.from_json(wire)
    assert "alice" not in str(e.value) and "got str" in str(e.value)
