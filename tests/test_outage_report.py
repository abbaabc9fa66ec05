"""The report after an outage (issue 24 §3): a real day through the private cupsd — a
delivery, kits with the button's, the kiosk's and the CLI's triggers through the one print
service (the call each of them makes, on the test's clock), a drill, a queue that refused
a job, a printer out of paper, a missed slot, the deliveries back — then the report's
figures checked against the audit log's entries, its PDF read with pdftotext, its JSON for
IT, and its print from the kiosk through the real web stack (nginx + gunicorn) and from
the CLI.

The day runs on a FixedClock (the audit log's times are its); the report is made by the
CLI and the server at the system clock, which only its "made at" line shows: an outage
that ended is found and measured from the log alone.
"""

from __future__ import annotations

import json
import re
import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from appliance.adapters.web import create_app
from appliance.core.base.clock import FixedClock, parse_iso
from appliance.core.printing.outage_sheet import outage_markup
from appliance.core.printing.print_service import PrintService, Started
from appliance.core.printing.printer import JobState, PrinterUnavailable
from appliance.core.records.outage_report import Window, outage_report
from appliance.core.watch.slots import SlotWatch
from tests.conftest import Server
from tests.print_helpers import audit_events
from tests.test_kiosk import LAN_CLIENT, fetch, page_token, press

MARKER = "PATIENT-Agda-Svensson-19230101-1234"  # in every list: must never reach the report
DAY = datetime(2026, 12, 7, tzinfo=UTC)  # local time is UTC+1 (CET)


def at(local_hh_mm: str) -> datetime:
    """A time of the test's day given in local time (Europe/Stockholm, CET in December)."""
    hours, minutes = map(int, local_hh_mm.split(":"))
    return DAY + timedelta(hours=hours - 1, minutes=minutes)


def pdf_text(data: bytes, *, layout: bool = False) -> str:
    """pdftotext's reading: in the order drawn, each cell whole (words of a cell that wraps
    joined by one space), or with `layout` line by line as on the page."""
    text = subprocess.run(["pdftotext", *(["-layout"] if layout else []), "-", "-"],
                          input=data, capture_output=True, check=True).stdout.decode()
    return text if layout else " ".join(text.split())


def entries(inst) -> list[dict]:
    return [json.loads(line) for line in (inst.state_dir / "audit.log").read_text().splitlines()]


def deliver(inst, clock: FixedClock, produced: datetime, kinds=(("todo", 2),)) -> None:
    for kind, pages in kinds:
        inst.ingest(inst.envelope(kind, produced_at=produced, pages=pages, marker=MARKER,
                                  clock=clock), clock)


def kit(service: PrintService, profile: str, trigger: str, *, drill: bool = False) -> Started:
    started = service.request(profile, trigger=trigger, drill=drill)
    assert isinstance(started, Started), started
    assert service.wait(started.job_id, 60, poll=0.1) is JobState.COMPLETED
    return started


def outage_day(inst) -> None:
    """The day of the outage, as the audit log records it."""
    clock = FixedClock(at("07:06"))
    services = inst.services(clock)
    service = PrintService(services)
    deliver(inst, clock, at("07:05"), (("todo", 2), ("medications", 1)))  # the last before
    clock.set(at("10:00"))
    kit(service, "button", "button")  # the record system is down: the button
    clock.set(at("10:40"))
    inst.cups.run("cupsreject", inst.queue.name)
    with pytest.raises(PrinterUnavailable):
        service.request("full", trigger="kiosk")
    inst.cups.run("cupsaccept", inst.queue.name)
    clock.set(at("11:00"))
    inst.queue.set_fault("media-empty")  # IT's test page meets the empty tray first
    test_page = inst.root / "test-page.pdf"
    test_page.write_bytes(pdf_of_one_page())
    inst.cups.lp(inst.queue.name, test_page, title="test page")
    inst.cups.wait_for(lambda: "media-empty-error" in inst.cups.printer_state_reasons(
        inst.queue.name), timeout=30, what="media-empty reported")
    waiting = service.request("full", trigger="kiosk")
    assert isinstance(waiting, Started)
    clock.set(at("11:25"))  # paper refilled
    inst.queue.clear_fault()
    assert service.wait(waiting.job_id, 120, poll=0.2) is JobState.COMPLETED
    clock.set(at("12:00"))
    kit(service, "button", "cli", drill=True)
    clock.set(at("13:00"))
    kit(service, "button", "cli")
    clock.set(at("15:10"))
    SlotWatch(services, None).evaluate()  # the 14:30 to-do list did not come
    clock.set(at("16:00"))
    deliver(inst, clock, at("15:55"))  # the record system is back
    clock.set(at("16:05"))
    SlotWatch(services, None).evaluate()


