"""A year of one appliance, simulated on an injected clock: for bench/year.py and
tests/test_year.py.

One appliance, one `FixedClock`, no real waiting: the clock is set to each event's time.

- **Deliveries**: twice a day at `Plan.deliveries` (07:00 and 14:30 Europe/Stockholm, so the
  daylight saving changes are crossed), one snapshot per (unit, kind), as the sender agent
  sends them (one document each, one after the other, 5 s apart), each produced at the
  delivery time and ingested in-process exactly as the web service does (`ingest` on the
  web process's `Services`), retention after every ingest included.
- **The jobs service**, every `Plan.poll_minutes`: the slot watch, the drill reminder, the
  counted refusals and the print follow-up, as `appliance jobs` runs them every 30 s. The
  slot watch asks `Services.status()`, whose clock reading persists `clock.json` at most
  every 5 minutes (`clock_trust.PERSIST_EVERY`), so polls every 5 minutes write what
  polls every 30 s (or the panel's every second) would; more often would only read more.
  Retention once a day at `Plan.retention_at`, as the jobs service does every 24 h.
- **A kit**: the `Plan.profile` kit exported (`PrintService.export`, no CUPS needed) every
  `Plan.kit_every_days` at `Plan.kit_at`, to a file outside the state dir, then deleted.

The documents: a small pool made once with `make_document` (per unit and kind, one of each
of `Plan.pages`) and sent again and again with new `produced_at` times. The seal allows it:
the manifest carries `produced_at` and binds it only to the content's hash, and nothing
reads the time printed inside the PDF (which stays the pool's).

Measured at the end of every simulated day (`Day`): the store (the snapshot files), the
index (`index.sqlite3` + `-wal`; `-shm` apart), the audit log (live segment, closed
segments, anchor), the files in the state dir, and what the day wrote: `/proc/self/io`
deltas added up over the appliance's own calls only (sealing is the office PC's work and
stays outside), and the sizes of the files in the state dir that the day created or
changed; and the median wall time of the day's ingests and jobs ticks. At the end of each
of `Plan.timing_days` and of the last day (after that day's figures are taken, so their
writes are not in them): the kit export timed `Plan.timing_repeat` times,
`Services.status()` four times as often (at least 20), and `/metrics` collections: with a
fresh audit tally that reads the whole log (cold), again (warm), and with a fresh tally
resuming from the checkpoint the first left (as the first scrape after a restart does).
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as time_of_day
from pathlib import Path
from zoneinfo import ZoneInfo

from appliance.core.base.clock import FixedClock
from appliance.core.base.statefile import StateFile
from appliance.core.config.settings import ApplianceConfig
from appliance.core.crypto import keys, seal
from appliance.core.intake.ingest import ingest
from appliance.core.intake.refusal_counts import RefusalCounts
from appliance.core.intake.retention import apply_retention
from appliance.core.printing.print_service import PrintService
from appliance.core.printing.printer import Printer
from appliance.core.records.audit import segment_paths
from appliance.core.services import Services
from appliance.core.time.drills import DrillReminder
from appliance.core.watch.metrics import CHECKPOINT_NAME, AuditTally, collect
from appliance.core.watch.slots import SlotWatch
from appliance.devtools.synthetic import KINDS, make_document
from appliance.sender.outgoing import Sender

UNITS = ("Hemsjukvård Norr", "Hemsjukvård Syd", "Hemsjukvård Väst")
TIMEZONE = ZoneInfo("Europe/Stockholm")
REMOTE = "192.0.2.10"  # the office PC, as the web service would name it (TEST-NET-1)
DELIVERY_STEP = timedelta(seconds=5)  # between the snapshots of one delivery
IO_KEYS = ("write_bytes", "wchar", "cancelled_write_bytes")
PARTS = ("ingest", "jobs", "retention", "kit")  # what the day's writes are split by


@dataclass(frozen=True)
class Plan:
    """What the simulated appliance goes through. Days are numbered from 1."""

    days: int = 365
    start: date = date(2027, 1, 1)
    units: tuple[str, ...] = UNITS
    kinds: tuple[str, ...] = KINDS
    deliveries: tuple[time_of_day, ...] = (time_of_day(7, 0), time_of_day(14, 30))
    poll_minutes: int = 5
    retention_at: time_of_day = time_of_day(3, 0)
    kit_at: time_of_day = time_of_day(10, 0)
    kit_every_days: int = 7
    profile: str = "full"
    pages: tuple[int, ...] = (2, 4, 6)
    timing_days: tuple[int, ...] = (1, 7, 30, 100, 200, 365)
    timing_repeat: int = 5

    def units_toml(self) -> str:
        """The `[units]` table that configures this plan's units (append it to the config
        once the installation's sender is enrolled)."""
        return f"\n[units]\nnames = {json.dumps(list(self.units), ensure_ascii=False)}\n"

    def unit_options(self) -> list[str]:
        """`--unit U` for each unit: `appliance senders units NAME ...` lets a sender send
        for all of them."""
        return [option for unit in self.units for option in ("--unit", unit)]

    @property
    def snapshots_per_day(self) -> int:
        return len(self.deliveries) * len(self.units) * len(self.kinds)


