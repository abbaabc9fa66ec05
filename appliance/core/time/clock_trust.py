"""Whether the clock can be trusted, and what the appliance knows about the time if not.

A Raspberry Pi 4 has no real-time clock. After a power cut during a network outage it boots
with the time fake-hwclock saved at shutdown (or 1970) and nothing corrects it: every age
the appliance prints would be wrong, and too young is the dangerous direction.

The clock is *trusted* when both hold:

- it is synchronised over the network (the kernel says so: `SyncState`, read by an adapter
  and passed in), or the config says the appliance has a real-time clock (`clock.has_rtc`);
- it is not behind a moment the appliance knows has passed: the last trusted time it saw
  (persisted in `state_dir/clock.json`, at most every `PERSIST_EVERY`) and the newest
  `received_at` in the store. More than `TOLERANCE` behind either, it is wrong.

Otherwise it is *unsure*, and the best the appliance can say about now is a lower bound:
the latest of the clock's reading, the last trusted time and the newest `received_at`.
Ages and freshness are judged with that bound, so an age is never smaller than the truth
and never negative; the printed ages then say "minst" (docs/clinical-safety.md).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from appliance.core.base.clock import Clock, isoformat_utc, parse_iso
from appliance.core.base.statefile import StateFile, StateFileError

STATE_FILE = "clock.json"
PERSIST_EVERY = timedelta(minutes=5)
TOLERANCE = timedelta(minutes=1)  # clocks of several processes, whole-second stamps

SyncState = Callable[[], bool | None]
"""Whether the system clock is synchronised: True, False, or None when it cannot be told."""

log = logging.getLogger(__name__)


class Reason(enum.StrEnum):
    SYNCHRONISED = "synchronised"
    RTC = "rtc"
    NOT_SYNCHRONISED = "not-synchronised"
    SYNC_UNKNOWN = "sync-unknown"
    BEHIND_LAST_TRUSTED = "behind-last-trusted"
    BEHIND_NEWEST_SNAPSHOT = "behind-newest-snapshot"

    @property
    def trusted(self) -> bool:
        return self in (Reason.SYNCHRONISED, Reason.RTC)

    @property
    def english(self) -> str:
        return _ENGLISH[self]


_ENGLISH = {
    Reason.SYNCHRONISED: "synchronised over the network",
    Reason.RTC: "battery-backed real-time clock (clock.has_rtc)",
    Reason.NOT_SYNCHRONISED: "not synchronised, and no real-time clock configured",
    Reason.SYNC_UNKNOWN: "cannot tell whether it is synchronised, and no real-time clock "
                         "configured",
    Reason.BEHIND_LAST_TRUSTED: "behind the last trusted time seen: the clock is wrong",
    Reason.BEHIND_NEWEST_SNAPSHOT: "behind the newest snapshot received: the clock is wrong",
}


@dataclass(frozen=True)
class ClockReading:
    """One look at the clock. `now` is what every age and freshness judgement uses: the
    clock's reading when trusted, else the lower bound on the true time."""

    reading: datetime  # what the system clock says
    now: datetime
    reason: Reason

    @property
    def trusted(self) -> bool:
        return self.reason.trusted

    def to_json(self) -> dict:
        return {"state": "trusted" if self.trusted else "unsure", "reason": str(self.reason),
                "reading": isoformat_utc(self.reading), "lower_bound": isoformat_utc(self.now)}


class ClockTrust:
    """Judges the clock on every `read`, and remembers the last trusted time on disk."""

    def __init__(self, clock: Clock, sync: SyncState | None, *, has_rtc: bool,
                 state_dir: Path, newest_received: Callable[[], datetime | None]) -> None:
        """`sync` None: this process cannot tell (the clock is then trusted only with an
        RTC); the processes pass the kernel's state (appliance.adapters.timesync)."""
        self._clock = clock
        self._sync = sync
        self._has_rtc = has_rtc
        # 0644: every service reads it; written before it had a version, hence unversioned_is
        self._state = StateFile(Path(state_dir) / STATE_FILE, mode=0o644, unversioned_is=1)
        self._warned = False
        self._newest_received = newest_received

    def read(self) -> ClockReading:
        reading = self._clock.now()
        last_trusted, newest = self.last_trusted(), self._newest_received()
        reason = self._judge(reading, last_trusted, newest)
        if reason.trusted:
            self._remember(reading, last_trusted)
            return ClockReading(reading, reading, reason)
        bounds = [moment for moment in (last_trusted, newest) if moment is not None]
        return ClockReading(reading, max([reading, *bounds]), reason)

    def _judge(self, reading: datetime, last_trusted: datetime | None,
               newest: datetime | None) -> Reason:
        if newest is not None and reading < newest - TOLERANCE:
            return Reason.BEHIND_NEWEST_SNAPSHOT
        if last_trusted is not None and reading < last_trusted - TOLERANCE:
            return Reason.BEHIND_LAST_TRUSTED
        synchronised = self._sync() if self._sync is not None else None
        if synchronised:
            return Reason.SYNCHRONISED
        if self._has_rtc:
            return Reason.RTC
        return Reason.SYNC_UNKNOWN if synchronised is None else Reason.NOT_SYNCHRONISED

    def last_trusted(self) -> datetime | None:
        """The last trusted time persisted; None if none was, or the file is damaged (logged
        once per process: the next trusted reading replaces it, and until then a clock set
        back is caught only by the newest snapshot's time)."""
        try:
            data = self._state.load()
            return parse_iso(data["last_trusted"]) if data is not None else None
        except (StateFileError, KeyError, TypeError, ValueError) as exc:
            if not self._warned:
                log.warning("the last trusted time is not usable (%s); it is written again "
                            "at the next trusted reading", exc)
                self._warned = True
            return None

    def _remember(self, reading: datetime, last_trusted: datetime | None) -> None:
        """Persist `reading` if the file is `PERSIST_EVERY` old; never move it back."""
        if last_trusted is not None and reading < last_trusted + PERSIST_EVERY:
            return
        try:
            self._state.save({"last_trusted": isoformat_utc(reading)})
        except OSError as exc:  # a read-only user running `appliance status`, a full disk
            log.warning("cannot record the last trusted time in %s: %s", self._state.path,
                        exc.strerror)
