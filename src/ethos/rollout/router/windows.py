"""Per-revision sliding windows of request outcomes, their summaries, and the stats schema.

Outcomes go into one-second buckets per revision; a summary of the last ``w`` seconds
merges the buckets in range. Latencies are kept exactly (``array('d')``, 8 bytes each) so
p50/p95 are true order statistics, not histogram estimates; buckets older than the longest
window are dropped. The clock is injected so tests drive time by hand.

The body of ``GET /router/stats`` is typed here, beside the code that makes it:
:class:`WindowStats` (the figures of one window) and :class:`RouterStats` (the whole answer).
The router serialises them with ``to_json()``; readers (the guard's
:class:`~ethos.rollout.sources.router.RouterSource`, the procedures'
:class:`~ethos.rollout.sources.signals.RouterSignals`, through
:class:`~ethos.rollout.router.client.RouterClient`) parse with ``from_json()``, which takes
exactly that shape: a key missing or of the wrong type is a :class:`StatsFormatError`.
Keys it does not know are ignored (a newer router may add figures).
"""

from __future__ import annotations

import math
import time
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

#: Default windows, seconds: one minute and five minutes (the runbook's "for 5 minutes").
DEFAULT_WINDOWS: tuple[int, ...] = (60, 300)


@dataclass
class Outcome:
    """One proxied request as the router saw it."""

    revision: str
    status: int | None  # None: no response (connect failure, timeout, upstream broke)
    latency_s: float  # request start -> last body byte (or failure)
    ttft_s: float | None  # request start -> first body byte from upstream
    connect_failed: bool = False
    retried: bool = False  # this outcome is the second try after a refused connection


@dataclass
class _Bucket:
    second: int
    count: int = 0
    errors: int = 0
    connect_failures: int = 0
    retried: int = 0
    status: dict[str, int] = field(default_factory=dict)
    latencies: array = field(default_factory=lambda: array("d"))
    ttfts: array = field(default_factory=lambda: array("d"))


def is_error(status: int | None) -> bool:
    """An error for the error rate: a 5xx, or no response at all. 4xx are the client's doing."""
    return status is None or status >= 500


def status_class(status: int | None) -> str:
    """``"2xx"`` ... ``"5xx"``, or ``"none"`` when no response came."""
    return f"{status // 100}xx" if status is not None else "none"


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of already sorted values; None when empty."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100.0 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def _merged(arrays: Sequence[array]) -> np.ndarray:
    import numpy as np  # here, not at the top: readers of the schema (the CLI) need no numpy

    out = array("d")
    for a in arrays:
        out.extend(a)  # C-level copy: fast even for a five-minute window at thousands of rps
    return np.frombuffer(out, dtype=np.float64) if out else np.empty(0)


def fast_percentile(values: np.ndarray, q: float) -> float | None:
    """Same nearest-rank percentile as :func:`percentile`, unsorted input, O(n) (partition).

    The stats route runs on the proxy's event loop, so its cost is paid by the requests
    waiting behind it: a sort of a million floats in Python would stall them for ~1 s.
    """
    import numpy as np

    n = len(values)
    if n == 0:
        return None
    k = min(max(1, math.ceil(q / 100.0 * n)), n) - 1
    return float(np.partition(values, k)[k])


