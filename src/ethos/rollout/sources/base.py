"""The :class:`SignalSource` interface: where the guard's measurements come from.

A source has one call, ``collect(needs, revisions, now)``: for each revision and each
``(signal, windows)`` the policy needs, the measurements it can give, keyed
``(revision, signal, window)``. It reports only what it measured; a signal it does not know
is left out. When it cannot be read at all it raises :class:`SourceError` and
:func:`collect_snapshot` records it as unavailable: the guard then sees *no data* for the
signals nobody else reported, and holds.

Implementations: :class:`~.router.RouterSource` (``/router/metrics`` and ``/router/stats``),
:class:`~.revision.RevisionMetricsSource` (each revision's ``/metrics``),
:class:`~.process.ProcessSource` (CPU and memory of local processes),
:class:`~.prometheus.PrometheusSource` (PromQL), and :class:`FakeSource` for tests.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence

from ..errors import TemporaryError
from .measurements import Key, Measurement, Snapshot

#: signal -> windows (seconds) the policy reads it over
Needs = Mapping[str, Sequence[float]]


class SourceError(TemporaryError):
    """A source could not be read now (refused, timed out, bad answer); may work later."""


class SignalSource(abc.ABC):
    """Gives measurements of signals per revision and window."""

    #: Short name used in alerts and the history (``router``, ``metrics``, ``prometheus``).
    name: str = "source"

    @abc.abstractmethod
    def collect(self, needs: Needs, revisions: Sequence[str], now: float) -> dict[Key, Measurement]:
        """Measurements this source can give; raises :class:`SourceError` when unreadable."""

    def close(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Release connections (default: nothing)."""


class FakeSource(SignalSource):
    """Measurements from a function ``fn(needs, revisions, now)``; it may raise SourceError."""

    def __init__(
        self,
        fn: Callable[[Needs, Sequence[str], float], Mapping[Key, Measurement]],
        name: str = "fake",
    ) -> None:
        self.fn = fn
        self.name = name
        self.calls = 0

    def collect(self, needs: Needs, revisions: Sequence[str], now: float) -> dict[Key, Measurement]:
        self.calls += 1
        return dict(self.fn(needs, revisions, now))


def collect_snapshot(
    sources: Sequence[SignalSource],
    needs: Needs,
    revisions: Sequence[str],
    now: float,
    weights: Mapping[str, int] | None = None,
) -> Snapshot:
    """Ask every source; the first to report a key wins. Failures become ``unavailable``."""
    out: dict[Key, Measurement] = {}
    unavailable: dict[str, str] = {}
    quiet: set[str] = set()
    for s in sources:
        try:
            got = s.collect(needs, revisions, now)
        except SourceError as e:
            unavailable[s.name] = str(e)
            # a source may say its failure is too short to alert on yet (quota, deadline)
            quiet.update(getattr(e, "quiet_signals", ()) or ())
            continue
        except Exception as e:  # noqa: BLE001 - a broken source is no data, never a crash
            unavailable[s.name] = f"{type(e).__name__}: {e}"
            continue
        for k, m in got.items():
            out.setdefault(k, m)
    return Snapshot(now, out, unavailable, weights, frozenset(quiet))


__all__ = ["Needs", "SourceError", "SignalSource", "FakeSource", "collect_snapshot"]
