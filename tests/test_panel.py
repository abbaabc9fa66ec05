"""The panel with gpiozero's MockFactory and the private test cupsd: presses, LED truth."""

from __future__ import annotations

import concurrent.futures
import io
import itertools
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta

import pikepdf
import pytest
from gpiozero.pins.mock import MockFactory

from appliance.adapters.panel import PATTERNS, Panel, StatusLight
from appliance.core.config.settings import PanelConfig
from appliance.core.printing.print_service import PrintService
from appliance.core.watch.status import State
from tests.conftest import BIN
from tests.test_printing import FRONT

PANEL_CONFIG = """
[panel]
hold_seconds = 0.6
repeat_guard_seconds = 3
poll_seconds = 0.2
bounce_seconds = 0.01
"""


class Recorder:
    """Collects LED state changes; tests wait on it instead of sleeping."""

    def __init__(self) -> None:
        self.states: list[State] = []
        self.changed = threading.Condition()

    def __call__(self, state: State) -> None:
        with self.changed:
            self.states.append(state)
            self.changed.notify_all()

    def wait_for(self, state: State, timeout: float = 10.0) -> None:
        """A deadline for correctness, not a timing target: the LED follows within one poll
        (`poll_seconds`) on an idle machine, which bench/panel.py measures; a loaded CI
        machine may take longer without anything being wrong."""
        with self.changed:
            ok = self.changed.wait_for(lambda: self.states and self.states[-1] == state,
                                       timeout)
        assert ok, f"LED never showed {state} within {timeout} s; saw {self.states}"


@pytest.fixture
def panel(installation):
    with open(installation.appliance_toml, "a", encoding="utf-8") as handle:
        handle.write(PANEL_CONFIG)
    factory = MockFactory()
    recorder = Recorder()
    stop = threading.Event()

    def start(service_class=PrintService) -> Panel:
        made = Panel(service_class(installation.services()), factory, recorder)
        thread = threading.Thread(target=made.run, args=(stop,), daemon=True)
        thread.start()
        made.thread = thread
        made.recorder = recorder
        made.pin = factory.pin(made.config.button_pin)
        made.installation = installation
        started.append(made)
        return made

    started: list[Panel] = []
    yield start
    stop.set()
    for made in started:
        made.thread.join(timeout=5)
        made.close()


def wait_until_handled(panel: Panel, presses: int, timeout: float = 10) -> None:
    """Until the panel has dealt with `presses` presses (started a kit or ignored them)."""
    with panel.press_handled:
        ok = panel.press_handled.wait_for(
            lambda: panel.kits_started + panel.presses_ignored >= presses, timeout)
    assert ok, (f"only {panel.kits_started} started + {panel.presses_ignored} ignored of "
                f"{presses} presses within {timeout} s")


def press(panel: Panel, seconds: float = 0.05) -> None:
    panel.pin.drive_low()  # pull-up wiring: pressed = low
    time.sleep(seconds)
    panel.pin.drive_high()


def captured_pages(inst, count: int = 1, timeout: float = 60) -> list[int]:
    inst.cups.wait_for(lambda: len(inst.queue.captured()) >= count, timeout=timeout,
                       what=f"{count} captured kit(s)")
    pages = []
    for job in inst.queue.captured():
        with pikepdf.open(io.BytesIO(job.data)) as pdf:
            pages.append(len(pdf.pages))
    return pages


def test_press_prints_exactly_one_button_kit(panel):
    p = panel()
    p.installation.ingest(p.installation.envelope(pages=2))
    p.recorder.wait_for(State.READY)
    press(p)
    assert captured_pages(p.installation) == [FRONT + 2 + 2]
    p.recorder.wait_for(State.READY, timeout=5)
    assert State.PRINTING in p.recorder.states


def test_twenty_presses_in_two_seconds_print_one_kit(panel, installation):
    # A guard that outlasts the presses however slow the machine: on a loaded one (CI
    # running the deploy test beside it) twenty presses took longer than the fixture's
    # 3 s, and a press after the guard then rightly started a second kit.
    toml = installation.appliance_toml
    toml.write_text(toml.read_text(encoding="utf-8").replace(
        "repeat_guard_seconds = 3", "repeat_guard_seconds = 600"), encoding="utf-8")
    p = panel()
    p.installation.ingest(p.installation.envelope(pages=1))
    for _ in range(20):
        press(p, 0.03)
        time.sleep(0.05)
    assert captured_pages(p.installation) == [FRONT + 1 + 2]
    wait_until_handled(p, 20)
    assert p.kits_started == 1 and p.presses_ignored == 19
    p.recorder.wait_for(State.READY, timeout=5)
    assert len(p.installation.queue.captured()) == 1


def test_long_press_prints_the_full_kit(panel):
    p = panel()
    for kind in ("todo", "medications", "relatives"):
        p.installation.ingest(p.installation.envelope(kind, pages=1))
    press(p, p.config.hold_seconds + 0.3)
    assert captured_pages(p.installation) == [FRONT + 3 + 2]
    assert p.kits_started == 1, "the release after a long press must not print again"


