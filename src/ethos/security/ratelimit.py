"""Slow down repeated wrong admin keys: per client address, a failure window and a lockout.

After ``max_failures`` missing or wrong keys from one address within ``window_s`` seconds,
that address is locked out for ``lockout_s`` seconds: every admin request from it is
answered 429 without even looking at the key. Each further lockout of the same address
doubles the time, up to ``lockout_max_s``; an address quiet for ``lockout_max_s`` after its
last lockout starts again from the first step. A right key clears the address's record. Addresses in ``exempt`` (loopback by default: the
operator's own tools) are never locked out.

Memory is bounded: at most ``max_tracked`` addresses are remembered, least recently seen
forgotten first. (An attacker with very many addresses can push its own records out; a
per-address limit cannot stop a distributed guesser, the key's length does.)

Pure: time is passed in, nothing is read from the environment but by
:meth:`LimitSettings.from_env`.
"""

from __future__ import annotations

import os
from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field

ENV_PREFIX = "ETHOS_ADMIN_AUTH_"


@dataclass(frozen=True)
class LimitSettings:
    """The limiter's knobs; ``ETHOS_ADMIN_AUTH_<NAME>`` in the environment."""

    max_failures: int = 10  # wrong/missing keys tolerated per window before a lockout
    window_s: float = 60.0
    lockout_s: float = 60.0  # the first lockout; doubled for each repeat
    lockout_max_s: float = 3600.0
    max_tracked: int = 10_000  # addresses remembered at once
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")  # whose X-Forwarded-For is believed
    # Never locked out (still counted): the operator's own tools on this host (rollback, guard,
    # console) must not be locked out of an emergency rollback by someone else's wrong keys.
    exempt: tuple[str, ...] = ("127.0.0.1", "::1")

    def __post_init__(self) -> None:
        if self.max_failures < 1 or self.max_tracked < 1:
            raise ValueError("max_failures and max_tracked must be at least 1")
        if self.window_s <= 0 or self.lockout_s <= 0 or self.lockout_max_s < self.lockout_s:
            raise ValueError("window_s and lockout_s must be > 0 and lockout_max_s >= lockout_s")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LimitSettings:
        """Read ``ETHOS_ADMIN_AUTH_MAX_FAILURES`` etc.; unset ones keep their defaults.

        Raises ValueError naming the variable when one is not a valid number.
        """
        env = os.environ if env is None else env
        kw: dict[str, object] = {}
        for name, conv in (("max_failures", int), ("window_s", float), ("lockout_s", float),
                           ("lockout_max_s", float), ("max_tracked", int)):
            raw = env.get(ENV_PREFIX + name.upper(), "").strip()
            if raw:
                try:
                    kw[name] = conv(raw)
                except ValueError:
                    raise ValueError(f"{ENV_PREFIX}{name.upper()} must be a number, got {raw!r}") from None
        for name in ("trusted_proxies", "exempt"):
            listed = env.get(ENV_PREFIX + name.upper())
            if listed is not None:
                kw[name] = tuple(p.strip() for p in listed.split(",") if p.strip())
        try:
            return cls(**kw)  # type: ignore[arg-type]
        except ValueError as e:
            raise ValueError(f"{ENV_PREFIX}*: {e}") from None


@dataclass
class _Record:
    failures: deque[float] = field(default_factory=deque)
    locked_until: float = 0.0
    lockouts: int = 0  # lockouts so far (the next one lasts lockout_s * 2**lockouts)
    last_lockout: float = 0.0


class AuthLimiter:
    """Failure bookkeeping per address. Not thread-safe: callers hold one event loop or a lock."""

    def __init__(self, settings: LimitSettings | None = None) -> None:
        self.settings = settings or LimitSettings()
        self._records: OrderedDict[str, _Record] = OrderedDict()

    def __len__(self) -> int:
        return len(self._records)

    def locked_for(self, address: str, now: float) -> float:
        """Seconds ``address`` stays locked out from ``now``; 0 when it may try."""
        rec = self._records.get(address)
        if rec is None or rec.locked_until <= now:
            return 0.0
        self._records.move_to_end(address)
        return rec.locked_until - now

    def failure(self, address: str, now: float) -> float:
        """Count a missing/wrong key; the lockout it starts in seconds, else 0."""
        s = self.settings
        rec = self._touch(address)
        if rec.lockouts and now - max(rec.last_lockout, rec.locked_until) >= s.lockout_max_s:
            rec.lockouts = 0  # a long quiet spell: a later slip is a first offence again
        rec.failures.append(now)
        while rec.failures and rec.failures[0] <= now - s.window_s:
            rec.failures.popleft()
        if len(rec.failures) < s.max_failures:
            return 0.0
        duration = min(s.lockout_s * (2 ** min(rec.lockouts, 32)), s.lockout_max_s)
        rec.locked_until = now + duration
        rec.last_lockout = now
        rec.lockouts += 1
        rec.failures.clear()
        return duration

    def success(self, address: str) -> None:
        """A right key: forget the address's failures and lockouts."""
        self._records.pop(address, None)

    def _touch(self, address: str) -> _Record:
        rec = self._records.get(address)
        if rec is None:
            rec = self._records[address] = _Record()
            while len(self._records) > self.settings.max_tracked:
                self._records.popitem(last=False)
        else:
            self._records.move_to_end(address)
        return rec


__all__ = ["AuthLimiter", "LimitSettings", "ENV_PREFIX"]