@dataclass
class Timing:
    """Wall times (seconds) of the calls timed at the end of a day."""

    status_s: list[float]
    kit_s: list[float]
    metrics_cold_s: float  # `collect` with a fresh AuditTally: the whole log read
    metrics_warm_s: float  # the same tally again: only what is new
    metrics_resumed_s: float  # a fresh tally from a checkpoint, as after a restart
    state: str  # the appliance's state, as status says
    kit_pages: int
    kit_documents: int
    kit_missing: int

    @property
    def status_median(self) -> float:
        return statistics.median(self.status_s)

    @property
    def kit_median(self) -> float:
        return statistics.median(self.kit_s)


@dataclass
class Day:
    """The state dir at the end of one simulated day, and what the day wrote."""

    day: int
    date: str
    snapshots: int
    store_bytes: int  # snapshots/ (the envelope files)
    index_bytes: int  # index.sqlite3 + index.sqlite3-wal
    wal_bytes: int
    shm_bytes: int
    audit_bytes: int  # audit.log + closed segments + anchor
    audit_segments: int
    audit_entries: int  # the anchor's n
    state_files: int  # every file under the state dir
    writes: dict[str, dict[str, int]]  # part -> /proc/self/io key -> bytes that day
    changed_bytes: int  # sizes of the files created or changed that day (below)
    ingested: int
    deleted: int
    ingest_s: float  # the median wall time of the day's ingests (retention included)
    poll_s: float  # the median wall time of the day's jobs ticks
    timing: Timing | None = None

    def written(self, key: str = "write_bytes") -> int:
        """The day's total of one /proc/self/io counter, over every part."""
        return sum(part.get(key, 0) for part in self.writes.values())

    def net_written(self, part: str | None = None) -> int:
        """`write_bytes` less `cancelled_write_bytes`: pages dirtied and then dropped
        before they reached the disk (a file deleted or truncated first, as SQLite's -wal
        and -shm at the close of the last connection) do not count."""
        parts = [self.writes.get(part, {})] if part else list(self.writes.values())
        return sum(p.get("write_bytes", 0) - p.get("cancelled_write_bytes", 0) for p in parts)


@dataclass
class Year:
    plan: Plan
    days: list[Day] = field(default_factory=list)
    wall_s: float = 0.0
    io_available: bool = True
    segment_max_bytes: int = 0  # audit.segment_max_mb, as configured
    state_dir: Path | None = None

    def day(self, number: int) -> Day:
        return self.days[number - 1]


# ---------------------------------------------------------------- measuring


def read_io() -> dict[str, int] | None:
    """This process's I/O counters (/proc/self/io), or None where there are none."""
    try:
        text = Path("/proc/self/io").read_text()
    except OSError:
        return None
    values = dict(line.split(": ") for line in text.splitlines() if ": " in line)
    return {key: int(values[key]) for key in IO_KEYS}


class DiskWrites:
    """What this process wrote, from /proc/self/io, added up by part over the measured
    calls only. `write_bytes` counts the pages this process dirtied on a block device (a
    100-byte write and its fsync: 4 to 8 KiB), SQLite's and fsync's included; `wchar` the
    bytes it passed to write(); neither counts the file system's journal (jbd2 writes it)."""

    def __init__(self) -> None:
        self.available = read_io() is not None
        self.day: dict[str, Counter[str]] = {}

    @contextlib.contextmanager
    def part(self, name: str) -> Iterator[None]:
        before = read_io()
        try:
            yield
        finally:
            after = read_io()
            if before is not None and after is not None:
                counter = self.day.setdefault(name, Counter())
                for key in IO_KEYS:
                    counter[key] += after[key] - before[key]

    def take_day(self) -> dict[str, dict[str, int]]:
        day, self.day = self.day, {}
        return {name: dict(day.get(name, Counter())) for name in PARTS}


FileStat = tuple[int, int, int]  # size, mtime_ns, inode


def tree(state_dir: Path) -> dict[str, FileStat]:
    """Every file under the state dir, by path relative to it."""
    files = {}
    for folder, _, names in os.walk(state_dir):
        for name in names:
            path = Path(folder) / name
            with contextlib.suppress(FileNotFoundError):
                st = path.stat()
                files[str(path.relative_to(state_dir))] = (st.st_size, st.st_mtime_ns, st.st_ino)
    return files


