"""The procedures' signals: per revision, the router's recent error rate, latency and TTFT.

A :class:`SignalsReader` has one call, ``read() -> {revision: RevisionSignals}``.
:class:`RouterSignals` reads ``GET /router/stats`` through the
:class:`~ethos.rollout.router.client.RouterClient` (the schema is
:class:`~ethos.rollout.router.windows.RouterStats`); :class:`FakeSignals` takes a function,
for unit tests. Procedures only see :class:`RevisionSignals`.

(The guard's sources, :class:`~.base.SignalSource`, are another interface: measurements per
signal and window, from the router and elsewhere.)
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import httpx

from ..errors import RouterReadError, TemporaryError
from ..router.client import RouterClient
from ..router.windows import RouterStats


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


class SignalsReader(abc.ABC):
    """Reads the current signals of every revision."""

    @abc.abstractmethod
    def read(self) -> dict[str, RevisionSignals]:
        """``{revision: RevisionSignals}``; raises :class:`SignalsUnavailable`."""

    def describe(self) -> str:
        return type(self).__name__


class FakeSignals(SignalsReader):
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


class RouterSignals(SignalsReader):
    """``GET {router}/router/stats`` of ``ethos router``, one window per revision.

    ``router``: the router's URL (a client of its own is made, with ``timeout`` and
    ``transport``) or a shared :class:`RouterClient` (its owner closes it). ``window_s``:
    None reads the shortest window (60 s by default); a number, the shortest window at least
    that long (the longest when none is), e.g. 300 for the runbook's "for 5 minutes".
    """

    def __init__(self, router: str | RouterClient, *, timeout: float = 3.0, window_s: float | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        self._owned = not isinstance(router, RouterClient)
        self.router = router if isinstance(router, RouterClient) else RouterClient(
            router, timeout=timeout, transport=transport)
        self.window_s = window_s

    @property
    def router_url(self) -> str:
        return self.router.router_url

    def close(self) -> None:
        if self._owned:
            self.router.close()

    def describe(self) -> str:
        return f"router stats {self.router_url}/router/stats"

    def read(self) -> dict[str, RevisionSignals]:
        try:
            stats = self.router.stats()
        except RouterReadError as e:
            raise SignalsUnavailable(str(e)) from e
        return signals_from_stats(stats, self.window_s)


def signals_from_stats(stats: RouterStats, window_s: float | None = None) -> dict[str, RevisionSignals]:
    """Every revision's signals over one window of the stats (see :class:`RouterSignals`). Pure."""
    out: dict[str, RevisionSignals] = {}
    for name in stats.revisions:
        w = stats.window(name, window_s)
        if w is None:
            continue
        out[name] = RevisionSignals(count=w.count, error_rate=w.error_rate, p50_ms=w.p50_latency_ms,
                                    p95_ms=w.p95_latency_ms, ttft_p50_ms=w.p50_ttft_ms,
                                    ttft_p95_ms=w.p95_ttft_ms, window_s=float(w.window_s))
    return out


__all__ = [
    "RevisionSignals", "SignalsReader", "FakeSignals", "RouterSignals",
    "SignalsUnavailable", "signals_from_stats",
]
