"""The printer proven without paper (issue 23 §4): the daily supplies check asks the printer
for its state, reasons and marker levels, shows toner low / paper low to IT only, and makes
a printer that has not answered for a day a fault; no page is ever printed.

Real parts on 127.0.0.1: the session's private cupsd holds the appliance's queue, whose
device is the system's `ipp` backend; the printer is a second private cupsd listening on a
loopback TCP port (CUPS is an IPP server), whose queue reports marker levels and reasons
from its printers.conf (`Attribute marker-levels …`, `Reason …`, as cupsd itself saves what
a driver reported). Debian 12's `ippeveprinter` would be the other candidate, but it does
not start without a running Avahi (docs/decisions.md). Time is a `FixedClock`.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from appliance.adapters.cups import CupsPrinter
from appliance.adapters.web.kiosk_text import Texts
from appliance.adapters.web.kiosk_view import overview
from appliance.adapters.web.metrics import render
from appliance.adapters.webhook import WebhookPoster
from appliance.cli.jobs_daemon import run_jobs
from appliance.core.base.clock import FixedClock
from appliance.core.printing.supplies import Supply, SupplyReading, supplies_from_ipp
from appliance.core.services import Services
from appliance.core.watch.metrics import AuditTally, collect
from appliance.core.watch.status import State
from appliance.core.watch.supplies_check import STATE_FILE, SuppliesState, SuppliesWatch
from appliance.devtools.cups_harness.harness import PrivateCups, backend_unavailable_reason
from tests.conftest import free_port
from tests.test_metrics import parse, value
from tests.webhook_receiver import WebhookReceiver

START = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)
NOT_ANSWERING_SV = ("Skrivaren har inte svarat på ett dygn. Kontrollera att den är påslagen "
                    "och att kabeln sitter i. Meddela IT-support.")


def ipp_printer(levels: str = "8,60", lows: str = "10,10",
                reasons: tuple[str, ...] = ("media-low-warning",)) -> PrivateCups:
    """A started IPP printer on 127.0.0.1 (a private cupsd) whose queue `laser` reports
    two markers and `reasons`; close it when done."""
    box = PrivateCups(ipp_port=free_port())
    box.start()
    box.add_capture_queue("laser")
    box.stop()
    conf = box.conf_dir / "printers.conf"
    extra = (f"Attribute marker-names Black Toner,Waste Toner\n"
             f"Attribute marker-types toner,waste-toner\n"
             f"Attribute marker-levels {levels}\nAttribute marker-low-levels {lows}\n"
             + "".join(f"Reason {reason}\n" for reason in reasons))
    conf.write_text(conf.read_text().replace("</Printer>", extra + "</Printer>"))
    box.start()
    return box


@pytest.fixture
def printer_box():
    box = ipp_printer()
    yield box
    box.close()


def services_for(inst, clock: FixedClock) -> Services:
    return Services(inst.config, clock, printer=CupsPrinter(inst.device_queue,
                                                            server=inst.cups.server))


def all_jobs(cups: PrivateCups) -> dict:
    return cups.connect().getJobs(which_jobs="all")


def metrics_of(services: Services) -> dict:
    text = render(collect(services, AuditTally(services.config.state_dir / "audit.log"),
                          services.clock.now(), services.printer.report()))
    return parse(text)[0]


def test_levels_and_warnings_reach_it_without_a_job(device_installation, printer_box,
                                                    private_cups) -> None:
    inst = device_installation(printer_box.ipp_uri("laser"))
    jobs_before = all_jobs(private_cups)
    services = services_for(inst, FixedClock(START))

    status = SuppliesWatch(services, None).evaluate()

    (printer,) = status.printers
    reading = printer.reading
    assert (reading.name, reading.answered) == (inst.device_queue, True), reading
    assert [(s.name, s.type, s.level, s.low_level, s.low) for s in reading.supplies] == [
        ("Black Toner", "toner", 8, 10, True), ("Waste Toner", "waste-toner", 60, 10, False)]
    assert reading.warnings == ("toner-low", "paper-low")
    # no test page: no job on the appliance's cupsd, none at the printer, nothing captured
    assert all_jobs(private_cups) == jobs_before
    assert all_jobs(printer_box) == {}
    assert printer_box.captured("laser") == []

    # for IT only: status JSON and metrics; the nurse's condition and the kiosk say ready
    shown = services.status(services.printer.report())
    assert shown.printer.condition == "ready" and shown.state is not State.FAULT
    supplies = shown.to_json()["printer"]["supplies"]
    assert supplies["warnings"] == ["toner-low", "paper-low"]
    assert supplies["last_check_at"] == "2026-12-07T06:00:00Z"
    assert overview(shown, shown.state, inst.config.timezone, Texts("sv")).printer_text == (
        "Skrivaren fungerar.")
    samples = metrics_of(services)
    queue = inst.device_queue
    assert value(samples, "appliance_printer_marker_level_percent", printer=queue,
                 marker="Black Toner") == 8
    assert value(samples, "appliance_printer_supply_warning", printer=queue,
                 warning="toner-low") == 1
    assert value(samples, "appliance_printer_supply_warning", printer=queue,
                 warning="paper-low") == 1
    assert value(samples, "appliance_printer_unanswered_seconds", printer=queue) == 0


def test_cli_check_says_it_and_records_it(device_installation, printer_box) -> None:
    inst = device_installation(printer_box.ipp_uri("laser"))
    text = inst.appliance("printer", "check", expect=1).output  # 1: a warning
    assert "Black Toner (toner): 8%, low at 10% – LOW" in text
    assert "warnings: toner-low, paper-low" in text
    report = json.loads(inst.appliance("printer", "check", "--json", expect=1).output)
    assert report["warnings"] == ["toner-low", "paper-low"]
    assert report["printers"][0]["answered"] is True
    assert (inst.state_dir / STATE_FILE).exists()
    assert "supplies: last check" in inst.appliance("status", expect=None).output
    assert json.loads(inst.appliance("printer", "--json").output)["condition"] == "ready"


def test_silent_for_a_day_is_a_fault_and_an_answer_ends_it(device_installation,
                                                           printer_box) -> None:
    inst = device_installation(printer_box.ipp_uri("laser"))
    clock = FixedClock(START)
    services = services_for(inst, clock)
    receiver = WebhookReceiver().start()
    try:
        watch = SuppliesWatch(services, WebhookPoster(f"http://127.0.0.1:{receiver.port}/",
                                                      5))
        watch.evaluate()  # answered; toner low and paper low told once
        assert [a["raised"] for a in receiver.received] == [["toner-low", "paper-low"]]
        clock.advance(timedelta(hours=1))
        watch.evaluate()  # not due: nothing asked, nothing told
        assert len(receiver.received) == 1

        printer_box.stop()  # switched off
        status = SuppliesWatch(services, None).evaluate(force=True)  # IT asks by hand
        (printer,) = status.printers
        assert printer.reading.answered is False and not printer.silent
        assert printer.reading.warnings == ("toner-low", "paper-low")  # as last answered
        clock.advance(timedelta(hours=22, minutes=59))
        watch.evaluate()  # retried: no answer, 23 h 59 min since the last one
        assert services.status(services.printer.report()).state is not State.FAULT
        assert len(receiver.received) == 1  # no answer is no news about the toner

        clock.advance(timedelta(minutes=1))  # a day since the last answer: no check needed
        assert services.status(services.printer.report()).state is State.FAULT
        watch.evaluate()  # tells the webhook
        shown = services.status(services.printer.report())
        assert shown.state is State.FAULT
        assert shown.printer.condition == "not-answering"
        assert shown.printer.swedish == NOT_ANSWERING_SV
        assert "no answer to the supplies check for 24 h" in shown.printer.detail
        assert overview(shown, shown.state, inst.config.timezone,
                        Texts("sv")).printer_text == NOT_ANSWERING_SV
        samples = metrics_of(services)
        assert value(samples, "appliance_printer_condition", condition="not-answering") == 1
        assert value(samples, "appliance_state", state="fault") == 1
        assert value(samples, "appliance_printer_unanswered_seconds",
                     printer=inst.device_queue) == 86400
        assert receiver.received[-1]["not_answering"] is True
        assert len(receiver.received) == 2

        printer_box.start()  # on again
        clock.advance(timedelta(minutes=15))
        watch.evaluate()
        shown = services.status(services.printer.report())
        assert shown.printer.condition == "ready" and shown.state is not State.FAULT
        assert receiver.received[-1]["not_answering"] is False
        assert "answering again" in receiver.received[-1]["message"]
        assert len(receiver.received) == 3
    finally:
        receiver.stop()
    assert all_jobs(printer_box) == {}


def test_a_fresh_install_has_a_day_before_silence_is_a_fault(device_installation) -> None:
    inst = device_installation(f"ipp://127.0.0.1:{free_port()}/ipp/print")  # never on
    clock = FixedClock(START)
    services = services_for(inst, clock)
    assert services.status(services.printer.report()).supplies is None  # not checked yet
    watch = SuppliesWatch(services, None)
    assert watch.evaluate().printers[0].reading.answered is False
    clock.advance(timedelta(hours=23, minutes=59))
    watch.evaluate()
    assert services.status(services.printer.report()).printer.condition == "ready"
    clock.advance(timedelta(minutes=1))
    watch.evaluate()
    assert services.status(services.printer.report()).printer.condition == "not-answering"


def test_a_class_member_silent_for_a_day_degrades_the_class(private_cups, printer_box,
                                                            device_installation) -> None:
    inst = device_installation(printer_box.ipp_uri("laser"))
    off = private_cups.add_device_queue("supplies_off",
                                        f"ipp://127.0.0.1:{free_port()}/ipp/print")
    name = private_cups.add_class("supplies_class", [inst.device_queue, off])
    try:
        clock = FixedClock(START)
        services = Services(inst.config, clock, printer=CupsPrinter(
            name, server=private_cups.server))
        watch = SuppliesWatch(services, None)
        first = watch.evaluate()
        assert [(p.reading.name, p.reading.answered) for p in first.printers] == [
            (inst.device_queue, True), (off, False)]
        clock.advance(timedelta(hours=24))
        watch.evaluate()
        report = services.status(services.printer.report()).printer
        assert report.condition == "degraded"
        assert {m.name: str(m.condition) for m in report.members} == {
            inst.device_queue: "ready", off: "not-answering"}
        printer_box.stop()
        clock.advance(timedelta(hours=24))
        watch.evaluate()
        shown = services.status(services.printer.report())
        assert shown.printer.condition == "not-answering" and shown.state is State.FAULT
    finally:
        for queue in (name, off):
            private_cups.run("lpadmin", "-x", queue, check=False)


def test_usb_printer_not_attached_does_not_answer(device_installation) -> None:
    reason = backend_unavailable_reason("usb")
    if reason:
        pytest.skip(reason)
    inst = device_installation("usb://Acme/Laser%20100?serial=NOT-ATTACHED")
    status = SuppliesWatch(services_for(inst, FixedClock(START)), None).evaluate()
    reading = status.printers[0].reading
    assert reading.answered is False and "USB printer not attached" in reading.detail
    assert "DID NOT ANSWER" in inst.appliance("printer", "check", expect=2).output


def test_a_capture_device_cannot_be_asked_and_is_never_silent(installation) -> None:
    clock = FixedClock(START)
    services = Services(installation.config, clock, printer=installation.printer())
    watch = SuppliesWatch(services, None)
    assert watch.evaluate().printers[0].reading.answered is None
    clock.advance(timedelta(days=3))
    watch.evaluate()
    assert services.status(services.printer.report()).printer.condition == "ready"


def test_due_on_the_injected_clock() -> None:
    state = SuppliesState()
    assert state.due(START)
    state.record((SupplyReading("q", "q", True),), START)
    assert not state.due(START + timedelta(hours=23, minutes=59))
    assert state.due(START + timedelta(hours=24))
    assert state.due(START - timedelta(minutes=1))  # the clock was set back
    state.record((SupplyReading("q", "q", False),), START)
    assert not state.due(START + timedelta(minutes=14))
    assert state.due(START + timedelta(minutes=15))  # retried while it does not answer


@pytest.mark.parametrize(("supply", "low"), [
    (Supply("Black", "toner", 10, 10), True),
    (Supply("Black", "toner", 11, 10), False),
    (Supply("Black", "toner", None, 10), False),  # IPP's -3 "some remaining"
    (Supply("Waste", "waste-toner", 5, 10), False),  # fills up: low is not a warning
])
def test_a_marker_is_low_at_or_below_its_low_level(supply, low) -> None:
    assert supply.low is low
    reading = SupplyReading("q", "q", True, supplies=(supply,))
    assert reading.warnings == (("toner-low",) if low else ())


def test_reasons_give_the_warnings() -> None:
    reading = SupplyReading("q", "q", True, reasons=("marker-supply-low-report",
                                                     "media-empty-error", "other"))
    assert reading.warnings == ("toner-low", "paper-low")


def test_the_jobs_service_checks_at_once_when_it_starts(device_installation,
                                                        printer_box) -> None:
    inst = device_installation(printer_box.ipp_uri("laser"))
    services = services_for(inst, FixedClock(START))
    stop = threading.Event()
    thread = threading.Thread(target=run_jobs, args=(services, stop))
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not (inst.state_dir / STATE_FILE).exists():
            assert time.monotonic() < deadline, "no supplies check at the start"
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join(timeout=20)
    assert not thread.is_alive()
    supplies = services.status(services.printer.report()).supplies
    assert supplies.last_attempt_at == START
    assert supplies.warnings == ("toner-low", "paper-low")
    assert all_jobs(printer_box) == {}


def test_printer_supply_of_ipp_everywhere_printers_is_read_too() -> None:
    """PWG 5100.13's `printer-supply` (ippeveprinter's, in deploy check 91): levels as a
    percentage of the capacity, the type in CUPS's spelling; no low level, so only the
    reasons say low."""
    supplies = supplies_from_ipp({
        "printer-supply": [
            "index=1;class=receptacleThatIsFilled;type=wasteToner;unit=percent;"
            "maxcapacity=100;level=20;",
            b"index=2;class=supplyThatIsConsumed;type=toner;unit=percent;maxcapacity=200;"
            b"level=30;colorantname=black;",
            "index=3;type=toner;maxcapacity=100;level=-3;"],  # -3: "some remaining"
        "printer-supply-description": ["Toner Waste", "Black Toner"]})
    assert [(s.name, s.type, s.level, s.low) for s in supplies] == [
        ("Toner Waste", "waste-toner", 20, False), ("Black Toner", "toner", 15, False),
        ("supply 3", "toner", None, False)]
