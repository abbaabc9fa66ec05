"""The report after an outage on paper, for the unit manager: the outage as the appliance
saw it, every kit with how it was asked for and how old its lists were, the printer's
faults, the deliveries that did not come, and the checklist of every page that went out,
each with a box "Införd i journal, sign.".

The figures are the report model's (`core/records/outage_report.py`); this module only
says them in Swedish (`wording`) and lays them out in the sheet markup every printed sheet
uses (`sheets`), with its fonts and its footer. No patient data: the model holds none, and
lists are named by their kind's configured title and their configured unit.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import pikepdf

from appliance.core.base.clock import local_time
from appliance.core.config.settings import ApplianceConfig
from appliance.core.printing.sheets import (
    Footer,
    markup_row,
    render_sheet,
    weighted_columns,
)
from appliance.core.printing.wording import (
    ALL_UNITS,
    CHECKLIST_COLUMNS,
    CHECKLIST_HEADING,
    CHECKLIST_INTRO,
    CHOSEN_PERIOD,
    COMPILED_BY,
    DURATION,
    FAILED_COLUMNS,
    FAILED_HEADING,
    FAULT_COLUMNS,
    FAULTS_HEADING,
    FAULTS_NOTE,
    FIRST_DELIVERY_AFTER,
    FIRST_SIGN,
    FORMS_ROW,
    JOB_ENDINGS,
    KIT_COLUMNS,
    KITS_HEADING,
    LAST_DELIVERY_BEFORE,
    MISSED_COLUMNS,
    MISSED_HEADING,
    NO_CHECKLIST,
    NO_FAULTS,
    NO_KITS,
    NO_MISSED,
    NO_OUTAGE,
    NONE_YET,
    NOT_PRINTED_NOTE,
    NOT_SEEN_TO_END,
    OUTAGE_COLUMNS,
    OUTAGE_HEADING,
    PRINTED,
    PRINTER_FAULTS,
    REPORT_INTRO,
    REPORT_TITLE,
    UNKNOWN,
    age,
    age_bound,
    kit_pages_of,
    trigger_label,
)
from appliance.core.records.outage_report import CheckRow, OutageReport, ReportedKit

CHECKLIST_WEIGHTS = (1.7, 2.7, 2.5, 1.6, 1.4, 3.3)
KIT_WEIGHTS = (0.7, 1.9, 2.0, 2.1, 1.0, 3.0, 2.1)
FAILED_WEIGHTS = (1.5, 1.6, 2.6, 2.6)
FAULT_WEIGHTS = (2.6, 1.6, 1.6, 1.2)
MISSED_WEIGHTS = (2.6, 2.6, 1.6)


def outage_markup(report: OutageReport, config: ApplianceConfig) -> str:
    """The report's sheet markup (core/printing/sheets.py)."""
    return "\n".join(_lines(report, _Words(config))) + "\n"


@dataclass(frozen=True)
class RenderedReport:
    pdf: bytes
    pages: int


def render_outage_report(report: OutageReport, config: ApplianceConfig) -> RenderedReport:
    """The report as a PDF, its pages numbered "Utskrift sida i av n" like a kit's (laid
    out twice, as a kit's sheets are: once to count the pages)."""
    markup = outage_markup(report, config)
    left = (f"{REPORT_TITLE} · {config.name} · {PRINTED} "
            f"{local_time(report.made_at, config.timezone)}")
    draft = render_sheet(markup, Footer(left, 1, 0), title=REPORT_TITLE)
    with pikepdf.open(io.BytesIO(draft)) as pdf:
        pages = len(pdf.pages)
    return RenderedReport(render_sheet(markup, Footer(left, 1, pages), title=REPORT_TITLE),
                          pages)


class _Words:
    """The configuration's words for codes in the log: kinds' and profiles' titles (the
    code itself for one no longer configured), and local times."""

    def __init__(self, config: ApplianceConfig) -> None:
        self.config = config

    def kind(self, kind: str | None) -> str:
        if kind is None:
            return FORMS_ROW
        configured = self.config.kinds.get(kind)
        return configured.title if configured is not None else (kind or UNKNOWN)

    def profile(self, name: str) -> str:
        configured = self.config.printing.profiles.get(name)
        return configured.title if configured is not None else (name or UNKNOWN)

    def time(self, moment: datetime | None) -> str:
        return UNKNOWN if moment is None else local_time(moment, self.config.timezone)

    def clock(self, moment: datetime) -> str:
        """`10:15`, the time of day, where the date is said nearby."""
        return f"{moment.astimezone(self.config.timezone):%H:%M}"


def _lines(report: OutageReport, words: _Words) -> Iterator[str]:
    yield f"TITLE {REPORT_TITLE}"
    yield f"TEXT {REPORT_INTRO}"
    yield f"TEXT {words.config.name} · {PRINTED} {words.time(report.made_at)}"
    if not report.found and report.detected:
        yield f"ALERT {NO_OUTAGE}"
        return
    yield from _outage(report, words)
    yield from _kits(report, words)
    yield from _failed(report, words)
    yield from _faults(report, words)
    yield from _missed(report, words)
    yield from _checklist(report, words)
    yield f"FIELD {COMPILED_BY} | 2"


