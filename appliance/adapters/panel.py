"""The physical panel: one button that prints, one light that tells the truth.

`appliance panel` runs this as its own daemon, so the button keeps working when the web
service or the network is down. The LED shows the state shared with `/api/v1/status`
(`compute_status`), shown as printing while a kit is on its way (whoever started it) and as
a fault after the print path crashed. A short press prints profile `button`, a long press
`full`, both through the one `PrintService`: a press while a kit is being composed, is still
in the printer queue, or was started less than `repeat_guard_seconds` ago — from this
button, the kiosk or `appliance print` — is acknowledged with a quick flash and otherwise
ignored.

The GPIO seam is gpiozero's pin factory, injected (MockFactory in tests and the demo).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from gpiozero import LED, RGBLED, Button

from appliance.adapters import sdnotify
from appliance.adapters.stop_signals import StopFlag
from appliance.core.config.settings import PanelConfig
from appliance.core.printing.print_service import Busy, PrintService
from appliance.core.printing.printer import PrinterUnavailable
from appliance.core.watch.status import State, shown_state

log = logging.getLogger(__name__)

ACK_FLASHES = 3
ACK_SECONDS = 0.08


@dataclass(frozen=True)
class Pattern:
    """What the LED does in one state: colour (one 0/1 per pin) steady or blinking."""

    color: tuple[int, ...]
    on_seconds: float | None = None  # None: steady
    off_seconds: float = 0.0

    @property
    def steady(self) -> bool:
        return self.on_seconds is None


OFF = {"rgb": (0, 0, 0), "two": (0, 0), "single": (0,)}
ACK_COLOR = {"rgb": (1, 1, 1), "two": (1, 1), "single": (1,)}
# The documented patterns (docs/panel.md): each state distinct on each wiring.
PATTERNS: dict[str, dict[State, Pattern]] = {
    "rgb": {  # pins: red, green, blue
        State.READY: Pattern((0, 1, 0)),  # steady green
        State.DEGRADED: Pattern((0, 1, 0), 1.8, 0.2),  # green, dark a moment every 2 s
        State.STALE: Pattern((1, 1, 0), 1.0, 1.0),  # amber, slow blink
        State.PRINTING: Pattern((0, 0, 1), 0.25, 0.25),  # blue blink
        State.FAULT: Pattern((1, 0, 0), 0.12, 0.12),  # red, fast blink
        State.NO_DATA: Pattern((1, 0, 0)),  # steady red
    },
    "two": {  # pins: red, green
        State.READY: Pattern((0, 1)),  # steady green
        State.DEGRADED: Pattern((0, 1), 1.8, 0.2),  # green, dark a moment every 2 s
        State.STALE: Pattern((0, 1), 1.0, 1.0),  # green, slow blink
        State.PRINTING: Pattern((0, 1), 0.25, 0.25),  # green, quick blink
        State.FAULT: Pattern((1, 0), 0.12, 0.12),  # red, fast blink
        State.NO_DATA: Pattern((1, 0)),  # steady red
    },
    "single": {
        State.READY: Pattern((1,)),  # steady on
        State.DEGRADED: Pattern((1,), 1.8, 0.2),  # on, dark a moment every 2 s
        State.STALE: Pattern((1,), 1.0, 1.0),  # slow blink
        State.PRINTING: Pattern((1,), 0.25, 0.25),  # quick blink
        State.FAULT: Pattern((1,), 0.1, 0.1),  # fast blink
        State.NO_DATA: Pattern((1,), 0.1, 1.9),  # short flash every two seconds
    },
}


class StatusLight:
    """Drives the LED wiring from a `State`, through one pattern table."""

    def __init__(self, config: PanelConfig, pin_factory) -> None:
        self.wiring = config.led
        pins = config.led_pins
        if self.wiring == "rgb":
            self._device = RGBLED(*pins, active_high=config.led_active_high, pwm=False,
                                  pin_factory=pin_factory)
        else:
            self._leds = [LED(pin, active_high=config.led_active_high, pin_factory=pin_factory)
                          for pin in pins]
        self.state: State | None = None
        self._lock = threading.Lock()
        self._closed = False

    def show(self, state: State) -> None:
        with self._lock:
            self.state = state
            self._apply(PATTERNS[self.wiring][state])

    def off(self) -> None:
        with self._lock:
            self.state = None
            self._apply(Pattern(OFF[self.wiring]))

    def acknowledge(self) -> None:
        """A few quick flashes, then back to the state's pattern (blocks ~0.5 s)."""
        with self._lock:
            for _ in range(ACK_FLASHES):
                self._apply(Pattern(ACK_COLOR[self.wiring]))
                time.sleep(ACK_SECONDS)
                self._apply(Pattern(OFF[self.wiring]))
                time.sleep(ACK_SECONDS)
            if self.state is not None:
                self._apply(PATTERNS[self.wiring][self.state])

    def _apply(self, pattern: Pattern) -> None:
        if self._closed:  # an acknowledgement thread may outlive the panel
            return
        if self.wiring == "rgb":
            if pattern.steady:
                self._device.color = pattern.color
            else:
                self._device.blink(pattern.on_seconds, pattern.off_seconds,
                                   on_color=pattern.color, off_color=OFF["rgb"])
            return
        for led, lit in zip(self._leds, pattern.color, strict=True):
            if not lit:
                led.off()
            elif pattern.steady:
                led.on()
            else:
                led.blink(pattern.on_seconds, pattern.off_seconds)

    def close(self) -> None:
        with self._lock:
            self._closed = True
        for device in [getattr(self, "_device", None), *getattr(self, "_leds", [])]:
            if device is not None:
                device.off()  # stops a blink thread first; closing under it races
                device.close()


