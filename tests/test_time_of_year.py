"""The product on the nights clocks go wrong: the Swedish daylight-saving changes, the
year's end and a leap day, each with an injected clock (no wall-clock date anywhere).

What a nurse relies on is checked end to end: the age printed on the kit, the age on the
kiosk and in `/api/v1/status`, and the missed-slot alert, including a slot inside the hour
that does not exist (spring) or happens twice (autumn). The rule is in
docs/configuration.md ("Slots are wall-clock times") and docs/decisions.md.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from appliance.adapters.web import create_app
from appliance.adapters.web.kiosk_text import Texts
from appliance.core.base.clock import FixedClock, local_time
from appliance.core.intake.ingest import ingest
from appliance.core.printing.print_service import PrintService
from appliance.core.printing.wording import age as age_text
from appliance.core.services import Services
from appliance.core.watch.slots import SlotWatch
from tests.conftest import make_installation
from tests.test_kiosk import screen_text
from tests.test_printing import text_of

STOCKHOLM = ZoneInfo("Europe/Stockholm")


def utc(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=UTC)


# (produced, printed): the wall clock's difference is not the age on these nights
NIGHTS = {
    # 01:30 CEST -> 02:30 CET: one hour on the wall clock, two in truth
    "fall-back": (utc(2027, 10, 30, 23, 30), utc(2027, 10, 31, 1, 30), timedelta(hours=2)),
    # 01:30 CET -> 03:30 CEST: two hours on the wall clock, one in truth
    "spring-forward": (utc(2027, 3, 28, 0, 30), utc(2027, 3, 28, 1, 30), timedelta(hours=1)),
    # 14:30 on New Year's Eve -> 00:10 on New Year's Day
    "year-end": (utc(2026, 12, 31, 13, 30), utc(2026, 12, 31, 23, 10),
                 timedelta(hours=9, minutes=40)),
    # a leap day in between: 2028-02-28 14:30 -> 2028-03-01 07:10 is 40 h 40 min
    "leap-day": (utc(2028, 2, 28, 13, 30), utc(2028, 3, 1, 6, 10),
                 timedelta(hours=40, minutes=40)),
}


@pytest.mark.parametrize("night", list(NIGHTS))
def test_the_kit_prints_the_true_age_and_local_times(memory_installation, tmp_path, night):
    installation = memory_installation
    produced, printed, age = NIGHTS[night]
    assert printed - produced == age  # the table itself is right
    clock = FixedClock(produced)
    installation.ingest(installation.envelope(pages=1, clock=clock), clock)
    clock.set(printed)
    kit = tmp_path / "kit.pdf"
    PrintService(installation.services(clock)).export("button", kit, "cli")
    text = text_of(kit.read_bytes())
    assert f"uppgifterna är {age_text(age)} gamla" in text
    assert f"Data från {local_time(produced, STOCKHOLM)}" in text
    assert f"Utskrivet {local_time(printed, STOCKHOLM)}" in text


@pytest.mark.parametrize("night", list(NIGHTS))
def test_the_kiosk_and_the_status_show_the_true_age(memory_installation, night):
    installation = memory_installation
    produced, printed, age = NIGHTS[night]
    clock = FixedClock(produced)
    installation.ingest(installation.envelope(pages=1, clock=clock), clock)
    clock.set(printed)
    app = create_app(installation.config, printer=installation.printer(), clock=clock)
    client = app.test_client()
    status = client.get("/api/v1/status").get_json()
    assert status["kinds"]["todo"]["age_seconds"] == age.total_seconds()
    view = client.get("/kiosk/view").get_data(as_text=True)
    assert Texts("sv").age(age) in screen_text(view)


# -- the missed-slot alert with a slot inside the clock change ---------------------------


def watched(tmp_path, slot: str, start: datetime) -> tuple[SlotWatch, FixedClock, Services]:
    inst = make_installation(tmp_path)
    toml = inst.appliance_toml.read_text(encoding="utf-8")
    assert 'slots = ["07:00", "14:30"]' in toml  # as `appliance init` writes it
    inst.appliance_toml.write_text(toml.replace('slots = ["07:00", "14:30"]',
                                                f'slots = ["{slot}"]', 1), encoding="utf-8")
    clock = FixedClock(start)
    services = Services(inst.config, clock)
    # the evening before: a list newer than that day's slot, fresh until the next one
    envelope = inst.envelope("todo", produced_at=start - timedelta(hours=1), clock=clock)
    ingest(services, envelope, remote="test")
    return SlotWatch(services, None), clock, services


def missed_at(watch: SlotWatch, clock: FixedClock, moment: datetime) -> list[str]:
    clock.set(moment)
    return [alert["slot"] for alert in watch.evaluate() if alert["event"] == "slot_missed"]


def test_a_slot_in_the_skipped_hour_is_missed_once_half_an_hour_after_the_jump(tmp_path):
    # 2027-03-28: 02:00 CET jumps to 03:00 CEST (01:00 UTC); 02:30 never shows on a clock
    watch, clock, _ = watched(tmp_path, "02:30", utc(2027, 3, 27, 20, 0))
    assert missed_at(watch, clock, utc(2027, 3, 28, 1, 29)) == []  # 03:29 CEST
    assert missed_at(watch, clock, utc(2027, 3, 28, 1, 30)) == ["2027-03-28T01:00:00Z"]
    assert missed_at(watch, clock, utc(2027, 3, 28, 3, 0)) == []  # once


def test_a_slot_in_the_repeated_hour_is_missed_once_after_its_first_occurrence(tmp_path):
    # 2027-10-31: 03:00 CEST goes back to 02:00 CET (01:00 UTC); 02:30 shows twice
    watch, clock, _ = watched(tmp_path, "02:30", utc(2027, 10, 30, 20, 0))
    assert missed_at(watch, clock, utc(2027, 10, 31, 0, 59)) == []  # 02:59 CEST
    assert missed_at(watch, clock, utc(2027, 10, 31, 1, 0)) == ["2027-10-31T00:30:00Z"]
    # 02:30 CET, the second 02:30, and half an hour after it: no second alert
    assert missed_at(watch, clock, utc(2027, 10, 31, 2, 0)) == []
    assert missed_at(watch, clock, utc(2027, 10, 31, 6, 0)) == []


def test_the_morning_slot_after_each_change_is_07_00_local(tmp_path):
    for start, missed in ((utc(2027, 3, 27, 20, 0), utc(2027, 3, 28, 5, 0)),   # 07:00 CEST
                          (utc(2027, 10, 30, 20, 0), utc(2027, 10, 31, 6, 0))):  # 07:00 CET
        watch, clock, _ = watched(tmp_path / start.strftime("%m"), "07:00", start)
        assert missed_at(watch, clock, missed + timedelta(minutes=29)) == []
        assert missed_at(watch, clock, missed + timedelta(minutes=30)) == [
            missed.strftime("%Y-%m-%dT%H:%M:%SZ")]
