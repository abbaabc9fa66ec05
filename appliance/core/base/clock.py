"""Time, injected: every component takes a clock so tests never wait for real time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time as an aware datetime in UTC."""


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that only moves when told to (tests, benchmarks)."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta

    def set(self, moment: datetime) -> None:
        self._now = moment.astimezone(UTC)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def microseconds_since_epoch(moment: datetime) -> int:
    """Exact integer microseconds since 1970 (no float rounding): the unit of a sender's
    sequence numbers (docs/seal-format.md, section 8)."""
    return (moment - EPOCH) // timedelta(microseconds=1)


def isoformat_utc(moment: datetime) -> str:
    """`2026-11-27T07:00:00Z`: the one timestamp format of the project's files and APIs.

    Always four digits of year: `strftime("%Y")` writes year 999 as `999`, which
    `parse_iso` (and every reader of the index) then refuses; and the index sorts these
    strings as text, which is the time order only at a fixed width."""
    t = moment.astimezone(UTC)
    return (f"{t.year:04d}-{t.month:02d}-{t.day:02d}T"
            f"{t.hour:02d}:{t.minute:02d}:{t.second:02d}Z")


def local_time(moment: datetime, tz: ZoneInfo, *, zone_abbreviation: bool = False) -> str:
    """`2026-11-27 07:00`, the wall-clock time in `tz`: how people read times (logs, alert
    messages, paper, the command line). `zone_abbreviation` adds `CET`/`CEST`, for readers
    who may not be in `tz`."""
    local = moment.astimezone(tz)
    return f"{local:%Y-%m-%d %H:%M %Z}" if zone_abbreviation else f"{local:%Y-%m-%d %H:%M}"


def parse_iso(text: str) -> datetime:
    """Parse an ISO 8601 timestamp that carries a time zone; naive times are refused."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no time zone")
    try:
        return moment.astimezone(UTC)
    except OverflowError as exc:  # year 1 or 9999 pushed out of range by the offset
        raise ValueError(f"timestamp {text!r} is out of range") from exc
