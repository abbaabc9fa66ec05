"""The printer port (`core.printing.printer.Printer`) implemented with CUPS through pycups.

Printer and job states from CUPS are mapped through one explicit table each, with
"unknown"/"printer error" as the fallback, to the core's conditions. A printer that is off,
unplugged or not answering often shows no `printer-state-reasons` at all: CUPS keeps our job
"processing" and only says so in words (`printer-state-message`,
`job-printer-state-message`). So the condition also takes in our jobs: their messages
(matched against the texts of the CUPS version in `CHECKED_CUPS_VERSION`), `job-state-reasons`,
and progress: a job of ours processing longer than `stalled_after_seconds` without progress,
or whose network printer no longer accepts a connection, is `unreachable` (docs/printing.md,
"The stall rule"). Everything is read from CUPS on each call, on cupsd's own clock, so the
panel, the web service and a one-shot `appliance printer` agree. Which cupsd is asked is
explicit: `server` (a host or a Unix socket path) is passed to every `cups.Connection`, so
tests point one adapter at a private cupsd without touching libcups' process-wide default,
and the appliance reaches the system's (`CUPS_SERVER`, else libcups' default).

A queue that is a CUPS class (the class bit of `printer-type`) is read member by member, each
with the rules above applied to the jobs of ours CUPS dispatched to it
(`job-printer-uri-actual`, set once a member takes the job); the class is `degraded` while
some member can print and some cannot (docs/printing.md, "Failover").

`supplies()` is the daily supplies check's question, asked of each printer of the queue
without a job: an IPP printer itself (`adapters.ipp`), a socket printer by a connection, a
USB printer by CUPS's device list (docs/printing.md, "The daily supplies check").
"""

from __future__ import annotations

import os
import socket
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

import cups

from appliance.adapters import ipp
from appliance.core.config.settings import STALLED_AFTER_SECONDS
from appliance.core.printing.printer import (
    Condition,
    JobState,
    MemberReport,
    PrinterReport,
    PrinterUnavailable,
    class_condition,
)
from appliance.core.printing.supplies import SupplyReading, reason_keyword, supplies_from_ipp

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
    "offline": Condition.UNREACHABLE,
    "shutdown": Condition.UNREACHABLE,
    "timed-out": Condition.UNREACHABLE,
    "paused": Condition.PAUSED,
}
# Set by the ipp and socket backends on every connect, so only a fault when a job of ours
# has also been processing for longer than the stall time.
TRANSIENT_REASONS = {"connecting-to-device": Condition.UNREACHABLE}
# Reasons that are only advice: printing still works.
HARMLESS_REASONS = {"none", "media-low", "toner-low", "marker-supply-low",
                    "cups-waiting-for-job-completed", "cups-remote-processing",
                    "cups-remote-pending", "cups-insecure-filter", "cups-missing-filter",
                    "connecting-to-device", "other"}

# What the backends write as printer-state-message / job-printer-state-message. Checked
# against CUPS 2.4.2 (Debian 2.4.2-3+deb12u9: backend/ipp, socket, usb; "observed" = seen
# in tests/test_printer_unreachable.py, the rest from the backends' message catalog). The
# texts are in the job's language; a text not listed here (another CUPS version, another
# language) decides nothing by itself, and the stall rule still turns a job that gets
# nowhere into a fault: the fallback errs towards fault.
CHECKED_CUPS_VERSION = "2.4.2"
UNREACHABLE_MESSAGES = (
    "The printer may not exist or is unavailable at this time",  # ipp, socket (observed)
    "Waiting for printer to become available",  # usb: no such device (observed)
    "The printer is unreachable at this time",  # ipp, socket: no route
    "The printer is not responding",  # ipp, socket: connect timed out
    "The printer is not connected",  # ipp, socket
    "Unable to locate printer",  # ipp, socket: unknown host name
    "Unable to contact printer",  # ipp, socket: in a class
    "Unable to send data to printer",  # usb
    "Unable to write print data",  # ipp, socket
)
# Texts that mean the printer took data or is printing it: progress, for the stall rule.
PROGRESS_MESSAGES = (
    "Connected to printer",  # ipp, socket
    "Copying print data",  # ipp
    "Waiting for job to complete",  # ipp: the document is at the printer (observed)
    "Waiting for printer to finish",  # socket
    "Sending data to printer",  # usb
    "The printer is now connected",  # ipp, socket
)
# Device URI schemes whose printer is a host and port we can try to connect to, and the
# port each uses when the URI names none.
NETWORK_SCHEMES = {"ipp": 631, "ipps": 631, "http": 80, "https": 443, "socket": 9100,
                   "lpd": 515}