def _outage(report: OutageReport, words: _Words) -> Iterator[str]:
    yield f"HEADING {OUTAGE_HEADING}"
    yield "TABLE " + " | ".join(OUTAGE_COLUMNS)
    if not report.detected:
        yield (f"ROW {CHOSEN_PERIOD} | {words.time(report.window.since)} – "
               f"{words.time(report.window.until or report.made_at)}")
    yield f"ROW {LAST_DELIVERY_BEFORE} | {words.time(report.last_delivery_before)}"
    yield f"ROW {FIRST_SIGN} | {words.time(report.began)}"
    ended = words.time(report.ended) if report.ended else NONE_YET
    yield f"ROW {FIRST_DELIVERY_AFTER} | **{ended}**"
    duration = report.duration
    yield f"ROW {DURATION} | {UNKNOWN if duration is None else age(duration)}"


def _kits(report: OutageReport, words: _Words) -> Iterator[str]:
    yield from _table(f"{KITS_HEADING} ({len(report.care_kits)})", KIT_COLUMNS, KIT_WEIGHTS, [
        (str(kit.number), words.time(kit.time), trigger_label(kit.trigger, drill=kit.drill),
         words.profile(kit.profile) + ("" if kit.unit is None else f", {kit.unit}"),
         UNKNOWN if kit.pages is None else str(kit.pages), _ages(kit, words),
         _outcome(kit, words))
        for kit in report.kits], empty=NO_KITS)


def _ages(kit: ReportedKit, words: _Words) -> str:
    """"Att göra-lista, Norr: 3 h 15 min" per list; the missing ones said too."""
    parts = [f"{words.kind(doc.kind)}, {doc.unit or ALL_UNITS}: "
             + (UNKNOWN if doc.age is None else age_bound(doc.age, at_least=kit.clock_unsure))
             for doc in kit.lists]
    parts += [f"{words.kind(key.partition('/')[0])}: saknades" for key in kit.missing]
    return "; ".join(parts) or "–"


def _outcome(kit: ReportedKit, words: _Words) -> str:
    """What became of the job, and the printer's fault when it was ordered."""
    ended = JOB_ENDINGS.get(kit.ended or "", UNKNOWN)
    if kit.ended_at is not None:
        ended += f" {words.clock(kit.ended_at)}"
    if kit.printer and kit.printer != "ready":
        ended += f" (vid beställning: {PRINTER_FAULTS.get(kit.printer, kit.printer)})"
    return ended


def _failed(report: OutageReport, words: _Words) -> Iterator[str]:
    yield from _table(FAILED_HEADING, FAILED_COLUMNS, FAILED_WEIGHTS, [
        (words.time(failed.time), trigger_label(failed.trigger, drill=failed.drill),
         words.profile(failed.profile), PRINTER_FAULTS.get(failed.reason, failed.reason))
        for failed in report.failed], empty=None)


def _faults(report: OutageReport, words: _Words) -> Iterator[str]:
    yield from _table(FAULTS_HEADING, FAULT_COLUMNS, FAULT_WEIGHTS, [
        (PRINTER_FAULTS.get(fault.condition, fault.condition), words.time(fault.began),
         words.time(fault.ended) if fault.ended else NOT_SEEN_TO_END,
         "–" if fault.duration is None else age(fault.duration))
        for fault in report.faults], empty=NO_FAULTS, note=FAULTS_NOTE)


def _missed(report: OutageReport, words: _Words) -> Iterator[str]:
    yield from _table(f"{MISSED_HEADING} ({len(report.missed)})", MISSED_COLUMNS,
                      MISSED_WEIGHTS, [
                          (words.kind(missed.kind), missed.unit or ALL_UNITS,
                           words.time(missed.slot))
                          for missed in report.missed], empty=NO_MISSED)


def _table(heading: str, columns: tuple[str, ...], weights: tuple[float, ...],
           rows: list[tuple[str, ...]], *, empty: str | None,
           note: str | None = None) -> Iterator[str]:
    """A section: its heading, an optional small note, and a wide table of `rows`; with no
    rows, the line `empty` instead of the table, or (`empty` None) no section at all."""
    if not rows and empty is None:
        return
    yield f"HEADING {heading}"
    if note:
        yield f"SMALL {note}"
    if not rows:
        yield f"TEXT {empty}"
        return
    yield _wide(columns, weights)
    for cells in rows:
        yield markup_row(cells)


def _checklist(report: OutageReport, words: _Words) -> Iterator[str]:
    """On a page of its own: it goes round the unit to be signed, the facts stay."""
    yield "NEWPAGE"
    yield f"HEADING {CHECKLIST_HEADING}"
    not_printed = [str(kit.number) for kit in report.care_kits if not kit.reached_paper]
    if not_printed:
        yield f"TEXT {NOT_PRINTED_NOTE.format(numbers=', '.join(not_printed))}"
    if not report.checklist:
        yield f"TEXT {NO_CHECKLIST}"
        return
    yield f"TEXT {CHECKLIST_INTRO}"
    yield "GRID " + weighted_columns(CHECKLIST_COLUMNS, CHECKLIST_WEIGHTS)
    for row in report.checklist:
        yield markup_row(_check_cells(row, words))


def _check_cells(row: CheckRow, words: _Words) -> tuple[str, ...]:
    listed = row.kind is not None
    return (f"{row.kit} ({words.clock(row.kit_time)})", row.unit or ALL_UNITS,
            words.kind(row.kind),
            kit_pages_of(row.kit_page, row.kit_pages) if listed else "–",
            kit_pages_of(row.list_page, row.list_pages) if listed else "–", "")


def _wide(columns: tuple[str, ...], weights: tuple[float, ...]) -> str:
    return "WIDETABLE " + weighted_columns(columns, weights)
