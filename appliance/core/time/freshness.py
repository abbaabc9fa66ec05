"""When is a kind stale? When an expected slot has passed (plus grace) with no newer data.

Slots are local wall-clock times (07:00, 14:30 in the routine) in the configured time
zone, so they follow daylight saving time. A document counts for a slot when the record
system produced it no earlier than `grace` before the slot: exports that run a little early
still count, yesterday's do not.

On the two days a year when the wall clock jumps, a slot falls once, when the wall clock
passes it (docs/decisions.md, "Slots across daylight saving time"): a slot in the hour that
does not exist (02:30 on the last Sunday of March in Stockholm) falls at the jump, 03:00
CEST; a slot in the hour that happens twice (02:30 on the last Sunday of October) falls at
its first occurrence, 02:30 CEST.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from appliance.core.config.settings import Slot

LOOKBACK_DAYS = 3  # enough to find the last slot even with one slot a day and long grace


@dataclass(frozen=True)
class Freshness:
    stale: bool
    due_slot: datetime | None  # the newest slot whose grace has run out (what data must meet)
    next_slot: datetime | None


def slot_times(slots: Iterable[Slot], tz: ZoneInfo, around: datetime, days: int) -> list[datetime]:
    """Every slot moment from `days` days before `around` to one day after, in UTC, sorted."""
    local_day = around.astimezone(tz).date()
    moments = []
    for offset in range(-days, 2):
        day = local_day + timedelta(days=offset)
        for slot in slots:
            moments.append(wall_clock_passes(datetime.combine(day, time(slot.hour, slot.minute)),
                                             tz))
    return sorted(moments)


def wall_clock_passes(wall: datetime, tz: ZoneInfo) -> datetime:
    """The first instant (UTC) at which the wall clock in `tz` shows `wall` (naive) or later.

    For an ordinary time, that is the time itself; for one repeated when the clock goes
    back, its first occurrence (fold=0); for one skipped when the clock goes forward, the
    instant of the jump. Zone offsets change on whole minutes, so a walk back by minutes
    from the time read with the old offset finds the jump (at most the gap's length).
    """
    moment = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if moment.astimezone(tz).replace(tzinfo=None) == wall:
        return moment
    minute = timedelta(minutes=1)
    while (moment - minute).astimezone(tz).replace(tzinfo=None) >= wall:
        moment -= minute
    return moment


def freshness(
    slots: tuple[Slot, ...], produced_at: datetime | None, now: datetime, tz: ZoneInfo,
    grace: timedelta,
) -> Freshness:
    if not slots:
        return Freshness(stale=False, due_slot=None, next_slot=None)
    moments = slot_times(slots, tz, now, LOOKBACK_DAYS)
    due = [moment for moment in moments if moment + grace <= now]
    upcoming = [moment for moment in moments if moment > now]
    due_slot = due[-1] if due else None
    stale = produced_at is None or (due_slot is not None and produced_at < due_slot - grace)
    return Freshness(stale=stale, due_slot=due_slot, next_slot=upcoming[0] if upcoming else None)
