"""Outage drills: the kit marked "ÖVNING – INTE FÖR VÅRD" on every page, audited as a drill,
changing nothing a real print or freshness depends on, and the one reminder when a drill is
due. Real parts: the private cupsd with its capture backend, the CLI, the web stack with the
kiosk, a real webhook endpoint."""

from __future__ import annotations

import io
import math
import re
from datetime import UTC, datetime, timedelta

import pikepdf

from appliance.adapters.webhook import WebhookPoster
from appliance.core.base.clock import FixedClock
from appliance.core.printing.kit import DRILL_MARK
from appliance.core.printing.print_guard import PrintGuard
from appliance.core.printing.print_service import Busy, PrintService, Started
from appliance.core.printing.printer import JobState
from appliance.core.time.drills import DrillReminder
from appliance.core.watch.status import compute_status
from tests.conftest import Server, get_json
from tests.print_helpers import audit_events, with_guard_config
from tests.test_kiosk import LAN_CLIENT, fetch, page_token, press
from tests.test_printing import CONTACTS_PAGE, FRONT, page_count, text_of
from tests.webhook_receiver import WebhookReceiver

START = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def along_the_diagonal(pdf: bytes, page: int) -> str:
    """Page `page`'s text as read along its diagonal: the page turned so that what runs from
    its lower left to its upper right corner runs level, then read by pdftotext (which reads
    slanted text letter by letter, in no useful order)."""
    with pikepdf.open(io.BytesIO(pdf)) as source, pikepdf.new() as turned:
        original = source.pages[page - 1]
        x0, y0, x1, y1 = (float(v) for v in original.mediabox)
        width, height = x1 - x0, y1 - y0
        angle = -math.atan2(height, width)
        side = math.hypot(width, height)
        cos, sin = math.cos(angle), math.sin(angle)
        centre_x, centre_y = x0 + width / 2, y0 + height / 2
        shift_x = side / 2 - (cos * centre_x - sin * centre_y)
        shift_y = side / 2 - (sin * centre_x + cos * centre_y)
        form = turned.copy_foreign(original.as_form_xobject())
        content = f"q {cos:.6f} {sin:.6f} {-sin:.6f} {cos:.6f} {shift_x:.3f} {shift_y:.3f} cm "
        turned.pages.append(pikepdf.Page(turned.make_indirect(pikepdf.Dictionary(
            Type=pikepdf.Name.Page, MediaBox=[0, 0, side, side],
            Resources=pikepdf.Dictionary(XObject=pikepdf.Dictionary(P=form)),
            Contents=turned.make_stream(content.encode() + b"/P Do Q")))))
        out = io.BytesIO()
        turned.save(out)
    return text_of(out.getvalue())


def captured(inst, output: str) -> tuple[bytes, str]:
    """The PDF and CUPS title of the job `appliance print` or `drill` said it started."""
    job_id = int(output.split()[1])
    job = inst.cups.wait_for(lambda: inst.queue.captured_job(job_id), timeout=30,
                             what=f"job {job_id} captured")
    return job.data, job.title


def test_a_drill_says_so_across_every_page_cover_and_forms_included(installation):
    inst = installation
    inst.ingest(inst.envelope("todo", pages=2))
    pdf, title = captured(inst, inst.appliance("drill", "--wait").output)

    pages = page_count(pdf)
    assert pages == FRONT + 2 + 2  # cover, contacts, the to-do list, two forms
    for page in range(1, pages + 1):
        assert DRILL_MARK in along_the_diagonal(pdf, page), f"page {page} of {pages}"
    assert "ÖVNING – INTE FÖR VÅRD. Det här är en övningsutskrift" in text_of(pdf, 1)
    assert title.startswith("Övning – Knappen: att göra-listor och blanketter ")
    # the lists under the mark are the real ones, still legible
    assert "Hemsjukvård Sölvesborg" in text_of(pdf, FRONT + 1)
    assert "VEM RINGER JAG?" in text_of(pdf, CONTACTS_PAGE)  # the contacts sheet too

    # and a real kit, right after (a drill never holds one back), carries no mark
    pdf, title = captured(inst, inst.appliance("print").output)
    assert page_count(pdf) == pages
    for page in range(1, pages + 1):
        assert "ÖVNING" not in along_the_diagonal(pdf, page)
        assert "ÖVNING" not in text_of(pdf, page)
    assert title.startswith("Reservutskrift – Knappen: att göra-listor och blanketter ")