def pdf_of_one_page() -> bytes:
    from appliance.devtools.synthetic import make_document

    return make_document("todo", produced_at=DAY, pages=1)


def expected_from_the_log(log: list[dict]) -> dict:
    """What the report must say, worked out here from the audit entries directly."""
    def time(entry):
        return parse_iso(entry["time"])

    ingests = [e for e in log if e["event"] == "ingested"]
    kits = [e for e in log if e["event"] in ("printed", "drill_printed")]
    care = [e for e in kits if e["event"] == "printed"]
    missed = [e for e in log if e["event"] == "slot_missed"]
    failed = [e for e in log if e["event"] == "print_failed"]
    ends = {e["job"]: e for e in log if e["event"] == "print_job_ended"}
    out_of_paper = next(e for e in kits if e["printer"] == "out-of-paper")
    return {
        "last_delivery_before": ingests[1]["time"],  # todo and medications, 07:06
        "began": min([time(care[0]), *(parse_iso(m["slot"]) for m in missed)]),
        "ended": ingests[-1]["time"],
        "kits": [(e["time"], e["trigger"], e["event"] == "drill_printed", e["profile"],
                  e["pages"], e["job"], ends[e["job"]]["state"]) for e in kits],
        "ages": [[int((time(e) - parse_iso(d["produced_at"])).total_seconds()) // 60
                  for d in e["documents"]] for e in kits],
        "list_pages": [(e["job"], d["kind"], d["first_page"] + i)
                       for e in care for d in e["documents"] for i in range(d["pages"])],
        "missed": [(m["kind"], m["slot"]) for m in missed],
        "failed": [(f["time"], f["trigger"], f["reason"]) for f in failed],
        "faults": [("not-accepting", failed[0]["time"], out_of_paper["time"]),
                   ("out-of-paper", out_of_paper["time"], ends[out_of_paper["job"]]["time"])],
    }


