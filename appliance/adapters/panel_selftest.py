"""The hardware acceptance test of a panel: `appliance panel --selftest`.

For the technician who has just wired a Pi (docs/panel.md, "Acceptance test"): the LED
walks through every state's pattern, each described in words from the one pattern table,
then the technician presses the button once and holds it once. The result is printed, and
the CLI audits it. It needs the pins to itself: stop `appliance-panel.service` first.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from gpiozero import Button

from appliance.adapters.panel import PATTERNS, Pattern, StatusLight
from appliance.core.config.settings import PanelConfig

COLOR_NAMES = {  # a pattern's colour, per wiring: which pins are lit, in words
    "rgb": {(0, 1, 0): "green", (1, 1, 0): "amber (red + green)", (0, 0, 1): "blue",
            (1, 0, 0): "red"},
    "two": {(0, 1): "green", (1, 0): "red"},
    "single": {(1,): "on"},
}


def describe(wiring: str, pattern: Pattern) -> str:
    """"green, steady" / "red, blinking 0.12 s on, 0.12 s off"."""
    color = COLOR_NAMES[wiring].get(pattern.color, str(pattern.color))
    if pattern.steady:
        return f"{color}, steady"
    return f"{color}, blinking {pattern.on_seconds:g} s on, {pattern.off_seconds:g} s off"


@dataclass(frozen=True)
class SelftestResult:
    states_shown: int
    short_press_seconds: float | None  # None: no short press within the time allowed
    long_press: bool

    @property
    def passed(self) -> bool:
        return self.short_press_seconds is not None and self.long_press

    def to_json(self) -> dict:
        return {"states_shown": self.states_shown, "passed": self.passed,
                "short_press_seconds": self.short_press_seconds, "long_press": self.long_press}


def run_selftest(config: PanelConfig, pin_factory, say: Callable[[str], None], *,
                 step_seconds: float = 3.0, press_timeout: float = 60.0) -> SelftestResult:
    """Walk the LED through its states, then wait for one short press and one long one."""
    light = StatusLight(config, pin_factory)
    button = Button(config.button_pin, pull_up=config.pull_up,
                    bounce_time=config.bounce_seconds or None, hold_time=config.hold_seconds,
                    pin_factory=pin_factory)
    try:
        patterns = PATTERNS[config.led]
        say(f"LED ({config.led} wiring, pins {', '.join(map(str, config.led_pins))}): "
            f"each state for {step_seconds:g} s; compare with docs/panel.md")
        for state, pattern in patterns.items():
            say(f"  {state}: {describe(config.led, pattern)}")
            light.show(state)
            time.sleep(step_seconds)
        light.off()
        return SelftestResult(len(patterns), *_presses(config, button, say, press_timeout))
    finally:
        button.close()
        light.close()


def _presses(config: PanelConfig, button: Button, say: Callable[[str], None],
             timeout: float) -> tuple[float | None, bool]:
    pressed, released, held = threading.Event(), threading.Event(), threading.Event()
    times: dict[str, float] = {}

    def on_press() -> None:
        times["down"] = time.monotonic()
        pressed.set()

    def on_release() -> None:
        times["up"] = time.monotonic()
        released.set()

    button.when_pressed, button.when_released = on_press, on_release
    button.when_held = held.set
    say(f"Press the button briefly now (pin {config.button_pin}; within {timeout:g} s) ...")
    short = None
    if pressed.wait(timeout) and released.wait(timeout) and not held.is_set():
        short = round(times["up"] - times["down"], 2)
        say(f"  short press: OK ({short:g} s)")
    else:
        say("  short press: NOT SEEN (check the wiring and panel.button_pin, panel.pull_up)")
    held.clear()
    say(f"Now press and hold it for {config.hold_seconds:g} s (within {timeout:g} s) ...")
    long_press = held.wait(timeout)
    say("  long press: OK" if long_press else "  long press: NOT SEEN")
    return short, long_press
