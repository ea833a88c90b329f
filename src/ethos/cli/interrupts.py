"""Ctrl-C and SIGTERM stop a command the same way wherever it runs.

A process started in the background of a non-interactive shell (``sh -c 'ethos … &'``), by
``nohup``-like wrappers or by some supervisors inherits SIGINT as *ignored*; Python then never
installs its own SIGINT handler, and ``kill -INT`` does nothing. SIGTERM's default kills the
process without any cleanup. :func:`interrupts_as_keyboard_interrupt` installs explicit
handlers for both (overriding an inherited "ignore"), so that either signal raises
``KeyboardInterrupt`` in the main thread, in a terminal, a script or under a supervisor alike.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

from .errors import CLIError

#: the signals that stop a command like Ctrl-C
SIGNALS = (signal.SIGINT, signal.SIGTERM)
EXIT_INTERRUPTED = 130
INTERRUPTED = "interrupted; continue with `ethos rollback resume`"


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def interrupts_as_keyboard_interrupt() -> Iterator[None]:
    """SIGINT and SIGTERM stop a run like Ctrl-C: the step is journaled as interrupted, the lock freed.

    Both handlers are installed on entry (whatever the process inherited, ``SIG_IGN``
    included) and the previous ones put back on exit. Outside the main thread (embedded use)
    signals are left alone. A ``KeyboardInterrupt`` that gets out of the block (an interrupt
    outside a step, between journal writes: the run has no end record, which ``resume``
    treats the same way) becomes ``CLIError(..., 130)``.
    """
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in SIGNALS:
            try:
                previous[sig] = signal.signal(sig, _raise_interrupt)
            except ValueError:  # not the main interpreter (subinterpreter): leave signals alone
                break
    try:
        yield
    except KeyboardInterrupt:
        raise CLIError(INTERRUPTED, EXIT_INTERRUPTED) from None
    finally:
        for sig, handler in previous.items():
            if handler is not None:  # None: installed outside Python, cannot be put back
                signal.signal(sig, handler)


__all__ = ["interrupts_as_keyboard_interrupt", "SIGNALS", "EXIT_INTERRUPTED", "INTERRUPTED"]
