"""The printer port: what the core needs from a printer, and nothing of how it is reached.

The core composes kits and decides what the state of the appliance is; it talks to a
printer only through the `Printer` protocol below. `appliance.adapters.cups` implements it
with pycups; tests pass that same adapter pointed at a private cupsd. The conditions and
their texts live here because nurses, the cover sheet, the LED and the CLI must all say the
same thing; how a printer's own signals map to them is the adapter's business.

The queue may be a class of printers (docs/printing.md, "Failover"): the report then holds
each member's condition, and the queue's is `degraded` while one member cannot print and
another can (the kit still comes out; tell IT), or a member's fault when none can.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from appliance.core.base.errors import ApplianceError
from appliance.core.printing.supplies import SupplyReading


class Condition(enum.StrEnum):
    READY = "ready"
    OUT_OF_PAPER = "out-of-paper"
    PAPER_JAM = "paper-jam"
    TONER_EMPTY = "toner-empty"
    DOOR_OPEN = "door-open"
    UNREACHABLE = "unreachable"  # off, unplugged, not answering, or a job of ours stalled
    PAUSED = "paused"
    NOT_ACCEPTING = "not-accepting"
    PRINTER_ERROR = "printer-error"
    NO_PRINTER = "no-printer"
    CUPS_UNREACHABLE = "cups-unreachable"
    DEGRADED = "degraded"  # a class: a member cannot print, another can
    NOT_ANSWERING = "not-answering"  # silent to the daily supplies check for 24 h


@dataclass(frozen=True)
class ConditionText:
    swedish: str  # for nurses: what is wrong and what to do
    english: str  # for logs and IT


CONDITIONS: dict[Condition, ConditionText] = {
    Condition.READY: ConditionText("Skrivaren fungerar.", "ready"),
    Condition.OUT_OF_PAPER: ConditionText("Slut på papper – fyll på papper i skrivaren.",
                                          "out of paper"),
    Condition.PAPER_JAM: ConditionText("Pappersstopp – öppna skrivaren och ta bort papperet.",
                                       "paper jam"),
    Condition.TONER_EMPTY: ConditionText("Slut på toner – byt tonerkassett.", "toner empty"),
    Condition.DOOR_OPEN: ConditionText("En lucka är öppen – stäng skrivarens lucka.",
                                       "door or cover open"),
    Condition.UNREACHABLE: ConditionText(
        "Skrivaren svarar inte. Kontrollera att den är påslagen och att kabeln sitter i.",
        "printer unreachable: switched off, unplugged, or not answering"),
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
    Condition.DEGRADED: ConditionText(
        "En skrivare fungerar inte – utskrifterna kommer ut på en annan. Meddela IT-support.",
        "a printer of the class cannot print; the others still print (tell IT)"),
    Condition.NOT_ANSWERING: ConditionText(
        "Skrivaren har inte svarat på ett dygn. Kontrollera att den är påslagen och att "
        "kabeln sitter i. Meddela IT-support.",
        "printer has not answered the daily supplies check for 24 h: switched off, "
        "unplugged or disconnected"),
}


class JobState(enum.StrEnum):
    PENDING = "pending"
    HELD = "held"
    PROCESSING = "processing"
    STOPPED = "stopped"
    CANCELED = "canceled"
    ABORTED = "aborted"
    COMPLETED = "completed"
    UNKNOWN = "unknown"  # the printer system cannot say (unreachable, or the job is gone)

    @property
    def final(self) -> bool:
        return self in FINAL_JOB_STATES

    @property
    def in_flight(self) -> bool:
        """Still on its way to paper: another kit now would be a second copy."""
        return self in IN_FLIGHT_JOB_STATES


FINAL_JOB_STATES = frozenset({JobState.CANCELED, JobState.ABORTED, JobState.COMPLETED})
IN_FLIGHT_JOB_STATES = frozenset({JobState.PENDING, JobState.HELD, JobState.PROCESSING,
                                  JobState.STOPPED})


class PrinterUnavailable(ApplianceError, ConnectionError):
    """The job could not be handed to the printer; `condition` says why, in words for nurses
    too."""

    def __init__(self, condition: Condition, detail: str = "") -> None:
        self.condition = condition
        text = CONDITIONS[condition].english
        super().__init__(f"{text}: {detail}" if detail else text)


@dataclass(frozen=True)
class MemberReport:
    """One printer of a class."""

    name: str  # its CUPS queue
    label: str  # what a nurse reads on it: printer-info, else printer-location, else name
    condition: Condition
    detail: str = ""

    @property
    def ready(self) -> bool:
        return self.condition is Condition.READY

    def to_json(self) -> dict:
        return {"name": self.name, "label": self.label, "condition": str(self.condition),
                "message": CONDITIONS[self.condition].english,
                "message_sv": CONDITIONS[self.condition].swedish, "detail": self.detail}


@dataclass(frozen=True)
class PrinterReport:
    queue: str | None
    condition: Condition
    reasons: tuple[str, ...]
    state: str  # idle / processing / stopped / unknown
    accepting: bool
    active_jobs: int  # jobs not yet completed, canceled or aborted
    detail: str = ""  # for IT: which signal decided the condition (English, no patient data)
    members: tuple[MemberReport, ...] = ()  # empty unless the queue is a class

    @property
    def blocking(self) -> bool:
        return self.condition not in (Condition.READY, Condition.DEGRADED)

    @property
    def degraded(self) -> bool:
        return self.condition is Condition.DEGRADED

    @property
    def destinations(self) -> tuple[str, ...]:
        """Where a kit ordered now may come out: a class's ready members (all of them when
        none is ready: the first one fixed takes it); empty for a single queue."""
        ready = tuple(m.label for m in self.members if m.ready)
        return ready or tuple(m.label for m in self.members)

    @property
    def swedish(self) -> str:
        return self._text("swedish")

    @property
    def english(self) -> str:
        return self._text("english")

    def _text(self, language: str) -> str:
        """The condition's text; for a class, each member that cannot print and what to do
        about it ("Skrivaren i expeditionen: Slut på papper – fyll på papper i skrivaren.")."""
        broken = [f"{m.label}: {getattr(CONDITIONS[m.condition], language)}"
                  for m in self.members if not m.ready]
        if not broken:
            return getattr(CONDITIONS[self.condition], language)
        if self.degraded:
            broken.insert(0, getattr(CONDITIONS[self.condition], language))
        return " ".join(broken) if language == "swedish" else "; ".join(broken)

    def to_json(self) -> dict:
        return {"queue": self.queue, "condition": str(self.condition), "message": self.english,
                "message_sv": self.swedish, "reasons": list(self.reasons), "state": self.state,
                "accepting": self.accepting, "active_jobs": self.active_jobs,
                "detail": self.detail, "members": [m.to_json() for m in self.members]}


def class_condition(own: Condition, members: list[MemberReport] | tuple[MemberReport, ...]
                    ) -> Condition:
    """A class's condition: its own when the class itself cannot take jobs (stopped, not
    accepting), else `ready` when every member can print, `degraded` when some can, and
    the first member's fault when none can."""
    if own is not Condition.READY:
        return own
    if not members:
        return Condition.NO_PRINTER
    broken = [member.condition for member in members if not member.ready]
    if not broken:
        return Condition.READY
    return Condition.DEGRADED if len(broken) < len(members) else broken[0]


class Printer(Protocol):
    """A print queue. Implementations must be safe to call from several threads."""

    def report(self) -> PrinterReport:
        """The queue's health now. Never raises: an unreachable printer is a condition."""

    def submit(self, pdf: bytes, title: str) -> int:
        """Hand `pdf` over as one job and return its id; raise `PrinterUnavailable`."""

    def job_state(self, job_id: int) -> JobState:
        """Where job `job_id` is now; `JobState.UNKNOWN` when that cannot be told."""

    def job_printer(self, job_id: int) -> str | None:
        """The label of the printer of a class that job `job_id` was dispatched to; None
        until the class has chosen one, and for a single queue."""

    def supplies(self) -> tuple[SupplyReading, ...]:
        """Ask the printer (each member of a class) for its state, reasons and markers,
        without a job: one reading per printer. Never raises: a printer that does not
        answer is a reading too."""
