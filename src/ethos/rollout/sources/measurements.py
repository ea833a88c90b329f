"""What the guard evaluates: measurements of signals per revision and window, and a snapshot.

A :class:`Measurement` is one signal of one revision over one trailing window: its value,
how many observations back it (``samples``), for rates the numerator (``events``), and for
latency-like signals the per-request values (``distribution``) that baseline tests need.
A :class:`Snapshot` is everything read at one instant, plus the sources that could not be
read: a signal absent from it is *no data*, which the guard never mistakes for a failure.

Signal names (units: seconds, ratios 0..1, USD):

=======================  ==================================================================
``requests``             requests in the window (value = samples = count)
``error_rate``           5xx or no response / requests
``http_error_rate``      4xx + 5xx + no response / requests
``latency``, ``ttft``    per-request distribution (seconds); value = median
``latency_p50|p95``      percentiles of request latency, seconds
``ttft_p50|p95``         percentiles of time to first token, seconds
``up``                   1 when the revision answers, 0 when it does not
``cache_hit_rate``       (exact + semantic hits) / lookups
``pii_leaks``            entries holding PII found by the last cache scan (gauge)
``pii_selftest``         1 when the PII detector passes its self-test, else 0 (gauge)
``pii_detection_rate``   requests with PII detected / requests
``quality_rejection_rate``  answers refused by the quality gate / admission attempts
``store_up``             1 when the cache store is reachable (gauge)
``store_cost_usd_per_hour``  store operations priced by the table, per hour
``store_cost_ratio``     cost per hour / projected cost per hour (derived)
``cpu_utilisation``      CPU seconds per second / the revision's CPU limit (cores)
``memory_utilisation``   resident memory / the revision's memory limit
=======================  ==================================================================
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

#: Every signal a policy may name.
SIGNALS: frozenset[str] = frozenset(
    """requests error_rate http_error_rate latency ttft latency_p50 latency_p95 ttft_p50
    ttft_p95 up cache_hit_rate pii_leaks pii_selftest pii_detection_rate
    quality_rejection_rate store_up store_cost_usd_per_hour store_cost_ratio
    cpu_utilisation memory_utilisation""".split()
)
#: Signals that are rates with a numerator (``events``) and a denominator (``samples``).
PROPORTIONS: frozenset[str] = frozenset(
    "error_rate http_error_rate cache_hit_rate pii_detection_rate quality_rejection_rate".split()
)
#: Signals that carry per-request values for rank tests.
DISTRIBUTIONS: frozenset[str] = frozenset({"latency", "ttft"})


@dataclass(frozen=True, slots=True)
class Measurement:
    """One signal of one revision over one window. ``value`` None: measured, but nothing to show."""

    value: float | None
    samples: int = 0
    events: int | None = None
    distribution: Sequence[float] | None = None  # tuple, list or numpy array
    window_s: float | None = None  # the window the source actually used
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Compact JSON form for the history (the distribution is summarised, not kept)."""
        d: dict[str, Any] = {"value": self.value, "samples": self.samples}
        if self.events is not None:
            d["events"] = self.events
        if self.distribution is not None and len(self.distribution):
            d["distribution_n"] = len(self.distribution)
        if self.window_s is not None:
            d["window_s"] = self.window_s
        if self.source:
            d["source"] = self.source
        return d


def proportion(events: int, samples: int, **kw: Any) -> Measurement:
    """A rate measurement: value = events / samples (None when there were no samples)."""
    return Measurement(events / samples if samples else None, samples, events, **kw)


Key = tuple[str, str, float]  # (revision, signal, window seconds)


@dataclass(frozen=True)
class Snapshot:
    """Everything the sources told at ``at`` (clock seconds); ``unavailable``: source -> error."""

    at: float
    measurements: Mapping[Key, Measurement] = field(default_factory=dict)
    unavailable: Mapping[str, str] = field(default_factory=dict)
    weights: Mapping[str, int] | None = None
    #: signals whose absence is a short, transient failure of a source (quota, deadline): no
    #: data now, but not alerted on until the failure lasts (the source decides how long)
    quiet: frozenset[str] = frozenset()

    def get(self, revision: str, signal: str, window: float) -> Measurement | None:
        """The measurement, or None when no source reported it (no data)."""
        return self.measurements.get((revision, signal, float(window)))

    def revisions(self) -> list[str]:
        """Revisions with at least one measurement, in first-seen order."""
        return list(dict.fromkeys(k[0] for k in self.measurements))

    def with_measurements(self, extra: Mapping[Key, Measurement]) -> Snapshot:
        """A copy with more measurements (derived signals)."""
        merged = dict(self.measurements)
        merged.update(extra)
        return replace(self, measurements=merged)


__all__ = [
    "SIGNALS",
    "PROPORTIONS",
    "DISTRIBUTIONS",
    "Measurement",
    "Snapshot",
    "Key",
    "proportion",
]