PROBE_TIMEOUT_SECONDS = 2.0
# job-id too: pycups keys getJobs' answer by it and drops jobs without it (observed: with
# only "job-printer-uri" requested it returned {}, so no job of ours was ever counted).
JOB_ATTRIBUTES = ["job-id", "job-printer-uri", "job-printer-uri-actual", "job-state",
                  "job-printer-state-message", "time-at-processing", "job-printer-up-time",
                  "job-impressions-completed", "job-media-sheets-completed"]
PRINTER_STATES = {cups.IPP_PRINTER_IDLE: "idle", cups.IPP_PRINTER_PROCESSING: "processing",
                  cups.IPP_PRINTER_STOPPED: "stopped"}


# CUPS job states (RFC 8011 5.3.7, as pycups names them) -> JobState; anything else is UNKNOWN.
JOB_STATES = {cups.IPP_JOB_PENDING: JobState.PENDING, cups.IPP_JOB_HELD: JobState.HELD,
              cups.IPP_JOB_PROCESSING: JobState.PROCESSING,
              cups.IPP_JOB_STOPPED: JobState.STOPPED, cups.IPP_JOB_CANCELED: JobState.CANCELED,
              cups.IPP_JOB_ABORTED: JobState.ABORTED, cups.IPP_JOB_COMPLETED: JobState.COMPLETED}


def condition_from(reasons: tuple[str, ...], state: str, accepting: bool,
                   jobs: Condition | None = None, stalled: bool = False) -> Condition:
    """The queue's condition from its reasons, state and accepting flag; `jobs` is what our
    jobs say (`jobs_condition`), `stalled` whether one of them is past the stall time."""
    keywords = [reason_keyword(reason) for reason in reasons]
    for keyword, condition in REASONS.items():
        if keyword in keywords:
            return condition
    if stalled:
        for keyword, condition in TRANSIENT_REASONS.items():
            if keyword in keywords:
                return condition
    if jobs is not None:
        return jobs
    if not accepting:
        return Condition.NOT_ACCEPTING
    if state == "stopped":
        return Condition.PAUSED
    if any(reason.endswith("-error") and reason_keyword(reason) not in HARMLESS_REASONS
           for reason in reasons):
        return Condition.PRINTER_ERROR
    return Condition.READY


def _says(message: str, texts: tuple[str, ...]) -> bool:
    return any(message.strip().startswith(text) for text in texts)


@dataclass(frozen=True)
class JobView:
    """One job of ours as CUPS-Get-Jobs reports it. Ages are on cupsd's clock
    (`job-printer-up-time` is its now), so every process reads the same age."""

    job_id: int
    state: int
    message: str
    processing_seconds: float | None  # None unless processing
    progressed: bool

    @classmethod
    def from_cups(cls, job_id: int, attributes: dict) -> JobView:
        state = int(attributes.get("job-state", 0))
        message = str(attributes.get("job-printer-state-message", ""))
        since = attributes.get("time-at-processing")
        now = attributes.get("job-printer-up-time")
        processing = (float(now - since) if state == cups.IPP_JOB_PROCESSING
                      and isinstance(since, int) and isinstance(now, int) and since > 0
                      else None)
        progressed = (int(attributes.get("job-impressions-completed", 0) or 0) > 0
                      or int(attributes.get("job-media-sheets-completed", 0) or 0) > 0
                      or _says(message, PROGRESS_MESSAGES))
        return cls(job_id, state, message, processing, progressed)

    def stalled(self, after: float) -> bool:
        return self.processing_seconds is not None and self.processing_seconds > after


def jobs_condition(jobs: list[JobView], printer_message: str, printer_state: str,
                   stalled_after: float, device_answers: Callable[[], bool | None]
                   ) -> tuple[Condition | None, str]:
    """What our jobs say about the printer, with a line for IT: `unreachable` when a
    message of a job processing or held for a retry says so, when a job is past the stall
    time without progress, or when it is past it and the device (a network printer) no
    longer accepts a connection.

    `job-state-reasons` decide nothing here: CUPS 2.4 says `job-printing` for a healthy and
    an unreachable job alike, and `resources-are-not-ready` for a job held for a retry, which
    after a refill lasts until the retry and must not keep the LED red."""
    for job in jobs:
        if (job.state in (cups.IPP_JOB_PROCESSING, cups.IPP_JOB_HELD)
                and _says(job.message, UNREACHABLE_MESSAGES)):
            return Condition.UNREACHABLE, f"job {job.job_id}: {job.message}"
    if printer_state == "processing" and _says(printer_message, UNREACHABLE_MESSAGES):
        return Condition.UNREACHABLE, printer_message
    for job in jobs:
        if not job.stalled(stalled_after):
            continue
        seconds = f"processing for {job.processing_seconds:.0f} s"
        if not job.progressed:
            return Condition.UNREACHABLE, f"job {job.job_id}: {seconds} without progress"
        if device_answers() is False:
            return Condition.UNREACHABLE, (f"job {job.job_id}: {seconds}; the printer does "
                                           "not accept a connection")
    return None, ""