def test_the_report_of_a_real_outage_says_what_the_audit_log_says(installation, tmp_path):
    inst = installation
    outage_day(inst)
    log = entries(inst)
    expected = expected_from_the_log(log)
    assert len(expected["kits"]) == 4 and len(expected["missed"]) == 1

    report = json.loads(inst.appliance("outage", "report", "--json").output)
    outage = report["outage"]
    assert report["window"]["detected"] is True
    assert outage["last_delivery_before"] == expected["last_delivery_before"]
    assert parse_iso(outage["began"]) == expected["began"] == at("10:00")
    assert outage["ended"] == expected["ended"] and outage["ongoing"] is False
    assert outage["duration_minutes"] == 6 * 60
    assert [(k["time"], k["trigger"], k["drill"], k["profile"], k["pages"], k["job"],
             k["ended"]) for k in report["kits"]] == expected["kits"]
    assert [[doc["age_minutes"] for doc in k["lists"]] for k in report["kits"]] == \
        expected["ages"]
    assert [trigger for _, trigger, *_ in expected["kits"]] == ["button", "kiosk", "cli", "cli"]
    jobs = {k["number"]: k["job"] for k in report["kits"]}
    listed = [row for row in report["checklist"] if row["kind"]]
    assert [(jobs[r["kit"]], r["kind"], r["kit_page"]) for r in listed] == \
        expected["list_pages"]
    assert all(r["kit"] != 3 for r in report["checklist"])  # the drill: not for care
    assert [(m["kind"], m["slot"]) for m in report["missed_deliveries"]] == expected["missed"]
    assert [(f["time"], f["trigger"], f["reason"]) for f in report["failed_prints"]] == \
        expected["failed"]
    assert [(f["condition"], f["began"], f["ended"]) for f in report["printer_faults"]] == \
        expected["faults"]
    assert [f["duration_minutes"] for f in report["printer_faults"]] == [20, 25]
    assert report["totals"] == {"kits": 3, "drills": 1,
                                "kit_pages": sum(k[4] for k in expected["kits"] if not k[2]),
                                "list_pages": len(expected["list_pages"]),
                                "failed_prints": 1, "printer_faults": 2,
                                "missed_deliveries": 1}
    assert MARKER not in json.dumps(report)

    pdf = tmp_path / "rapport.pdf"
    inst.appliance("outage", "report", "--output", str(pdf))
    layout = pdf_text(pdf.read_bytes(), layout=True)
    text = pdf_text(pdf.read_bytes())
    for heading in ("Rapport efter driftavbrott", "Avbrottet, så som apparaten såg det",
                    "Reservutskrifter (3)", "Skrivarfel", "Slut på papper",
                    "Uteblivna leveranser (1)", "Avstämning: infört i journalen",
                    "Införd i journal, sign.", "Knappen", "Skärmen", "Kommandorad (IT)",
                    "Övning, Kommandorad (IT)", "Tar inte emot utskrifter",
                    "2026-12-07 16:00", "Sammanställd av"):
        assert heading in text, heading
    rows = re.findall(r"^ *(\d) \((\d\d:\d\d)\) .*?(Att göra-lista|Läkemedelslista) +(\d+) av "
                      r"(\d+) +(\d+) av (\d+)", layout, re.MULTILINE)
    numbers = {k["number"]: k for k in report["kits"]}
    assert [(numbers[int(r[0])]["job"], "todo" if r[2] == "Att göra-lista" else "medications",
             int(r[3])) for r in rows] == expected["list_pages"]
    assert MARKER not in text and "Agda" not in text


def test_the_kiosk_prints_the_report_which_is_not_a_kit(installation):
    inst = installation
    outage_day(inst)
    before = entries(inst)
    server = Server(inst).start()
    try:
        token = page_token(server)
        assert press(server, "after-outage", token=token, source=LAN_CLIENT)[0] == 403
        assert press(server, "after-outage", token=None)[0] == 403
        status, answer = press(server, "after-outage", token=token)
        assert status == 200 and answer["outcome"] == "started", answer
        job = inst.cups.wait_for(lambda: inst.queue.captured_job(answer["job"]), timeout=30,
                                 what="the report")
        _, page = fetch(f"{server.url}/kiosk/view?profile=after-outage&job={answer['job']}")
        assert "<h2>Efter avbrottet</h2>" in page  # its progress, as a kit's
    finally:
        server.stop()
    assert job.title.startswith("Rapport efter driftavbrott ") and MARKER not in job.title
    text = pdf_text(job.data)
    assert "Avstämning: infört i journalen" in text and "Införd i journal, sign." in text
    assert MARKER not in text
    printed = audit_events(inst, "outage_report_printed")
    assert [(e["trigger"], e["job"], e["pages"], e["kits"]) for e in printed] == \
        [("kiosk", answer["job"], answer["pages"], 3)]
    after = entries(inst)
    assert [e for e in after[len(before):] if e["event"] in ("printed", "drill_printed")] == []
    again = json.loads(inst.appliance("outage", "report", "--json").output)["outage"]
    assert (parse_iso(again["began"]), parse_iso(again["ended"])) == (at("10:00"), at("16:00"))


