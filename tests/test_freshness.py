from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.core.base.clock import FixedClock
from appliance.core.config.settings import Slot
from appliance.core.time.freshness import Freshness, freshness, slot_times

STOCKHOLM = ZoneInfo("Europe/Stockholm")
TODO_SLOTS = (Slot(7, 0), Slot(14, 30))
GRACE = timedelta(minutes=30)


def local(year: int, month: int, day: int, hour: int, minute: int, second: int = 0) -> datetime:
    """A Stockholm wall-clock time as an aware datetime in UTC (what the clock gives)."""
    moment = datetime(year, month, day, hour, minute, second, tzinfo=STOCKHOLM)
    return moment.astimezone(UTC)


def utc(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def todo(produced_at: datetime | None, now: datetime) -> Freshness:
    return freshness(TODO_SLOTS, produced_at, now, STOCKHOLM, GRACE)


# -- an ordinary winter day (CET, UTC+1) ----------------------------------------------------

YESTERDAY_AFTERNOON = local(2026, 11, 26, 14, 30)


@pytest.mark.parametrize("now", [local(2026, 11, 27, 0, 5), local(2026, 11, 27, 7, 0),
                                 local(2026, 11, 27, 7, 29, 59)])
def test_yesterdays_afternoon_list_is_fresh_until_the_morning_grace_ends(now: datetime) -> None:
    result = todo(YESTERDAY_AFTERNOON, now)

    assert result.stale is False
    assert result.due_slot == utc(2026, 11, 26, 13, 30)


def test_yesterdays_afternoon_list_is_stale_at_0731() -> None:
    result = todo(YESTERDAY_AFTERNOON, local(2026, 11, 27, 7, 31))

    assert result.stale is True
    assert result.due_slot == utc(2026, 11, 27, 6, 0)
    assert result.next_slot == utc(2026, 11, 27, 13, 30)


def test_the_morning_slot_falls_due_exactly_when_its_grace_ends() -> None:
    result = todo(YESTERDAY_AFTERNOON, local(2026, 11, 27, 7, 30))
    assert result.due_slot == utc(2026, 11, 27, 6, 0)
    assert result.stale is True


@pytest.mark.parametrize(
    ("produced", "stale"),
    [
        (local(2026, 11, 27, 6, 45), False),  # a little early: counts for 07:00
        (local(2026, 11, 27, 6, 30), False),  # exactly grace before the slot
        (local(2026, 11, 27, 6, 29, 59), True),
        (local(2026, 11, 27, 6, 20), True),  # too early: that is not the morning's list
        (local(2026, 11, 27, 7, 5), False),
    ],
)
def test_a_document_counts_for_a_slot_from_grace_before_it(
    produced: datetime, stale: bool
) -> None:
    assert todo(produced, local(2026, 11, 27, 7, 31)).stale is stale


def test_no_document_is_stale_even_before_any_slot_is_due() -> None:
    assert todo(None, local(2026, 11, 27, 7, 10)).stale is True
    assert todo(None, local(2026, 11, 27, 7, 31)).stale is True


def test_kind_without_slots_is_never_stale() -> None:
    long_ago = utc(2020, 1, 1, 0, 0)
    for produced in (None, long_ago):
        result = freshness((), produced, local(2026, 11, 27, 12, 0), STOCKHOLM, GRACE)
        assert result == Freshness(stale=False, due_slot=None, next_slot=None)


def test_afternoon_slot_values() -> None:
    produced = local(2026, 11, 27, 6, 50)

    before_grace = todo(produced, local(2026, 11, 27, 14, 59))
    assert before_grace == Freshness(stale=False, due_slot=utc(2026, 11, 27, 6, 0),
                                     next_slot=utc(2026, 11, 28, 6, 0))

    after_grace = todo(produced, local(2026, 11, 27, 15, 0))
    assert after_grace == Freshness(stale=True, due_slot=utc(2026, 11, 27, 13, 30),
                                    next_slot=utc(2026, 11, 28, 6, 0))


def test_next_slot_is_the_first_slot_strictly_after_now() -> None:
    at_slot = todo(None, local(2026, 11, 27, 7, 0))
    assert at_slot.next_slot == utc(2026, 11, 27, 13, 30)

    just_before = todo(None, local(2026, 11, 27, 6, 59))
    assert just_before.next_slot == utc(2026, 11, 27, 6, 0)


def test_grace_zero_needs_data_from_the_slot_itself() -> None:
    now = local(2026, 11, 27, 7, 0)
    assert freshness(TODO_SLOTS, local(2026, 11, 27, 7, 0), now, STOCKHOLM,
                     timedelta(0)).stale is False
    assert freshness(TODO_SLOTS, local(2026, 11, 27, 6, 59), now, STOCKHOLM,
                     timedelta(0)).stale is True


def test_one_slot_a_day_with_a_long_grace_finds_yesterdays_slot() -> None:
    grace = timedelta(hours=23)
    now = local(2026, 11, 27, 7, 30)  # today's 07:00 is within grace; yesterday's is due
    result = freshness((Slot(7, 0),), local(2026, 11, 25, 8, 0), now, STOCKHOLM, grace)
    assert result.due_slot == utc(2026, 11, 26, 6, 0)
    assert result.stale is False


def test_fixed_clock_drives_the_check_across_a_day() -> None:
    clock = FixedClock(local(2026, 11, 27, 6, 0))
    produced = local(2026, 11, 26, 14, 40)
    seen = []
    for _ in range(24 * 4):
        seen.append((clock.now(), todo(produced, clock.now()).stale))
        clock.advance(timedelta(minutes=15))

    first_stale = next(moment for moment, stale in seen if stale)
    assert first_stale == local(2026, 11, 27, 7, 30)
    assert all(stale for moment, stale in seen if moment >= first_stale)


# -- daylight saving time -------------------------------------------------------------------


def test_slot_times_on_the_spring_forward_day() -> None:
    # 2026-03-29: clocks go from 02:00 CET to 03:00 CEST (01:00 UTC)
    moments = slot_times(TODO_SLOTS, STOCKHOLM, utc(2026, 3, 29, 10, 0), days=1)
    assert moments == [
        utc(2026, 3, 28, 6, 0), utc(2026, 3, 28, 13, 30),  # CET, UTC+1
        utc(2026, 3, 29, 5, 0), utc(2026, 3, 29, 12, 30),  # CEST, UTC+2
        utc(2026, 3, 30, 5, 0), utc(2026, 3, 30, 12, 30),
    ]


def test_slot_times_on_the_fall_back_day() -> None:
    # 2026-10-25: clocks go from 03:00 CEST back to 02:00 CET (01:00 UTC)
    moments = slot_times(TODO_SLOTS, STOCKHOLM, utc(2026, 10, 25, 10, 0), days=1)
    assert moments == [
        utc(2026, 10, 24, 5, 0), utc(2026, 10, 24, 12, 30),  # CEST, UTC+2
        utc(2026, 10, 25, 6, 0), utc(2026, 10, 25, 13, 30),  # CET, UTC+1
        utc(2026, 10, 26, 6, 0), utc(2026, 10, 26, 13, 30),
    ]


def test_spring_forward_morning_uses_summer_time() -> None:
    before = todo(local(2026, 3, 28, 14, 30), utc(2026, 3, 29, 5, 29))  # 07:29 CEST
    assert before.stale is False
    assert before.due_slot == utc(2026, 3, 28, 13, 30)
    assert before.next_slot == utc(2026, 3, 29, 12, 30)

    after = todo(local(2026, 3, 28, 14, 30), utc(2026, 3, 29, 5, 31))  # 07:31 CEST
    assert after.stale is True
    assert after.due_slot == utc(2026, 3, 29, 5, 0)

    assert todo(utc(2026, 3, 29, 4, 45), utc(2026, 3, 29, 5, 31)).stale is False  # 06:45
    assert todo(utc(2026, 3, 29, 4, 20), utc(2026, 3, 29, 5, 31)).stale is True  # 06:20


def test_fall_back_morning_uses_winter_time() -> None:
    # 06:31 CET is 07:31 by yesterday's (summer) offset: must not count as past the slot
    early = todo(local(2026, 10, 24, 14, 30), utc(2026, 10, 25, 5, 31))
    assert early.stale is False
    assert early.due_slot == utc(2026, 10, 24, 12, 30)
    assert early.next_slot == utc(2026, 10, 25, 6, 0)

    late = todo(local(2026, 10, 24, 14, 30), utc(2026, 10, 25, 6, 31))  # 07:31 CET
    assert late.stale is True
    assert late.due_slot == utc(2026, 10, 25, 6, 0)
    assert late.next_slot == utc(2026, 10, 25, 13, 30)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        # 02:30 does not exist on 2026-03-29: it lands once, at the jump, 01:00 UTC (03:00
        # CEST), when the wall clock passes 02:30
        ((2026, 3, 29), [utc(2026, 3, 29, 1, 0)]),
        ((2027, 3, 28), [utc(2027, 3, 28, 1, 0)]),
        # 02:30 happens twice on 2026-10-25: the slot is the first one (CEST), once
        ((2026, 10, 25), [utc(2026, 10, 25, 0, 30)]),
        ((2027, 10, 31), [utc(2027, 10, 31, 0, 30)]),
    ],
)
def test_a_slot_inside_the_clock_change_happens_exactly_once(
    day: tuple[int, int, int], expected: list[datetime]
) -> None:
    noon = datetime(*day, 12, 0, tzinfo=STOCKHOLM)
    moments = slot_times((Slot(2, 30),), STOCKHOLM, noon, days=0)
    on_that_day = [m for m in moments if m.astimezone(STOCKHOLM).date() == noon.date()]
    assert on_that_day == expected


