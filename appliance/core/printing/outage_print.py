"""The report after an outage, made and printed: the one use case the kiosk's "Efter
avbrottet" button and `appliance outage report` share.

The report is read from the audit log (`core/records/outage_report.py`) at the appliance's
clock (a lower bound when the clock is unsure, as for every age it prints). Printing it is
not a kit: it takes neither the kit guard nor its record (`print_guard`), so it never
holds back a nurse's kit and never counts as one. It is audited as `outage_report_printed`
(or `outage_report_failed`), an event the report's own outage detection does not read.
Its CUPS job title is the report's title and the time: no patient data, like a kit's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from appliance.core.printing.outage_sheet import RenderedReport, render_outage_report
from appliance.core.printing.printer import PrinterUnavailable
from appliance.core.printing.wording import report_job_title
from appliance.core.records.audit import AuditError
from appliance.core.records.outage_report import OutageReport, Window, outage_report

if TYPE_CHECKING:  # the type only: services.py is above every wing
    from appliance.core.services import Services

log = logging.getLogger(__name__)

PRINTED_EVENT = "outage_report_printed"
FAILED_EVENT = "outage_report_failed"


@dataclass(frozen=True)
class ReportPrinted:
    job_id: int
    pages: int
    report: OutageReport


def report_now(services: Services, window: Window | None = None) -> OutageReport:
    """The report of the last outage (or of `window`), from the whole audit log."""
    return outage_report(services.audit.entries(), services.clock_reading().now, window)


def print_report(services: Services, trigger: str, window: Window | None = None
                 ) -> ReportPrinted:
    """Print the report; raises `PrinterUnavailable` when the printer did not take it."""
    report = report_now(services, window)
    rendered = render_outage_report(report, services.config)
    made = report.made_at.astimezone(services.config.timezone)
    fields = _audit_fields(report, rendered, trigger)
    try:
        job_id = services.printer.submit(rendered.pdf, report_job_title(f"{made:%H:%M}"))
    except PrinterUnavailable as exc:
        _audit(services, FAILED_EVENT, **fields, reason=str(exc.condition))
        log.error("outage report (%s) not printed: %s", trigger, exc)
        raise
    _audit(services, PRINTED_EVENT, **fields, job=job_id)
    log.info("outage report (%s): job %s, %d pages, %d kits", trigger, job_id,
             rendered.pages, len(report.care_kits))
    return ReportPrinted(job_id, rendered.pages, report)


def _audit_fields(report: OutageReport, rendered: RenderedReport, trigger: str) -> dict:
    summary = report.to_json()
    return {"trigger": trigger, "pages": rendered.pages, "window": summary["window"],
            "kits": summary["totals"]["kits"], "list_pages": summary["totals"]["list_pages"]}


def _audit(services: Services, event: str, **fields) -> None:
    """Audit without stopping the print, as the print service does."""
    try:
        services.audit.append(event, **fields)
    except AuditError:
        log.exception("audit log could not record %s", event)
