"""The clock without network or RTC: detected when it cannot be trusted, and every age then
printed as a lower bound ("minst ... gamla – klockan är osäker"), never too young, never
negative. The clock and the kernel's synchronisation state are injected; the kits go
through the real private cupsd."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from gpiozero.pins.mock import MockFactory

from appliance.adapters.panel import PATTERNS, Panel
from appliance.adapters.timesync import kernel_synchronised
from appliance.adapters.web.kiosk_text import Texts
from appliance.adapters.web.kiosk_view import overview
from appliance.core.base.clock import FixedClock
from appliance.core.intake.ingest import ingest
from appliance.core.printing.print_service import PrintService
from appliance.core.services import Services
from appliance.core.time.clock_trust import PERSIST_EVERY, STATE_FILE, Reason
from appliance.core.watch.metrics import AuditTally, collect
from appliance.core.watch.status import State, compute_status, shown_state
from tests.conftest import TRUSTED_CLOCK
from tests.test_printing import FRONT, page_count, text_of

PRODUCED = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)  # 07:00 in Stockholm
RECEIVED = PRODUCED + timedelta(minutes=5)
DATA_TIME = "2026-11-27 07:00"
UNSURE = "klockan är osäker"


class Sync:
    """The kernel's synchronisation flag, as the test sets it."""

    def __init__(self, synchronised: bool | None) -> None:
        self.synchronised = synchronised

    def __call__(self) -> bool | None:
        return self.synchronised


def without_rtc(inst, has_rtc: bool = False):
    text = inst.appliance_toml.read_text(encoding="utf-8")
    inst.appliance_toml.write_text(
        text.replace(TRUSTED_CLOCK, f"[clock]\nhas_rtc = {str(has_rtc).lower()}\n"),
        encoding="utf-8")
    assert inst.config.has_rtc is has_rtc
    return inst


def services(inst, clock: FixedClock, sync: Sync) -> Services:
    return Services(inst.config, clock, printer=inst.printer(), clock_sync=sync)


def received_while_synchronised(inst, pages: int = 2) -> None:
    """The to-do list of 07:00, received at 07:05 by a synchronised appliance."""
    svc = services(inst, FixedClock(RECEIVED), Sync(True))
    ingest(svc, inst.envelope(produced_at=PRODUCED, pages=pages), remote="test")
    assert svc.clock_reading().trusted


def printed(inst, svc: Services) -> bytes:
    started = PrintService(svc).request("button", trigger="test")
    job = inst.cups.wait_for(lambda: inst.queue.captured_job(started.job_id), timeout=30,
                             what=f"job {started.job_id} captured")
    return job.data


def stamps_of(pdf: bytes) -> list[str]:
    """The stamped to-do pages: after the cover and the contacts sheet, before the two
    blank forms."""
    return [text_of(pdf, page) for page in range(FRONT + 1, page_count(pdf) - 1)]


@pytest.fixture
def inst(installation):
    return without_rtc(installation)


def test_a_boot_with_the_clock_behind_the_newest_snapshot_prints_lower_bound_ages(inst):
    received_while_synchronised(inst)
    # Power cut; the appliance boots with a time saved hours before (fake-hwclock), no network.
    clock = FixedClock(RECEIVED - timedelta(hours=3))
    svc = services(inst, clock, Sync(False))

    reading = svc.clock_reading()
    assert not reading.trusted and reading.reason is Reason.BEHIND_NEWEST_SNAPSHOT
    assert reading.now == RECEIVED  # the lower bound, not the clock's 3 h too early
    status = compute_status(svc.config, svc.store, reading)
    assert status.kinds["todo"].age(status.now) == timedelta(minutes=5)
    assert status.state is State.STALE  # never "ready" on a clock nobody can vouch for
    assert status.to_json()["clock"] == {
        "state": "unsure", "reason": "behind-newest-snapshot",
        "reading": "2026-11-27T03:05:00Z", "lower_bound": "2026-11-27T06:05:00Z"}

    pdf = printed(inst, svc)
    cover = text_of(pdf, 1)
    assert "uppgifterna är minst 5 min gamla" in cover and "KLOCKAN ÄR OSÄKER" in cover
    assert f"Data från {DATA_TIME}" in cover
    assert "KLOCKAN ÄR OSÄKER" in cover
    stamps = stamps_of(pdf)
    assert len(stamps) == 2
    for stamp in stamps:
        assert stamp.startswith("Ålder minst 5 min · Att göra-lista")
        assert f"Data från {DATA_TIME} · {UNSURE}" in stamp
    printed_entry = [entry for entry in map(json.loads, (
        inst.state_dir / "audit.log").read_text().splitlines()) if entry["event"] == "printed"]
    assert printed_entry[-1]["clock"] == "behind-newest-snapshot"  # the record says so too


