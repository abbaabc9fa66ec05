"""The figures `/metrics` shows: metric families (name, type, help text, samples with their
labels and values), plain data. Writing them in Prometheus' text format is the web adapter's
job (`appliance.adapters.web.metrics`, with prometheus_client), so the core knows no format.

No patient data: label values are kind names, configured unit names, reason codes and state
names only. Per kind, the document gauges show the kind's worst unit (as `/api/v1/status`'s
`kinds`); the `appliance_unit_*` gauges show each configured unit (none in single-unit mode).

Counters (ingests, refusals) are counts of audit events. The audit log is the appliance's
record of what came in and what was refused, so counting it cannot disagree with it. Each
process keeps an `AuditTally` that remembers how far it has read and on every scrape reads
only the lines appended since; a new process (a restart, another gunicorn worker) reads the
log once from the start. That survives restarts without a second store of numbers, and
every worker reports the same values because they all count the same file. Missed slots
come from the slot watch's own persisted state (`appliance.core.watch.slots`).
"""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING

from appliance.core.intake.refusal_counts import EVENT as REFUSALS_COUNTED
from appliance.core.intake.refusal_counts import RefusalCounts
from appliance.core.printing.printer import Condition, PrinterReport
from appliance.core.records.audit import segment_paths
from appliance.core.time.clock_trust import ClockReading
from appliance.core.watch.slots import missed_totals
from appliance.core.watch.status import State

if TYPE_CHECKING:  # the type only: services.py is above every wing
    from appliance.core.services import Services


