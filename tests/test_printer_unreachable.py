"""A printer that is switched off, unplugged or unreachable never reads as ready (issue 14).

Real parts on 127.0.0.1 only: the session's private cupsd with queues whose device is the
system's `ipp` or `usb` backend, and, as the printer that can be switched off and on, a second
private cupsd listening on a loopback TCP port (CUPS is an IPP server). Nothing browses,
announces or scans: both cupsds have `Browsing No` and no dnssd backend.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import time

import pikepdf
import pytest

from appliance.adapters.cups import CupsPrinter
from appliance.adapters.web.metrics import render
from appliance.core.printing.printer import Condition
from appliance.core.services import Services
from appliance.core.watch.metrics import AuditTally, collect
from appliance.devtools.cups_harness.harness import (
    PrivateCups,
    backend_unavailable_reason,
)
from tests.conftest import DEVICE_STALLED_AFTER as STALLED_AFTER
from tests.conftest import free_port
from tests.test_metrics import parse, value

FAULT_DEADLINE = 30  # issue 14: a fault within 30 s of the print


def printer_json(inst) -> dict:
    return json.loads(inst.appliance("printer", "--json").output)


def print_kit(inst) -> tuple[int, int]:
    """`appliance print --profile button`; the job id and the kit's page count."""
    output = inst.appliance("print", "--profile", "button").output
    match = re.search(r"job (\d+) accepted by \S+: (\d+) pages", output)
    assert match, output
    return int(match.group(1)), int(match.group(2))


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}; last: {value!r}")
        time.sleep(0.2)


def condition_is(inst, condition: Condition):
    def check():
        report = printer_json(inst)
        return report if report["condition"] == str(condition) else None
    return check


def metrics_text(inst) -> str:
    services = Services(inst.config, printer=CupsPrinter(
        inst.device_queue, server=inst.cups.server, stalled_after_seconds=STALLED_AFTER))
    return render(collect(services, AuditTally(inst.state_dir / "audit.log"),
                          services.clock.now(), services.printer.report()))


def assert_unreachable_everywhere(inst) -> None:
    report = printer_json(inst)
    assert report["condition"] == "unreachable"
    assert report["message_sv"] == ("Skrivaren svarar inte. Kontrollera att den är påslagen och "
                                    "att kabeln sitter i.")
    status = json.loads(inst.appliance("status", "--json").output)
    assert status["state"] == "fault"
    assert status["printer"]["condition"] == "unreachable"
    samples, _ = parse(metrics_text(inst))
    assert value(samples, "appliance_printer_condition", condition="unreachable") == 1
    assert value(samples, "appliance_printer_condition", condition="ready") == 0
    assert value(samples, "appliance_state", state="fault") == 1


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])  # localhost: as ipp-usb
def test_nothing_listening_is_unreachable_within_30_s(device_installation, host) -> None:
    port = free_port()  # nothing listens there: a network printer switched off
    inst = device_installation(f"ipp://{host}:{port}/ipp/print")
    assert printer_json(inst)["condition"] == "ready"  # CUPS cannot know before it tries

    started = time.monotonic()
    print_kit(inst)
    report = wait_for(condition_is(inst, Condition.UNREACHABLE), FAULT_DEADLINE,
                      "the unreachable condition")
    assert time.monotonic() - started < FAULT_DEADLINE
    assert report["active_jobs"] == 1
    assert "The printer may not exist" in report["detail"]
    assert_unreachable_everywhere(inst)


def test_usb_printer_not_attached_is_unreachable(device_installation) -> None:
    reason = backend_unavailable_reason("usb")
    if reason:
        pytest.skip(reason)
    inst = device_installation("usb://Acme/Laser%20100?serial=NOT-ATTACHED")
    print_kit(inst)
    report = wait_for(condition_is(inst, Condition.UNREACHABLE), FAULT_DEADLINE,
                      "the unreachable condition")
    assert "Waiting for printer to become available" in report["detail"]
    assert_unreachable_everywhere(inst)


def test_job_without_progress_is_a_fault_whatever_cups_says(private_cups, capture_queue,
                                                            device_installation) -> None:
    """The fallback: a message the table does not know (here the capture backend's own, in
    a job that never finishes and reports only a harmless warning) decides nothing, and
    the stall rule still turns the job into a fault once it is past the stall time."""
    capture_queue.set_fault("media-low-warning")
    inst = device_installation(capture_queue.device_uri.replace("mode=retry", "mode=wait"))
    job_id, _ = print_kit(inst)
    printer = CupsPrinter(inst.device_queue, server=private_cups.server,
                          stalled_after_seconds=STALLED_AFTER)
    wait_for(lambda: private_cups.job_attributes(job_id).get("job-printer-state-message"),
             10, "the backend's message")
    assert printer.report().condition is Condition.READY  # not yet past the stall time
    report = wait_for(lambda: (r := printer.report()).condition is Condition.UNREACHABLE and r,
                      FAULT_DEADLINE, "the stall rule")
    assert f"job {job_id}: processing for" in report.detail
    assert "without progress" in report.detail