def changed_bytes(before: dict[str, FileStat], after: dict[str, FileStat]) -> int:
    """Sizes of the files new or changed since `before`: a changed file counts whole, except
    the live audit log, which is only appended to and counts by its growth. A file written
    several times counts once (the writes are in `DiskWrites`)."""
    total = 0
    for name, stat in after.items():
        old = before.get(name)
        if old == stat:
            continue
        if name == "audit.log" and old is not None and old[2] == stat[2] and stat[0] >= old[0]:
            total += stat[0] - old[0]
        else:
            total += stat[0]
    return total


def sizes(state_dir: Path, files: dict[str, FileStat]) -> dict[str, int]:
    """The store, the index, the audit log and the file count, from `tree(state_dir)`."""

    def size(name: str) -> int:
        return files.get(name, (0, 0, 0))[0]

    live = state_dir / "audit.log"
    segments = segment_paths(live)
    anchor = 0
    with contextlib.suppress(OSError, ValueError, KeyError):
        anchor = json.loads((state_dir / "audit.log.anchor").read_text())["n"]
    return {
        "snapshots": sum(1 for name in files if name.startswith("snapshots/")),
        "store_bytes": sum(stat[0] for name, stat in files.items()
                           if name.startswith("snapshots/")),
        "index_bytes": size("index.sqlite3") + size("index.sqlite3-wal"),
        "wal_bytes": size("index.sqlite3-wal"),
        "shm_bytes": size("index.sqlite3-shm"),
        "audit_bytes": size("audit.log") + size("audit.log.anchor")
                       + sum(size(path.name) for path in segments),
        "audit_segments": len(segments),
        "audit_entries": anchor,
        "state_files": len(files),
    }


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


# ---------------------------------------------------------------- the appliance's processes


class Appliance:
    """The appliance's processes on one clock, each a `Services` built as its daemon
    builds it: the web service (ingest), the jobs service, and the kiosk/panel (status,
    kits, with the printer passed in)."""

    def __init__(self, config: ApplianceConfig, clock: FixedClock, printer: Printer,
                 scratch: Path) -> None:
        self.config, self.clock, self.scratch = config, clock, scratch
        self.web = Services(config, clock)
        self.jobs = Services(config, clock, printer=printer)
        self.panel = Services(config, clock, printer=printer)
        self.slot_watch = SlotWatch(self.jobs, None)  # no webhook: alerts only audited
        self.drills = DrillReminder(self.jobs, None)
        self.refusals = RefusalCounts.of(self.jobs)
        self.jobs_print = PrintService(self.jobs)
        self.kits = PrintService(self.panel)
        self.exports = 0

    def poll(self) -> None:
        """One tick of the jobs service."""
        self.slot_watch.evaluate()
        self.drills.evaluate()
        self.refusals.flush_due()
        self.jobs_print.follow_up()

    def export_kit(self, profile: str):
        self.exports += 1
        path = self.scratch / f"kit-{self.exports}.pdf"
        try:
            return self.kits.export(profile, path, "year")
        finally:
            path.unlink(missing_ok=True)

    def timing(self, profile: str, repeat: int) -> Timing:
        status_s = [timed(self.panel.status)[0] for _ in range(max(repeat, 5) * 4)]
        kit_s, summary = [], None
        for _ in range(repeat):
            seconds, summary = timed(lambda: self.export_kit(profile))
            kit_s.append(seconds)
        reading = self.panel.clock_reading()
        checkpoint = StateFile(self.scratch / CHECKPOINT_NAME)
        tally = AuditTally(self.panel.audit.path, checkpoint)
        cold, _ = timed(lambda: collect(self.panel, tally, reading))
        warm, _ = timed(lambda: collect(self.panel, tally, reading))
        resumed_tally = AuditTally(self.panel.audit.path, checkpoint)
        resumed, _ = timed(lambda: collect(self.panel, resumed_tally, reading))
        checkpoint.path.unlink(missing_ok=True)
        return Timing(status_s, kit_s, cold, warm, resumed, str(self.panel.status().state),
                      summary.pages, len(summary.documents), len(summary.missing))


# ---------------------------------------------------------------- the year


def document_pool(plan: Plan) -> dict[tuple[str, str], list[bytes]]:
    """Per (unit, kind), one PDF of each of `plan.pages`, made once."""
    produced = datetime.combine(plan.start, plan.deliveries[0], TIMEZONE)
    return {(unit, kind): [make_document(kind, unit=unit, produced_at=produced, pages=pages,
                                         seed=seed)
                           for seed, pages in enumerate(plan.pages)]
            for unit in plan.units for kind in plan.kinds}