def device_answers(device_uri: str, timeout: float = PROBE_TIMEOUT_SECONDS) -> bool | None:
    """Whether the network printer of `device_uri` accepts a TCP connection now; None when
    the URI names no host and port (usb, a capture queue). Only the configured printer is
    tried, once, and only for a job of ours that is past the stall time."""
    parts = urllib.parse.urlsplit(device_uri)
    default_port = NETWORK_SCHEMES.get(parts.scheme)
    if default_port is None or not parts.hostname:
        return None
    try:
        port = parts.port or default_port
    except ValueError:
        return None
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def _accepting(attributes: dict) -> bool:
    """CUPS-Get-Printers reports rejection as a bit of printer-type."""
    return not int(attributes.get("printer-type", 0)) & cups.CUPS_PRINTER_REJECTING


def _is_class(attributes: dict) -> bool:
    return bool(int(attributes.get("printer-type", 0)) & cups.CUPS_PRINTER_CLASS)


def _label(name: str, attributes: dict) -> str:
    """What a nurse reads on the printer: its description (`lpadmin -D`), else its location
    (`-L`), else the queue's name. CUPS reports the name as the description when none is
    set."""
    for key in ("printer-info", "printer-location"):
        text = str(attributes.get(key) or "").strip()
        if text and text != name:
            return text
    return name


def _printer_name(uri: object) -> str:
    """`ipp://host/printers/NAME` (or `/classes/NAME`) -> NAME."""
    return urllib.parse.unquote(str(uri or "").rstrip("/").rpartition("/")[2])


@dataclass(frozen=True)
class QueueView:
    """One queue's state as read from CUPS, with the jobs of ours that concern it."""

    name: str
    attributes: dict
    jobs: list[JobView]

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(r for r in self.attributes.get("printer-state-reasons", ()) if r != "none")

    @property
    def state(self) -> str:
        return PRINTER_STATES.get(self.attributes.get("printer-state"), "unknown")

    def condition(self, stalled_after: float) -> tuple[Condition, str]:
        """The rules of this module for one printer: its reasons, state, accepting flag and
        our jobs on it; with a line for IT."""
        device_uri = str(self.attributes.get("device-uri", ""))
        jobs_say, detail = jobs_condition(
            self.jobs, str(self.attributes.get("printer-state-message", "")), self.state,
            stalled_after, lambda: device_answers(device_uri))
        stalled = any(job.stalled(stalled_after) for job in self.jobs)
        condition = condition_from(self.reasons, self.state, _accepting(self.attributes),
                                   jobs_say, stalled)
        if condition is not jobs_say:
            detail = ", ".join(self.reasons)
        return condition, detail