def test_network_printer_switched_off_mid_job_and_on_again(device_installation,
                                                          tmp_path) -> None:
    """A real IPP printer (a second cupsd on 127.0.0.1) that is printing a long job: past
    the stall time it still reads as printing; switched off it reads as unreachable; on
    again, the kit that waited comes out once, whole, and the condition is ready again by
    itself."""
    with PrivateCups(ipp_port=free_port()) as printer_box:
        paper = printer_box.add_capture_queue("laser", mode="wait")
        paper.set_fault("media-low-warning")  # prints slowly: the job stays in the printer
        inst = device_installation(printer_box.ipp_uri("laser"))
        job_id, pages = print_kit(inst)
        cups = inst.cups

        def remote_printing():
            jobs = printer_box.connect().getJobs(which_jobs="not-completed")
            return bool(jobs)
        wait_for(remote_printing, 15, "the job to reach the network printer")
        wait_for(lambda: processing_seconds(cups, job_id) > STALLED_AFTER + 1, 15,
                 "the job to be past the stall time")
        report = printer_json(inst)
        assert report["condition"] == "ready", report  # a healthy long job is no fault
        assert json.loads(inst.appliance("status", "--json").output)["state"] == "printing"

        printer_box.stop()  # switched off mid-job
        report = wait_for(condition_is(inst, Condition.UNREACHABLE), FAULT_DEADLINE,
                          "the unreachable condition")
        # CUPS 2.4 keeps the job "processing" with the last message: only the stall rule's
        # connection attempt tells
        assert "does not accept a connection" in report["detail"], report
        assert_unreachable_everywhere(inst)
        busy = inst.appliance("print", "--profile", "button", expect=3)  # one kit in flight
        assert "job" in busy.output

        paper.clear_fault()
        printer_box.start()  # on again
        captured = wait_for(paper.captured, FAULT_DEADLINE, "the kit at the printer")
        wait_for(condition_is(inst, Condition.READY), FAULT_DEADLINE, "ready again")
        report = wait_for(lambda: (r := printer_json(inst))["active_jobs"] == 0 and r,
                          FAULT_DEADLINE, "the job to end")
        assert report["condition"] == "ready"
        assert len(paper.captured()) == 1 and captured[0].meta["delivery"] == 1
        with pikepdf.open(io.BytesIO(captured[0].data)) as pdf:
            assert len(pdf.pages) == pages
        assert json.loads(inst.appliance("status", "--json").output)["state"] != "fault"


def processing_seconds(cups: PrivateCups, job_id: int) -> float:
    """How long CUPS says job JOB_ID has been processing, on cupsd's own clock."""
    attributes = cups.connect().getJobAttributes(
        job_id, requested_attributes=["time-at-processing", "job-printer-up-time"])
    since = attributes.get("time-at-processing") or 0
    return attributes.get("job-printer-up-time", 0) - since if since else 0.0


def test_cover_of_a_kit_ordered_while_the_printer_is_off_says_so(installation, private_cups,
                                                                 tmp_path) -> None:
    """The printer said `offline` on an earlier job (the reason sticks in CUPS); the kit
    ordered now waits in the queue, and its cover tells the nurse why it came out late."""
    queue = installation.queue
    queue.set_fault("offline")
    earlier = tmp_path / "earlier.pdf"
    earlier.write_bytes(b"%PDF-1.4\n%%EOF\n")
    private_cups.lp(queue.name, earlier)
    private_cups.wait_for(lambda: "offline-error" in private_cups.printer_state_reasons(
        queue.name), 10, what="the offline reason")
    private_cups.run("cancel", "-a", queue.name)
    assert printer_json(installation)["condition"] == "unreachable"

    job_id, _ = print_kit(installation)
    queue.clear_fault()
    kit = private_cups.wait_for(lambda: queue.captured_job(job_id), FAULT_DEADLINE,
                                what="the kit after the printer is back")
    cover = subprocess.run(["pdftotext", "-l", "1", str(kit.path), "-"], capture_output=True,
                           text=True, check=True).stdout
    cover = " ".join(cover.split())
    assert "SKRIVAREN HADE FEL NÄR UTSKRIFTEN BESTÄLLDES" in cover
    assert "Skrivaren svarar inte." in cover