def local(day: date, moment: time_of_day) -> datetime:
    """A local wall-clock time on `day`, in UTC (07:00 is 06:00 UTC in winter, 05:00 in
    summer)."""
    return datetime.combine(day, moment, TIMEZONE).astimezone(UTC)


def day_events(plan: Plan, number: int) -> list[tuple[datetime, int, str]]:
    """(time, order, what) of day `number`, in time order; day 1 starts at the first
    delivery (the appliance was installed just before)."""
    today = plan.start + timedelta(days=number - 1)
    begin, end = local(today, time_of_day(0)), local(today + timedelta(days=1), time_of_day(0))
    events = [(local(today, moment), 0, "deliver") for moment in plan.deliveries]
    step = timedelta(minutes=plan.poll_minutes)
    moment = begin
    while moment < end:  # 23 or 25 hours on the days the clocks change
        events.append((moment, 1, "poll"))
        moment += step
    events.append((local(today, plan.retention_at), 2, "retention"))
    if (number - 1) % plan.kit_every_days == 0:
        events.append((local(today, plan.kit_at), 3, "kit"))
    events.sort()
    if number == 1:
        first = min(when for when, _, what in events if what == "deliver")
        events = [event for event in events if event[0] >= first]
    return events


def simulate(plan: Plan, config: ApplianceConfig, sender: Sender,
             recipient: keys.AppliancePublicKey, printer: Printer, scratch: Path,
             progress: Callable[[Day, float], None] | None = None) -> Year:
    """Run the plan on an appliance made beforehand (its senders enrolled for
    `plan.units`, which its config names: `Plan.units_toml`); `scratch`, a folder outside
    its state dir, takes the exported kits. Returns a `Day` per day."""
    clock = FixedClock(local(plan.start, time_of_day(0)))
    scratch.mkdir(parents=True, exist_ok=True)
    appliance = Appliance(config, clock, printer, scratch)
    writes = DiskWrites()
    pool = document_pool(plan)
    titles = {kind: config.kinds[kind].title for kind in plan.kinds}
    year = Year(plan, io_available=writes.available,
                segment_max_bytes=config.audit_segment_max_bytes, state_dir=config.state_dir)
    state_dir = config.state_dir
    started = time.perf_counter()
    files = tree(state_dir)
    for number in range(1, plan.days + 1):
        counts, ingest_s, poll_s = Counter(), [], []
        for when, _, what in day_events(plan, number):
            clock.set(when)
            if what == "deliver":
                for index, (unit, kind) in enumerate((u, k) for u in plan.units
                                                     for k in plan.kinds):
                    clock.set(when + index * DELIVERY_STEP)
                    choices = pool[unit, kind]
                    content = choices[(number + index) % len(choices)]
                    entry = seal.describe_document(kind, unit, titles[kind], when, content)
                    envelope = sender.seal_for([seal.Document(entry, content)], recipient,
                                               clock.now())
                    before = _stored(appliance.web)
                    with writes.part("ingest"):
                        ingest_s.append(timed(lambda e=envelope: ingest(appliance.web, e,
                                                                       REMOTE))[0])
                    counts["ingested"] += 1
                    counts["deleted"] += before + 1 - _stored(appliance.web)
            elif what == "poll":
                with writes.part("jobs"):
                    poll_s.append(timed(appliance.poll)[0])
            elif what == "retention":
                with writes.part("retention"):
                    counts["deleted"] += len(apply_retention(appliance.jobs))
            else:
                with writes.part("kit"):
                    appliance.export_kit(plan.profile)
        after = tree(state_dir)
        day = Day(number, (plan.start + timedelta(days=number - 1)).isoformat(),
                  **sizes(state_dir, after), writes=writes.take_day(),
                  changed_bytes=changed_bytes(files, after), ingested=counts["ingested"],
                  deleted=counts["deleted"], ingest_s=statistics.median(ingest_s),
                  poll_s=statistics.median(poll_s))
        if number in plan.timing_days or number == plan.days:
            day.timing = appliance.timing(plan.profile, plan.timing_repeat)
            after = tree(state_dir)  # the timed calls' files are the next day's baseline
        files = after
        year.days.append(day)
        if progress is not None:
            progress(day, time.perf_counter() - started)
    year.wall_s = time.perf_counter() - started
    return year


def appliance_at_end(plan: Plan, config: ApplianceConfig, printer: Printer,
                     scratch: Path) -> Appliance:
    """New processes on an appliance `simulate` has run `plan` on, their clock at the
    moment it stopped: to time it again, say side by side with another."""
    clock = FixedClock(day_events(plan, plan.days)[-1][0])
    return Appliance(config, clock, printer, scratch)


def _stored(services: Services) -> int:
    """Snapshot files in the store: an ingest's retention deleted (before + 1 - after)."""
    return len(os.listdir(services.store.snapshots_dir))