class CupsPrinter:
    """One CUPS queue (or the default destination) on the cupsd at `server`."""

    def __init__(self, queue: str | None, *, server: str | None = None,
                 options: dict[str, str] | None = None,
                 stalled_after_seconds: float = STALLED_AFTER_SECONDS) -> None:
        self.queue = queue
        self.server = server
        self.options = dict(options or {})
        self.stalled_after_seconds = stalled_after_seconds

    def _connection(self) -> cups.Connection:
        try:
            return cups.Connection(host=self.server) if self.server else cups.Connection()
        except CUPS_ERRORS as exc:
            raise PrinterUnavailable(Condition.CUPS_UNREACHABLE, str(exc)) from exc

    def _queue(self, conn: cups.Connection) -> tuple[str, dict, dict[str, dict]]:
        """The queue's name and state attributes, and those of every queue (a class's
        members are among them).

        Read with CUPS-Get-Printers, not Get-Printer-Attributes: pycups 2.0.4 leaks ~13 kB
        per getPrinterAttributes call (OpenPrinting/pycups#44), which the panel's once-a-
        second poll would turn into ~1 GB a day (bench/README.md, panel benchmark).
        """
        name = self.queue or conn.getDefault()
        if not name:
            raise PrinterUnavailable(Condition.NO_PRINTER, "no queue configured or default")
        printers = conn.getPrinters()
        attributes = printers.get(name)
        if attributes is None:
            raise PrinterUnavailable(Condition.NO_PRINTER, f"no CUPS queue named {name!r}")
        return name, attributes, printers

    def report(self) -> PrinterReport:
        """The queue's health now. Never raises: an unreachable CUPS is a condition too."""
        try:
            conn = self._connection()
            name, attributes, printers = self._queue(conn)
            jobs = conn.getJobs(which_jobs="not-completed", requested_attributes=JOB_ATTRIBUTES)
            members = conn.getClasses().get(name, []) if _is_class(attributes) else None
        except PrinterUnavailable as exc:
            return PrinterReport(self.queue, exc.condition, (), "unknown", False, 0)
        except CUPS_ERRORS:
            return PrinterReport(self.queue, Condition.CUPS_UNREACHABLE, (), "unknown", False,
                                 0)
        ours = {job_id: job for job_id, job in sorted(jobs.items())
                if _printer_name(job.get("job-printer-uri")) == name}
        queue = QueueView(name, attributes,
                          [JobView.from_cups(job_id, job) for job_id, job in ours.items()])
        if members is None:
            condition, detail = queue.condition(self.stalled_after_seconds)
            return PrinterReport(name, condition, queue.reasons, queue.state,
                                 _accepting(attributes), len(ours), detail)
        return self._class_report(queue, [members] if isinstance(members, str) else members,
                                  printers, ours)

    def _class_report(self, queue: QueueView, names: list[str], printers: dict[str, dict],
                      ours: dict[int, dict]) -> PrinterReport:
        """A class: each member judged by itself, with our jobs CUPS dispatched to it."""
        members = []
        for member in names:
            attributes = printers.get(member)
            if attributes is None:  # a remote member, or one deleted under the class
                members.append(MemberReport(member, member, Condition.NO_PRINTER,
                                            "no such local CUPS queue"))
                continue
            view = QueueView(member, attributes, [
                JobView.from_cups(job_id, job) for job_id, job in ours.items()
                if _printer_name(job.get("job-printer-uri-actual")) == member])
            condition, detail = view.condition(self.stalled_after_seconds)
            members.append(MemberReport(member, _label(member, attributes), condition, detail))
        own = condition_from(queue.reasons, queue.state, _accepting(queue.attributes))
        condition = class_condition(own, members)
        detail = "; ".join(f"{m.name}: {m.condition}" + (f" ({m.detail})" if m.detail else "")
                           for m in members if not m.ready)
        return PrinterReport(queue.name, condition, queue.reasons, queue.state,
                             _accepting(queue.attributes), len(ours),
                             detail or ", ".join(queue.reasons), tuple(members))

    def submit(self, pdf: bytes, title: str) -> int:
        """Hand `pdf` to CUPS as one job, streamed from memory; return the job id."""
        conn = self._connection()
        name, attributes, _ = self._queue(conn)
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

    def job_printer(self, job_id: int) -> str | None:
        """The label of the class member CUPS dispatched job `job_id` to. CUPS names it in
        `job-printer-uri-actual` once a member has taken the job (processing, or held for a
        retry after a member failed; observed with CUPS 2.4.2), and before that only the
        class (`job-printer-uri`); for a job on a single queue both name the queue."""
        try:
            conn = self._connection()
            attributes = conn.getJobAttributes(
                job_id, requested_attributes=["job-printer-uri", "job-printer-uri-actual"])
            member = _printer_name(attributes.get("job-printer-uri-actual"))
            if not member or member == _printer_name(attributes.get("job-printer-uri")):
                return None
            printer = conn.getPrinters().get(member, {})
        except (PrinterUnavailable, *CUPS_ERRORS):
            return None
        return _label(member, printer)

    def supplies(self) -> tuple[SupplyReading, ...]:
        """Each printer of the queue asked for its state, reasons and markers, without a
        job (docs/printing.md, "The daily supplies check"). Never raises: an unreachable
        CUPS or a missing queue is one reading that did not answer."""
        try:
            conn = self._connection()
            name, attributes, printers = self._queue(conn)
            members = conn.getClasses().get(name, []) if _is_class(attributes) else None
        except PrinterUnavailable as exc:
            return (SupplyReading(self.queue or "", self.queue or "", False,
                                  detail=str(exc)),)
        except CUPS_ERRORS as exc:
            return (SupplyReading(self.queue or "", self.queue or "", False,
                                  detail=f"CUPS: {exc}"),)
        if members is None:
            names = [name]
        else:
            names = [members] if isinstance(members, str) else list(members)
        usb = _UsbDevices(conn)
        return tuple(self._reading(conn, member, printers.get(member), usb)
                     for member in names)

    def _reading(self, conn: cups.Connection, name: str, attributes: dict | None,
                 usb: _UsbDevices) -> SupplyReading:
        if attributes is None:
            return SupplyReading(name, name, False, detail="no such local CUPS queue")
        label = _label(name, attributes)
        try:  # CUPS's view: what a backend last reported (ATTR: lines), and the queue's reasons
            known = conn.getPrinterAttributes(name, requested_attributes=SUPPLY_ATTRIBUTES)
        except CUPS_ERRORS as exc:
            return SupplyReading(name, label, False, detail=f"CUPS: {exc}")
        device_uri = str(attributes.get("device-uri", ""))
        scheme = urllib.parse.urlsplit(device_uri).scheme
        if scheme in ("ipp", "ipps"):
            return _ask_ipp_printer(name, label, device_uri, known)
        if scheme in NETWORK_SCHEMES:
            answered = device_answers(device_uri)
            how = "accepts a connection" if answered else "does not accept a connection"
            return _reading_from(name, label, answered, known, f"{scheme} printer {how}")
        if scheme == "usb":
            answered = usb.attached(device_uri)
            how = ("attached" if answered else "not attached" if answered is False
                   else "cannot be listed")
            return _reading_from(name, label, answered, known, f"USB printer {how}")
        return _reading_from(name, label, None, known,
                             f"a {scheme or 'local'} device cannot be asked without a job; "
                             "CUPS's last known values")


