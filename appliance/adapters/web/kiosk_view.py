"""What the kiosk screen shows, worked out from the appliance's state: no Flask here, so it
is easy to read and to test. Titles, units, ages, times and page counts only: no patient
data ever reaches the screen.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from appliance.adapters.web.kiosk_text import Texts
from appliance.core.printing.printer import Condition, JobState, PrinterReport
from appliance.core.time.drills import DrillStatus
from appliance.core.watch.selftest import SWEDISH_NAMES
from appliance.core.watch.status import ApplianceStatus, KindStatus, State

# The print buttons, in the order shown (profile names; labels are `profile.NAME`).
PROFILE_BUTTONS = ("button", "full", "forms")
# What a unit's own button prints (with several units): the button kit of that unit only.
UNIT_BUTTON_PROFILE = "button"


def button_label(profile: str, unit: str | None, texts: Texts) -> str:
    """"Skriv ut allt", or "Skriv ut Hemsjukvård Norr" for a unit's own button."""
    return texts("unit_button", unit=unit) if unit else texts(f"profile.{profile}")


@dataclass(frozen=True)
class ListRow:
    title: str
    # "Ålder", "2 dygn", "(71 h 59 min)": the age in the pieces a line may break between
    # (Texts.age_parts); empty for a missing list (its warning says "Saknas")
    age_parts: tuple[str, ...]
    time: str  # "kl. 07:45", or ""
    warning: str | None  # "EJ AKTUELL" / "Saknas"; None when the list is fine

    @property
    def age(self) -> str:
        """"Ålder 2 dygn (71 h 59 min)", or "" for a missing list."""
        return " ".join(self.age_parts)


@dataclass(frozen=True)
class UnitSection:
    name: str | None  # None in single-unit mode: no heading
    rows: tuple[ListRow, ...]


@dataclass(frozen=True)
class Overview:
    state: State
    label: str
    hint: str
    units: tuple[UnitSection, ...]
    printer_ok: bool
    printer_text: str
    panel_text: str | None = None  # the button cannot work (no GPIO): print here instead
    selftest_text: str | None = None  # the self-check failed: what, and to tell IT


def overview(status: ApplianceStatus, state: State, timezone, texts: Texts) -> Overview:
    """`state` is the shown state (`status.shown_state`): the same one the LED shows."""
    now = status.now.astimezone(timezone)
    # An unsure clock (clock_trust): every age is a lower bound, and the hint says so.
    unsure = status.clock is not None and not status.clock.trusted
    sections: dict[str | None, list[ListRow]] = {}
    for check in status.checks:
        if check.expected or check.latest is not None:  # a list nobody sends is no news
            sections.setdefault(check.unit, []).append(
                _row(check, now, timezone, texts, unsure))
    printer = status.printer
    printer_text = _printer_text(printer, texts) if printer is not None else ""
    # With several units, the ones that decide the state come first (never below the fold)
    # and the hint names them: "Listor saknas för Hemsjukvård Väst".
    troubled = [unit for unit, rows in sections.items()
                if unit is not None and any(row.warning for row in rows)]
    ordered = sorted(sections.items(), key=lambda item: item[0] not in troubled)
    if unsure and state is State.STALE:
        hint = texts("hint.clock_unsure")
    elif troubled and state in (State.STALE, State.NO_DATA):
        hint = texts(f"hint.{state}.units", units=", ".join(troubled))
    else:
        hint = texts(f"hint.{state}")
    label = texts(f"state.{state}")
    # A fault of the self-check alone: not "Skrivarfel", and printing may well work
    if state is State.FAULT and status.selftest_failed and not (printer and printer.blocking):
        label, hint = texts("state.fault.selftest"), texts("hint.fault.selftest")
    return Overview(state, label, hint,
                    tuple(UnitSection(unit, tuple(rows)) for unit, rows in ordered),
                    printer is None or printer.condition is Condition.READY, printer_text,
                    texts("panel.fault") if status.panel and status.panel.fault else None,
                    _selftest_text(status, texts))


