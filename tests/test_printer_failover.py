"""Printer failover through a CUPS class (issue 13 §4): two capture printers in the private
cupsd, one class. One member faulted: the kit comes out of the other, once, and the state is
`degraded`; both faulted: `fault`, and the kit comes out once when either is fixed. The cover
and the kiosk name the printer.

A fault is made the way a real printer makes one: the member reports it on a job (here sent
to the member directly before the kit), and the reason stays on the member until it prints
again. Whether CUPS then offers the kit to the faulted member first is CUPS's round robin:
either way the member fails it and CUPS retries it on the next one.
"""

from __future__ import annotations

import json
import re

from appliance.adapters.cups import CupsPrinter
from appliance.core.printing.printer import Condition, JobState
from appliance.devtools.cups_harness.harness import CaptureQueue, PrivateCups
from tests.conftest import Server, make_installation
from tests.test_kiosk import fetch, page_token, press
from tests.test_printing import text_of

DEADLINE = 45  # CUPS retries a failed job on its next housekeeping tick (about 10 s)


def class_installation(tmp_path, private_cups: PrivateCups, monkeypatch, queue: str):
    """An appliance printing to the class QUEUE, holding one to-do list."""
    monkeypatch.setenv("CUPS_SERVER", private_cups.server)
    inst = make_installation(tmp_path, f'[printing]\nqueue = "{queue}"\n')
    inst.cups = private_cups
    inst.ingest(inst.envelope(pages=1))
    return inst


def fail_on_a_job(cups: PrivateCups, member: CaptureQueue, keyword: str, tmp_path) -> None:
    """The member reports KEYWORD on a job sent to it directly, and keeps the reason."""
    member.set_fault(keyword)
    probe = tmp_path / f"probe-{member.name}.pdf"
    probe.write_bytes(b"%PDF-1.4\n%%EOF\n")
    cups.lp(member.name, probe)
    cups.wait_for(lambda: f"{keyword}-error" in cups.printer_state_reasons(member.name), 20,
                  what=f"{member.name} to report {keyword}")
    cups.run("cancel", "-a", member.name)


def status(inst) -> dict:
    return json.loads(inst.appliance("status", "--json").output)


def print_kit(inst) -> int:
    output = inst.appliance("print", "--profile", "button").output
    match = re.search(r"job (\d+) accepted", output)
    assert match, output
    return int(match.group(1))


def captures(*members: CaptureQueue) -> list[tuple[str, int, int]]:
    """(member, job id, delivery) of everything the members printed."""
    return [(member.name, job.job_id, job.meta["delivery"])
            for member in members for job in member.captured()]


def test_one_printer_faulted_the_kit_comes_out_of_the_other_once_and_it_says_degraded(
        tmp_path, private_cups, capture_class, monkeypatch) -> None:
    name, expedition, room2 = capture_class
    inst = class_installation(tmp_path, private_cups, monkeypatch, name)
    fail_on_a_job(private_cups, expedition, "media-jam", tmp_path)

    body = status(inst)
    assert body["state"] == "degraded"
    printer = body["printer"]
    assert printer["condition"] == "degraded"
    assert [(m["label"], m["condition"]) for m in printer["members"]] == [
        ("Skrivaren i expeditionen", "paper-jam"), ("Skrivaren i rum 2", "ready")]
    assert printer["message_sv"] == (
        "En skrivare fungerar inte – utskrifterna kommer ut på en annan. Meddela IT-support. "
        "Skrivaren i expeditionen: Pappersstopp – öppna skrivaren och ta bort papperet.")

    server = Server(inst).start()
    try:
        outcome = press(server, token=page_token(server))[1]
        assert outcome["outcome"] == "started"
        job = outcome["job"]
        kit = private_cups.wait_for(lambda: room2.captured_job(job), DEADLINE,
                                    what="the kit at the other printer")
        view = f"{server.url}/kiosk/view?profile=button&job={job}&pages={outcome['pages']}"
        assert "Utskriften kommer ut på: Skrivaren i rum 2" in fetch(view)[1]
    finally:
        server.stop()

    printer_of_class = CupsPrinter(name, server=private_cups.server)
    private_cups.wait_for(lambda: printer_of_class.job_state(job) is JobState.COMPLETED, 20,
                          what="the job to end")
    assert captures(expedition, room2) == [(room2.name, job, 1)]
    assert "Utskriften kommer ut på: Skrivaren i rum 2" in text_of(kit.data, 0)
    assert printer_of_class.job_printer(job) == "Skrivaren i rum 2"
    assert status(inst)["state"] == "degraded"  # the jammed printer still needs IT


def test_both_printers_faulted_is_a_fault_and_the_kit_prints_once_when_one_is_fixed(
        tmp_path, private_cups, capture_class, monkeypatch) -> None:
    name, expedition, room2 = capture_class
    inst = class_installation(tmp_path, private_cups, monkeypatch, name)
    fail_on_a_job(private_cups, expedition, "media-empty", tmp_path)
    fail_on_a_job(private_cups, room2, "offline", tmp_path)

    body = status(inst)
    assert body["state"] == "fault"
    assert body["printer"]["condition"] == str(Condition.OUT_OF_PAPER)
    assert body["printer"]["message_sv"] == (
        "Skrivaren i expeditionen: Slut på papper – fyll på papper i skrivaren. "
        "Skrivaren i rum 2: Skrivaren svarar inte. Kontrollera att den är påslagen och att "
        "kabeln sitter i.")

    job = print_kit(inst)
    printer_of_class = CupsPrinter(name, server=private_cups.server)
    private_cups.wait_for(lambda: printer_of_class.job_printer(job), DEADLINE,
                          what="CUPS to try the kit on a member")
    assert captures(expedition, room2) == []  # both fail it
    assert printer_of_class.job_state(job).in_flight
    assert status(inst)["state"] == "fault"

    room2.clear_fault()  # switched on again
    kit = private_cups.wait_for(lambda: room2.captured_job(job), DEADLINE * 2,
                                what="the kit once a printer is fixed")
    private_cups.wait_for(lambda: printer_of_class.job_state(job) is JobState.COMPLETED, 20,
                          what="the job to end")
    assert captures(expedition, room2) == [(room2.name, job, 1)]
    cover = text_of(kit.data, 0)
    assert "SKRIVAREN HADE FEL NÄR UTSKRIFTEN BESTÄLLDES" in cover
    assert ("Utskriften kommer ut på: Skrivaren i expeditionen eller Skrivaren i rum 2"
            in cover)
    assert status(inst)["state"] == "degraded"  # room 2 printed; the expedition has no paper
