"""Outage drills: when the last one was printed, and the one reminder when the next is due.

A drill is the real kit with "ÖVNING – INTE FÖR VÅRD" across every page
(`PrintService.request(..., drill=True)`): the routine is practised with the paper it will
use. Printing one calls `record_drill`, which notes its time and re-arms the reminder.

`DrillReminder.evaluate()` (the jobs service, every half minute) raises the reminder once
the last drill is older than `drills.remind_after_days`, or at once when there never was
one (a new appliance should be drilled before it is needed): one audit entry
`drill_reminder`, one warning in the log and one webhook alert, however often it runs or
restarts, until the next drill re-arms it. The kiosk and `status` show the reminder for
as long as it is due.

State: `drills.json` in the state dir, a few hundred bytes (time of the last drill, whether
the reminder was raised, the webhook alerts waiting), replaced atomically, under an
exclusive `flock` on `drills.lock` for every change, so a drill printed by one process and
an evaluation in another never lose each other's update. No patient data: times, counts
and the appliance's name only.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from appliance.core.base.alert_queue import AlertPoster, AlertQueue
from appliance.core.base.clock import isoformat_utc, local_time, parse_iso
from appliance.core.base.fsutil import exclusive_lock
from appliance.core.base.statefile import StateFile
from appliance.core.config.settings import ApplianceConfig

if TYPE_CHECKING:  # the type only: services.py is above every wing
    from appliance.core.services import Services

log = logging.getLogger(__name__)

STATE_FILE = "drills.json"
LOCK_FILE = "drills.lock"
STATE_VERSION = 1
RETRY_SECONDS = 60
FILE_MODE = 0o640
REMINDER_EVENT = "drill_reminder"


def _state_file(path: Path) -> StateFile:
    return StateFile(path, STATE_VERSION, mode=FILE_MODE)


@dataclass
class DrillState:
    last_drill_at: datetime | None = None
    reminded_at: datetime | None = None  # the reminder raised since the last drill, if any
    queue: AlertQueue = field(default_factory=AlertQueue)

    @classmethod
    def load(cls, path: Path, *, quiet: bool = False) -> DrillState:
        """The saved state; none yet is a fresh start. A damaged file is moved aside with an
        error logged and drills start afresh: the reminder may then come again, which beats
        never coming. `quiet` readers (status, polled every second) leave a damaged file to
        the jobs service and read it as empty. A file a newer release wrote raises
        `StateFileError`, except for `quiet` readers."""
        data = _state_file(path).read("the drill reminder may come again", quiet=quiet)
        if data is None:
            return cls()
        return cls(_time(data.get("last_drill_at")), _time(data.get("reminded_at")),
                   AlertQueue.from_json(data.get("queue")))

    def to_dict(self) -> dict[str, Any]:
        return {"last_drill_at": _iso(self.last_drill_at), "reminded_at": _iso(self.reminded_at),
                "queue": self.queue.to_json()}

    def save(self, path: Path) -> None:
        _state_file(path).save(self.to_dict())


def _time(value: object) -> datetime | None:
    return parse_iso(value) if isinstance(value, str) else None


def _iso(moment: datetime | None) -> str | None:
    return isoformat_utc(moment) if moment is not None else None


@dataclass(frozen=True)
class DrillStatus:
    """The last drill as `status`, the metrics and the kiosk show it."""

    last_drill_at: datetime | None
    remind_after: timedelta
    now: datetime

    @property
    def age(self) -> timedelta | None:
        """Never negative: a drill stamped ahead of this clock counts as just done."""
        if self.last_drill_at is None:
            return None
        return max(timedelta(0), self.now - self.last_drill_at)

    @property
    def reminder_due(self) -> bool:
        """True when no drill was ever printed, or the last is `remind_after` old."""
        return self.age is None or self.age >= self.remind_after

    def to_json(self) -> dict[str, Any]:
        age = self.age
        return {"last_drill_at": _iso(self.last_drill_at),
                "age_seconds": int(age.total_seconds()) if age is not None else None,
                "remind_after_days": self.remind_after.days,
                "reminder_due": self.reminder_due}


def drill_status(config: ApplianceConfig, now: datetime) -> DrillStatus:
    """Read without the lock: the file is replaced atomically. Quiet: the LED polls it
    every second, and the jobs service warns of a damaged file."""
    state = DrillState.load(config.state_dir / STATE_FILE, quiet=True)
    return DrillStatus(state.last_drill_at, timedelta(days=config.drills.remind_after_days),
                       now)


@contextlib.contextmanager
def _locked(state_dir: Path) -> Iterator[Path]:
    """The state file's path, while holding the drills lock."""
    with exclusive_lock(state_dir / LOCK_FILE):
        yield state_dir / STATE_FILE


def record_drill(state_dir: Path, at: datetime) -> None:
    """A drill was handed to the printer at `at`: it is the last one, and the reminder is
    armed again."""
    with _locked(Path(state_dir)) as path:
        state = DrillState.load(path)
        state.last_drill_at = at
        state.reminded_at = None
        state.save(path)


class DrillReminder:
    def __init__(self, services: Services, poster: AlertPoster | None) -> None:
        self.services = services
        self.poster = poster

    def evaluate(self) -> dict[str, Any] | None:
        """Raise the reminder if it is due and was not raised since the last drill; return
        its alert (None otherwise). Retries a waiting webhook alert. Audit and webhook
        failures are logged, never raised."""
        config = self.services.config
        now = self.services.clock.now()
        with _locked(config.state_dir) as path:
            state = DrillState.load(path)
            before = copy.deepcopy(state.to_dict())
            status = DrillStatus(state.last_drill_at,
                                 timedelta(days=config.drills.remind_after_days), now)
            alert = None
            if status.reminder_due and state.reminded_at is None:
                state.reminded_at = now
                alert = self._raise(status)
                if self.poster is not None:
                    state.queue.add(alert, now)
            state.queue.settle(self.poster, now, changed=state.to_dict() != before,
                               save=lambda: state.save(path), retry_seconds=RETRY_SECONDS)
        return alert

    def _raise(self, status: DrillStatus) -> dict[str, Any]:
        config = self.services.config
        last = status.last_drill_at
        if last is None:
            message = ("No outage drill has been printed on this appliance yet: run one "
                       "(`appliance drill` or the kiosk's Övning button).")
        else:
            message = (f"The last outage drill was printed "
                       f"{local_time(last, config.timezone)} ({config.timezone}), more than "
                       f"{config.drills.remind_after_days} days ago: time for the next one.")
        log.warning("drill reminder: %s", message)
        try:
            self.services.audit.append(REMINDER_EVENT, last_drill_at=_iso(last),
                                       remind_after_days=config.drills.remind_after_days)
        except Exception:  # the log's own failure is logged; the reminder goes on
            log.exception("audit log could not record %s", REMINDER_EVENT)
        return {"event": "drill_due", "appliance": config.name,
                "last_drill_at": _iso(last),
                "remind_after_days": config.drills.remind_after_days,
                "detected_at": isoformat_utc(status.now), "message": message}
