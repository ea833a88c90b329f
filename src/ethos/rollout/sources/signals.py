"""Per-revision health signals (error rate, latency, TTFT) behind a one-method interface.

:class:`RouterSignals` reads the local router's ``GET /router/stats``; :class:`FakeSignals`
takes a function, for unit tests. Procedures only see :class:`RevisionSignals`.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import httpx

from ..errors import TemporaryError


class SignalsUnavailable(TemporaryError):
    """The signal source could not be read (router down, no stats route, bad JSON)."""


@dataclass(frozen=True, slots=True)
class RevisionSignals:
    """What the router saw of one revision over its recent window. Latencies in ms."""

    count: int = 0
    error_rate: float = 0.0  # 0..1
    p50_ms: float | None = None
    p95_ms: float | None = None
    ttft_p50_ms: float | None = None
    ttft_p95_ms: float | None = None
    window_s: float | None = None

    @property
    def errors(self) -> int:
        return round(self.error_rate * self.count)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RevisionSignals:
        """Inverse of :meth:`to_dict` (journaled values)."""
        return cls(**{k: d.get(k) for k in cls.__slots__ if k in d})  # type: ignore[arg-type]


class SignalSource(abc.ABC):
    """Reads the current signals of every revision."""

    @abc.abstractmethod
    def read(self) -> dict[str, RevisionSignals]:
        """``{revision: RevisionSignals}``; raises :class:`SignalsUnavailable`."""

    def describe(self) -> str:
        return type(self).__name__


class FakeSignals(SignalSource):
    """Signals from a function (or a fixed mapping), for unit tests."""

    def __init__(
        self,
        fn: Callable[[], Mapping[str, RevisionSignals]] | Mapping[str, RevisionSignals],
    ) -> None:
        self._fn = fn
        self.reads = 0

    def read(self) -> dict[str, RevisionSignals]:
        self.reads += 1
        out = self._fn() if callable(self._fn) else self._fn
        return dict(out)

    def describe(self) -> str:
        return "fake"


class RouterSignals(SignalSource):
    """``GET {router}/router/stats`` of ``ethos router``."""

    def __init__(self, router_url: str, *, timeout: float = 3.0, window: str | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.router_url = router_url.rstrip("/")
        self.window = window
        # one pooled client: monitoring reads every few seconds, and a new client costs ~50 ms
        self._client = httpx.Client(timeout=timeout, transport=transport)

    def close(self) -> None:
        self._client.close()

    def describe(self) -> str:
        return f"router stats {self.router_url}/router/stats"

    def read(self) -> dict[str, RevisionSignals]:
        url = f"{self.router_url}/router/stats"
        try:
            r = self._client.get(url)
        except httpx.HTTPError as e:
            raise SignalsUnavailable(f"cannot read {url}: {e}") from e
        if r.status_code != 200:
            raise SignalsUnavailable(f"{url} answered {r.status_code}")
        try:
            data = r.json()
        except ValueError as e:
            raise SignalsUnavailable(f"{url} did not answer JSON") from e
        return parse_router_stats(data, self.window)


def _ms(d: Mapping[str, Any], *names: str) -> float | None:
    for n in names:
        v = d.get(n)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
    return None


def _parse_one(d: Mapping[str, Any], window_s: float | None) -> RevisionSignals:
    lat = d.get("latency") if isinstance(d.get("latency"), Mapping) else {}
    ttft = d.get("ttft") if isinstance(d.get("ttft"), Mapping) else {}
    count = int(d.get("count") or d.get("requests") or 0)
    rate = d.get("error_rate")
    if not isinstance(rate, (int, float)):
        errors = d.get("errors") or 0
        rate = (float(errors) / count) if count else 0.0
    return RevisionSignals(
        count=count,
        error_rate=float(rate),
        p50_ms=_ms(d, "p50_latency_ms", "p50_ms", "latency_p50_ms") or _ms(lat, "p50_ms"),
        p95_ms=_ms(d, "p95_latency_ms", "p95_ms", "latency_p95_ms") or _ms(lat, "p95_ms"),
        ttft_p50_ms=_ms(d, "p50_ttft_ms", "ttft_p50_ms") or _ms(ttft, "p50_ms"),
        ttft_p95_ms=_ms(d, "p95_ttft_ms", "ttft_p95_ms") or _ms(ttft, "p95_ms"),
        window_s=float(d["window_s"]) if isinstance(d.get("window_s"), (int, float)) else window_s,
    )


def parse_router_stats(data: Any, window: str | None = None) -> dict[str, RevisionSignals]:
    """Read ``ethos router``'s ``/router/stats`` JSON into signals per revision. Pure.

    The router's shape is ``{"revisions": {name: {"60s": {...}, "300s": {...}}}}`` with
    ``count``, ``error_rate``, ``p50_latency_ms``, ``p95_latency_ms``, ``p50_ttft_ms``,
    ``p95_ttft_ms`` per window; the shortest window is used unless ``window`` (e.g. "300s")
    names one. A flat ``{"revisions": {name: {...figures}}}`` is read as one window.
    """
    if not isinstance(data, Mapping):
        raise SignalsUnavailable("router stats are not a JSON object")
    revs = data.get("revisions", data)
    if not isinstance(revs, Mapping):
        raise SignalsUnavailable("router stats hold no per-revision object")
    out: dict[str, RevisionSignals] = {}
    for name, stats in revs.items():
        if not isinstance(stats, Mapping):
            continue
        windows = {k: v for k, v in stats.items() if isinstance(v, Mapping) and _is_window(k)}
        if windows:
            key = window if window in windows else min(windows, key=_window_seconds)
            out[str(name)] = _parse_one(windows[key], _window_seconds(key))
        else:
            out[str(name)] = _parse_one(stats, None)
    return out


def _is_window(key: str) -> bool:
    return _window_seconds(key) != float("inf")


def _window_seconds(name: str) -> float:
    try:
        text = str(name).strip().lower()
        mult = {"s": 1, "m": 60, "h": 3600}.get(text[-1:], 1)
        return float(text[:-1] if text[-1:] in "smh" else text) * mult
    except (ValueError, IndexError):
        return float("inf")


__all__ = [
    "RevisionSignals", "SignalSource", "FakeSignals", "RouterSignals",
    "SignalsUnavailable", "parse_router_stats",
]