def test_a_boot_at_1970_gives_no_negative_age_and_prints_the_data_time(inst, tmp_path):
    received_while_synchronised(inst)
    later = RECEIVED + timedelta(hours=2)
    services(inst, FixedClock(later), Sync(True)).clock_reading()  # remembered as trusted
    assert json.loads((inst.state_dir / STATE_FILE).read_text()) == {
        "last_trusted": "2026-11-27T08:05:00Z", "version": 1}

    svc = services(inst, FixedClock(datetime(1970, 1, 1, tzinfo=UTC)), Sync(False))
    reading = svc.clock_reading()
    assert not reading.trusted and reading.now == later
    status = compute_status(svc.config, svc.store, reading, svc.printer.report())
    assert status.to_json()["kinds"]["todo"]["age_seconds"] == 2 * 3600 + 5 * 60
    families = {family.name: family.samples for family in
                collect(svc, AuditTally(inst.state_dir / "audit.log"), reading)}
    assert families["appliance_clock_trusted"] == [({"reason": "behind-newest-snapshot"}, 0)]
    assert families["appliance_document_age_seconds"] == [({"kind": "todo"}, 7500.0)]

    kit = tmp_path / "kit.pdf"
    PrintService(svc).export("button", kit, trigger="test")
    cover = text_of(kit.read_bytes(), 1)
    assert "uppgifterna är minst 2 h 5 min gamla" in cover and "KLOCKAN ÄR OSÄKER" in cover
    assert f"Data från {DATA_TIME}" in cover
    assert "1970" not in text_of(kit.read_bytes())  # neither as print time nor as an age


def test_a_clock_corrected_mid_run_is_trusted_again_and_ages_are_exact(inst, tmp_path):
    received_while_synchronised(inst)
    clock, sync = FixedClock(datetime(1970, 1, 1, tzinfo=UTC)), Sync(False)
    svc = services(inst, clock, sync)
    assert not svc.clock_reading().trusted

    right = PRODUCED + timedelta(hours=4, minutes=12)
    clock.set(right)  # the network is back: timesyncd steps the clock and says so
    sync.synchronised = True
    reading = svc.clock_reading()
    assert reading.trusted and reading.reason is Reason.SYNCHRONISED and reading.now == right
    status = compute_status(svc.config, svc.store, reading)
    assert status.state is State.READY
    assert status.kinds["todo"].age(status.now) == timedelta(hours=4, minutes=12)
    assert status.to_json()["clock"]["state"] == "trusted"

    kit = tmp_path / "kit.pdf"
    PrintService(svc).export("button", kit, trigger="test")
    text = text_of(kit.read_bytes())
    assert "4 h 12 min gamla" in text
    exported = (inst.state_dir / "audit.log").read_text().splitlines()[-1]
    assert '"event":"exported"' in exported and '"clock"' not in exported
    assert "minst" not in text and UNSURE not in text and "OSÄKER" not in text