class Panel:
    """Button + LED + the loop that keeps the LED true. Thread-safe; `run` blocks.
    A context manager: leaving it releases the pins."""

    def __init__(self, print_service: PrintService, pin_factory,
                 on_state: Callable[[State], None] | None = None) -> None:
        self.print_service = print_service
        self.services = print_service.services
        self.config = self.services.config.panel
        self.on_state = on_state
        self._lock = threading.Lock()
        self._requests = 0  # presses being handled by the print service right now
        self._in_flight = False  # a kit on its way, as the print service last said
        self._print_failed = False
        self._wake = threading.Event()
        self.kits_started = 0
        self.presses_ignored = 0
        self.press_handled = threading.Condition(self._lock)  # tests wait on it
        self.light = StatusLight(self.config, pin_factory)
        self.button = Button(self.config.button_pin, pull_up=self.config.pull_up,
                             bounce_time=self.config.bounce_seconds or None,
                             hold_time=self.config.hold_seconds, pin_factory=pin_factory)
        self._held = False
        self.button.when_pressed = self._pressed
        self.button.when_held = self._long_press
        self.button.when_released = self._released

    def __enter__(self) -> Panel:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # ------------------------------------------------------------ button

    def _pressed(self) -> None:
        self._held = False

    def _long_press(self) -> None:
        self._held = True
        self.request("full", trigger="button-hold")

    def _released(self) -> None:
        if not self._held:
            self.request("button", trigger="button")

    def request(self, profile: str, trigger: str) -> None:
        """Ask the print service for a kit, off gpiozero's callback thread (composing takes
        a moment); the LED shows printing at once."""
        with self._lock:
            self._requests += 1
        self._wake.set()
        threading.Thread(target=self._print, args=(profile, trigger), daemon=True,
                         name="panel-print").start()

    def _print(self, profile: str, trigger: str) -> None:
        outcome = None
        try:
            outcome = self.print_service.request(profile, trigger)
        except PrinterUnavailable as exc:
            log.error("kit not printed: %s", exc)  # the printer report shows the fault
        except Exception:  # the daemon must survive anything the print path throws
            log.exception("print path failed; LED shows fault until a print succeeds")
            self._print_failed = True
        finally:
            busy = isinstance(outcome, Busy)
            with self._lock:
                self._requests -= 1
                if busy:
                    self.presses_ignored += 1
                elif outcome is not None:
                    self.kits_started += 1
                    self._in_flight = True
                    self._print_failed = False
                self.press_handled.notify_all()
            self._wake.set()
        if busy:
            self.light.acknowledge()

    # ------------------------------------------------------------ state

    def current_state(self) -> State:
        try:
            self._in_flight = self.print_service.follow_up()
            status = self.services.status(self.services.printer.report())
        except Exception:
            log.exception("cannot compute the appliance's state")
            return State.FAULT
        if self._print_failed:
            return State.FAULT
        return shown_state(status, bool(self._requests or self._in_flight))

    def refresh(self) -> State:
        state = self.current_state()
        if state != self.light.state:
            log.info("state: %s", state)
            self.light.show(state)
            sdnotify.notify(f"STATUS=LED {state}")
            if self.on_state:
                self.on_state(state)
        return state

    def run(self, stop: StopFlag) -> None:
        """Keep the LED true until `stop` is set: every poll interval, and at once after a
        press or a finished print."""
        watchdog = sdnotify.watchdog_interval()
        sdnotify.notify("READY=1")
        last_ping = 0.0
        while not stop.is_set():
            self.refresh()
            if watchdog and time.monotonic() - last_ping >= watchdog:
                sdnotify.notify("WATCHDOG=1")
                last_ping = time.monotonic()
            self._wake.wait(self.config.poll_seconds)
            self._wake.clear()

    def close(self) -> None:
        self.button.close()
        self.light.close()