def test_a_drill_is_audited_as_a_drill_never_as_a_print(installation):
    inst = installation
    inst.ingest(inst.envelope("todo", pages=2))
    result = inst.appliance("drill", "--wait")
    assert "DRILL" in result.output
    job_id = int(result.output.split()[1])

    assert audit_events(inst, "printed") == []
    [drill] = audit_events(inst, "drill_printed")
    assert (drill["trigger"], drill["profile"], drill["job"], drill["pages"]) == \
        ("cli", "button", job_id, FRONT + 2 + 2)
    assert drill["time"]  # when: every audit entry has its time
    [ended] = audit_events(inst, "print_job_ended")
    assert (ended["job"], ended["state"], ended["drill"]) == (job_id, "completed", True)

    inst.appliance("print", "--wait")
    [real] = audit_events(inst, "printed")
    assert "drill" not in real
    assert "drill" not in audit_events(inst, "print_job_ended")[1]


def test_a_drill_changes_neither_freshness_nor_the_record_of_real_prints(installation):
    inst = with_guard_config(installation)  # repeat_guard_seconds = 600
    clock = FixedClock(START)
    inst.ingest(inst.envelope("todo", pages=1, produced_at=START - timedelta(hours=30),
                              clock=clock), clock)
    service = PrintService(inst.services(clock))
    real = service.request("button", trigger="cli")
    assert service.wait(real.job_id, timeout=30, poll=0.05) is JobState.COMPLETED
    clock.advance(timedelta(hours=1))

    def observed():
        services = inst.services(clock)
        status = compute_status(services.config, services.store, clock.now()).to_json()
        del status["drill"]
        return status, inst.store_state(), PrintGuard(inst.state_dir).read().last_started_at

    before = observed()
    assert before[0]["state"] == "stale"
    drill = service.request("button", trigger="kiosk", drill=True)
    assert isinstance(drill, Started)
    assert service.wait(drill.job_id, timeout=30, poll=0.05) is JobState.COMPLETED
    assert observed() == before
    # the drill that just ended never holds back a nurse's press; a second drill is a repeat
    assert "moments ago" in service.request("button", trigger="kiosk", drill=True).reason
    assert isinstance(service.request("button", trigger="button"), Started)


def test_a_drill_waits_for_a_kit_in_flight_and_holds_up_the_next(installation):
    inst = with_guard_config(installation)
    inst.ingest(inst.envelope(pages=1))
    inst.queue.set_fault("media-empty")  # jobs stay in the queue until the refill
    service = PrintService(inst.services())
    drill = service.request("button", trigger="cli", drill=True)
    assert isinstance(drill, Started)
    busy = service.request("button", trigger="button")
    assert isinstance(busy, Busy) and busy.job_id == drill.job_id
    inst.queue.clear_fault()