def test_out_of_paper_shows_fault_then_ready_after_refill(panel):
    p = panel()
    inst = p.installation
    inst.ingest(inst.envelope(pages=1))
    p.recorder.wait_for(State.READY)
    inst.queue.set_fault("media-empty")
    press(p)
    # CUPS learns of the fault when it tries the job; then the LED follows at its next poll.
    inst.cups.wait_for(
        lambda: "media-empty-error" in inst.cups.printer_state_reasons(inst.queue.name),
        timeout=10, interval=0.02)
    p.recorder.wait_for(State.FAULT)
    inst.queue.clear_fault()
    p.recorder.wait_for(State.READY, timeout=40)
    assert captured_pages(inst) == [FRONT + 1 + 2]


def test_stale_todo_shows_stale(panel):
    p = panel()
    p.installation.ingest(p.installation.envelope(
        produced_at=datetime.now(UTC) - timedelta(days=2), pages=1))
    p.recorder.wait_for(State.STALE)


def test_empty_store_shows_no_data_and_new_data_shows_without_a_press(panel):
    p = panel()
    p.recorder.wait_for(State.NO_DATA)
    p.installation.ingest(p.installation.envelope(pages=1))
    p.recorder.wait_for(State.READY)


class BrokenPrintService(PrintService):
    """The real service with a bug in composing; counts the panel's poll rounds."""

    polled = threading.Condition()
    polls = 0

    def compose(self, profile, now):
        raise RuntimeError("simulated bug in the print path")

    def follow_up(self) -> bool:
        with self.polled:
            type(self).polls += 1
            self.polled.notify_all()
        return super().follow_up()


def test_crash_in_print_path_keeps_daemon_running_with_fault(panel):
    p = panel(BrokenPrintService)
    p.installation.ingest(p.installation.envelope(pages=1))
    p.recorder.wait_for(State.READY)
    press(p)
    p.recorder.wait_for(State.FAULT)
    with BrokenPrintService.polled:
        later = BrokenPrintService.polls + 5
        assert BrokenPrintService.polled.wait_for(lambda: BrokenPrintService.polls >= later,
                                                  timeout=10), "the panel stopped polling"
    # several poll rounds later: still alive and still honest
    assert p.thread.is_alive() and p.recorder.states[-1] == State.FAULT


WIRINGS = {"rgb": (5, 6, 13), "two": (5, 6), "single": (5,)}


def test_led_patterns_on_every_wiring():
    """Every state's pattern, observed on the mock pins in real time (blinks take seconds):
    the three wirings side by side, each on its own factory, so the test takes as long as
    the slowest wiring rather than all three in a row."""
    with concurrent.futures.ThreadPoolExecutor(len(WIRINGS)) as pool:
        results = {wiring: pool.submit(patterns_shown, wiring, pins)
                   for wiring, pins in WIRINGS.items()}
    for wiring, result in results.items():
        seen = result.result()  # re-raises the wiring's failure
        assert set(seen) == set(State), wiring  # degraded included (issue 13)
        assert len(set(seen.values())) == len(seen), f"{wiring}: patterns not distinct: {seen}"


def patterns_shown(wiring: str, pins: tuple[int, ...]) -> dict:
    factory = MockFactory()
    light = StatusLight(PanelConfig(led=wiring, led_pins=pins), factory)
    try:
        seen = {}
        for state, pattern in PATTERNS[wiring].items():
            light.show(state)
            seen[state] = observe(factory, pins, pattern)
        return seen
    finally:
        light.close()


def observe(factory: MockFactory, pins, pattern) -> tuple:
    """What the pins do: for steady patterns their levels, for blinking ones which pins
    toggle and roughly how long they stay on, read off the mock pins' state history."""
    mock_pins = [factory.pin(pin) for pin in pins]

    def levels() -> tuple:
        return tuple(int(pin.state) for pin in mock_pins)

    if pattern.steady:
        settle_until(lambda: levels() == pattern.color, 2, f"{pins} steady {pattern.color}")
        return ("steady", levels())
    lit = [pin for pin, on in zip(mock_pins, pattern.color, strict=True) if on]
    for pin in lit:
        pin.clear_states()
    # Eleven changes hold five whole "on" spells: their median shrugs off a scheduling
    # hiccup of a loaded machine that a single spell would not.
    settle_until(lambda: len(lit[0].states) >= 11,
                 12 * (pattern.on_seconds + pattern.off_seconds) + 2, f"{pins} blinking")
    history = lit[0].states
    on_times = sorted(later.timestamp for earlier, later in itertools.pairwise(history)
                      if earlier.state)
    on = on_times[len(on_times) // 2]
    assert on == pytest.approx(pattern.on_seconds, abs=0.05)
    return ("blink", pattern.color, round(on, 1), round(pattern.off_seconds, 1))


def settle_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.1f} s"
        time.sleep(0.01)


def test_simulated_panel_from_stdin_prints_a_kit(installation):
    with open(installation.appliance_toml, "a", encoding="utf-8") as handle:
        handle.write(PANEL_CONFIG)
    installation.ingest(installation.envelope(pages=1))
    process = subprocess.Popen(
        [str(BIN / "appliance"), "--config", str(installation.appliance_toml), "panel",
         "--simulate"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=installation.cups.env())
    try:
        assert process.stdout.readline().strip() == "led: ready"
        process.stdin.write("press\n")
        process.stdin.flush()
        assert process.stdout.readline().strip() == "led: printing"
        installation.cups.wait_for(lambda: installation.queue.captured(), timeout=20)
        assert process.stdout.readline().strip() == "led: ready"
        process.stdin.write("quit\n")
        process.stdin.flush()
        assert process.wait(timeout=20) == 0
    finally:
        process.kill()
