"""Printing the outage kit through a real (private) cupsd with a capture backend."""

from __future__ import annotations

import io
import json
import subprocess
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pikepdf
import pytest
from cups import IPP_JOB_COMPLETED

from appliance.core.base.clock import FixedClock, SystemClock
from appliance.devtools.synthetic import make_document

NOW = datetime.now(UTC)
STOCKHOLM = ZoneInfo("Europe/Stockholm")
CONTACTS_PAGE = 2  # the contacts sheet comes right after the cover (docs/printing.md)
FRONT = 2  # the cover and the contacts sheet: a kit's documents start on page FRONT + 1


def layout_of(pdf: bytes, page: int | None = None) -> str:
    args = ["pdftotext", "-layout"]
    if page is not None:
        args += ["-f", str(page), "-l", str(page)]
    return subprocess.run([*args, "-", "-"], input=pdf, capture_output=True,
                          check=True).stdout.decode()


def text_of(pdf: bytes, page: int | None = None) -> str:
    """The page's words with all white space folded to single spaces."""
    return " ".join(layout_of(pdf, page).split())


def page_count(pdf: bytes) -> int:
    with pikepdf.open(io.BytesIO(pdf)) as opened:
        return len(opened.pages)


def print_and_capture(inst, *args: str) -> tuple[bytes, dict]:
    """`appliance print ARGS`, then wait for the capture backend to receive the job."""
    result = inst.appliance("print", *args)
    job_id = int(result.output.split()[1])
    captured = inst.cups.wait_for(lambda: inst.queue.captured_job(job_id), timeout=20,
                                  what=f"job {job_id} captured")
    return captured.data, {"job_id": job_id, "title": captured.title, "output": result.output}


# A weekday morning: 2 h 5 min before it the 07:00 list is fresh whatever the real time is.
# (With the wall clock this test failed every afternoon from 14:30 plus the grace to 16:35,
# when a list 2 h 5 min old had missed the 14:30 slot.)
PINNED = datetime(2026, 11, 24, 10, 0, tzinfo=STOCKHOLM)


@pytest.fixture
def pinned_clock(monkeypatch):
    """The appliance's CLI, run in this process, reads the time as PINNED."""
    monkeypatch.setattr(SystemClock, "now", lambda self: PINNED.astimezone(UTC))
    return FixedClock(PINNED.astimezone(UTC))


def test_button_kit_is_cover_then_contacts_then_stamped_todo_then_forms(installation,
                                                                         pinned_clock):
    produced = PINNED.astimezone(UTC) - timedelta(hours=2, minutes=5, seconds=5)
    installation.ingest(installation.envelope("todo", produced_at=produced, pages=3,
                                              clock=pinned_clock))
    installation.ingest(installation.envelope("medications", pages=2,  # not in `button`
                                              clock=pinned_clock))
    pdf, job = print_and_capture(installation, "--profile", "button")

    assert page_count(pdf) == FRONT + 3 + 2
    cover = text_of(pdf, 1)
    assert "RESERVUTSKRIFT – DRIFTAVBROTT JOURNALSYSTEM" in cover
    assert "2 h 5 min" in cover
    assert "innehåller sekretessbelagda patientuppgifter".lower() in cover.lower()
    assert "Vem ringer jag? Se kontaktlistan, utskrift sida 2." in cover
    contacts = text_of(pdf, CONTACTS_PAGE)
    assert contacts.startswith("VEM RINGER JAG?") and "Utskrift sida 2 av 7" in contacts
    data_time = produced.astimezone(installation.config.timezone).strftime("%Y-%m-%d %H:%M")
    for page in (3, 4, 5):
        stamped = text_of(pdf, page)
        assert f"Data från {data_time}" in stamped and "Att göra-lista" in stamped
        assert f"Utskrift sida {page} av 7" in stamped
        assert stamped.startswith("Ålder 2 h 5 min · Att göra-lista")
    assert "Läkemedelslista" not in text_of(pdf)  # medications belong to `full` only
    assert "Dokumentation under driftavbrott" in text_of(pdf, 6)
    assert "Införd i journal" in text_of(pdf, 6)
    assert "Avvikelserapport – driftavbrott" in text_of(pdf, 7)
    assert job["title"].startswith("Reservutskrift – Knappen: att göra-listor och blanketter ")


