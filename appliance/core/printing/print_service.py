"""The one way to print: the button, the kiosk and `appliance print` all use `PrintService`.

`request` chooses the newest document per unit and kind for the profile, decrypts them in
memory, composes the kit, hands it to the printer as one job and audits it — unless a kit is
already on its way, whoever started it (`PrintGuard`: one kit in flight across processes).
`export` writes the same kit to a file, audited. `follow_up` notices the end of the job in
flight and audits it exactly once, whichever process started it. A document that cannot be
read at print time does not stop the kit: the cover says it is missing, and the rest
(always including the blank forms) is printed.

A drill (`request(..., drill=True)`) is the same kit with "ÖVNING – INTE FÖR VÅRD" across
every page. It is one kit in flight like any other, but it is audited as `drill_printed`
(never `printed`: counting real prints stays counting `printed`), and it leaves the record
of real prints alone: the repeat guard's time of the last kit is a real kit's, so a drill
that just ended never holds back a nurse's press. A second drill moments after the last is
refused as a repeat (docs/decisions.md, "Drills").
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from appliance.core.base.errors import ApplianceError
from appliance.core.base.fsutil import atomic_write
from appliance.core.config.settings import ApplianceConfig, ProfileConfig
from appliance.core.crypto import seal
from appliance.core.intake.pdf import PdfLimits
from appliance.core.intake.store import StoredDocument, StoreError
from appliance.core.printing.contacts import contacts_sheet
from appliance.core.printing.kit import (
    Kit,
    KitContext,
    KitDocument,
    KitSummary,
    MissingList,
    compose,
)
from appliance.core.printing.print_guard import GuardRecord, PrintGuard, SubmittedJob
from appliance.core.printing.printer import JobState, Printer, PrinterReport, PrinterUnavailable
from appliance.core.printing.wording import kit_title, planned_outage
from appliance.core.records.planned_outages import OutagePlan
from appliance.core.time.clock_trust import ClockReading
from appliance.core.time.drills import drill_status, record_drill
from appliance.core.time.freshness import freshness

if TYPE_CHECKING:  # the type only: services.py is above every wing
    from appliance.core.services import Services

log = logging.getLogger(__name__)


class UnknownProfile(ApplianceError, LookupError):
    pass


class UnknownUnit(ApplianceError, LookupError):
    pass


@dataclass(frozen=True)
class Started:
    """A kit was handed to the printer."""

    job_id: int
    title: str
    summary: KitSummary
    printer: PrinterReport


@dataclass(frozen=True)
class Busy:
    """Nothing was started: a kit is already on its way. `reason` is English, for logs."""

    reason: str
    job_id: int | None = None


def profile_named(config: ApplianceConfig, name: str) -> ProfileConfig:
    try:
        return config.printing.profiles[name]
    except KeyError:
        known = ", ".join(config.printing.profiles)
        raise UnknownProfile(f"no print profile {name!r} (configured: {known})") from None


def unit_named(config: ApplianceConfig, name: str | None) -> str | None:
    """`name` if it is a configured unit; None (every unit) stays None."""
    if name is None or name in config.units:
        return name
    if not config.units:
        raise UnknownUnit(f"no unit {name!r}: no units are configured (units.names), so "
                          "there is only the whole kit")
    raise UnknownUnit(f"no unit {name!r} (configured: {', '.join(config.units)})")


def job_title(profile: ProfileConfig, now: datetime, config: ApplianceConfig, *,
              drill: bool = False) -> str:
    """`Reservutskrift – Knappen: att göra-listor och blanketter 23:10` (`Övning – …` for a
    drill): the kit's own title and the time; no patient data reaches CUPS job history."""
    return f"{kit_title(profile.title, drill=drill)} {now.astimezone(config.timezone):%H:%M}"


def _drill_fields(drill: bool) -> dict:
    """`drill: true` on the audit entries of a drill's job; real prints' entries unchanged."""
    return {"drill": True} if drill else {}


def _clock_fields(reading: ClockReading) -> dict:
    """`clock: REASON` on the audit entry of a kit printed with an unsure clock (its ages
    were printed as minimums, and the entry's own time may be wrong); nothing otherwise."""
    return {} if reading.trusted else {"clock": str(reading.reason)}