class AuditTally:
    """Counts of `ingested` and `refused` (by reason) events in one audit log, its segments
    included, read incrementally. A `refusals_counted` entry adds its `count`. Thread-safe.
    A log that shrank, was replaced or does not continue where the last read ended is
    counted again from its start."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self._offsets: dict[tuple[int, int], int] = {}  # (device, inode) -> bytes counted
        self._last_n: int | None = None
        self.ingests = 0
        self.refusals: Counter[str] = Counter()

    def update(self) -> None:
        with self._lock:
            if not self._read_all(check=True):
                self._reset()
                self._read_all(check=False)

    def _read_all(self, check: bool) -> bool:
        """Count what is new in every file of the log (segments first); False if the files
        do not continue what was counted before (what was counted is then unreliable)."""
        offsets = {}
        for path in [*segment_paths(self.path), self.path]:
            try:
                handle = open(path, "rb")  # noqa: SIM115 - closed by the with below
            except FileNotFoundError:
                continue
            with handle:
                info = os.fstat(handle.fileno())
                identity = (info.st_dev, info.st_ino)
                offset = self._offsets.get(identity, 0)
                if check and info.st_size < offset:
                    return False
                new_offset = self._read_on(handle, offset, check)
                if new_offset is None:
                    return False
                offsets[identity] = new_offset
        self._offsets = offsets
        return True

    def _read_on(self, handle: IO[bytes], offset: int, check: bool) -> int | None:
        """Count complete lines after `offset` and return the new offset; None if the first
        of them does not continue the entries counted before (nothing is counted then)."""
        handle.seek(offset)
        first = check
        for raw in handle:
            if not raw.endswith(b"\n"):
                break  # torn or still being written: read it next time
            entry = _entry(raw)
            if entry is not None:
                n = entry.get("n")
                if first and self._last_n is not None and n != self._last_n + 1:
                    return None
                first = False
                self._count(entry)
                self._last_n = n if isinstance(n, int) else self._last_n
            offset += len(raw)
        return offset

    def _count(self, entry: dict) -> None:
        event = entry.get("event")
        if event == "ingested":
            self.ingests += 1
        elif event == "refused":
            self.refusals[str(entry.get("reason") or "unknown")] += 1
        elif event == REFUSALS_COUNTED:
            count = entry.get("count")
            if isinstance(count, int) and not isinstance(count, bool) and count > 0:
                self.refusals[str(entry.get("reason") or "unknown")] += count


def _entry(raw: bytes) -> dict | None:
    try:
        entry = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return entry if isinstance(entry, dict) else None


Labels = dict[str, str]


@dataclass
class Family:
    """One metric family as exposed: `name` in full (a counter's ends in `_total`), `type`
    "gauge" or "counter", and its samples, each with the same label names."""

    name: str
    type: str  # gauge or counter
    help: str
    samples: list[tuple[Labels, float]] = field(default_factory=list)


def collect(services: Services, tally: AuditTally, now: datetime | ClockReading,
            printer: PrinterReport | None = None) -> list[Family]:
    """`now`: as `Services.status` takes it; ages are then by the clock's lower bound."""
    config = services.config
    status = services.status(printer, reading=now)
    now = status.now
    with RefusalCounts.of(services).pending() as pending:  # exact: no window moves meanwhile
        tally.update()
        refusals = tally.refusals + pending
    missed = missed_totals(config.state_dir)
    expected = [name for name, kind in status.kinds.items() if kind.expected]
    per_unit = [kind for kind in status.checks if kind.unit is not None]
    return [
        Family("appliance_state", "gauge",
               "The appliance's state (1 for the current one), as in /api/v1/status.",
               [({"state": str(state)}, int(state is status.state)) for state in State]),
        Family("appliance_clock_trusted", "gauge",
               "1 if the clock is synchronised or has an RTC, and not behind a time already "
               "seen; 0: ages are lower bounds (`reason` says why, as /api/v1/status).",
               [({"reason": str(status.clock.reason)}, int(status.clock.trusted))]
               if status.clock is not None else []),
        Family("appliance_printer_condition", "gauge",
               "The printer's condition (1 for the current one), as `appliance printer` says.",
               [({"condition": str(condition)}, int(condition is printer.condition))
                for condition in Condition if printer is not None]),
        Family("appliance_document_age_seconds", "gauge",
               "Seconds since the record system produced the newest document of the kind.",
               [({"kind": name}, kind.age(now).total_seconds())
                for name, kind in status.kinds.items() if kind.latest is not None]),
        Family("appliance_document_stale", "gauge",
               "1 if an expected slot of the kind passed (plus grace) without newer data.",
               [({"kind": name}, int(kind.stale)) for name, kind in status.kinds.items()]),
        Family("appliance_unit_document_age_seconds", "gauge",
               "Seconds since the record system produced the newest document of the kind for "
               "the configured unit.",
               [({"unit": kind.unit, "kind": kind.kind}, kind.age(now).total_seconds())
                for kind in per_unit if kind.latest is not None]),
        Family("appliance_unit_document_stale", "gauge",
               "1 if an expected slot of the kind passed (plus grace) without newer data for "
               "the configured unit.",
               [({"unit": kind.unit, "kind": kind.kind}, int(kind.stale)) for kind in per_unit]),
        Family("appliance_snapshots_stored", "gauge", "Sealed snapshots in the store.",
               [({}, len(services.store.snapshots()))]),
        Family("appliance_ingests_total", "counter", "Snapshots accepted.",
               [({}, tally.ingests)]),
        Family("appliance_refusals_total", "counter", "Snapshots refused, by reason code.",
               [({"reason": reason}, count) for reason, count in sorted(refusals.items())]),
        Family("appliance_last_drill_age_seconds", "gauge",
               "Seconds since the last outage drill was printed; absent: never.",
               [({}, status.drill.age.total_seconds())]
               if status.drill and status.drill.age is not None else []),
        Family("appliance_drill_due", "gauge",
               "1 if an outage drill is due (drills.remind_after_days passed, or none yet).",
               [({}, int(status.drill.reminder_due))] if status.drill else []),
        Family("appliance_panel_gpio_ready", "gauge",
               "1 if the panel's button and LED work, 0 while its daemon waits for its GPIO "
               "(`appliance status` says why); absent: no panel has run here.",
               [({}, int(status.panel.gpio == "ready"))]
               if status.panel and status.panel.gpio != "stopped" else []),
        Family("appliance_key_previous_keys", "gauge",
               "Old appliance keys still held (rotation, docs/key-protection.md): in their "
               "grace period, or kept because stored snapshots are sealed to them.",
               [({}, status.key_rotation.previous_keys)] if status.key_rotation else []),
        Family("appliance_key_grace_ends_timestamp_seconds", "gauge",
               "When the running key rotation's grace period ends (Unix time): until then "
               "snapshots sealed to the old key are accepted; absent: no grace running.",
               [({}, status.key_rotation.grace_ends.timestamp())]
               if status.key_rotation and status.key_rotation.grace_ends else []),
        Family("appliance_slots_missed_total", "counter",
               "Expected slots that passed (plus grace) without new data, by kind.",
               [({"kind": name}, missed.get(name, 0))
                for name in sorted({*expected, *missed})]),
    ]