def test_full_kit_has_every_kind_in_config_order(installation):
    for kind in ("relatives", "todo", "occupancy", "medications"):
        installation.ingest(installation.envelope(kind, pages=1))
    pdf, _ = print_and_capture(installation, "--profile", "full")
    stamps = [layout_of(pdf, page).strip().splitlines()[0]
              for page in range(FRONT + 1, FRONT + 5)]
    titles = ["Att göra-lista", "Läkemedelslista", "Beläggningslista", "Anhöriglista"]
    assert all(title in stamp for title, stamp in zip(titles, stamps, strict=True)), stamps
    assert page_count(pdf) == FRONT + 4 + 2


def test_newest_per_unit_is_printed_for_each_unit(installation):
    installation.ingest(installation.envelope(unit="Team Norr", pages=1,
                                              produced_at=NOW - timedelta(hours=30)))
    installation.ingest(installation.envelope(unit="Team Norr", pages=2))
    installation.ingest(installation.envelope(unit="Team Syd", pages=1))
    pdf, _ = print_and_capture(installation)
    assert page_count(pdf) == FRONT + 2 + 1 + 2
    assert "Team Norr" in text_of(pdf, FRONT + 1) and "Team Syd" in text_of(pdf, FRONT + 3)


def test_button_without_any_todo_prints_cover_saying_so_and_forms(installation):
    pdf, _ = print_and_capture(installation)
    assert page_count(pdf) == FRONT + 2
    cover = text_of(pdf, 1)
    assert "INGA ATT GÖRA-LISTOR" in cover and "SAKNAS" in cover


def test_forms_profile_is_cover_contacts_and_forms_only(installation):
    installation.ingest(installation.envelope(pages=2))
    pdf, _ = print_and_capture(installation, "--profile", "forms")
    assert page_count(pdf) == FRONT + 2
    assert "VEM RINGER JAG?" in text_of(pdf, CONTACTS_PAGE)
    assert "Att göra-lista" not in text_of(pdf, FRONT + 1)


def test_stale_todo_is_flagged_on_cover_and_every_page(installation):
    installation.ingest(installation.envelope(produced_at=NOW - timedelta(days=3), pages=2))
    pdf, _ = print_and_capture(installation)
    assert "EJ AKTUELL: Att göra-lista" in text_of(pdf, 1) and "3 dygn (72 h" in text_of(pdf, 1)
    assert all("EJ AKTUELL" in text_of(pdf, page) for page in (FRONT + 1, FRONT + 2))


@pytest.mark.parametrize("variant", [
    {"landscape": True}, {"rotate": 90}, {"rotate": 270}, {"page_size": "Letter"},
])
def test_odd_page_geometry_is_stamped_and_kept_whole(installation, variant):
    content = make_document("todo", produced_at=NOW, pages=2, marker="KONTROLL-7", **variant)
    installation.ingest(installation.envelope(content=content))
    pdf, _ = print_and_capture(installation)
    assert page_count(pdf) == FRONT + 2 + 2
    for page in (FRONT + 1, FRONT + 2):
        text = text_of(pdf, page)
        assert "Reservutskrift" in text and "KONTROLL-7" in text
        assert f"Utskrift sida {page} av 6" in text


def test_two_hundred_page_list(installation):
    installation.ingest(installation.envelope(pages=200))
    pdf, _ = print_and_capture(installation)
    assert page_count(pdf) == FRONT + 200 + 2
    assert "Utskrift sida 202 av 204" in text_of(pdf, 202)


def test_out_of_paper_is_reported_and_the_kit_prints_once_after_refill(installation):
    installation.ingest(installation.envelope(pages=1))
    installation.queue.set_fault("media-empty")
    result = installation.appliance("print")
    job_id = int(result.output.split()[1])
    cups = installation.cups
    cups.wait_for(lambda: "media-empty-error" in cups.printer_state_reasons(
        installation.queue.name), timeout=20, what="media-empty reported")
    report = json.loads(installation.appliance("printer", "--json").output)
    assert report["condition"] == "out-of-paper"
    assert "papper" in report["message_sv"]
    status = json.loads(installation.appliance("status", "--json").output)
    assert status["state"] == "fault"
    assert installation.queue.captured() == []

    installation.queue.clear_fault()
    cups.wait_for(lambda: installation.queue.captured_job(job_id), timeout=40,
                  what="job printed after the refill")
    cups.wait_for(lambda: cups.job_state(job_id) == IPP_JOB_COMPLETED, timeout=20,
                  what="job completed")
    assert [c.job_id for c in installation.queue.captured()] == [job_id]
    assert json.loads(installation.appliance("printer", "--json").output)["condition"] == \
        "ready"