def test_the_reminder_fires_once_survives_restarts_and_is_rearmed_by_a_drill(installation):
    receiver = WebhookReceiver().start()
    try:
        inst = installation
        with open(inst.appliance_toml, "a", encoding="utf-8") as handle:
            handle.write(f'\n[alerts]\nwebhook_url = "{receiver.url}"\n'
                         "[drills]\nremind_after_days = 30\n")
        clock = FixedClock(START)
        inst.ingest(inst.envelope(pages=1, clock=clock), clock)

        def evaluate():  # a fresh reminder each time: as after a restart of the jobs service
            return DrillReminder(inst.services(clock), WebhookPoster(receiver.url, 5)).evaluate()

        def due() -> bool:
            services = inst.services(clock)
            return compute_status(services.config, services.store, clock.now()).drill \
                .reminder_due

        assert due()  # never drilled
        assert evaluate() is not None
        assert evaluate() is None and evaluate() is None
        assert [alert["event"] for alert in receiver.received] == ["drill_due"]
        assert receiver.received[0]["last_drill_at"] is None

        service = PrintService(inst.services(clock))
        assert isinstance(service.request("button", trigger="kiosk", drill=True), Started)
        assert not due()
        clock.advance(timedelta(days=30) - timedelta(seconds=1))
        assert not due() and evaluate() is None
        clock.advance(timedelta(seconds=1))
        assert due()
        assert evaluate() is not None and evaluate() is None
        assert [alert["event"] for alert in receiver.received] == ["drill_due", "drill_due"]
        assert receiver.received[1]["last_drill_at"] == "2026-11-30T09:00:00Z"
        assert len(audit_events(inst, "drill_reminder")) == 2
    finally:
        receiver.stop()


def test_status_metrics_and_kiosk_show_the_last_drill_and_the_reminder(installation):
    inst = installation
    inst.ingest(inst.envelope(pages=1))
    server = Server(inst).start()
    try:
        _, status = get_json(server.url + "/api/v1/status")
        assert status["drill"]["last_drill_at"] is None and status["drill"]["reminder_due"]
        _, metrics = fetch(server.url + "/metrics")
        assert "appliance_drill_due 1" in metrics
        assert "appliance_last_drill_age_seconds" not in re.sub(r"#.*\n", "", metrics)
        _, view = fetch(server.url + "/kiosk/view")
        assert "Dags att öva!" in view  # never drilled: the button says so
        assert 'class="drill due"' in view
        assert "drill: never; DUE" in inst.appliance("status").output

        # the kiosk's button: from the appliance's own screen, with the token only
        token = page_token(server)
        assert press(server, "drill", token=token, source=LAN_CLIENT)[0] == 403
        assert press(server, "drill", token=None)[0] == 403
        answer = press(server, "drill", token=token)[1]
        assert answer["outcome"] == "started"
        [drill] = audit_events(inst, "drill_printed")
        assert (drill["trigger"], drill["job"]) == ("kiosk", answer["job"])

        _, status = get_json(server.url + "/api/v1/status")
        assert status["drill"]["reminder_due"] is False
        assert 0 <= status["drill"]["age_seconds"] < 600
        _, metrics = fetch(server.url + "/metrics")
        assert "appliance_drill_due 0" in metrics
        assert re.search(r"^appliance_last_drill_age_seconds \d", metrics, re.MULTILINE)
        # The drill button shows on a ready screen only: once the drill's kit is out.
        inst.cups.wait_for(lambda: 'data-state="ready"' in fetch(server.url + "/kiosk/view")[1],
                           timeout=30, what="the kiosk ready again after the drill")
        _, view = fetch(server.url + "/kiosk/view")
        assert "senast i dag" in view and "Dags att öva" not in view
        assert 'class="drill"' in view
        assert "drill: last " in inst.appliance("status").output
    finally:
        server.stop()


def test_a_damaged_drill_record_counts_as_no_drill_and_the_next_drill_replaces_it(
        installation):
    inst = installation
    clock = FixedClock(START)
    inst.ingest(inst.envelope(pages=1, clock=clock), clock)
    inst.state_dir.joinpath("drills.json").write_bytes(b'{"version": 1, "last_drill_at": 7')
    services = inst.services(clock)
    assert compute_status(services.config, services.store, START).drill.reminder_due
    assert DrillReminder(services, None).evaluate()["last_drill_at"] is None
    assert isinstance(PrintService(services).request("button", "cli", drill=True), Started)
    assert not compute_status(services.config, services.store, START).drill.reminder_due
