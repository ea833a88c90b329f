"""Capacity: a bounded queue in front of the work a cache miss costs (load shedding).

A revision that takes in more than it can answer is worse off than one that refuses: its
queue grows, every answer comes after its client has given up, and it goes on answering
requests nobody waits for long after the surge has passed (a metastable failure). So a
request that needs the slow path (the semantic lookup and the answerer) takes one of
``max_concurrent`` slots first:

- a free slot: it goes on at once;
- none free: it waits in a FIFO queue of at most ``max_queued`` requests, for at most
  ``queue_timeout_s``; a full queue or a wait that runs out is answered ``503`` with
  ``Retry-After`` at once (the client may try again, or another revision may answer);
- after waiting, a request whose client has gone is dropped before any work is done.

Exact hits never queue: the fast lane answers them before the route. ``max_concurrent`` 0
turns the limit off. The queue lives in the event loop (one thread): no lock.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass

#: the reasons a request is shed (the ``reason`` label of ``ethos_requests_shed``)
SHED_REASONS = ("queue_full", "queue_timeout", "client_gone")


class Overloaded(Exception):
    """No slot for this request; ``reason`` is one of :data:`SHED_REASONS`."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class CapacitySettings:
    #: the slot is held through an LLM call (the provider's pace): enough for an LLM answerer's
    #: requests in flight, while the queue's bound is what sheds a surge
    max_concurrent: int = 64
    max_queued: int = 64
    queue_timeout_s: float = 5.0

    def __post_init__(self) -> None:
        if self.max_concurrent < 0 or self.max_queued < 0:
            raise ValueError("max_concurrent and max_queued must be 0 or more")
        if self.queue_timeout_s <= 0:
            raise ValueError("queue_timeout_s must be more than 0")

    @property
    def enabled(self) -> bool:
        return self.max_concurrent > 0


class Capacity:
    """Slots for the slow path, with a bounded FIFO queue (see the module docstring)."""

    def __init__(self, settings: CapacitySettings | None = None) -> None:
        self.settings = settings or CapacitySettings()
        #: requests holding a slot
        self.active = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def queued(self) -> int:
        return len(self._waiters)

    async def acquire(self) -> None:
        """Take a slot, waiting in the queue if need be; raises :class:`Overloaded`."""
        s = self.settings
        if not s.enabled:
            self.active += 1
            return
        if self.active < s.max_concurrent and not self._waiters:
            self.active += 1
            return
        if len(self._waiters) >= s.max_queued:
            raise Overloaded("queue_full", f"the service is at capacity ({s.max_concurrent} requests"
                             f" answering, {len(self._waiters)} waiting); try again shortly")
        slot: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(slot)
        try:
            # asyncio.timeout, not wait_for: wait_for (3.11) returns a result that came as the
            # request was cancelled, swallowing the cancellation. shield: a timeout or a
            # cancellation ends the wait, never the slot handed over meanwhile.
            async with asyncio.timeout(s.queue_timeout_s):
                await asyncio.shield(slot)
        except BaseException as e:  # the wait ran out, or the request was cancelled
            if slot.done() and not slot.cancelled():
                self.release()  # a slot came as the wait ended: pass it on
            else:
                slot.cancel()
                self._waiters.remove(slot)
            if isinstance(e, TimeoutError):
                raise Overloaded("queue_timeout", f"no capacity within {s.queue_timeout_s:g} s;"
                                 " try again shortly") from None
            raise

    def release(self) -> None:
        """Give the slot back: to the first request still waiting, else to the pool."""
        # every future in the queue is pending: one that gives up leaves it (``acquire``)
        if self._waiters:
            self._waiters.popleft().set_result(None)  # the slot changes hands: ``active`` stays
        else:
            self.active -= 1


__all__ = ["SHED_REASONS", "Capacity", "CapacitySettings", "Overloaded"]
