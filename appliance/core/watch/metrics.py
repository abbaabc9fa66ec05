"""The figures `/metrics` shows: metric families (name, type, help text, samples with their
labels and values), plain data. Writing them in Prometheus' text format is the web adapter's
job (`appliance.adapters.web.metrics`, with prometheus_client), so the core knows no format.

No patient data: label values are kind names, configured unit names, reason codes, state
names, CUPS queue names and the printer's own marker names only. Per kind, the document
gauges show the kind's worst unit (as `/api/v1/status`'s `kinds`); the `appliance_unit_*`
gauges show each configured unit (none in single-unit mode).

Counters (ingests, refusals) are counts of audit events. The audit log is the appliance's
record of what came in and what was refused, so counting it cannot disagree with it. Each
process keeps an `AuditTally` that remembers how far it has read and on every scrape reads
only the lines appended since, and every worker reports the same values because they all
count the same file. A new process (a restart, another gunicorn worker) resumes from the
tally's checkpoint (`metrics-tally.json`: where the last count ended, and the counts there)
instead of reading the whole log again, which after a year took 82 ms and after ten would
take most of a second (bench/README.md). The checkpoint is only a shortcut: a log that
does not continue it is counted again from the start, and a damaged checkpoint is set
aside. Missed slots come from the slot watch's own persisted state
(`appliance.core.watch.slots`).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING

from appliance import __version__
from appliance.core.base.statefile import StateFile, StateFileError
from appliance.core.intake.refusal_counts import EVENT as REFUSALS_COUNTED
from appliance.core.intake.refusal_counts import RefusalCounts
from appliance.core.printing.printer import Condition, PrinterReport
from appliance.core.printing.supplies import WARNINGS
from appliance.core.records.audit import segment_paths
from appliance.core.time.clock_trust import ClockReading
from appliance.core.watch.selftest import SelftestResult
from appliance.core.watch.slots import missed_totals
from appliance.core.watch.status import State
from appliance.core.watch.supplies_check import SuppliesStatus

if TYPE_CHECKING:  # the type only: services.py is above every wing
    from appliance.core.services import Services

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "metrics-tally.json"


class AuditTally:
    """Counts of `ingested` and `refused` (by reason) events in one audit log, its segments
    included, read incrementally. A `refusals_counted` entry adds its `count`. Thread-safe.
    A log that shrank, was replaced or does not continue where the last read ended is
    counted again from its start.

    With a `checkpoint`, the first update resumes from the counts saved there, and every
    update that read new lines saves them (atomically; workers writing it in turn each
    leave a consistent checkpoint). Without one (tests, the year bench's cold figure)
    every new tally reads the whole log."""

    def __init__(self, path: Path, checkpoint: StateFile | None = None) -> None:
        self.path = Path(path)
        self.checkpoint = checkpoint
        self._lock = threading.Lock()
        self._resumed = checkpoint is None
        self._reset()

    def _reset(self) -> None:
        self._offsets: dict[tuple[int, int], int] = {}  # (device, inode) -> bytes counted
        self._last_n: int | None = None
        self.ingests = 0
        self.refusals: Counter[str] = Counter()
        self.last_delivery: dict[str, float] = {}  # sender -> Unix time of its last ingest

    def update(self) -> None:
        with self._lock:
            if not self._resumed:
                self._resumed = True
                self._resume()
            before = dict(self._offsets)
            if not self._read_all(check=True):
                self._reset()
                self._read_all(check=False)
            if self.checkpoint is not None and self._offsets != before:
                self._save()

    def _resume(self) -> None:
        """Take up the counts where the checkpoint left them, if it is for this log."""
        try:
            saved = self.checkpoint.load_or_set_aside(
                "the counters are counted again from the audit log")
        except StateFileError as exc:  # a newer release's: leave it alone, count afresh
            log.warning("%s; counting the audit log from its start", exc)
            self.checkpoint = None
            return
        if not saved or saved.get("log") != str(self.path):
            return
        try:
            offsets = {(int(dev), int(ino)): int(offset)
                       for dev, ino, offset in saved["offsets"]}
            last_n = saved["last_n"]
            ingests = int(saved["ingests"])
            refusals = Counter({str(k): int(v) for k, v in saved["refusals"].items()})
            last_delivery = {str(k): float(v) for k, v in saved["last_delivery"].items()}
        except (KeyError, TypeError, ValueError, AttributeError):
            log.warning("%s does not hold a tally; counting the audit log from its start",
                        self.checkpoint.path)
            return
        if last_n is not None and (isinstance(last_n, bool) or not isinstance(last_n, int)):
            return
        self._offsets, self._last_n = offsets, last_n
        self.ingests, self.refusals = ingests, refusals
        self.last_delivery = last_delivery

    def _save(self) -> None:
        try:
            self.checkpoint.save({
                "log": str(self.path),
                "offsets": [[dev, ino, offset]
                            for (dev, ino), offset in sorted(self._offsets.items())],
                "last_n": self._last_n, "ingests": self.ingests,
                "refusals": dict(sorted(self.refusals.items())),
                "last_delivery": dict(sorted(self.last_delivery.items())),
            })
        except OSError as exc:  # a full disk or a read-only one: the counts stay right
            log.warning("cannot save the metrics tally's checkpoint %s: %s",
                        self.checkpoint.path, exc)


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
            sender, at = entry.get("sender"), _unix_time(entry.get("time"))
            if isinstance(sender, str) and at is not None:
                self.last_delivery[sender] = max(at, self.last_delivery.get(sender, at))
        elif event == "refused":
            self.refusals[str(entry.get("reason") or "unknown")] += 1
        elif event == REFUSALS_COUNTED:
            count = entry.get("count")
            if isinstance(count, int) and not isinstance(count, bool) and count > 0:
                self.refusals[str(entry.get("reason") or "unknown")] += count


def tally_checkpoint(state_dir: Path) -> StateFile:
    """The tally's checkpoint in the appliance's state directory."""
    return StateFile(Path(state_dir) / CHECKPOINT_NAME)


def _entry(raw: bytes) -> dict | None:
    try:
        entry = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return entry if isinstance(entry, dict) else None


def _unix_time(text: object) -> float | None:
    """An audit entry's `time` (ISO 8601, UTC) as Unix seconds; None if it is not one."""
    try:
        return datetime.fromisoformat(str(text)).timestamp()
    except ValueError:
        return None


def state_dir_space(state_dir: Path) -> tuple[int, int] | None:
    """(bytes available to the service user, size) of the file system holding `state_dir`,
    as `df` counts them (root's reserve excluded); None if it cannot be read."""
    try:
        info = os.statvfs(state_dir)
    except OSError:
        return None
    return info.f_bavail * info.f_frsize, info.f_blocks * info.f_frsize


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
    space = state_dir_space(config.state_dir)
    # Enrolled senders that never delivered show 0 (1970): "not seen" alerts on them too.
    delivered = {name: 0.0 for name in services.sender_folder.names()} | tally.last_delivery
    expected = [name for name, kind in status.kinds.items() if kind.expected]
    per_unit = [kind for kind in status.checks if kind.unit is not None]
    return [
        Family("appliance_build_info", "gauge",
               "Always 1; `version` is the appliance software's version (which Pi runs what).",
               [({"version": __version__}, 1)]),
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
               [({"condition": str(condition)}, int(condition is status.printer.condition))
                for condition in Condition if status.printer is not None]),
        *supplies_families(status.supplies),
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
        Family("appliance_sender_last_delivery_timestamp_seconds", "gauge",
               "Unix time of the sender's last accepted snapshot, by the appliance's clock; "
               "0: enrolled, never delivered.",
               [({"sender": name}, at) for name, at in sorted(delivered.items())]),
        Family("appliance_state_dir_avail_bytes", "gauge",
               "Bytes free for the appliance on the file system of its state_dir.",
               [({}, space[0])] if space else []),
        Family("appliance_state_dir_size_bytes", "gauge",
               "Size in bytes of the file system of the appliance's state_dir.",
               [({}, space[1])] if space else []),
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
        *_selftest_families(status.selftest),
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
        *planned_outage_families(status.planned_outages, now),
    ]