def _selftest_text(status: ApplianceStatus, texts: Texts) -> str | None:
    """What failed, in the nurse's words (`selftest.SWEDISH_NAMES`) or IT's (check names)."""
    if not status.selftest_failed:
        return None
    failed = status.selftest.failed
    names = [SWEDISH_NAMES.get(name, name) for name in failed] if texts.lang == "sv" else failed
    return texts("selftest.fault", checks=", ".join(names))


def _row(check: KindStatus, now: datetime, timezone, texts: Texts, unsure: bool) -> ListRow:
    if check.latest is None:
        return ListRow(check.title, (), "", texts("missing"))
    produced = check.latest.produced_at.astimezone(timezone)
    age = texts.age_parts(check.age(now), at_least=unsure)
    return ListRow(check.title, age, texts.time_of(produced, None if unsure else now),
                   texts("stale") if check.stale else None)


def _printer_text(report: PrinterReport, texts: Texts) -> str:
    return report.swedish if texts.lang == "sv" else report.english


class Step(enum.StrEnum):
    QUEUED = "queued"
    PRINTING = "printing"
    DONE = "done"
    FAILED = "failed"


STEPS = (Step.QUEUED, Step.PRINTING, Step.DONE)
STEP_OF_JOB = {
    JobState.PENDING: Step.QUEUED, JobState.HELD: Step.QUEUED, JobState.STOPPED: Step.QUEUED,
    JobState.PROCESSING: Step.PRINTING, JobState.COMPLETED: Step.DONE,
    JobState.CANCELED: Step.FAILED, JobState.ABORTED: Step.FAILED,
    JobState.UNKNOWN: Step.FAILED,
}


@dataclass(frozen=True)
class Progress:
    """After a press: the kit's way to paper, or why nothing was started."""

    title: str  # the button's label
    step: Step | None  # None: nothing was started (busy, or the printer refused)
    pages: str | None
    message: str | None  # what went wrong and what to do
    destination: str | None = None  # "Utskriften kommer ut på: …" (a class's member)

    @property
    def final(self) -> bool:
        return self.step in (Step.DONE, Step.FAILED) or self.step is None


def job_progress(title: str, job: JobState, pages: int | None, printer: PrinterReport,
                 texts: Texts, member: str | None = None) -> Progress:
    """`title` is the pressed button's label (`button_label`); `member` the printer of a
    class the job went to, once CUPS has chosen it (`Printer.job_printer`)."""
    step = STEP_OF_JOB[job]
    message = None
    if step is Step.FAILED:
        message = texts("job.unknown" if job is JobState.UNKNOWN else "job.canceled")
    if step is not Step.DONE and printer.blocking:
        message = _printer_text(printer, texts)  # held for paper: say what to do
    return Progress(title, step, texts.pages(pages) if pages else None, message,
                    texts("destination", printer=member) if member else None)


def not_started(title: str, busy: bool, printer: PrinterReport, texts: Texts) -> Progress:
    message = texts("busy") if busy else f"{texts('failed')} {_printer_text(printer, texts)}"
    return Progress(title, None, None, message)


# The drill button's name in the page and the POST; it prints DRILL_PROFILE as a drill.
DRILL_BUTTON = "drill"
DRILL_PROFILE = "button"
# "Efter avbrottet": prints the report after an outage (core/printing/outage_print.py), not
# a kit; shown and answered like the drill button, its progress like a kit's.
REPORT_BUTTON = "after-outage"


@dataclass(frozen=True)
class DrillNote:
    text: str  # the reminder when one is due, else when the last drill was
    due: bool


def planned_outage_line(status: ApplianceStatus) -> str | None:
    """The soonest planned outage, in the one wording of `status` ("Planerat avbrott 12 dec
    18:00–22:00", "Planerat avbrott pågår till 22:00"), Swedish in either language: it is
    the nurses' and the paper routine's word. Its note stays in `status` (it may be long)."""
    windows = status.planned_outages
    return status.planned_outage_text(windows[0]) if windows else None


def drill_note(drill: DrillStatus | None, texts: Texts) -> DrillNote | None:
    if drill is None:
        return None
    if drill.reminder_due or drill.age is None:  # never drilled is always due
        return DrillNote(texts("drill.due"), True)
    days = drill.age.days
    return DrillNote(texts("drill.days", d=days) if days else texts("drill.today"), False)
