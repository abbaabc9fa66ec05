"""`appliance panel`: run the panel as a daemon, or simulated from stdin for the demo."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

from appliance.adapters import sdnotify
from appliance.adapters.panel import Panel
from appliance.core.print_service import PrintService
from appliance.core.services import Services
from appliance.core.status import State

log = logging.getLogger(__name__)
START_RETRY_SECONDS = (1, 2, 5, 10, 30)  # then every 30 s, for ever
SIMULATED_PRESS_SECONDS = 0.15


def make_pin_factory(name: str | None):
    """gpiozero's pin factory: MockFactory for "mock", else the named or default one."""
    if name == "mock":
        from gpiozero.pins.mock import MockFactory

        return MockFactory()
    if name:
        os.environ["GPIOZERO_PIN_FACTORY"] = name
    return None  # gpiozero picks GPIOZERO_PIN_FACTORY or the best available


def start_panel(services: Services, pin_factory, on_state: Callable[[State], None] | None,
                stop: threading.Event) -> Panel | None:
    """Build the panel, retrying GPIO failures (busy pins, missing driver) until `stop`."""
    attempt = 0
    while not stop.is_set():
        try:
            return Panel(PrintService(services), pin_factory, on_state)
        except Exception as exc:  # any GPIO library error: log, wait, try again
            delay = START_RETRY_SECONDS[min(attempt, len(START_RETRY_SECONDS) - 1)]
            log.error("GPIO not usable (%s); retrying in %s s", exc, delay)
            sdnotify.notify(f"STATUS=waiting for GPIO: {exc}")
            sdnotify.notify("WATCHDOG=1")
            attempt += 1
            stop.wait(delay)
    return None


def run_daemon(services: Services) -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    panel = start_panel(services, make_pin_factory(services.config.panel.pin_factory), None,
                        stop)
    if panel is None:
        return
    with panel, contextlib.suppress(KeyboardInterrupt):
        panel.run(stop)


def run_simulated(services: Services, lines=sys.stdin, out=sys.stdout) -> None:
    """MockFactory pins driven by `press` / `hold` lines; prints `led: <state>` changes."""
    from gpiozero.pins.mock import MockFactory

    factory = MockFactory()
    stop = threading.Event()

    def show(state: State) -> None:
        print(f"led: {state}", file=out, flush=True)

    panel = start_panel(services, factory, show, stop)
    loop = threading.Thread(target=panel.run, args=(stop,), daemon=True, name="panel-loop")
    loop.start()
    config = services.config.panel
    pin = factory.pin(config.button_pin)
    pressed, released = (pin.drive_low, pin.drive_high) if config.pull_up else \
        (pin.drive_high, pin.drive_low)
    with panel:
        try:
            for line in lines:
                command = line.strip().lower()
                if command in ("press", "hold"):
                    pressed()
                    time.sleep(config.hold_seconds + 0.3 if command == "hold"
                               else SIMULATED_PRESS_SECONDS)
                    released()
                elif command in ("quit", "exit"):
                    break
                elif command:
                    print(f"unknown command {command!r}: use press, hold or quit", file=out,
                          flush=True)
        finally:
            stop.set()
            loop.join(timeout=10)
