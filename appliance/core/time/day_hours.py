"""Day or on-call hours ("jourtid"): who is to be called at a given moment.

By day the unit manager (EC) tells the nurses of an outage; in on-call hours the manager
on call (CIB) does (the municipality's routine, "Who is told"). Day hours are
`contacts.day_starts` to `contacts.day_ends` (local wall-clock time, so they follow
daylight saving time), Monday to Friday, except the Swedish public holidays and the eves
that are days off in practice (midsommarafton, julafton, nyårsafton): on those the manager
on call answers all day.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from appliance.core.config.schema import Slot


def easter_sunday(year: int) -> date:
    """Western Easter (the anonymous Gregorian algorithm, "Meeus/Jones/Butcher")."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    weekday = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * weekday) // 451
    month, day = divmod(h + weekday - 7 * m + 114, 31)
    return date(year, month, day + 1)


def swedish_days_off(year: int) -> dict[date, str]:
    """The Swedish public holidays of `year` (lag 1989:253) that can fall on a weekday, and
    the eves that are days off in practice, by name. (Påskdagen, pingstdagen, midsommardagen
    and alla helgons dag are always at a weekend.)"""
    easter = easter_sunday(year)
    june_19 = date(year, 6, 19)
    midsummer_eve = june_19 + timedelta(days=(4 - june_19.weekday()) % 7)  # Friday 19–25 June
    return {
        date(year, 1, 1): "nyårsdagen",
        date(year, 1, 6): "trettondedag jul",
        easter - timedelta(days=2): "långfredagen",
        easter + timedelta(days=1): "annandag påsk",
        date(year, 5, 1): "första maj",
        easter + timedelta(days=39): "Kristi himmelsfärds dag",
        date(year, 6, 6): "Sveriges nationaldag",
        midsummer_eve: "midsommarafton",
        date(year, 12, 24): "julafton",
        date(year, 12, 25): "juldagen",
        date(year, 12, 26): "annandag jul",
        date(year, 12, 31): "nyårsafton",
    }


def is_day_hours(moment: datetime, tz: ZoneInfo, starts: Slot, ends: Slot) -> bool:
    """Whether `moment` falls in the unit manager's day: a weekday that is no day off, from
    `starts` (included) to `ends` (not included), wall-clock time in `tz`."""
    local = moment.astimezone(tz)
    if local.weekday() >= 5 or local.date() in swedish_days_off(local.year):
        return False
    return (starts.hour, starts.minute) <= (local.hour, local.minute) < (ends.hour, ends.minute)