def test_sync_lost_without_rtc_makes_the_clock_unsure_light_kiosk_and_all(inst):
    received_while_synchronised(inst)
    clock, sync = FixedClock(RECEIVED + timedelta(hours=1)), Sync(True)
    svc = services(inst, clock, sync)
    assert svc.clock_reading().trusted

    clock.advance(timedelta(hours=9))
    sync.synchronised = False  # the kernel gave up: ~9 h without an NTP answer
    reading = svc.clock_reading()
    assert not reading.trusted and reading.reason is Reason.NOT_SYNCHRONISED
    assert reading.now == clock.now()  # ahead of every bound: the same numbers, as minimums

    factory = MockFactory()
    with Panel(PrintService(svc), factory) as panel:
        assert panel.refresh() is State.STALE
        assert PATTERNS[panel.light.wiring][State.STALE] != PATTERNS[panel.light.wiring][
            State.READY]
    status = compute_status(svc.config, svc.store, reading, svc.printer.report())
    shown = overview(status, shown_state(status, False), svc.config.timezone, Texts("sv"))
    assert shown.hint == "Klockan är osäker – åldrarna är minsta möjliga."
    rows = [row for section in shown.units for row in section.rows
            if row.title == "Att göra-lista"]
    assert [(row.age, row.time) for row in rows] == [("Ålder minst 10 h 5 min",
                                                      "27/11 kl. 07:00")]  # "today"? unsure

    sync.synchronised = True
    assert svc.clock_reading().trusted


def test_with_an_rtc_a_lost_sync_is_trusted_but_a_clock_behind_is_not(installation):
    inst = without_rtc(installation, has_rtc=True)
    received_while_synchronised(inst)
    assert services(inst, FixedClock(RECEIVED + timedelta(hours=20)),
                    Sync(None)).clock_reading().reason is Reason.RTC
    reading = services(inst, FixedClock(PRODUCED - timedelta(days=400)),  # battery flat
                       Sync(None)).clock_reading()
    assert not reading.trusted and reading.reason is Reason.BEHIND_NEWEST_SNAPSHOT


def test_the_last_trusted_time_is_kept_every_few_minutes_never_back_and_is_a_bound(inst):
    clock, sync = FixedClock(RECEIVED), Sync(True)
    svc = services(inst, clock, sync)
    state = inst.state_dir / STATE_FILE

    def remembered() -> str:
        return json.loads(state.read_text())["last_trusted"]

    svc.clock_reading()
    assert remembered() == "2026-11-27T06:05:00Z"
    clock.advance(PERSIST_EVERY - timedelta(seconds=1))
    svc.clock_reading()
    assert remembered() == "2026-11-27T06:05:00Z"  # not written on every look
    clock.advance(timedelta(seconds=1))
    svc.clock_reading()
    assert remembered() == "2026-11-27T06:10:00Z"

    clock.set(RECEIVED - timedelta(hours=1))  # stepped back, and the store is empty
    reading = svc.clock_reading()
    assert not reading.trusted and reading.reason is Reason.BEHIND_LAST_TRUSTED
    assert reading.now == RECEIVED + PERSIST_EVERY
    assert remembered() == "2026-11-27T06:10:00Z"


def test_no_sync_state_and_no_rtc_is_never_trusted(inst):
    reading = Services(inst.config, FixedClock(RECEIVED)).clock_reading()
    assert not reading.trusted and reading.reason is Reason.SYNC_UNKNOWN


def test_appliance_status_says_the_clock_is_unsure_whatever_the_host(inst):
    """The CLI asks the kernel; a snapshot received 'tomorrow' makes any host's clock wrong."""
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    ingest(services(inst, FixedClock(tomorrow), Sync(True)),
           inst.envelope(produced_at=tomorrow - timedelta(minutes=5)), remote="test")

    report = json.loads(inst.appliance("status", "--json").output)
    assert report["clock"]["state"] == "unsure"
    assert report["clock"]["reason"] == "behind-newest-snapshot"
    assert report["state"] == "stale"
    assert report["kinds"]["todo"]["age_seconds"] >= 5 * 60
    text = inst.appliance("status").output
    assert "clock: UNSURE (behind the newest snapshot received: the clock is wrong)" in text


def test_the_kernel_can_be_asked_without_changing_anything():
    assert kernel_synchronised() in (True, False, None)