IPP_TIMEOUT_SECONDS = 10.0  # the supplies check's wait for a printer's answer
# Asked of CUPS and of IPP printers by the supplies check: no more than it shows.
SUPPLY_ATTRIBUTES = ["printer-state", "printer-state-reasons", "marker-names", "marker-types",
                     "marker-levels", "marker-low-levels", "printer-supply",
                     "printer-supply-description"]


def _reading_from(name: str, label: str, answered: bool | None, attributes: dict,
                  detail: str) -> SupplyReading:
    reasons = attributes.get("printer-state-reasons", ())
    if isinstance(reasons, str):  # one value, as a printer's own answer gives it
        reasons = (reasons,)
    return SupplyReading(
        name, label, answered, PRINTER_STATES.get(attributes.get("printer-state"), "unknown"),
        tuple(str(r) for r in reasons if r != "none"), supplies_from_ipp(attributes), detail)


def _ask_ipp_printer(name: str, label: str, device_uri: str, known: dict) -> SupplyReading:
    """IPP Get-Printer-Attributes sent to the printer itself (`adapters.ipp`, within
    `IPP_TIMEOUT_SECONDS`): CUPS learns a network printer's markers only while it prints a
    job, and no job is what this check is for."""
    try:
        answer = ipp.get_printer_attributes(device_uri, SUPPLY_ATTRIBUTES,
                                            timeout=IPP_TIMEOUT_SECONDS)
    except ipp.IppError as exc:
        return _reading_from(name, label, False, known, f"the IPP printer: {exc}")
    if supplies_from_ipp(answer):
        return _reading_from(name, label, True, answer, "the IPP printer answered")
    markers = {k: v for k, v in known.items() if k.startswith("marker-")}
    return _reading_from(name, label, True, {**answer, **markers},
                         "the IPP printer answered; no markers of its own, CUPS's last known")


class _UsbDevices:
    """The USB printers CUPS lists now (CUPS-Get-Devices, the usb backend only), asked once
    per check and only when a queue is a USB one."""

    def __init__(self, conn: cups.Connection) -> None:
        self.conn = conn
        self._uris: set[str] | None = None
        self._failed = False

    def attached(self, device_uri: str) -> bool | None:
        if self._uris is None and not self._failed:
            try:
                self._uris = set(self.conn.getDevices(include_schemes=["usb"]))
            except CUPS_ERRORS:
                self._failed = True
        if self._uris is None:
            return None
        # the queue's URI may carry options the backend does not list, or the reverse
        return any(uri.startswith(device_uri) or device_uri.startswith(uri)
                   for uri in self._uris)


def printer_for(queue: str | None, options: dict[str, str] | None = None, *,
                stalled_after_seconds: float = STALLED_AFTER_SECONDS) -> CupsPrinter:
    """The appliance's printer: `queue` on the cupsd named by `CUPS_SERVER` (read here, once,
    rather than left to libcups' per-process cache), else libcups' default."""
    return CupsPrinter(queue, server=os.environ.get("CUPS_SERVER") or None, options=options,
                       stalled_after_seconds=stalled_after_seconds)
