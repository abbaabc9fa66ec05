"""Delivery rounds: each appliance is served by its own thread, so an appliance that hangs
until the push timeout never delays another one.

At most one round per appliance runs at a time: its deliveries go one after the other, each
sealed just before it is sent, so the appliance always receives rising sequence numbers.
An exception in a round is kept until `raise_errors` hands it to the pass, whose
`tick_safely` logs it like any other failure.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Rounds:
    def __init__(self) -> None:
        self._threads: dict[str, threading.Thread] = {}
        self._errors: list[Exception] = []

    def start(self, appliance: str, work: Callable[[], None]) -> bool:
        """Run `work` for `appliance` in its own thread; False while its last round runs."""
        current = self._threads.get(appliance)
        if current is not None and current.is_alive():
            return False
        thread = threading.Thread(target=self._run, args=(work,), daemon=True,
                                  name=f"deliver-{appliance}")
        self._threads[appliance] = thread
        thread.start()
        return True

    def _run(self, work: Callable[[], None]) -> None:
        try:
            work()
        except Exception as exc:  # reported by the pass that next calls raise_errors
            self._errors.append(exc)

    def wait(self, timeout: float | None = None) -> None:
        """Until every round has ended, or `timeout` seconds have passed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in list(self._threads.values()):
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))

    def raise_errors(self) -> None:
        """Raise the first exception a round raised since the last call, if any."""
        errors, self._errors = self._errors, []
        if errors:
            raise errors[0]
