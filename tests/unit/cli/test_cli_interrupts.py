"""ethos.cli.interrupts: SIGINT and SIGTERM raise KeyboardInterrupt inside the block, 130 out of it."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from ethos.cli.errors import CLIError
from ethos.cli.interrupts import interrupts_as_keyboard_interrupt


@pytest.fixture
def sigint_ignored():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_in_the_block_is_exit_130_with_the_resume_hint(sig):
    with pytest.raises(CLIError) as e, interrupts_as_keyboard_interrupt():
        os.kill(os.getpid(), sig)
        for _ in range(1000):  # the handler runs between two bytecodes
            pass
    assert e.value.exit_code == 130 and "ethos rollback resume" in str(e.value)


def test_an_inherited_ignored_sigint_is_overridden_then_restored(sigint_ignored):
    term_before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(CLIError), interrupts_as_keyboard_interrupt():
        assert callable(signal.getsignal(signal.SIGINT)) and callable(signal.getsignal(signal.SIGTERM))
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):
            pass
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    assert signal.getsignal(signal.SIGTERM) is term_before


def test_a_block_that_ends_normally_restores_the_handlers():
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with interrupts_as_keyboard_interrupt():
        pass
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_outside_the_main_thread_signals_are_left_alone_but_ctrl_c_still_maps_to_130():
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    seen: list[object] = []

    def run() -> None:
        try:
            with interrupts_as_keyboard_interrupt():
                seen.append((signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)))
                raise KeyboardInterrupt
        except CLIError as e:
            seen.append(e.exit_code)

    t = threading.Thread(target=run)
    t.start()
    t.join()
    assert seen == [before, 130]
