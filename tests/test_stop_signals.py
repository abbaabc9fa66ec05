"""The daemons' stop flag (adapters.stop_signals): a SIGTERM or SIGINT that arrives while
the main thread is busy waiting stops it, every time. The busy loop below is the pattern
that hung with a `threading.Event` set from the handler (17 of 30 SIGTERMs)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

import pytest

from appliance.adapters.stop_signals import SignalStop

BUSY_WAITER = """
import sys
from appliance.adapters.stop_signals import SignalStop
with SignalStop() as stop:
    print("ready", flush=True)
    turns = 0
    while not stop.wait(0):  # always inside wait: where a handler taking a lock deadlocks
        turns += 1
print("stopped", turns > 0, flush=True)
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_a_loop_that_is_always_waiting(signum: signal.Signals) -> None:
    for _ in range(8):
        process = subprocess.Popen([sys.executable, "-c", BUSY_WAITER],
                                   stdout=subprocess.PIPE, text=True)
        try:
            assert process.stdout.readline() == "ready\n"
            time.sleep(0.05)  # let it spin
            process.send_signal(signum)
            output, _ = process.communicate(timeout=10)
        finally:
            process.kill()
        assert (process.returncode, output) == (0, "stopped True\n")


def test_set_from_another_thread_wakes_every_waiter() -> None:
    with SignalStop() as stop:
        woken = []
        waiters = [threading.Thread(target=lambda: woken.append(stop.wait(30)))
                   for _ in range(3)]
        for waiter in waiters:
            waiter.start()
        stop.set()
        for waiter in waiters:
            waiter.join(timeout=10)
        assert woken == [True, True, True]
        assert stop.is_set()


def test_wait_returns_false_when_the_time_is_up() -> None:
    with SignalStop() as stop:
        assert stop.wait(0.01) is False
        assert stop.is_set() is False


def test_the_previous_handlers_are_back_after_the_block() -> None:
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    with SignalStop():
        assert signal.getsignal(signal.SIGTERM) is not before[0]
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
    assert signal.set_wakeup_fd(-1) == -1  # no wakeup fd left behind
