"""The daily supplies check: the printer proven without paper (issue 23 §4).

`SuppliesWatch.evaluate()` runs in the jobs service every half minute and is cheap: it asks
the printer (`Printer.supplies()`: state, reasons and markers of every printer of the queue,
never a job) only when a check is due. Due is, on the injected clock:

- at the first evaluation ever (the jobs service's start: a fresh install is checked at once),
- `CHECK_EVERY` (24 h) after the last attempt,
- `RETRY_EVERY` (15 min) after the last attempt while a printer did not answer it, so a
  printer switched on again reads as answering within minutes, not a day later,
- when the clock is behind the last attempt (it was set back), and whenever IT asks
  (`appliance printer check`, `force=True`).

From the answers come two things. For IT only, the warnings `toner-low` and `paper-low`
(`core.printing.supplies`): in `status` (`printer.supplies`), the metrics and one webhook
alert on each change, never on the kiosk or the LED. And a fault: a printer that can be
asked and has not answered for `SILENT_AFTER` (24 h) is `not-answering`
(`with_silence`): the queue's condition when it is the only printer, or, in a class, that
member's (the class is then `degraded` while another answers, as for any member fault).
The silence is counted from the last answer, or, for a printer that never answered, from
the first attempt: a fresh install is never a fault before it has had a day to answer.

State: `printer-supplies.json` in the state dir (times of the first and last attempt, each
printer's last reading and last answer, what the webhook was last told, the alerts waiting),
replaced atomically under `printer-supplies.lock`; written only when something changed or
a check ran, so about once a day. No patient data: queue, marker and printer names, levels
and times only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from appliance.core.base.alert_queue import AlertPoster, AlertQueue
from appliance.core.base.clock import isoformat_utc, parse_iso
from appliance.core.base.fsutil import exclusive_lock
from appliance.core.base.statefile import StateFile
from appliance.core.config.settings import ApplianceConfig
from appliance.core.printing.printer import (
    Condition,
    PrinterReport,
    class_condition,
)
from appliance.core.printing.supplies import SupplyReading

if TYPE_CHECKING:  # the type only: services.py is above every wing
    from appliance.core.services import Services

log = logging.getLogger(__name__)

STATE_FILE = "printer-supplies.json"
LOCK_FILE = "printer-supplies.lock"
STATE_VERSION = 1
FILE_MODE = 0o640
CHECK_EVERY = timedelta(hours=24)
RETRY_EVERY = timedelta(minutes=15)
SILENT_AFTER = timedelta(hours=24)
ALERT_RETRY_SECONDS = 60


def _state_file(path: Path) -> StateFile:
    return StateFile(path, STATE_VERSION, mode=FILE_MODE)


@dataclass
class PrinterRecord:
    """One printer as the last check left it, and what the webhook was last told of it."""

    reading: SupplyReading
    last_answer_at: datetime | None = None
    told_warnings: tuple[str, ...] = ()
    told_silent: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"reading": self.reading.to_json(), "last_answer_at": _iso(self.last_answer_at),
                "told_warnings": list(self.told_warnings), "told_silent": self.told_silent}

    @classmethod
    def from_dict(cls, data: dict) -> PrinterRecord:
        told = data.get("told_warnings")
        return cls(SupplyReading.from_json(data.get("reading") or {}),
                   _time(data.get("last_answer_at")),
                   tuple(str(w) for w in told) if isinstance(told, list) else (),
                   data.get("told_silent") is True)


@dataclass
class SuppliesState:
    first_attempt_at: datetime | None = None
    last_attempt_at: datetime | None = None
    printers: dict[str, PrinterRecord] = field(default_factory=dict)  # by CUPS queue name
    queue: AlertQueue = field(default_factory=AlertQueue)

    @classmethod
    def load(cls, path: Path, *, quiet: bool = False) -> SuppliesState:
        """The saved state; none yet is a fresh start. A damaged file is moved aside with an
        error logged (the silence is then counted afresh from the next attempt, and the
        webhook may hear a warning again). `quiet` readers (status, polled every second)
        read a damaged file or one from a newer release as empty."""
        data = _state_file(path).read(
            "the printer's silence is counted afresh and a warning may be sent again",
            quiet=quiet)
        if data is None:
            return cls()
        printers = data.get("printers")
        return cls(_time(data.get("first_attempt_at")), _time(data.get("last_attempt_at")),
                   {str(name): PrinterRecord.from_dict(record)
                    for name, record in (printers.items() if isinstance(printers, dict) else ())
                    if isinstance(record, dict)},
                   AlertQueue.from_json(data.get("queue")))

    def to_dict(self) -> dict[str, Any]:
        return {"first_attempt_at": _iso(self.first_attempt_at),
                "last_attempt_at": _iso(self.last_attempt_at),
                "printers": {name: record.to_dict() for name, record in self.printers.items()},
                "queue": self.queue.to_json()}

    def save(self, path: Path) -> None:
        _state_file(path).save(self.to_dict())

    def due(self, now: datetime) -> bool:
        last = self.last_attempt_at
        if last is None or now < last or now - last >= CHECK_EVERY:
            return True
        unanswered = any(r.reading.answered is False for r in self.printers.values())
        return unanswered and now - last >= RETRY_EVERY

    def record(self, readings: tuple[SupplyReading, ...], now: datetime) -> None:
        """The check's answers at `now`: printers no longer in the queue are forgotten. A
        printer that did not answer keeps what it said last (levels, reasons, warnings, as
        of `last_answer_at`): no answer says nothing about the toner."""
        self.first_attempt_at = self.first_attempt_at or now
        self.last_attempt_at = now
        printers = {}
        for reading in readings:
            old = self.printers.get(reading.name)
            if old is None:
                old = PrinterRecord(reading)
            elif reading.answered is False and old.last_answer_at is not None:
                reading = dataclasses.replace(old.reading, label=reading.label, answered=False,
                                              detail=reading.detail)
            printers[reading.name] = dataclasses.replace(
                old, reading=reading,
                last_answer_at=now if reading.answered else old.last_answer_at)
        self.printers = printers

    def view(self, now: datetime) -> SuppliesStatus:
        return SuppliesStatus(now, self.first_attempt_at, self.last_attempt_at, tuple(
            PrinterSupplies(r.reading, r.last_answer_at, self._silence(r, now))
            for r in self.printers.values()))

    def _silence(self, record: PrinterRecord, now: datetime) -> timedelta | None:
        """How long the printer has not answered; None when it cannot be asked."""
        if record.reading.answered is None:
            return None
        since = record.last_answer_at or self.first_attempt_at
        if record.reading.answered or since is None:
            return timedelta(0)
        return max(timedelta(0), now - since)


@dataclass(frozen=True)
class PrinterSupplies:
    """One printer in `status`: its last reading, last answer and silence."""

    reading: SupplyReading
    last_answer_at: datetime | None
    silent_for: timedelta | None  # None: it cannot be asked

    @property
    def silent(self) -> bool:
        return self.silent_for is not None and self.silent_for >= SILENT_AFTER

    def to_json(self) -> dict[str, Any]:
        return {**self.reading.to_json(), "last_answer_at": _iso(self.last_answer_at),
                "silent_seconds": (int(self.silent_for.total_seconds())
                                   if self.silent_for is not None else None),
                "not_answering": self.silent}


@dataclass(frozen=True)
class SuppliesStatus:
    """The supplies check as `status`, the metrics and the LED (through `with_silence`)
    see it."""

    now: datetime
    first_attempt_at: datetime | None
    last_attempt_at: datetime | None
    printers: tuple[PrinterSupplies, ...]

    @property
    def silent(self) -> dict[str, PrinterSupplies]:
        return {p.reading.name: p for p in self.printers if p.silent}

    @property
    def warnings(self) -> tuple[str, ...]:
        """Every printer's warnings, once each, in the order of `supplies.WARNINGS`."""
        return tuple(dict.fromkeys(w for p in self.printers for w in p.reading.warnings))

    def to_json(self) -> dict[str, Any]:
        return {"first_attempt_at": _iso(self.first_attempt_at),
                "last_check_at": _iso(self.last_attempt_at),
                "warnings": list(self.warnings),
                "not_answering_after_hours": int(SILENT_AFTER.total_seconds() // 3600),
                "printers": [p.to_json() for p in self.printers]}


def supplies_status(config: ApplianceConfig, now: datetime) -> SuppliesStatus | None:
    """Read quietly, without the lock (the file is replaced atomically); None before the
    first check."""
    state = SuppliesState.load(config.state_dir / STATE_FILE, quiet=True)
    return state.view(now) if state.last_attempt_at is not None else None


def with_silence(report: PrinterReport, supplies: SuppliesStatus | None) -> PrinterReport:
    """The live report with every printer silent for `SILENT_AFTER` as `not-answering`,
    where the live report has nothing worse to say of it: CUPS reads a network printer
    that is off as ready until a job tries it, and the silence is what tells."""
    silent = supplies.silent if supplies is not None else {}
    if not silent:
        return report
    if not report.members:
        found = silent.get(report.queue or "") or (
            next(iter(silent.values())) if report.queue is None else None)
        if found is None or report.condition is not Condition.READY:
            return report
        return dataclasses.replace(report, condition=Condition.NOT_ANSWERING,
                                   detail=_silence_detail(found))
    members = tuple(
        dataclasses.replace(m, condition=Condition.NOT_ANSWERING,
                            detail=_silence_detail(silent[m.name]))
        if m.name in silent and m.ready else m for m in report.members)
    if members == report.members:
        return report
    # the class's own condition: what is left of the live one once its members are judged
    live = report.condition
    own = Condition.READY if live in (Condition.READY, Condition.DEGRADED) else live
    return dataclasses.replace(
        report, members=members, condition=class_condition(own, members),
        detail="; ".join(f"{m.name}: {m.condition}" + (f" ({m.detail})" if m.detail else "")
                         for m in members if not m.ready))


def _silence_detail(printer: PrinterSupplies) -> str:
    hours = int(printer.silent_for.total_seconds() // 3600) if printer.silent_for else 0
    last = _iso(printer.last_answer_at) or "never"
    return f"no answer to the supplies check for {hours} h (last answer: {last})"


@contextlib.contextmanager
def _locked(state_dir: Path) -> Iterator[Path]:
    with exclusive_lock(state_dir / LOCK_FILE):
        yield state_dir / STATE_FILE


class SuppliesWatch:
    def __init__(self, services: Services, poster: AlertPoster | None) -> None:
        self.services = services
        self.poster = poster

    def evaluate(self, *, force: bool = False) -> SuppliesStatus:
        """Ask the printer if a check is due (or `force`), raise an alert for every printer
        whose warnings or silence changed since the webhook was last told, retry waiting
        alerts. Webhook failures are logged, never raised."""
        now = self.services.clock.now()
        with _locked(self.services.config.state_dir) as path:
            state = SuppliesState.load(path)
            before = state.to_dict()
            if force or state.due(now):
                state.record(self.services.printer.supplies(), now)
                _log_check(state.view(now))
            for alert in self._changes(state, now):
                if self.poster is not None:
                    state.queue.add(alert, now)
            state.queue.settle(self.poster, now, changed=state.to_dict() != before,
                               save=lambda: state.save(path), retry_seconds=ALERT_RETRY_SECONDS)
        return state.view(now)

    def _changes(self, state: SuppliesState, now: datetime) -> list[dict[str, Any]]:
        """One alert per printer whose warnings or silence differ from what was last told;
        the record then says it was told."""
        alerts = []
        for printer in state.view(now).printers:
            record = state.printers[printer.reading.name]
            warnings = printer.reading.warnings
            if warnings == record.told_warnings and printer.silent == record.told_silent:
                continue
            alert = self._alert(printer, record, now)
            log.warning("printer supplies: %s", alert["message"])
            alerts.append(alert)
            record.told_warnings, record.told_silent = warnings, printer.silent
        return alerts

    def _alert(self, printer: PrinterSupplies, record: PrinterRecord,
               now: datetime) -> dict[str, Any]:
        reading = printer.reading
        raised = [w for w in reading.warnings if w not in record.told_warnings]
        cleared = [w for w in record.told_warnings if w not in reading.warnings]
        parts = [f"{w} since this check" for w in raised]
        parts += [f"{w} cleared" for w in cleared]
        if printer.silent and not record.told_silent:
            parts.append(f"not answering ({_silence_detail(printer)})")
        elif record.told_silent and not printer.silent:
            parts.append("answering again")
        low = [f"{s.name} {s.level}%" for s in reading.supplies if s.low]
        return {"event": "printer_supplies", "appliance": self.services.config.name,
                "printer": reading.name, "label": reading.label,
                "warnings": list(reading.warnings), "raised": raised, "cleared": cleared,
                "not_answering": printer.silent,
                "last_answer_at": _iso(printer.last_answer_at),
                "detected_at": isoformat_utc(now),
                "message": f"printer {reading.name} ({reading.label}): " + "; ".join(parts)
                           + (f" [{', '.join(low)}]" if low else "")}


def _log_check(status: SuppliesStatus) -> None:
    for printer in status.printers:
        reading = printer.reading
        levels = ", ".join(f"{s.name} {s.level if s.level is not None else '?'}%"
                           for s in reading.supplies) or "no markers"
        answered = {True: "answered", False: "did not answer", None: "cannot be asked"}
        log.info("supplies check: %s %s (%s); %s; warnings: %s", reading.name,
                 answered[reading.answered], reading.detail, levels,
                 ", ".join(reading.warnings) or "none")


def _time(value: object) -> datetime | None:
    return parse_iso(value) if isinstance(value, str) else None


def _iso(moment: datetime | None) -> str | None:
    return isoformat_utc(moment) if moment is not None else None
