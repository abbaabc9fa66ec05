"""`appliance panel`: run the panel as a daemon, or simulated from stdin for the demo."""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from collections.abc import Callable

from gpiozero.pins import Factory

from appliance.adapters import sdnotify
from appliance.adapters.panel import Panel
from appliance.adapters.pins import build_pin_factory
from appliance.adapters.stop_signals import SignalStop, StopFlag
from appliance.core.printing.print_service import PrintService
from appliance.core.records.panel_health import READY, STOPPED, WAITING, record_panel_health
from appliance.core.services import Services
from appliance.core.watch.status import State

log = logging.getLogger(__name__)
START_RETRY_SECONDS = (1, 2, 5, 10, 30)  # then every 30 s, for ever
SIMULATED_PRESS_SECONDS = 0.15


def run_selftest(services: Services, *, press_timeout: float, step_seconds: float = 3.0,
                 pin_factory=None, out=sys.stdout) -> bool:
    """`appliance panel --selftest`: the hardware acceptance test, printed and audited."""
    from appliance.adapters.panel_selftest import run_selftest as walk

    config = services.config.panel
    if pin_factory is None:
        pin_factory = build_pin_factory(config.pin_factory)
    result = walk(config, pin_factory, lambda line: print(line, file=out, flush=True),
                  step_seconds=step_seconds, press_timeout=press_timeout)
    services.audit.append("panel_selftest", **result.to_json())
    print(f"selftest: {'PASSED' if result.passed else 'FAILED'} ({result.states_shown} LED "
          "states shown; audited)", file=out, flush=True)
    return result.passed


def start_panel(services: Services, make_pin_factory: Callable[[], Factory],
                on_state: Callable[[State], None] | None, stop: StopFlag, *,
                record: bool = False) -> Panel | None:
    """Build the pin factory and the panel, retrying GPIO failures (busy pins, missing
    driver, no GPIO at all) until `stop`. While it waits the daemon is up for systemd
    (READY=1 once, the reason as its STATUS, the watchdog fed), so a Pi without working
    GPIO is no crash loop and no failed start; web, kiosk and printing go on. With
    `record`, the state is recorded for IT (core.records.panel_health: `status`,
    `/metrics`, the kiosk)."""
    attempt = 0
    told_ready = False
    while not stop.is_set():
        factory = None
        try:
            factory = make_pin_factory()
            panel = Panel(PrintService(services), factory, on_state)
        except Exception as exc:  # any GPIO library error: log, wait, try again
            if factory is not None:
                with contextlib.suppress(Exception):
                    factory.close()  # the next attempt builds a new one
            delay = START_RETRY_SECONDS[min(attempt, len(START_RETRY_SECONDS) - 1)]
            log.error("GPIO not usable (%s); retrying in %s s", exc, delay)
            if record:
                record_panel_health(services.config.state_dir, WAITING, services.clock.now(),
                                    f"{type(exc).__name__}: {exc}")
            if not told_ready:
                sdnotify.notify("READY=1")
                told_ready = True
            sdnotify.notify(f"STATUS=waiting for GPIO: {exc}")
            wait_feeding_watchdog(stop, delay)
            attempt += 1
            continue
        if record:
            record_panel_health(services.config.state_dir, READY, services.clock.now())
        return panel
    return None


def wait_feeding_watchdog(stop: StopFlag, seconds: float) -> None:
    """Wait `seconds` (or until `stop`), pinging systemd's watchdog at its interval: a wait
    as long as WatchdogSec must not get the daemon killed."""
    interval = sdnotify.watchdog_interval()
    deadline = time.monotonic() + seconds
    while True:
        sdnotify.notify("WATCHDOG=1")
        remaining = deadline - time.monotonic()
        if remaining <= 0 or stop.wait(min(remaining, interval or remaining)):
            return


def run_daemon(services: Services) -> None:
    with SignalStop() as stop:  # SIGTERM (systemd) and SIGINT (Ctrl+C)
        name = services.config.panel.pin_factory
        panel = start_panel(services, lambda: build_pin_factory(name), None, stop,
                            record=True)
        try:
            if panel is None:
                return
            with panel:
                panel.run(stop)
        finally:
            record_panel_health(services.config.state_dir, STOPPED, services.clock.now())


def run_simulated(services: Services, lines=sys.stdin, out=sys.stdout) -> None:
    """MockFactory pins driven by `press` / `hold` lines; prints `led: <state>` changes."""
    from gpiozero.pins.mock import MockFactory

    factory = MockFactory()
    stop = threading.Event()

    def show(state: State) -> None:
        print(f"led: {state}", file=out, flush=True)

    panel = start_panel(services, lambda: factory, show, stop)
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