def kiosk_overview(inst, now: datetime, source: str = "127.0.0.1") -> str:
    app = create_app(inst.config, printer=inst.memory_printer, clock=FixedClock(now))
    response = app.test_client().get("/kiosk/view", environ_base={"REMOTE_ADDR": source})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_the_button_is_in_the_banner_beside_who_to_call_only_when_the_lists_are_fresh(
        memory_installation):
    inst = memory_installation
    clock = FixedClock(at("07:06"))
    deliver(inst, clock, at("07:05"))
    fresh = kiosk_overview(inst, at("08:00"))
    banner = fresh[fresh.index('<header class="banner">'):fresh.index("</header>")]
    button = re.search(r'<button[^>]*id="after-outage"[^>]*>([^<]*)</button>', banner)
    assert button and button.group(1) == "Efter avbrottet"
    assert 'class="corner report"' in button.group(0)
    assert banner.index('id="after-outage"') < banner.index('id="to-contacts"')
    assert 'id="after-outage"' not in kiosk_overview(inst, at("15:30"))  # stale: an outage
    assert 'id="after-outage"' not in kiosk_overview(inst, at("08:00"), "127.0.1.7")  # LAN


# ---------------------------------------------------------------- the rule, entry by entry

def entry(n: int, local: str, event: str, **fields) -> dict:
    return {"n": n, "time": at(local).strftime("%Y-%m-%dT%H:%M:%SZ"), "event": event, **fields}


OLD_KIT = {"profile": "button", "trigger": "button", "job": 7, "pages": 6, "printer": "ready",
           "documents": [{"kind": "todo", "unit": "Norr", "pages": 2,
                          "produced_at": "2026-12-07T06:05:00+00:00", "stale": False}],
           "missing": [], "forms": ["dokumentation"]}


def test_an_entry_from_before_first_page_still_reports_with_its_page_unknown(installation):
    log = [entry(1, "07:06", "ingested"), entry(2, "10:00", "printed", **OLD_KIT)]
    report = outage_report(log, at("12:00"))
    assert report.found and report.ended is None and report.duration == timedelta(hours=2)
    assert [(r.kind, r.list_page, r.kit_page) for r in report.checklist] == \
        [("todo", 1, None), ("todo", 2, None), (None, None, None)]
    markup = outage_markup(report, installation.config)
    assert "ROW 1 (10:00) | Norr | Att göra-lista | okänt | 1 av 2 |" in markup
    assert "ingen ännu – avbrottet kan pågå" in markup
    assert "Att göra-lista, Norr: 2 h 55 min |" in markup
    unsure = outage_report([*log, entry(3, "11:00", "printed", **OLD_KIT, clock="no-sync")],
                           at("12:00"))
    assert "Att göra-lista, Norr: minst 3 h 55 min |" in outage_markup(unsure,
                                                                      installation.config)


def test_a_later_delivery_ends_the_outage_and_prints_before_the_last_delivery_are_not_in_it():
    log = [entry(1, "06:00", "printed", **OLD_KIT), entry(2, "07:06", "ingested"),
           entry(3, "09:00", "printed", **{**OLD_KIT, "job": 8}),
           entry(4, "15:10", "slot_missed", kind="todo", unit=None,
                 slot=at("14:30").strftime("%Y-%m-%dT%H:%M:%SZ")),
           entry(5, "16:00", "ingested"),
           entry(6, "16:30", "drill_printed", **{**OLD_KIT, "job": 9}),
           entry(7, "16:40", "outage_report_printed", trigger="kiosk", job=10)]
    report = outage_report(log, at("17:00"))
    assert (report.began, report.ended, report.last_delivery_before) == \
        (at("09:00"), at("16:00"), at("07:06"))
    assert [kit.job for kit in report.kits] == [8]  # neither the drill nor the report
    assert [(m.kind, m.slot) for m in report.missed] == [("todo", at("14:30"))]


def test_a_missed_slot_alone_is_an_outage_and_nothing_at_all_is_none():
    missed = entry(2, "07:40", "slot_missed", kind="todo", unit="Norr",
                   slot=at("07:00").strftime("%Y-%m-%dT%H:%M:%SZ"))
    report = outage_report([entry(1, "06:00", "ingested"), missed], at("09:00"))
    assert report.began == at("07:00") and report.kits == () and len(report.missed) == 1
    nothing = outage_report([entry(1, "06:00", "ingested")], at("09:00"))
    assert not nothing.found and nothing.faults == () and nothing.checklist == ()