# -- properties over a whole year -----------------------------------------------------------

YEAR = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1),
                    timezones=st.just(UTC))


@settings(max_examples=300, deadline=None)
@given(now=YEAR)
def test_a_document_produced_now_is_never_stale(now: datetime) -> None:
    assert todo(now, now).stale is False


@settings(max_examples=300, deadline=None)
@given(now=YEAR, age=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3)),
       newer_by=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3)))
def test_newer_data_is_never_staler(now: datetime, age: timedelta,
                                    newer_by: timedelta) -> None:
    older = now - age
    newer = min(older + newer_by, now)
    if todo(newer, now).stale:
        assert todo(older, now).stale


@settings(max_examples=300, deadline=None)
@given(now=YEAR)
def test_slot_values_are_consistent(now: datetime) -> None:
    result = todo(None, now)
    assert result.due_slot is not None and result.next_slot is not None
    assert result.due_slot + GRACE <= now < result.next_slot
    longest_gap = timedelta(hours=16, minutes=30) + timedelta(hours=1)  # 14:30 -> 07:00, DST
    assert now - result.due_slot < longest_gap + GRACE
    for moment in (result.due_slot, result.next_slot):
        wall = moment.astimezone(STOCKHOLM)
        assert (wall.hour, wall.minute) in {(7, 0), (14, 30)}
