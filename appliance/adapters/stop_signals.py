"""A daemon's stop flag, set by SIGTERM and SIGINT, that a signal can never deadlock.

The obvious pattern, `signal.signal(SIGTERM, lambda *_: event.set())` with a
`threading.Event` the main thread waits on, can hang the process for good: Python runs a
signal handler in the main thread between two bytecodes, and if that moment falls inside
`Event.wait` while it holds the event's own (non-reentrant) lock, `event.set()` waits for a
lock its own thread holds. It is rare while the daemon sleeps and likely while it works: a
loop of `event.wait(0)` hung on 17 of 30 SIGTERMs; `appliance jobs` ignored a SIGTERM
sent right after it started, in a loaded fresh container (docs/decisions.md).

Here the handler only assigns a flag, and Python's wakeup fd (`signal.set_wakeup_fd`, a
byte written by the C-level handler) wakes a `wait` blocked in `select`. No lock is taken
in the handler, so there is nothing to deadlock on. `set()` (from any thread) writes to the
same socket, so waiting threads wake either way.
"""

from __future__ import annotations

import contextlib
import select
import signal
import socket
import time
from types import FrameType
from typing import Protocol

DEFAULT_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_SET_BYTE = b"\0"  # no signal has number 0


class StopFlag(Protocol):
    """What a daemon loop needs of its stop flag: `threading.Event` and `SignalStop` both."""

    def is_set(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> bool: ...


class SignalStop:
    """A stop flag set by `signals` while in its `with` block (main thread only); outside
    it the previous handlers and wakeup fd are back."""

    def __init__(self, signals: tuple[signal.Signals, ...] = DEFAULT_SIGNALS) -> None:
        self._signals = signals
        self._numbers = {int(number) for number in signals}
        self._flag = False
        self._read, self._write = socket.socketpair()
        self._read.setblocking(False)
        self._write.setblocking(False)
        self._previous_handlers: dict[signal.Signals, object] = {}
        self._previous_wakeup = -1

    def __enter__(self) -> SignalStop:
        self._previous_wakeup = signal.set_wakeup_fd(self._write.fileno(),
                                                     warn_on_full_buffer=False)
        for number in self._signals:
            self._previous_handlers[number] = signal.signal(number, self._on_signal)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for number, handler in self._previous_handlers.items():
            signal.signal(number, handler)
        signal.set_wakeup_fd(self._previous_wakeup)
        self._read.close()
        self._write.close()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._flag = True  # an assignment: no lock (see the module docstring)

    def set(self) -> None:
        self._flag = True
        # a full buffer holds wakeups already; a closed socket: the flag is being put away
        with contextlib.suppress(OSError):  # BlockingIOError is one
            self._write.send(_SET_BYTE)

    def is_set(self) -> bool:
        return self._flag

    def wait(self, timeout: float | None = None) -> bool:
        """Block until set or `timeout` seconds pass; return whether it is set."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._flag:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            readable, _, _ = select.select([self._read], [], [], remaining)
            if readable and not self._flag:
                self._take_wakeups()
        return True

    def _take_wakeups(self) -> None:
        """Read what woke us: one of our signals (its number, written by the C handler,
        which may be ahead of the Python one) or `set()` sets the flag. The byte is put back
        by `set()` so that every other waiting thread wakes too."""
        try:
            data = self._read.recv(4096)
        except BlockingIOError:
            return  # another waiter took it
        if any(byte == _SET_BYTE[0] or byte in self._numbers for byte in data):
            self.set()