def test_cupsd_down_is_a_clear_error_and_nothing_is_lost(installation):
    installation.ingest(installation.envelope(pages=1))
    before = installation.store_state()
    installation.cups.stop()
    try:
        result = installation.appliance("print", expect=1)
        assert "CUPS scheduler unreachable" in result.output
        report = json.loads(installation.appliance("printer", "--json").output)
        assert report["condition"] == "cups-unreachable"
    finally:
        installation.cups.start()
    assert installation.store_state() == before
    pdf, _ = print_and_capture(installation)
    assert page_count(pdf) == FRONT + 1 + 2
    events = [json.loads(line)["event"] for line in
              (installation.state_dir / "audit.log").read_text().splitlines()]
    assert "print_failed" in events and events[-1] == "printed"


def test_no_patient_data_in_cups_titles_history_or_spool(installation):
    marker = "Patientnamn-Qx91"
    installation.ingest(installation.envelope(pages=2, marker=marker))
    pdf, job = print_and_capture(installation, "--wait")
    assert marker in text_of(pdf)  # the kit itself carries the data...
    assert marker not in job["title"]  # ...but nothing around it does
    history = installation.cups.job_attributes(job["job_id"])  # CUPS job history
    assert history["job-state"] == IPP_JOB_COMPLETED
    assert history["job-name"].startswith("Reservutskrift")
    assert marker not in json.dumps(history, default=str)
    assert installation.cups.spool_data_files() == []
    for path in installation.cups.spool_dir.rglob("*"):
        if path.is_file():
            assert marker.encode() not in path.read_bytes()


def test_wait_exits_zero_when_completed_and_audit_records_it(installation):
    installation.ingest(installation.envelope(pages=1))
    result = installation.appliance("print", "--wait")
    assert "completed" in result.output
    entries = [json.loads(line) for line in
               (installation.state_dir / "audit.log").read_text().splitlines()]
    printed = [e for e in entries if e["event"] == "printed"][-1]
    assert printed["profile"] == "button" and printed["trigger"] == "cli"
    assert printed["pages"] == FRONT + 1 + 2 and printed["documents"][0]["kind"] == "todo"
    ended = entries[-1]
    assert ended["event"] == "print_job_ended" and ended["state"] == "completed"


def test_output_writes_the_kit_to_a_private_file(installation, tmp_path):
    installation.ingest(installation.envelope(pages=2))
    out = tmp_path / "kit.pdf"
    result = installation.appliance("print", "--profile", "full", "--output", str(out))
    assert "patient data" in result.output
    assert out.stat().st_mode & 0o777 == 0o600
    assert page_count(out.read_bytes()) == FRONT + 2 + 2
    assert installation.queue.captured() == []


def test_unknown_profile_is_a_usage_error(installation):
    result = installation.appliance("print", "--profile", "allt", expect=2)
    assert "no print profile 'allt'" in result.output


def test_queue_rejecting_jobs_is_not_accepting(installation):
    installation.cups.run("cupsreject", installation.queue.name)
    try:
        report = json.loads(installation.appliance("printer", "--json").output)
        assert report["condition"] == "not-accepting" and report["accepting"] is False
        result = installation.appliance("print", expect=1)
        assert "not accepting jobs" in result.output
    finally:
        installation.cups.run("cupsaccept", installation.queue.name)
    assert json.loads(installation.appliance("printer", "--json").output)["accepting"] is True


def test_unknown_queue_is_no_printer(installation):
    text = installation.appliance_toml.read_text().replace(
        f'queue = "{installation.queue.name}"', 'queue = "finns-inte"')
    installation.appliance_toml.write_text(text)
    report = json.loads(installation.appliance("printer", "--json").output)
    assert report["condition"] == "no-printer"
    assert "Ingen skrivare" in report["message_sv"]
