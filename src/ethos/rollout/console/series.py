"""One hour of the console's samples, kept in memory and optionally on disk.

A sample is what the console read at one instant: per revision, the value of each charted
signal (``None`` when nothing was measured). :class:`SeriesStore` keeps the samples of the
last ``horizon_s`` seconds and answers them column by column (one array of times and one
array per signal and revision), the shape the page's charts draw directly.

Persistence (``<state dir>/console/history.jsonl``) is one JSON line per sample, appended;
:meth:`SeriesStore.load` reads back the lines of the last hour, so a restarted console still
shows the hour before. The file is rewritten with only the last hour when it grows past
``max_lines``.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The charted signals, in page order: signal -> (title, unit).
CHARTS: dict[str, tuple[str, str]] = {
    "request_rate": ("Request rate", "req/s"),
    "error_rate": ("Error rate", "ratio"),
    "latency_p50": ("Latency p50", "s"),
    "latency_p95": ("Latency p95", "s"),
    "ttft_p50": ("Time to first token (p50)", "s"),
    "cache_hit_rate": ("Cache hit rate (exact + semantic)", "ratio"),
    "pii_detection_rate": ("PII detection rate", "ratio"),
    "quality_rejection_rate": ("Quality rejections", "ratio"),
    "store_cost_ratio": ("Store cost / projection", "ratio"),
}


@dataclass(frozen=True)
class Sample:
    """Values read at ``t`` (unix seconds): revision -> signal -> value or None."""

    t: float
    values: Mapping[str, Mapping[str, float | None]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"t": round(self.t, 3), "values": {r: dict(v) for r, v in self.values.items()}}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Sample:
        vals = d.get("values") or {}
        return cls(float(d["t"]), {str(r): {str(k): _num(x) for k, x in (v or {}).items()}
                                   for r, v in vals.items()})


def _num(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    return float(x) if math.isfinite(x) else None


def columns(samples: Iterable[Sample], signals: Iterable[str], revisions: Iterable[str]) -> dict[str, Any]:
    """Column form of ``samples``: ``{"t": [...], "series": {signal: {revision: [...]}}}``. Pure."""
    rows = list(samples)
    revs = list(revisions)
    out: dict[str, Any] = {"t": [round(s.t, 3) for s in rows], "series": {}}
    for sig in signals:
        out["series"][sig] = {r: [s.values.get(r, {}).get(sig) for s in rows] for r in revs}
    return out


class SeriesStore:
    """Thread-safe ring of samples covering ``horizon_s``; optional JSONL file."""

    def __init__(self, horizon_s: float = 3600.0, path: Path | None = None,
                 max_lines: int = 5000) -> None:
        self.horizon_s = horizon_s
        self.path = path
        self.max_lines = max_lines
        self._samples: deque[Sample] = deque()
        self._lock = threading.Lock()
        self._lines = 0

    def add(self, sample: Sample) -> None:
        """Keep ``sample`` and drop those older than the horizon; append it to the file."""
        with self._lock:
            self._samples.append(sample)
            self._trim(sample.t)
            if self.path is not None:
                self._write(sample)

    def _trim(self, now: float) -> None:
        while self._samples and self._samples[0].t < now - self.horizon_s:
            self._samples.popleft()

    def _write(self, sample: Sample) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)  # type: ignore[union-attr]
            if self._lines >= self.max_lines:
                tmp = self.path.with_suffix(".tmp")  # type: ignore[union-attr]
                tmp.write_text("".join(json.dumps(s.to_dict()) + "\n" for s in self._samples))
                os.replace(tmp, self.path)  # type: ignore[arg-type]
                self._lines = len(self._samples)
                return
            with self.path.open("a") as f:  # type: ignore[union-attr]
                f.write(json.dumps(sample.to_dict()) + "\n")
            self._lines += 1
        except OSError:
            pass  # the history on disk is a convenience; the page keeps working from memory

    def load(self, now: float) -> int:
        """Read back the file's samples of the last hour; returns how many."""
        if self.path is None:
            return 0
        try:
            lines = self.path.read_text().splitlines()
        except OSError:
            return 0
        got = []
        for line in lines:
            try:
                s = Sample.from_dict(json.loads(line))
            except (ValueError, KeyError, TypeError):
                continue  # a line cut by a crash
            if s.t >= now - self.horizon_s:
                got.append(s)
        with self._lock:
            self._samples = deque(sorted(got, key=lambda s: s.t))
            self._lines = len(lines)
        return len(got)

    def samples(self, since: float | None = None) -> list[Sample]:
        """The samples kept, oldest first (those at or after ``since`` when given)."""
        with self._lock:
            return [s for s in self._samples if since is None or round(s.t, 3) >= since]

    def latest(self) -> Sample | None:
        with self._lock:
            return self._samples[-1] if self._samples else None


__all__ = ["CHARTS", "Sample", "SeriesStore", "columns"]
