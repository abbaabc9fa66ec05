"""Several processes doing the same thing at one moment: the tests of what must hold when
gunicorn workers, the panel and the CLI write the same files at once."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable


def run_together(target: Callable, args_of: Callable[[int], tuple], workers: int = 4,
                 timeout: float = 60) -> None:
    """Fork `workers` processes running `target(*args_of(w), start)`, release them with the
    `start` event at one moment, and require that every one exits 0 within `timeout`."""
    ctx = multiprocessing.get_context("fork")
    start = ctx.Event()
    processes = [ctx.Process(target=target, args=(*args_of(w), start)) for w in range(workers)]
    for process in processes:
        process.start()
    start.set()
    for process in processes:
        process.join(timeout)
    assert [p.exitcode for p in processes] == [0] * workers
