"""CUPS through pycups: submit a kit as one job, follow it, and report the printer's health.

Printer and job states from CUPS are mapped through one explicit table each, with
"unknown"/"printer error" as the fallback, to a small set of conditions with Swedish text
for nurses and English for logs. The connection is injected (`connect`), so tests point it
at a private cupsd and the appliance at the system's (libcups honours `CUPS_SERVER`).
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass

import cups

CUPS_ERRORS = (RuntimeError, cups.IPPError, cups.HTTPError)


class Condition(enum.StrEnum):
    READY = "ready"
    OUT_OF_PAPER = "out-of-paper"
    PAPER_JAM = "paper-jam"
    TONER_EMPTY = "toner-empty"
    DOOR_OPEN = "door-open"
    OFFLINE = "offline"
    PAUSED = "paused"
    NOT_ACCEPTING = "not-accepting"
    PRINTER_ERROR = "printer-error"
    NO_PRINTER = "no-printer"
    CUPS_UNREACHABLE = "cups-unreachable"


@dataclass(frozen=True)
class ConditionText:
    swedish: str  # for nurses: what is wrong and what to do
    english: str  # for logs and IT


CONDITIONS: dict[Condition, ConditionText] = {
    Condition.READY: ConditionText("Skrivaren är klar.", "printer ready"),
    Condition.OUT_OF_PAPER: ConditionText("Slut på papper – fyll på papper i skrivaren.",
                                          "out of paper"),
    Condition.PAPER_JAM: ConditionText("Pappersstopp – öppna skrivaren och ta bort papperet.",
                                       "paper jam"),
    Condition.TONER_EMPTY: ConditionText("Slut på toner – byt tonerkassett.", "toner empty"),
    Condition.DOOR_OPEN: ConditionText("En lucka är öppen – stäng skrivarens lucka.",
                                       "door or cover open"),
    Condition.OFFLINE: ConditionText(
        "Skrivaren svarar inte – kontrollera att den är påslagen och att kabeln sitter i.",
        "printer offline or not connected"),
    Condition.PAUSED: ConditionText("Skrivaren är pausad – ring IT-support.",
                                    "print queue stopped (paused)"),
    Condition.NOT_ACCEPTING: ConditionText("Skrivaren tar inte emot utskrifter – ring IT-support.",
                                           "print queue not accepting jobs"),
    Condition.PRINTER_ERROR: ConditionText("Skrivarfel – se skrivarens display.",
                                           "printer reports an error"),
    Condition.NO_PRINTER: ConditionText("Ingen skrivare är inställd – ring IT-support.",
                                        "no such CUPS queue and no default destination"),
    Condition.CUPS_UNREACHABLE: ConditionText(
        "Utskriftssystemet svarar inte – dra ur och sätt i strömmen till apparaten.",
        "CUPS scheduler unreachable"),
}

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


class JobState(enum.StrEnum):
    PENDING = "pending"
    HELD = "held"
    PROCESSING = "processing"
    STOPPED = "stopped"
    CANCELED = "canceled"
    ABORTED = "aborted"
    COMPLETED = "completed"
    UNKNOWN = "unknown"

    @property
    def final(self) -> bool:
        return self in (JobState.CANCELED, JobState.ABORTED, JobState.COMPLETED)


JOB_STATES = {3: JobState.PENDING, 4: JobState.HELD, 5: JobState.PROCESSING,
              6: JobState.STOPPED, 7: JobState.CANCELED, 8: JobState.ABORTED,
              9: JobState.COMPLETED}


class PrinterUnavailable(Exception):
    """The job could not be handed to CUPS; `condition` says why, in words for nurses too."""

    def __init__(self, condition: Condition, detail: str = "") -> None:
        self.condition = condition
        text = CONDITIONS[condition].english
        super().__init__(f"{text}: {detail}" if detail else text)


@dataclass(frozen=True)
class PrinterReport:
    queue: str | None
    condition: Condition
    reasons: tuple[str, ...]
    state: str  # idle / processing / stopped / unknown
    accepting: bool
    active_jobs: int  # jobs not yet completed, canceled or aborted

    @property
    def blocking(self) -> bool:
        return self.condition is not Condition.READY

    @property
    def swedish(self) -> str:
        return CONDITIONS[self.condition].swedish

    @property
    def english(self) -> str:
        return CONDITIONS[self.condition].english

    def to_json(self) -> dict:
        return {"queue": self.queue, "condition": str(self.condition), "message": self.english,
                "message_sv": self.swedish, "reasons": list(self.reasons), "state": self.state,
                "accepting": self.accepting, "active_jobs": self.active_jobs}


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
    """One CUPS queue (or the default destination), reached through `connect`."""

    def __init__(self, queue: str | None, connect: Callable[[], cups.Connection] | None = None,
                 options: dict[str, str] | None = None) -> None:
        self.queue = queue
        self.connect = connect or cups.Connection
        self.options = dict(options or {})

    def _connection(self) -> cups.Connection:
        try:
            return self.connect()
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

    def wait(self, job_id: int, timeout: float, poll: float = 0.5,
             clock: Callable[[], float] = time.monotonic,
             sleep: Callable[[float], None] = time.sleep) -> JobState:
        """Poll until the job is completed, canceled or aborted, or `timeout` passes."""
        deadline = clock() + timeout
        state = self.job_state(job_id)
        while not state.final and clock() < deadline:
            sleep(poll)
            state = self.job_state(job_id)
        return state
