"""Fault injection for tests and drills: a revision that misbehaves on purpose.

``ETHOS_FAULTS`` holds a spec such as ``error_rate=0.1,latency_ms=2000,ttft_ms=800``:

- ``error_rate`` (0..1): that share of chat requests is answered ``500`` with
  ``{"error": "injected_fault", "detail": ...}`` without reaching the app;
- ``latency_ms`` (>= 0): milliseconds waited before the app is called (the whole answer is late);
- ``ttft_ms`` (>= 0): milliseconds waited before the first byte of the body is sent
  (the time to first token grows; a streamed answer starts late).

Faults are off unless the spec is set, and apply only to ``POST /api/ai/marketing-chat``, so
``/health``, ``/metrics`` and the admin routes keep answering (a drill needs them).

They can also be switched on a running revision (``PUT`` / ``DELETE /api/admin/faults``,
``ethos stack fault NAME ...``): the middleware is always installed and reads the
:class:`FaultSwitch` on every request (one attribute read when no fault is on). Wiring
(service)::

    switch = FaultSwitch(Faults.parse(settings.faults), on_change=set_gauge)
    app = FaultMiddleware(app, switch)
    # /health: "faults": switch.faults.describe() or None
    # PUT /api/admin/faults: switch.set(Faults(...)); DELETE: switch.set(Faults())
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: The only route faults apply to.
FAULT_PATH = "/api/ai/marketing-chat"
FAULT_METHOD = "POST"

#: the faults known, in the order ``spec()`` writes them
KNOWN = ("error_rate", "latency_ms", "ttft_ms")
#: Upper bound of a delay, so a typo (``latency_ms=2000000``) cannot hang a drill for hours.
MAX_DELAY_MS = 600_000


@dataclass(frozen=True, slots=True)
class Faults:
    """The faults in force; all zero means off."""

    error_rate: float = 0.0
    latency_ms: int = 0
    ttft_ms: int = 0

    @property
    def enabled(self) -> bool:
        """True when any fault is on."""
        return self.error_rate > 0 or self.latency_ms > 0 or self.ttft_ms > 0

    @classmethod
    def parse(cls, spec: str | None, *, source: str = "ETHOS_FAULTS") -> Faults:
        """Parse ``"error_rate=0.1,latency_ms=2000,ttft_ms=800"``; empty or None means off.

        Raises ValueError naming the bad part and what is accepted; its message starts with
        ``source`` (where the spec came from: the variable, or a command's arguments).
        """
        try:
            return cls._parse(spec)
        except ValueError as e:
            raise ValueError(f"{source}: {e}") from None

    @classmethod
    def _parse(cls, spec: str | None) -> Faults:
        if spec is None or not spec.strip():
            return cls()
        values: dict[str, float | int] = {}
        for raw in spec.split(","):
            part = raw.strip()
            if not part:
                continue
            name, sep, text = part.partition("=")
            name, text = name.strip(), text.strip()
            if not sep or not name or not text:
                raise ValueError(
                    f"{part!r} is not NAME=VALUE; "
                    "example: error_rate=0.1,latency_ms=2000,ttft_ms=800"
                )
            if name not in KNOWN:
                raise ValueError(f"unknown fault {name!r}; known: {', '.join(KNOWN)}")
            if name in values:
                raise ValueError(f"{name} given twice")
            if name == "error_rate":
                try:
                    rate = float(text)
                except ValueError:
                    raise ValueError(f"error_rate must be a number 0..1, got {text!r}") from None
                if not 0.0 <= rate <= 1.0:  # also refuses nan
                    raise ValueError(f"error_rate must be within 0..1, got {text}")
                values[name] = rate
            else:
                try:
                    ms = int(text)
                except ValueError:
                    raise ValueError(f"{name} must be whole milliseconds, got {text!r}") from None
                if not 0 <= ms <= MAX_DELAY_MS:
                    raise ValueError(f"{name} must be within 0..{MAX_DELAY_MS}, got {ms}")
                values[name] = ms
        return cls(**values)  # type: ignore[arg-type]

    def describe(self) -> dict[str, float | int]:
        """The faults that are on, for ``/health`` (empty dict when off)."""
        out: dict[str, float | int] = {}
        if self.error_rate > 0:
            out["error_rate"] = self.error_rate
        if self.latency_ms > 0:
            out["latency_ms"] = self.latency_ms
        if self.ttft_ms > 0:
            out["ttft_ms"] = self.ttft_ms
        return out

    def spec(self) -> str:
        """The ``ETHOS_FAULTS`` text that parses back to these faults."""
        return ",".join(f"{k}={v}" for k, v in self.describe().items())


class FaultSwitch:
    """The faults in force on a running revision, switched without a restart.

    :class:`FaultMiddleware` reads :attr:`faults` on every request; the admin route replaces it
    (one reference swapped: a request already past the draw keeps the faults it drew under).
    ``on_change(faults)`` runs at start and after each switch (the ``ethos_faults_enabled``
    gauge). ``rng`` decides which requests fail (seed it in tests: ``switch.rng.seed(7)``).
    """

    def __init__(
        self,
        faults: Faults | None = None,
        *,
        on_change: Callable[[Faults], None] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._faults = faults if faults is not None else Faults()
        self._on_change = on_change
        self.rng = rng if rng is not None else random.Random()
        if on_change is not None:
            on_change(self._faults)

    @property
    def faults(self) -> Faults:
        """The faults in force now."""
        return self._faults

    def set(self, faults: Faults) -> Faults:
        """Put ``faults`` in force (``Faults()`` switches every fault off); the previous ones."""
        previous, self._faults = self._faults, faults
        if self._on_change is not None:
            self._on_change(faults)
        return previous

    def clear(self) -> Faults:
        """Switch every fault off; the previous ones."""
        return self.set(Faults())


class FaultMiddleware:
    """Pure ASGI middleware applying the faults in force to ``POST /api/ai/marketing-chat``.

    ``faults``: fixed :class:`Faults`, or a :class:`FaultSwitch` read on every request (the
    service's). ``rng`` decides which requests fail (default: the switch's; inject
    ``random.Random(seed)`` in tests); ``sleep`` waits (inject a recorder in tests).
    """

    def __init__(
        self,
        app: ASGIApp,
        faults: Faults | FaultSwitch,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.app = app
        self.switch = faults if isinstance(faults, FaultSwitch) else FaultSwitch(faults)
        self.rng = rng if rng is not None else self.switch.rng
        self.sleep = sleep

    @property
    def faults(self) -> Faults:
        """The faults in force now."""
        return self.switch.faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        f = self.switch.faults  # read once: a switch during this request does not mix two specs
        if (
            not f.enabled
            or scope.get("type") != "http"
            or scope.get("method") != FAULT_METHOD
            or scope.get("path") != FAULT_PATH
        ):
            await self.app(scope, receive, send)
            return
        # Draw first, so a failing request fails fast as a crashing revision would.
        if f.error_rate > 0 and self.rng.random() < f.error_rate:
            await self._error(send, f)
            return
        if f.latency_ms > 0:
            await self.sleep(f.latency_ms / 1000.0)
        if f.ttft_ms <= 0:
            await self.app(scope, receive, send)
            return

        first_body_sent = False

        async def delayed_send(message: Message) -> None:
            nonlocal first_body_sent
            if message.get("type") == "http.response.body" and not first_body_sent:
                # An empty chunk with more to come carries no byte: wait for one that does.
                if message.get("body") or not message.get("more_body", False):
                    first_body_sent = True
                    await self.sleep(f.ttft_ms / 1000.0)
            await send(message)

        await self.app(scope, receive, delayed_send)

    async def _error(self, send: Send, f: Faults) -> None:
        body = json.dumps(
            {
                "error": "injected_fault",
                "detail": f"fault injection is on ({f.spec()}); switch it off with "
                "DELETE /api/admin/faults (ethos stack fault NAME --clear), or unset "
                "ETHOS_FAULTS and restart",
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 500,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"x-ethos-fault", b"error"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


__all__ = ["Faults", "FaultMiddleware", "FaultSwitch", "FAULT_PATH", "KNOWN", "MAX_DELAY_MS"]
