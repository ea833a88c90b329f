"""Prometheus text scrapes kept over time, so counters become rates over trailing windows.

A :class:`Scrape` is one parsed exposition (series -> value) at a clock time; a
:class:`ScrapeHistory` keeps them for the longest window and answers "how much did this
counter grow over the last ``w`` seconds" the way Prometheus' ``increase()`` would (a drop is a
restart: the new value is the growth). Pure apart from the parsing.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

Labels = frozenset[tuple[str, str]]


@dataclass(frozen=True)
class Scrape:
    """One exposition: ``{(sample name, labels): value}`` at clock time ``t``."""

    t: float
    series: dict[tuple[str, Labels], float]
    #: metric families declared (``# TYPE``), also those with no series yet: a labelled
    #: counter that never counted is declared with no samples, and means 0
    families: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, t: float, text: str) -> Scrape:
        """Parse Prometheus text; raises ValueError on malformed text."""
        series: dict[tuple[str, Labels], float] = {}
        families: set[str] = set()
        for fam in text_string_to_metric_families(text):
            families.add(fam.name)
            if fam.type == "counter":
                families.add(fam.name + "_total")
            for s in fam.samples:
                series[(s.name, frozenset(s.labels.items()))] = float(s.value)
        return cls(t, series, frozenset(families))

    def has(self, name: str) -> bool:
        """True when the series is present or its family is declared (no series yet: 0)."""
        return name in self.families or any(n == name for n, _ in self.series)

    def total(self, name: str, **match: str | Callable[[str], bool]) -> float:
        """Sum of the series named ``name`` whose labels match (value or predicate)."""
        out = 0.0
        for (n, labels), v in self.series.items():
            if n != name:
                continue
            d = dict(labels)
            if all(_ok(d.get(k), want) for k, want in match.items()):
                out += v
        return out

    def by_label(self, name: str, label: str, **match: str | Callable[[str], bool]) -> dict[str, float]:
        """``{label value: summed value}`` of the matching series."""
        out: dict[str, float] = {}
        for (n, labels), v in self.series.items():
            if n != name:
                continue
            d = dict(labels)
            if label in d and all(_ok(d.get(k), want) for k, want in match.items()):
                out[d[label]] = out.get(d[label], 0.0) + v
        return out


def _ok(have: str | None, want: str | Callable[[str], bool]) -> bool:
    if have is None:
        return False
    return want(have) if callable(want) else have == want


class ScrapeHistory:
    """Scrapes of one target, oldest first, kept ``horizon_s`` seconds past the newest."""

    def __init__(self, horizon_s: float = 1800.0) -> None:
        self.horizon_s = horizon_s
        self._scrapes: deque[Scrape] = deque()

    def add(self, s: Scrape) -> None:
        self._scrapes.append(s)
        while len(self._scrapes) > 2 and self._scrapes[1].t <= s.t - self.horizon_s:
            self._scrapes.popleft()

    @property
    def latest(self) -> Scrape | None:
        return self._scrapes[-1] if self._scrapes else None

    def base(self, window_s: float) -> Scrape | None:
        """The newest scrape at least ``window_s`` older than the latest; else the oldest one
        (a shorter window than asked: callers record the span they got). None with < 2."""
        if len(self._scrapes) < 2:
            return None
        latest = self._scrapes[-1]
        chosen = self._scrapes[0]
        for s in self._scrapes:
            if s.t <= latest.t - window_s + 1e-6:
                chosen = s
            else:
                break
        return chosen

    def increase(self, window_s: float, fn: Callable[[Scrape], float]) -> tuple[float, float] | None:
        """(growth of ``fn`` over the window, span in seconds), or None without two scrapes."""
        b = self.base(window_s)
        latest = self.latest
        if b is None or latest is None:
            return None
        now_v, then_v = fn(latest), fn(b)
        growth = now_v - then_v if now_v >= then_v else now_v  # a counter reset
        return growth, latest.t - b.t

    def bucket_increase(
        self, window_s: float, name: str, **match: str | Callable[[str], bool]
    ) -> tuple[list[tuple[float, float]], float] | None:
        """Cumulative histogram buckets ``[(le, count)]`` grown over the window, and the span."""
        b = self.base(window_s)
        latest = self.latest
        if b is None or latest is None:
            return None
        now_b = latest.by_label(name, "le", **match)
        then_b = b.by_label(name, "le", **match)
        reset = any(now_b.get(le, 0.0) < v for le, v in then_b.items())
        out = []
        for le, v in now_b.items():
            grown = v if reset else v - then_b.get(le, 0.0)
            out.append((math.inf if le in ("+Inf", "inf") else float(le), max(0.0, grown)))
        return sorted(out), latest.t - b.t


__all__ = ["Scrape", "ScrapeHistory"]