class PrintService:
    """Built on a `Services` that holds a printer; one per process is enough, and as many as
    you like are safe: the guard is on disk."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.config = services.config
        self.printer: Printer = services.printer
        self.guard = PrintGuard(services.config.state_dir)

    # ------------------------------------------------------------ printing

    def request(self, profile_name: str, trigger: str, *, unit: str | None = None,
                drill: bool = False) -> Started | Busy:
        """Print one kit unless one is in flight; with `unit`, that configured unit's lists
        only. Raises `UnknownProfile`, `UnknownUnit`, and `PrinterUnavailable` when the
        printer did not take the job (nothing is then in flight: the next request may try
        again at once). `drill`: an outage drill (see the module's docstring)."""
        profile = profile_named(self.config, profile_name)
        unit = unit_named(self.config, unit)
        with self.guard.composing() as held:
            if not held:
                return self._busy(trigger, Busy("a kit is being composed"))
            with self.guard.record_lock():
                record, _ = self._settle(self.guard.read(), ending_unknown=True)
                busy = self._busy_reason(record, drill)
            if busy is not None:
                return self._busy(trigger, busy)
            reading = self.services.clock_reading()
            now = reading.now
            kit = self.compose(profile, now, self.printer.report(), unit=unit, drill=drill,
                               clock_unsure=not reading.trusted)
            title = job_title(profile, now, self.config, drill=drill)
            try:
                job_id = self.printer.submit(kit.pdf, title)
            except PrinterUnavailable as exc:
                self._audit("print_failed", profile=profile.name, trigger=trigger,
                            reason=str(exc.condition), pages=kit.summary.pages,
                            **_drill_fields(drill))
                log.error("print %s (%s) failed: %s", profile.name, trigger, exc)
                raise
            with self.guard.record_lock():
                self.guard.write(GuardRecord(
                    SubmittedJob(job_id, profile.name, trigger, now, drill),
                    record.last_started_at if drill else now))
            if drill:
                record_drill(self.config.state_dir, now)
        report = self.printer.report()
        summary = kit.summary
        self._audit("drill_printed" if drill else "printed", profile=profile.name, unit=unit,
                    trigger=trigger, job=job_id, queue=report.queue, pages=summary.pages,
                    signoff_pages=summary.signoff_pages, documents=list(summary.documents),
                    missing=list(summary.missing), forms=list(summary.forms),
                    left_out=list(summary.left_out), printer=str(report.condition),
                    **_clock_fields(reading))
        log.info("%s %s (%s): job %s, %d pages, printer %s", "drill" if drill else "print",
                 profile.name, trigger, job_id, summary.pages, report.english)
        return Started(job_id, title, summary, report)

    def export(self, profile_name: str, path: Path, trigger: str, *,
               unit: str | None = None) -> KitSummary:
        """Write the kit to `path` (mode 0600 from the first byte) instead of printing it.
        The file holds patient data: the audit log says who made it, when and where."""
        profile = profile_named(self.config, profile_name)
        unit = unit_named(self.config, unit)
        reading = self.services.clock_reading()
        kit = self.compose(profile, reading.now, unit=unit, clock_unsure=not reading.trusted)
        atomic_write(Path(path), kit.pdf, mode=0o600)
        self._audit("exported", profile=profile.name, unit=unit, trigger=trigger,
                    path=str(Path(path).resolve()), pages=kit.summary.pages,
                    documents=list(kit.summary.documents), missing=list(kit.summary.missing),
                    left_out=list(kit.summary.left_out), **_clock_fields(reading))
        log.info("export %s (%s): %d pages written", profile.name, trigger, kit.summary.pages)
        return kit.summary

    # ------------------------------------------------------------ the job in flight

    def follow_up(self) -> bool:
        """Audit the end of the job in flight if it has ended; True while a kit is on its
        way (being composed, or its job not yet final). Cheap when nothing is in flight, and
        never in the way of a request."""
        with self.guard.record_lock():
            _, state = self._settle(self.guard.read(), ending_unknown=False)
        if state is not None and state.in_flight:
            return True
        return self.guard.someone_composing()

    def wait(self, job_id: int, timeout: float, poll: float = 0.5,
             monotonic: Callable[[], float] = time.monotonic,
             sleep: Callable[[float], None] = time.sleep) -> JobState:
        """Until job `job_id` is completed, canceled or aborted, or `timeout` passes; its
        end is audited (by this caller, or by whichever process saw it first)."""
        deadline = monotonic() + timeout
        state = self.printer.job_state(job_id)
        while not state.final and monotonic() < deadline:
            sleep(poll)
            state = self.printer.job_state(job_id)
        if state.final:
            self.follow_up()
        return state

    def _settle(self, record: GuardRecord, *, ending_unknown: bool
                ) -> tuple[GuardRecord, JobState | None]:
        """Audit and forget the recorded job if it has ended; also return its state (None
        if no job is recorded). With `ending_unknown`, a job the printer cannot tell us
        about (CUPS restarted or unreachable) is let go too: it must never block a nurse's
        next kit. Only while holding the guard's `record_lock`."""
        job = record.job
        if job is None:
            return record, None
        state = self.printer.job_state(job.job_id)
        if state.in_flight or (state is JobState.UNKNOWN and not ending_unknown):
            return record, state
        self._audit("print_job_ended", job=job.job_id, state=str(state), profile=job.profile,
                    trigger=job.trigger, **_drill_fields(job.drill))
        settled = GuardRecord(None, record.last_started_at)
        self.guard.write(settled)
        return settled, state

    def _busy_reason(self, record: GuardRecord, drill: bool) -> Busy | None:
        if record.job is not None:
            return Busy(f"job {record.job.job_id} ({record.job.trigger}) is still in the "
                        "printer queue", record.job.job_id)
        now = self.services.clock.now()
        # A real kit is held back by a real kit only; a drill by either (no double drill).
        started = [record.last_started_at]
        if drill:
            started.append(drill_status(self.config, now).last_drill_at)
        guard = timedelta(seconds=self.config.panel.repeat_guard_seconds)
        if any(last is not None and last <= now < last + guard for last in started):
            return Busy("a kit was started moments ago")
        return None

    def _busy(self, trigger: str, busy: Busy) -> Busy:
        log.info("print request (%s) not started: %s", trigger, busy.reason)
        return busy

    # ------------------------------------------------------------ composing

    def compose(self, profile: ProfileConfig, now: datetime,
                printer: PrinterReport | None = None, *, unit: str | None = None,
                drill: bool = False, clock_unsure: bool = False) -> Kit:
        """The kit (of one configured `unit`, or of all); with `printer` blocking, its cover
        says the printer had a fault when the kit was ordered; with `drill`, it is marked as
        a drill on every page. `clock_unsure`: `now` is only a lower bound on the true time
        (clock_trust), and every age is printed as one."""
        documents, missing = self.gather(profile, now, unit=unit)
        return compose(profile, documents, missing, KitContext(
            appliance=self.config.name, printed_at=now, timezone=self.config.timezone,
            forms=self.config.printing.forms, limits=PdfLimits.of(self.config),
            printer_fault=printer.swedish if printer is not None and printer.blocking
            else None, drill=drill, clock_unsure=clock_unsure,
            destinations=printer.destinations if printer is not None else (),
            contacts_sheet=contacts_sheet(self.config, now, unit=unit,
                                          clock_unsure=clock_unsure),
            planned_outage=self._planned_outage(now)))

    def _planned_outage(self, now: datetime) -> str | None:
        """The planned outage under way at `now`, as the cover says it; None if none."""
        tz = self.config.timezone
        for window in OutagePlan(self.config).windows():
            if window.ongoing(now):
                return planned_outage(window.starts_at.astimezone(tz),
                                      window.ends_at.astimezone(tz))
        return None

    def gather(self, profile: ProfileConfig, now: datetime, *, unit: str | None = None
               ) -> tuple[list[KitDocument], list[MissingList]]:
        """The newest document per (unit, kind) the profile wants, decrypted, in config
        order; and the wanted lists that have none: per configured unit, or per kind in
        single-unit mode. Units that are not configured are not printed; with `unit` (a
        configured one), only that unit's lists are."""
        config = self.config
        units = (unit,) if unit is not None else config.units
        order = {kind: position for position, kind in enumerate(config.kinds)}
        chosen = sorted((doc for doc in self.services.store.latest_per_unit_and_kind()
                         if profile.includes(doc.kind) and doc.kind in config.kinds
                         and (not units or doc.unit in units)),
                        key=lambda doc: (order[doc.kind], doc.unit))
        contents = self._decrypt(chosen)
        grace = timedelta(minutes=config.grace_minutes)
        documents = []
        for doc in chosen:
            content = contents.get((doc.snapshot_id, doc.position))
            if content is None:
                continue
            kind = config.kinds[doc.kind]
            stale = freshness(kind.slots, doc.produced_at, now, config.timezone, grace).stale
            documents.append(KitDocument(doc.kind, kind.title, doc.unit, doc.produced_at,
                                         doc.pages, stale, content, kind.signoff))
        wanted = ([k for k, kind in config.kinds.items() if kind.slots] if "*" in profile.kinds
                  else list(profile.kinds))
        present = {(doc.unit if config.units else None, doc.kind) for doc in documents}
        missing = [MissingList(kind, config.kinds[kind].title, listed)
                   for listed in units or (None,) for kind in wanted
                   if (listed, kind) not in present]
        return documents, missing

    def _decrypt(self, documents: list[StoredDocument]) -> dict[tuple[str, int], bytes]:
        """Decrypt each needed snapshot once. Unreadable ones are logged and left out."""
        by_snapshot: dict[str, list[StoredDocument]] = defaultdict(list)
        for doc in documents:
            by_snapshot[doc.snapshot_id].append(doc)
        contents = {}
        for snapshot_id in by_snapshot:
            try:
                envelope = seal.parse(self.services.store.read_envelope(snapshot_id),
                                      max_payload=2**63)
                ring = self.services.key_ring  # the key it was sealed to, kept while needed
                opened = seal.decrypt(envelope, ring.key_for(envelope.header.recipient)
                                      or ring.current)
            except (seal.SealError, StoreError, MemoryError) as exc:  # the forms still print
                log.error("snapshot %s cannot be opened for printing: %s", snapshot_id,
                          exc if str(exc) else type(exc).__name__)
                continue
            for position, document in enumerate(opened):
                contents[(snapshot_id, position)] = document.content
        return contents

    def _audit(self, event: str, **fields) -> None:
        """Audit without ever stopping a print: paper in an outage matters more than the
        log."""
        try:
            self.services.audit.append(event, **fields)
        except Exception:  # the log's own failure is logged; the print goes on
            log.exception("audit log could not record %s", event)