def planned_outage_families(windows, now: datetime) -> list[Family]:
    """The next planned outage (under way or shown ahead, `outage.show_days_ahead`): its start
    as a Unix time, and whether one is under way. No labels: a note is IT's free text."""
    return [
        Family("appliance_planned_outage_next_start_timestamp_seconds", "gauge",
               "Start (Unix time) of the next planned outage not yet ended; absent: none.",
               [({}, windows[0].starts_at.timestamp())] if windows else []),
        Family("appliance_planned_outage_ongoing", "gauge",
               "1 while a planned outage is under way.",
               [({}, int(any(window.ongoing(now) for window in windows)))]),
    ]



def _selftest_families(result: SelftestResult | None) -> list[Family]:
    """The last self-check (`appliance selftest`); absent: it never ran here."""
    if result is None:
        return []
    return [
        Family("appliance_selftest_ok", "gauge",
               "1 if the last self-check passed; 0: the state is fault (`appliance selftest` "
               "names what failed).", [({}, int(result.ok))]),
        Family("appliance_selftest_check_ok", "gauge",
               "1 if the check passed in the last self-check, by check name.",
               [({"check": check.name}, int(check.ok)) for check in result.checks]),
        Family("appliance_selftest_last_run_timestamp_seconds", "gauge",
               "When the last self-check ran (Unix time).", [({}, result.at.timestamp())]),
        Family("appliance_reboot_required", "gauge",
               "1 if an upgrade wants a reboot (/run/reboot-required, as of the last "
               "self-check): for IT, never shown to nurses.",
               [({}, int(result.reboot_required))]),
    ]


def supplies_families(supplies: SuppliesStatus | None) -> list[Family]:
    """The daily supplies check's figures, per printer (CUPS queue name) of the queue;
    empty before the first check."""
    printers = supplies.printers if supplies is not None else ()
    return [
        Family("appliance_printer_marker_level_percent", "gauge",
               "A marker's level (toner, ink) as the printer reported it at the last supplies "
               "check; absent when it reports none.",
               [({"printer": p.reading.name, "marker": s.name}, s.level)
                for p in printers for s in p.reading.supplies if s.level is not None]),
        Family("appliance_printer_supply_warning", "gauge",
               "1 if the printer reported the warning (toner-low, paper-low) at the last "
               "supplies check. For IT: printing still works.",
               [({"printer": p.reading.name, "warning": w}, int(w in p.reading.warnings))
                for p in printers for w in WARNINGS]),
        Family("appliance_printer_unanswered_seconds", "gauge",
               "Seconds since the printer last answered the supplies check (0: it answered "
               "the last one); from 86400 the printer is not-answering. Absent: it cannot be "
               "asked without a job.",
               [({"printer": p.reading.name}, p.silent_for.total_seconds())
                for p in printers if p.silent_for is not None]),
    ]
