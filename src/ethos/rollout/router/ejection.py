"""Passive ejection: a revision that refuses connections is passed over for a short while.

A refused connection is retried on the other revision anyway (nothing was sent), but each
refusal costs the client a connection attempt, and where the address does not answer at all
(a dead host, not a closed port) one attempt is a whole connect timeout. So after a refusal
the router sends the requests drawn for that revision straight to the one it would have
retried on, for ``base_s`` seconds, doubling with each refusal in a row up to ``max_s``; the
first request after that tries the revision again (one probe), and the first connection it
accepts ends the ejection.

The weights do not change: they are the operators' and the guard's (``/router/traffic``
shows them as set; ``/router/health`` and ``/router/stats`` show what is ejected and for how
long). A request that is diverted was never offered to the ejected revision, so it is not
counted as that revision's error; it is counted as diverted. Pure: the caller passes the time.
"""

from __future__ import annotations

from collections.abc import Mapping

from .choice import fallback_revision


class Ejections:
    """Which revisions are ejected until when; ``now`` is the caller's monotonic clock."""

    def __init__(self, base_s: float = 1.0, max_s: float = 30.0) -> None:
        self.base_s = base_s
        self.max_s = max_s
        self._until: dict[str, float] = {}
        self._strikes: dict[str, int] = {}

    @property
    def any(self) -> bool:
        """True while some revision has refused since it last accepted (cheap check per request)."""
        return bool(self._strikes)

    def refused(self, revision: str, now: float) -> float:
        """Record a refused connection; returns until when the revision is ejected."""
        if self.base_s <= 0:
            return now
        strikes = self._strikes.get(revision, 0) + 1
        self._strikes[revision] = strikes
        until = now + min(self.max_s, self.base_s * 2 ** (strikes - 1))
        self._until[revision] = until
        return until

    def accepted(self, revision: str) -> None:
        """A connection to ``revision`` was made: it is back."""
        if revision in self._strikes:
            del self._strikes[revision]
            self._until.pop(revision, None)

    def ejected(self, revision: str, now: float) -> bool:
        return self._until.get(revision, 0.0) > now

    def divert(self, weights: Mapping[str, int], chosen: str, now: float) -> str:
        """Where a request drawn for ``chosen`` goes: ``chosen``, or the revision a refusal
        would be retried on when ``chosen`` is ejected and that one is not."""
        if not self.ejected(chosen, now):
            return chosen
        other = fallback_revision(weights, chosen)
        if other is None or self.ejected(other, now):
            return chosen  # nowhere better: try it (a refusal is still retried once)
        return other

    def view(self, now: float) -> dict[str, float]:
        """Seconds of ejection left per ejected revision (for health and stats)."""
        return {name: round(until - now, 3) for name, until in self._until.items() if until > now}


__all__ = ["Ejections"]
