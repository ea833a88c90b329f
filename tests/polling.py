"""Waiting in tests for what happens in another thread or process: poll, never sleep blind."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float, interval: float = 0.05,
               what: str = "condition") -> T:
    """Poll ``predicate()`` until it returns a truthy value (returned) or ``timeout`` seconds
    pass: AssertionError naming ``what`` and the last value seen."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"no {what} within {timeout:g} s (last: {value!r})")
        time.sleep(interval)


def eventually(cond: Callable[[], object], timeout_s: float, *, interval: float = 0.05) -> bool:
    """True once ``cond()`` is truthy, False when ``timeout_s`` passed first (for
    ``assert eventually(...), message``)."""
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True
