"""Missed-slot alerts: tell someone, once, when an expected export did not arrive.

`SlotWatch.evaluate()` looks at every kind with expected slots, for each configured unit
(`compute_status`, so the rule is the one the LED, `/api/v1/status` and `appliance status`
show; in single-unit mode, per kind). When a unit's kind is stale for its current due slot
and that (unit, kind, slot) was not alerted yet, it logs a warning, appends `slot_missed` to
the audit log and queues a webhook alert. When one with an open missed slot is fresh again it
does the same once with `slot_recovered`. A kind stale over several slots gets one alert per
slot. Slots that pass while nothing evaluates (the jobs service stopped) are folded into one
alert for the newest.

What was alerted lives in `slot-alerts.json` in the state dir, so a restart neither repeats
nor forgets an alert. A small JSON file rather than a table in the SQLite index: the state
is a few hundred bytes that a technician can read with `cat`, it belongs to this module
alone (the index schema stays the store's), and `StateFile` (core.base.statefile) makes
each update all or nothing. Every evaluation holds an exclusive `flock` on
`slot-alerts.lock` from reading the state to writing it back, so two processes running the
watch alert once, not twice.

Webhook alerts wait in an `AlertQueue` saved in the same file and are sent oldest first
by the injected poster (`SlotWatch(services, poster)`; None: no webhook). A failure is
logged (with the host, never the URL, which may carry a token) and retried at the next
evaluation at least `RETRY_SECONDS` later; an alert is removed only once delivered.

No patient data: alerts name the kind, its configured title, the configured unit, slot
times and data times.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from appliance.core.base.alert_queue import AlertPoster, AlertQueue
from appliance.core.base.clock import isoformat_utc, local_time, parse_iso
from appliance.core.base.fsutil import exclusive_lock
from appliance.core.base.statefile import StateFile
from appliance.core.records.audit import AuditError
from appliance.core.watch.status import KindStatus

if TYPE_CHECKING:  # the type only: services.py is above every wing
    from appliance.core.services import Services

log = logging.getLogger(__name__)

STATE_FILE = "slot-alerts.json"
LOCK_FILE = "slot-alerts.lock"
STATE_VERSION = 1
RETRY_SECONDS = 60
FILE_MODE = 0o640


def _state_file(path: Path) -> StateFile:
    return StateFile(path, STATE_VERSION, mode=FILE_MODE)


@dataclass
class AlertState:
    """What has been alerted. `open`: `alert_key` -> {"slot": ISO time of the newest missed
    slot, "missed": slots missed since it was last fresh}; `missed_total`: per kind, all
    units together."""

    open: dict[str, dict[str, Any]] = field(default_factory=dict)
    missed_total: dict[str, int] = field(default_factory=dict)
    queue: AlertQueue = field(default_factory=AlertQueue)

    @classmethod
    def load(cls, path: Path) -> AlertState:
        """The saved state; an absent file is a fresh start, and so is a damaged one, moved
        aside with an error logged: an alert repeated beats an alert never sent. A file a
        newer release wrote raises `StateFileError` (the slot check logs it every turn)."""
        data = _state_file(path).load_or_set_aside(
            "missed-slot alerts may repeat")
        if data is None:
            return cls()
        return cls(
            open={kind: entry for kind, entry in _dict(data.get("open")).items()
                  if isinstance(entry, dict) and isinstance(entry.get("slot"), str)},
            missed_total={kind: count for kind, count in _dict(data.get("missed_total")).items()
                          if isinstance(count, int)},
            queue=AlertQueue.from_json(data.get("queue")),
        )

    def to_dict(self) -> dict[str, Any]:
        return {"open": self.open, "missed_total": self.missed_total,
                "queue": self.queue.to_json()}

    def save(self, path: Path) -> None:
        _state_file(path).save(self.to_dict())


def _named(kind: KindStatus) -> str:
    """`todo (Att göra-lista)`, with ` for Hemsjukvård Norr` when units are configured."""
    return f"{kind.kind} ({kind.title})" + (f" for {kind.unit}" if kind.unit else "")


def _unit_part(kind: KindStatus) -> str:
    return f", unit {kind.unit}" if kind.unit else ""


def _dict(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def alert_key(kind: KindStatus) -> str:
    """`todo` in single-unit mode, `todo/Hemsjukvård Norr` per unit (a kind has no `/`)."""
    return kind.kind if kind.unit is None else f"{kind.kind}/{kind.unit}"


def missed_totals(state_dir: Path) -> dict[str, int]:
    """Missed slots per kind since installation (for `/metrics`). Reads without the lock:
    the file is replaced atomically, so a reader sees the old or the new state."""
    return AlertState.load(Path(state_dir) / STATE_FILE).missed_total


class SlotWatch:
    def __init__(self, services: Services, poster: AlertPoster | None) -> None:
        self.services = services
        self.poster = poster
        self.state_path = services.config.state_dir / STATE_FILE
        self.lock_path = services.config.state_dir / LOCK_FILE

    def evaluate(self) -> list[dict[str, Any]]:
        """Check every kind with slots now; return the alerts raised by this evaluation.

        Audit and webhook failures are logged, never raised: the next evaluation retries
        the webhook. Store and disk errors do propagate (the caller logs them).
        """
        with exclusive_lock(self.lock_path):
            reading = self.services.clock_reading()  # an unsure clock: its lower bound
            now = reading.now
            state = AlertState.load(self.state_path)
            before = copy.deepcopy(state.to_dict())
            status = self.services.status(reading=reading)
            raised = []
            for kind in status.checks:
                alert = self._check(kind, state, now)
                if alert is not None:
                    raised.append(alert)
            self._forget_unexpected(state, status.checks)
            if self.poster is not None:
                for alert in raised:
                    state.queue.add(alert, now)
            state.queue.settle(self.poster, now, changed=state.to_dict() != before,
                               save=lambda: state.save(self.state_path),
                               retry_seconds=RETRY_SECONDS)
        return raised


    # ------------------------------------------------------------ transitions

    def _check(self, kind: KindStatus, state: AlertState, now: datetime) -> dict | None:
        if not kind.expected:
            return None
        key = alert_key(kind)
        opened = state.open.get(key)
        if kind.stale and kind.due_slot is not None:
            if opened is not None and parse_iso(opened["slot"]) >= kind.due_slot:
                return None  # this slot was alerted already
            missed = (opened or {}).get("missed", 0) + 1
            state.open[key] = {"slot": isoformat_utc(kind.due_slot), "missed": missed}
            state.missed_total[kind.kind] = state.missed_total.get(kind.kind, 0) + 1
            return self._missed(kind, now)
        if not kind.stale and opened is not None:
            del state.open[key]
            return self._recovered(kind, opened, now)
        return None

    def _missed(self, kind: KindStatus, now: datetime) -> dict[str, Any]:
        newest = kind.latest.produced_at if kind.latest else None
        message = (f"No new {_named(kind)} arrived for the "
                   f"{self._local(kind.due_slot)} slot; "
                   + (f"the newest was produced {self._local(newest)}." if newest
                      else "the appliance has none at all."))
        log.warning("missed slot: kind %s%s, slot %s, newest data %s", kind.kind,
                    _unit_part(kind), isoformat_utc(kind.due_slot),
                    isoformat_utc(newest) if newest else "none")
        self._audit("slot_missed", kind=kind.kind, unit=kind.unit,
                    slot=isoformat_utc(kind.due_slot))
        return self._payload("slot_missed", kind, kind.due_slot, now, message)

    def _recovered(self, kind: KindStatus, opened: dict, now: datetime) -> dict[str, Any]:
        slot = parse_iso(opened["slot"])
        missed = opened.get("missed", 1)
        message = (f"{_named(kind)} is up to date again: data produced "
                   f"{self._local(kind.latest.produced_at)} arrived after {missed} missed "
                   f"slot(s), the last at {self._local(slot)}.")
        log.info("slot recovered: kind %s%s, data produced %s, after %d missed slot(s)",
                 kind.kind, _unit_part(kind), isoformat_utc(kind.latest.produced_at), missed)
        self._audit("slot_recovered", kind=kind.kind, unit=kind.unit, slot=opened["slot"],
                    missed=missed)
        return self._payload("slot_recovered", kind, slot, now, message) | {"missed_slots": missed}

    def _forget_unexpected(self, state: AlertState, checks: tuple[KindStatus, ...]) -> None:
        """A kind or unit removed from the config, or a kind whose slots were, has nothing
        to recover."""
        expected = {alert_key(kind) for kind in checks if kind.expected}
        for key in [key for key in state.open if key not in expected]:
            log.info("%s no longer has expected slots; its open missed slot is closed", key)
            del state.open[key]

    def _payload(self, event: str, kind: KindStatus, slot: datetime, now: datetime,
                 message: str) -> dict[str, Any]:
        newest = kind.latest.produced_at if kind.latest else None
        return {
            "event": event,
            "appliance": self.services.config.name,
            "kind": kind.kind,
            "title": kind.title,
            "unit": kind.unit,
            "slot": isoformat_utc(slot),
            "timezone": str(self.services.config.timezone),
            "newest_produced_at": isoformat_utc(newest) if newest else None,
            "detected_at": isoformat_utc(now),
            "message": message,
        }

    def _local(self, moment: datetime) -> str:
        tz = self.services.config.timezone
        return f"{local_time(moment, tz)} ({tz})"

    def _audit(self, event: str, **fields: Any) -> None:
        try:
            self.services.audit.append(event, **fields)
        except AuditError:
            log.exception("could not write %s to the audit log", event)
