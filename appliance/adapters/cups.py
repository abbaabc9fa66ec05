"""The printer port (`appliance.core.printer.Printer`) implemented with CUPS through pycups.

Printer and job states from CUPS are mapped through one explicit table each, with
"unknown"/"printer error" as the fallback, to the core's conditions. Which cupsd is asked is
explicit: `server` (a host or a Unix socket path) is passed to every `cups.Connection`, so
tests point one adapter at a private cupsd without touching libcups' process-wide default,
and the appliance reaches the system's (`CUPS_SERVER`, else libcups' default).
"""

from __future__ import annotations

import os

import cups

from appliance.core.printer import (
    Condition,
    JobState,
    PrinterReport,
    PrinterUnavailable,
)

CUPS_ERRORS = (RuntimeError, cups.IPPError, cups.HTTPError)


# printer-state-reasons keywords (without -error/-warning/-report) -> condition, in the order
# they win when a printer reports several at once.
REASONS: dict[str, Condition] = {
    "media-jam": Condition.PAPER_JAM,
    "door-open": Condition.DOOR_OPEN,
    "cover-open": Condition.DOOR_OPEN,
    "interlock-open": Condition.DOOR_OPEN,
    "media-empty": Condition.OUT_OF_PAPER,
    "media-needed": Condition.OUT_OF_PAPER,
    "input-tray-missing": Condition.OUT_OF_PAPER,
    "toner-empty": Condition.TONER_EMPTY,
    "marker-supply-empty": Condition.TONER_EMPTY,
    "offline": Condition.OFFLINE,
    "shutdown": Condition.OFFLINE,
    "connecting-to-device": Condition.OFFLINE,
    "timed-out": Condition.OFFLINE,
    "paused": Condition.PAUSED,
}
# Reasons that are only advice: printing still works.
HARMLESS_REASONS = {"none", "media-low", "toner-low", "marker-supply-low",
                    "cups-waiting-for-job-completed", "cups-insecure-filter",
                    "cups-missing-filter", "other"}
PRINTER_STATES = {3: "idle", 4: "processing", 5: "stopped"}


# CUPS job-state integers (RFC 8011 5.3.7) -> JobState; anything else is UNKNOWN.
JOB_STATES = {3: JobState.PENDING, 4: JobState.HELD, 5: JobState.PROCESSING,
              6: JobState.STOPPED, 7: JobState.CANCELED, 8: JobState.ABORTED,
              9: JobState.COMPLETED}


def condition_from(reasons: tuple[str, ...], state: str, accepting: bool) -> Condition:
    keywords = [_keyword(reason) for reason in reasons]
    for keyword, condition in REASONS.items():
        if keyword in keywords:
            return condition
    if not accepting:
        return Condition.NOT_ACCEPTING
    if state == "stopped":
        return Condition.PAUSED
    if any(reason.endswith("-error") and _keyword(reason) not in HARMLESS_REASONS
           for reason in reasons):
        return Condition.PRINTER_ERROR
    return Condition.READY


def _keyword(reason: str) -> str:
    for suffix in ("-error", "-warning", "-report"):
        if reason.endswith(suffix):
            return reason[: -len(suffix)]
    return reason


def _accepting(attributes: dict) -> bool:
    """CUPS-Get-Printers reports rejection as a bit of printer-type."""
    return not int(attributes.get("printer-type", 0)) & cups.CUPS_PRINTER_REJECTING


class CupsPrinter:
    """One CUPS queue (or the default destination) on the cupsd at `server`."""

    def __init__(self, queue: str | None, *, server: str | None = None,
                 options: dict[str, str] | None = None) -> None:
        self.queue = queue
        self.server = server
        self.options = dict(options or {})

    def _connection(self) -> cups.Connection:
        try:
            return cups.Connection(host=self.server) if self.server else cups.Connection()
        except CUPS_ERRORS as exc:
            raise PrinterUnavailable(Condition.CUPS_UNREACHABLE, str(exc)) from exc

    def _queue(self, conn: cups.Connection) -> tuple[str, dict]:
        """The queue's name and state attributes.

        Read with CUPS-Get-Printers, not Get-Printer-Attributes: pycups 2.0.4 leaks ~13 kB
        per getPrinterAttributes call (OpenPrinting/pycups#44), which the panel's once-a-
        second poll would turn into ~1 GB a day (bench/README.md, panel benchmark).
        """
        name = self.queue or conn.getDefault()
        if not name:
            raise PrinterUnavailable(Condition.NO_PRINTER, "no queue configured or default")
        attributes = conn.getPrinters().get(name)
        if attributes is None:
            raise PrinterUnavailable(Condition.NO_PRINTER, f"no CUPS queue named {name!r}")
        return name, attributes

    def report(self) -> PrinterReport:
        """The queue's health now. Never raises: an unreachable CUPS is a condition too."""
        try:
            conn = self._connection()
            name, attributes = self._queue(conn)
            jobs = conn.getJobs(which_jobs="not-completed",
                                requested_attributes=["job-printer-uri"])
        except PrinterUnavailable as exc:
            return PrinterReport(self.queue, exc.condition, (), "unknown", False, 0)
        except CUPS_ERRORS:
            return PrinterReport(self.queue, Condition.CUPS_UNREACHABLE, (), "unknown", False,
                                 0)
        reasons = tuple(r for r in attributes.get("printer-state-reasons", ()) if r != "none")
        state = PRINTER_STATES.get(attributes.get("printer-state"), "unknown")
        accepting = _accepting(attributes)
        active = sum(1 for job in jobs.values()
                     if str(job.get("job-printer-uri", "")).endswith(f"/{name}"))
        return PrinterReport(name, condition_from(reasons, state, accepting), reasons, state,
                             accepting, active)

    def submit(self, pdf: bytes, title: str) -> int:
        """Hand `pdf` to CUPS as one job, streamed from memory; return the job id."""
        conn = self._connection()
        name, attributes = self._queue(conn)
        if not _accepting(attributes):
            raise PrinterUnavailable(Condition.NOT_ACCEPTING, f"queue {name!r}")
        try:
            job_id = conn.createJob(name, title, self.options)
            conn.startDocument(name, job_id, title, "application/pdf", 1)
            conn.writeRequestData(pdf, len(pdf))
            conn.finishDocument(name)
        except CUPS_ERRORS as exc:
            raise PrinterUnavailable(Condition.CUPS_UNREACHABLE, f"submitting: {exc}") from exc
        return job_id

    def job_state(self, job_id: int) -> JobState:
        try:
            attributes = self._connection().getJobAttributes(job_id,
                                                             requested_attributes=["job-state"])
        except (PrinterUnavailable, *CUPS_ERRORS):
            return JobState.UNKNOWN
        return JOB_STATES.get(attributes.get("job-state"), JobState.UNKNOWN)


def printer_for(queue: str | None, options: dict[str, str] | None = None) -> CupsPrinter:
    """The appliance's printer: `queue` on the cupsd named by `CUPS_SERVER` (read here, once,
    rather than left to libcups' per-process cache), else libcups' default."""
    return CupsPrinter(queue, server=os.environ.get("CUPS_SERVER") or None, options=options)
