"""`appliance panel --selftest`, the technician's acceptance test, on gpiozero's mock pins
through the same code a Pi runs: the LED shows every state's pattern, a short press and a
long press are seen (or reported missing), and the result is audited."""

from __future__ import annotations

import io
import threading
import time

import pytest
from gpiozero.pins.mock import MockFactory

from appliance.adapters.panel import PATTERNS
from appliance.adapters.panel_selftest import describe
from appliance.cli.panel_daemon import run_selftest

PANEL = "\n[panel]\nhold_seconds = 0.5\nbounce_seconds = 0.01\n"


class Prompts(io.StringIO):
    """The selftest's output; a test waits for a prompt before it acts."""

    def __init__(self) -> None:
        super().__init__()
        self.changed = threading.Condition()

    def write(self, text: str) -> int:
        with self.changed:
            written = super().write(text)
            self.changed.notify_all()
        return written

    def wait_for(self, words: str, timeout: float = 10) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: words in self.getvalue(), timeout), \
                self.getvalue()


def selftest(installation, act, press_timeout: float = 5):
    with open(installation.appliance_toml, "a", encoding="utf-8") as handle:
        handle.write(PANEL)
    services = installation.services()
    factory = MockFactory()
    out = Prompts()
    outcome = {}
    thread = threading.Thread(target=lambda: outcome.update(passed=run_selftest(
        services, press_timeout=press_timeout, step_seconds=0.01, pin_factory=factory,
        out=out)))
    thread.start()
    act(factory.pin(services.config.panel.button_pin), out)
    thread.join(timeout=30)
    assert not thread.is_alive()
    audited = [e for e in services.audit.entries()
               if e["event"] == "panel_selftest"]
    return outcome["passed"], out.getvalue(), audited


def press(pin, seconds: float) -> None:
    pin.drive_low()  # pull-up wiring: pressed = low
    time.sleep(seconds)
    pin.drive_high()


def test_a_wired_panel_passes_and_the_result_is_audited(installation):
    def technician(pin, out):
        out.wait_for("Press the button briefly")
        press(pin, 0.1)
        out.wait_for("press and hold")
        press(pin, 0.9)

    passed, text, [entry] = selftest(installation, technician)
    assert passed, text
    wiring = installation.config.panel.led
    for state, pattern in PATTERNS[wiring].items():
        assert f"  {state}: {describe(wiring, pattern)}" in text
    assert "short press: OK" in text and "long press: OK" in text
    assert "selftest: PASSED" in text
    assert entry["passed"] is True and entry["long_press"] is True
    assert entry["states_shown"] == len(PATTERNS[wiring])
    assert 0.05 < entry["short_press_seconds"] < 0.6


def test_a_button_that_is_never_pressed_fails_and_is_audited_as_failed(installation):
    passed, text, [entry] = selftest(installation, lambda pin, out: None, press_timeout=1)
    assert not passed
    assert "short press: NOT SEEN" in text and "long press: NOT SEEN" in text
    assert "selftest: FAILED" in text
    assert entry["passed"] is False and entry["short_press_seconds"] is None


def test_a_hold_instead_of_a_short_press_is_not_a_short_press(installation):
    def technician(pin, out):
        out.wait_for("Press the button briefly")
        press(pin, 0.9)

    passed, text, _ = selftest(installation, technician, press_timeout=1)
    assert not passed and "short press: NOT SEEN" in text


@pytest.mark.parametrize("wiring", sorted(PATTERNS))
def test_every_pattern_is_described_in_words(wiring):
    for pattern in PATTERNS[wiring].values():
        words = describe(wiring, pattern)
        assert "(" not in words.split(",")[0] or "amber" in words  # a name, not a tuple