class SlidingWindows:
    """Outcomes per revision, summarised over several trailing windows."""

    def __init__(
        self,
        windows: Iterable[int] = DEFAULT_WINDOWS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.windows = tuple(sorted({int(w) for w in windows}))
        if not self.windows or self.windows[0] <= 0:
            raise ValueError("windows must be positive seconds")
        self._clock = clock
        self._buckets: dict[str, deque[_Bucket]] = {}

    def record(self, o: Outcome) -> None:
        """Add one outcome at the current clock time."""
        now = int(self._clock())
        dq = self._buckets.setdefault(o.revision, deque())
        if not dq or dq[-1].second != now:
            dq.append(_Bucket(now))
            self._prune(dq, now)
        b = dq[-1]
        b.count += 1
        if is_error(o.status):
            b.errors += 1
        if o.connect_failed:
            b.connect_failures += 1
        if o.retried:
            b.retried += 1
        cls = status_class(o.status)
        b.status[cls] = b.status.get(cls, 0) + 1
        b.latencies.append(o.latency_s)
        if o.ttft_s is not None:
            b.ttfts.append(o.ttft_s)

    def _prune(self, dq: deque[_Bucket], now: int) -> None:
        horizon = now - self.windows[-1]
        while dq and dq[0].second <= horizon:
            dq.popleft()

    def stats(self, revisions: Iterable[str] = ()) -> dict[str, dict[str, WindowStats]]:
        """``{revision: {"60s": WindowStats, "300s": ...}}`` for every revision seen or named."""
        now = int(self._clock())
        names = list(dict.fromkeys([*revisions, *self._buckets]))
        out: dict[str, dict[str, WindowStats]] = {}
        for name in names:
            dq = self._buckets.get(name, deque())
            self._prune(dq, now)
            out[name] = {window_label(w): summarise([b for b in dq if b.second > now - w], w) for w in self.windows}
        return out

    def summary(self, revisions: Iterable[str] = ()) -> dict[str, dict[str, dict[str, Any]]]:
        """:meth:`stats` in its JSON form: ``{revision: {"60s": {...}, "300s": {...}}}``."""
        return {name: {label: ws.to_json() for label, ws in per.items()}
                for name, per in self.stats(revisions).items()}


def window_label(window_s: int) -> str:
    """The key of a window in the stats: ``"60s"``."""
    return f"{window_s}s"


def summarise(buckets: Sequence[_Bucket], window_s: int) -> WindowStats:
    """The figures of one window: counts, error rate, status classes, p50/p95 in milliseconds."""
    count = sum(b.count for b in buckets)
    errors = sum(b.errors for b in buckets)
    status = _no_status()
    for b in buckets:
        for k, v in b.status.items():
            status[k] = status.get(k, 0) + v
    lat = _merged([b.latencies for b in buckets])
    ttft = _merged([b.ttfts for b in buckets])

    def ms(v: float | None) -> float | None:
        return round(v * 1000.0, 3) if v is not None else None

    return WindowStats(
        window_s=window_s,
        count=count,
        errors=errors,
        error_rate=round(errors / count, 6) if count else 0.0,
        rps=round(count / window_s, 3),
        status=status,
        connect_failures=sum(b.connect_failures for b in buckets),
        retried=sum(b.retried for b in buckets),
        p50_latency_ms=ms(fast_percentile(lat, 50)),
        p95_latency_ms=ms(fast_percentile(lat, 95)),
        p50_ttft_ms=ms(fast_percentile(ttft, 50)),
        p95_ttft_ms=ms(fast_percentile(ttft, 95)),
    )


# --- the schema of GET /router/stats ----------------------------------------------------

#: The status classes every window counts (``status_class``), zero when none was seen.
STATUS_CLASSES: tuple[str, ...] = ("2xx", "3xx", "4xx", "5xx", "none")


def _no_status() -> dict[str, int]:
    return dict.fromkeys(STATUS_CLASSES, 0)


class StatsFormatError(ValueError):
    """A ``/router/stats`` answer that is not the router's shape; the message says what and where."""


@dataclass(frozen=True, slots=True)
class WindowStats:
    """What the router saw of one revision over one trailing window. Latencies in ms."""

    window_s: int
    count: int = 0
    errors: int = 0  # 5xx and no response; 4xx are the client's doing
    error_rate: float = 0.0  # errors / count, 0..1
    rps: float = 0.0
    status: Mapping[str, int] = field(default_factory=_no_status)  # class ("2xx" ... "none") -> count
    connect_failures: int = 0
    retried: int = 0  # second tries after a refused connection
    p50_latency_ms: float | None = None  # request start -> last body byte
    p95_latency_ms: float | None = None
    p50_ttft_ms: float | None = None  # request start -> first body byte
    p95_ttft_ms: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The window as the router sends it (this key order is the wire format)."""
        return {
            "window_s": self.window_s,
            "count": self.count,
            "errors": self.errors,
            "error_rate": self.error_rate,
            "rps": self.rps,
            "status": dict(self.status),
            "connect_failures": self.connect_failures,
            "retried": self.retried,
            "p50_latency_ms": self.p50_latency_ms,
            "p95_latency_ms": self.p95_latency_ms,
            "p50_ttft_ms": self.p50_ttft_ms,
            "p95_ttft_ms": self.p95_ttft_ms,
        }

    @classmethod
    def from_json(cls, data: Any, where: str = "window") -> WindowStats:
        """Read one window of ``/router/stats``; :class:`StatsFormatError` unless the router's shape."""
        d = _object(data, where)
        status = _object(_key(d, "status", where), f"{where}['status']")
        missing = [c for c in STATUS_CLASSES if c not in status]
        if missing:
            raise StatsFormatError(f"{where}['status'] has no {', '.join(missing)}")
        rate = _number(d, "error_rate", where)
        if rate > 1.0:
            raise StatsFormatError(f"{where}['error_rate'] must be within 0..1, got {rate!r}")
        return cls(
            window_s=_count(d, "window_s", where, positive=True),
            count=_count(d, "count", where),
            errors=_count(d, "errors", where),
            error_rate=rate,
            rps=_number(d, "rps", where),
            status={str(k): _count(status, k, f"{where}['status']") for k in status},
            connect_failures=_count(d, "connect_failures", where),
            retried=_count(d, "retried", where),
            p50_latency_ms=_ms(d, "p50_latency_ms", where),
            p95_latency_ms=_ms(d, "p95_latency_ms", where),
            p50_ttft_ms=_ms(d, "p50_ttft_ms", where),
            p95_ttft_ms=_ms(d, "p95_ttft_ms", where),
        )


@dataclass(frozen=True, slots=True)
class RouterStats:
    """The body of ``GET /router/stats``: weights in force and every revision's windows."""

    weights: Mapping[str, int]
    sticky: bool
    windows_s: tuple[int, ...]
    revisions: Mapping[str, Mapping[str, WindowStats]]  # revision -> {"60s": ..., "300s": ...}
    ejected: Mapping[str, float] = field(default_factory=dict)  # revision -> seconds still passed over

    def to_json(self) -> dict[str, Any]:
        """The answer as the router sends it."""
        return {
            "weights": dict(self.weights),
            "sticky": self.sticky,
            "windows_s": list(self.windows_s),
            "revisions": {rev: {label: ws.to_json() for label, ws in per.items()}
                          for rev, per in self.revisions.items()},
            "ejected": dict(self.ejected),
        }

    @classmethod
    def from_json(cls, data: Any) -> RouterStats:
        """Read a ``/router/stats`` answer; :class:`StatsFormatError` unless it is the router's shape.

        Every revision must have exactly the windows of ``windows_s``, each labelled
        ``"<seconds>s"`` and holding its own length in ``window_s``.
        """
        d = _object(data, "stats")
        weights = _object(_key(d, "weights", "stats"), "stats['weights']")
        sticky = _key(d, "sticky", "stats")
        if not isinstance(sticky, bool):
            raise StatsFormatError(f"stats['sticky'] must be true or false, got {_kind(sticky)}")
        raw_windows = _key(d, "windows_s", "stats")
        if not isinstance(raw_windows, list) or not raw_windows:
            raise StatsFormatError(f"stats['windows_s'] must be a non-empty list, got {_kind(raw_windows)}")
        windows = tuple(_count({"windows_s": w}, "windows_s", "stats", positive=True) for w in raw_windows)
        labels = [window_label(w) for w in windows]
        if len(set(labels)) != len(labels):
            raise StatsFormatError(f"stats['windows_s'] lists a window twice: {list(windows)}")
        revisions: dict[str, dict[str, WindowStats]] = {}
        for rev, per in _object(_key(d, "revisions", "stats"), "stats['revisions']").items():
            where = f"stats['revisions'][{rev!r}]"
            per = _object(per, where)
            if set(per) != set(labels):
                raise StatsFormatError(f"{where} has windows {sorted(per)}, expected {labels}")
            revisions[str(rev)] = {}
            for w, label in zip(windows, labels, strict=True):
                ws = WindowStats.from_json(per[label], f"{where}[{label!r}]")
                if ws.window_s != w:
                    raise StatsFormatError(f"{where}[{label!r}].window_s is {ws.window_s}, expected {w}")
                revisions[str(rev)][label] = ws
        ejected = _object(_key(d, "ejected", "stats"), "stats['ejected']")
        return cls(
            weights={str(k): _count(weights, k, "stats['weights']") for k in weights},
            sticky=sticky,
            windows_s=windows,
            revisions=revisions,
            ejected={str(k): _number(ejected, k, "stats['ejected']") for k in ejected},
        )

    def window(self, revision: str, at_least_s: float | None = None) -> WindowStats | None:
        """``revision``'s figures over the shortest window, or over the shortest one at least
        ``at_least_s`` long (the longest when none is); None when the router has no such revision."""
        per = self.revisions.get(revision)
        if not per:
            return None
        ordered = sorted(per.values(), key=lambda ws: ws.window_s)
        if at_least_s is None:
            return ordered[0]
        return next((ws for ws in ordered if ws.window_s >= at_least_s), ordered[-1])


def _kind(value: Any) -> str:
    """A number as it is; anything else by its type only (a stray string may hold anything)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(value)
    return "null" if value is None else type(value).__name__


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise StatsFormatError(f"{where} must be a JSON object, got {_kind(value)}")
    return value


def _key(d: Mapping[Any, Any], key: Any, where: str) -> Any:
    if key not in d:
        raise StatsFormatError(f"{where} has no {key!r}")
    return d[key]


def _count(d: Mapping[Any, Any], key: Any, where: str, *, positive: bool = False) -> int:
    v = _key(d, key, where)
    low = 1 if positive else 0
    if isinstance(v, bool) or not isinstance(v, int) or v < low:
        raise StatsFormatError(f"{where}[{key!r}] must be an integer >= {low}, got {_kind(v)}")
    return v


def _number(d: Mapping[Any, Any], key: Any, where: str) -> float:
    v = _key(d, key, where)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
        raise StatsFormatError(f"{where}[{key!r}] must be a number >= 0, got {_kind(v)}")
    return float(v)


def _ms(d: Mapping[Any, Any], key: str, where: str) -> float | None:
    """A percentile: a number, or null when the window saw no request."""
    return None if _key(d, key, where) is None else _number(d, key, where)


__all__ = [
    "Outcome", "SlidingWindows", "summarise", "percentile", "fast_percentile", "is_error", "status_class",
    "DEFAULT_WINDOWS", "STATUS_CLASSES", "WindowStats", "RouterStats", "StatsFormatError", "window_label",
]
