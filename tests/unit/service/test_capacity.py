"""The slow path's slots and their bounded queue (``ethos.service.capacity``): no I/O, one
event loop per test."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from ethos.service.capacity import Capacity, CapacitySettings, Overloaded


def run(coro):  # noqa: ANN001, ANN201
    return asyncio.run(coro)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_free_slots_go_at_once_then_the_queue_is_first_come_first_served() -> None:
    async def scenario() -> list[int]:
        cap = Capacity(CapacitySettings(max_concurrent=2, max_queued=5, queue_timeout_s=60))
        await cap.acquire()
        await cap.acquire()
        assert cap.active == 2 and cap.queued == 0
        order: list[int] = []

        async def waiter(i: int) -> None:
            await cap.acquire()
            order.append(i)

        tasks = [asyncio.create_task(waiter(i)) for i in range(3)]
        await settle()
        assert cap.queued == 3 and order == []
        for _ in range(3):
            cap.release()  # each release hands the slot to the oldest waiter
            await settle()
        await asyncio.gather(*tasks)
        assert cap.active == 2 and cap.queued == 0
        cap.release()
        cap.release()
        assert cap.active == 0
        return order

    assert run(scenario()) == [0, 1, 2]


def test_a_full_queue_refuses_at_once() -> None:
    async def scenario() -> None:
        cap = Capacity(CapacitySettings(max_concurrent=1, max_queued=1, queue_timeout_s=60))
        await cap.acquire()
        waiting = asyncio.create_task(cap.acquire())
        await settle()
        with pytest.raises(Overloaded) as e:
            await cap.acquire()
        assert e.value.reason == "queue_full" and "try again" in e.value.detail
        cap.release()
        await waiting
        assert cap.active == 1

    run(scenario())


def test_a_wait_that_runs_out_is_refused_and_leaves_the_queue() -> None:
    async def scenario() -> None:
        cap = Capacity(CapacitySettings(max_concurrent=1, max_queued=3, queue_timeout_s=0.05))
        await cap.acquire()
        with pytest.raises(Overloaded) as e:
            await cap.acquire()
        assert e.value.reason == "queue_timeout" and "0.05 s" in e.value.detail
        assert cap.queued == 0 and cap.active == 1
        cap.release()
        assert cap.active == 0

    run(scenario())


def test_a_slot_handed_to_a_request_cancelled_meanwhile_is_passed_on() -> None:
    async def scenario() -> None:
        cap = Capacity(CapacitySettings(max_concurrent=1, max_queued=3, queue_timeout_s=60))
        await cap.acquire()
        first = asyncio.create_task(cap.acquire())
        second = asyncio.create_task(cap.acquire())
        await settle()
        cap.release()  # the slot goes to ``first`` ...
        first.cancel()  # ... which is cancelled before it runs: it must pass the slot on
        await settle()
        assert first.cancelled()
        await asyncio.wait_for(second, 1)
        assert cap.active == 1 and cap.queued == 0
        cap.release()
        assert cap.active == 0

    run(scenario())


def test_zero_slots_turns_the_limit_off() -> None:
    async def scenario() -> None:
        cap = Capacity(CapacitySettings(max_concurrent=0, max_queued=0, queue_timeout_s=1))
        for _ in range(100):
            await cap.acquire()
        assert cap.active == 100
        for _ in range(100):
            cap.release()
        assert cap.active == 0

    run(scenario())


@pytest.mark.parametrize("kwargs", [{"max_concurrent": -1}, {"max_queued": -1}, {"queue_timeout_s": 0}])
def test_bad_settings_are_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        CapacitySettings(**kwargs)


class CapacityModel(RuleBasedStateMachine):
    """Random arrivals, releases, cancellations and timeouts against a model: never more than
    ``max_concurrent`` slots held, never more than ``max_queued`` waiting, no slot lost, and
    the queue served first come, first served."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.cap = Capacity(CapacitySettings(max_concurrent=2, max_queued=3, queue_timeout_s=3600))
        self.holding: list[int] = []  # requests holding a slot, by arrival number
        self.tasks: dict[int, asyncio.Task] = {}  # requests that were told to wait
        self.order: list[int] = []  # waiters in the order they got a slot
        self.refused = 0
        self.n = 0

    def teardown(self) -> None:
        for t in self.tasks.values():
            t.cancel()
        self.loop.run_until_complete(asyncio.sleep(0))
        self.loop.close()

    def _settle(self) -> None:
        self.loop.run_until_complete(settle())
        for i, t in list(self.tasks.items()):
            if t.done():
                del self.tasks[i]
                if t.cancelled():
                    continue
                if t.exception() is None:
                    self.holding.append(i)
                    self.order.append(i)
                else:
                    assert isinstance(t.exception(), Overloaded)
                    self.refused += 1

    @rule()
    def arrive(self) -> None:
        self.n += 1
        i = self.n
        self.tasks[i] = self.loop.create_task(self.cap.acquire())
        self._settle()

    @precondition(lambda self: bool(self.holding))
    @rule(k=st.integers(min_value=0, max_value=10))
    def finish(self, k: int) -> None:
        self.holding.pop(k % len(self.holding))
        self.cap.release()
        self._settle()

    @precondition(lambda self: bool(self.tasks))
    @rule(k=st.integers(min_value=0, max_value=10), release_first=st.booleans())
    def give_up(self, k: int, release_first: bool) -> None:
        """A waiting request is cancelled (its client left), possibly just as a slot came."""
        i = sorted(self.tasks)[k % len(self.tasks)]
        if release_first and self.holding:
            self.holding.pop(0)
            self.cap.release()
        self.tasks[i].cancel()
        self._settle()

    @invariant()
    def bounded_and_nothing_lost(self) -> None:
        s = self.cap.settings
        assert self.cap.active == len(self.holding) <= s.max_concurrent
        assert self.cap.queued == len(self.tasks) <= s.max_queued
        # a slot is free only when nobody waits for one
        assert not (self.tasks and self.cap.active < s.max_concurrent)

    @invariant()
    def first_come_first_served(self) -> None:
        assert self.order == sorted(self.order)


TestCapacityModel = CapacityModel.TestCase
TestCapacityModel.settings = settings(max_examples=200, stateful_step_count=40, deadline=None)