def test_a_given_window_overrides_the_detection():
    log = [entry(1, "07:06", "ingested"), entry(2, "08:00", "printed", **OLD_KIT),
           entry(3, "09:00", "ingested"), entry(4, "10:00", "printed", **{**OLD_KIT, "job": 8})]
    report = outage_report(log, at("12:00"), Window(at("07:30"), at("09:30")))
    assert not report.detected and [kit.job for kit in report.kits] == [7]
    assert (report.began, report.ended) == (at("08:00"), at("09:00"))


def test_a_canceled_kit_is_listed_but_its_pages_are_not_on_the_checklist():
    log = [entry(1, "07:06", "ingested"), entry(2, "10:00", "printed", **OLD_KIT),
           entry(3, "10:30", "print_job_ended", job=7, state="canceled", profile="button",
                 trigger="button")]
    report = outage_report(log, at("12:00"))
    assert [kit.ended for kit in report.kits] == ["canceled"] and report.checklist == ()


def test_from_and_to_are_checked_and_named(installation):
    result = installation.appliance("outage", "report", "--from", "igår", expect=2)
    assert "--from" in result.output and "2026-12-07 06:30" in result.output
    result = installation.appliance("outage", "report", "--from", "2026-12-07 10:00",
                                    "--to", "2026-12-07 09:00", expect=2)
    assert "--to" in result.output
    result = installation.appliance("outage", "report")
    assert "no outage found" in result.output


def test_the_cli_prints_the_report_and_a_refusing_queue_is_audited_and_exit_1(installation):
    inst = installation
    clock = FixedClock(at("07:06"))
    deliver(inst, clock, at("07:05"))
    clock.set(at("10:00"))
    started = kit(PrintService(inst.services(clock)), "button", "button")
    summary = inst.appliance("outage", "report").output
    assert "outage: first sign 2026-12-07 10:00, no delivery since (ongoing?)" in summary
    assert f"kit 1: 2026-12-07 10:00 button button, {started.summary.pages} pages" in summary
    assert "checklist: 2 list page(s) to enter in the record" in summary
    result = inst.appliance("outage", "report", "--print")
    job_id = int(result.output.split()[1].rstrip(":"))
    job = inst.cups.wait_for(lambda: inst.queue.captured_job(job_id), timeout=30,
                             what="the report")
    assert "Reservutskrifter (1)" in pdf_text(job.data)
    inst.cups.run("cupsreject", inst.queue.name)
    try:
        result = inst.appliance("outage", "report", "--print", expect=1)
    finally:
        inst.cups.run("cupsaccept", inst.queue.name)
    assert "not printed" in result.output
    assert [(e["event"], e["trigger"], e.get("job"), e.get("reason"), e["kits"])
            for e in entries(inst) if e["event"].startswith("outage_report")] == \
        [("outage_report_printed", "cli", job_id, None, 1),
         ("outage_report_failed", "cli", None, "not-accepting", 1)]
    assert len(audit_events(inst, "printed")) == 1


def test_a_damaged_audit_log_is_a_failed_print_at_the_kiosk_and_a_named_error_in_the_cli(
        memory_installation):
    inst = memory_installation
    deliver(inst, FixedClock(at("07:06")), at("07:05"))
    log = inst.state_dir / "audit.log"
    log.write_text("not json\n" + log.read_text())
    app = create_app(inst.config, printer=inst.memory_printer, clock=FixedClock(at("08:00")))
    client = app.test_client()
    page = client.get("/kiosk", environ_base={"REMOTE_ADDR": "127.0.0.1"})
    token = re.search(r'name="kiosk-token" content="([0-9a-f]{64})"', page.get_data(as_text=True))
    answer = client.post("/kiosk/print?profile=after-outage",
                         headers={"X-Kiosk-Token": token.group(1)},
                         environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert answer.status_code == 200 and answer.get_json()["outcome"] == "failed"
    result = inst.appliance("outage", "report", expect=2)
    assert "audit" in result.output and "Traceback" not in result.output
