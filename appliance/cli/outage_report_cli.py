"""`appliance outage report`: the report after an outage (docs/outage-report.md), as a
summary for IT, as JSON, as a PDF file, or printed.

Registered in `appliance_cli.py` under the `outage` group; this module holds only the
report's command, so other `outage` subcommands live in their own modules.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from appliance.cli.appliance_parts import appliance_services
from appliance.cli.common import echo_json
from appliance.core.base.clock import local_time
from appliance.core.base.fsutil import atomic_write
from appliance.core.printing.wording import age

TIME_FORMAT = "YYYY-MM-DD HH:MM (local time) or ISO 8601 with an offset"


@click.command("report")
@click.option("--from", "since", metavar="TIME",
              help=f"Start of the period ({TIME_FORMAT}); default: the last outage, found "
                   "from the prints and the missed slots.")
@click.option("--to", "until", metavar="TIME",
              help=f"End of the period ({TIME_FORMAT}); default: now.")
@click.option("--json", "as_json", is_flag=True, help="The report as JSON, for IT.")
@click.option("--print", "to_printer", is_flag=True,
              help="Print the Swedish report on the appliance's printer.")
@click.option("--output", type=click.Path(dir_okay=False), metavar="FILE.pdf",
              help="Write the Swedish report to this PDF file (it holds no patient data).")
@click.pass_context
def report(ctx: click.Context, since: str | None, until: str | None, as_json: bool,
           to_printer: bool, output: str | None) -> None:
    """The report after an outage: the outage as the appliance saw it, every kit, printer
    faults, missed deliveries and the checklist of pages to enter in the record.

    Exit status: 0 done, 1 not printed (the printer did not take it), 2 usage error.
    """
    from appliance.core.printing.outage_print import print_report, report_now
    from appliance.core.printing.outage_sheet import render_outage_report
    from appliance.core.printing.printer import PrinterUnavailable
    from appliance.core.records.outage_report import Window

    svc = appliance_services(ctx)
    tz = svc.config.timezone
    window = None
    if since or until:
        window = Window(_moment(since, "--from", tz), _moment(until, "--to", tz))
        if window.since and window.until and window.since > window.until:
            raise click.BadParameter("must not be before --from", param_hint="--to")
    if to_printer:
        try:
            printed = print_report(svc, "cli", window)
        except PrinterUnavailable as exc:
            click.echo(f"not printed: {exc}", err=True)
            sys.exit(1)
        made = printed.report
        click.echo(f"job {printed.job_id}: the outage report, {printed.pages} page(s)",
                   err=as_json)
    else:
        made = report_now(svc, window)
    if output:
        rendered = render_outage_report(made, svc.config)
        atomic_write(Path(output), rendered.pdf, mode=0o640)
        click.echo(f"wrote {output}: {rendered.pages} page(s)", err=as_json)
    if as_json:
        echo_json(made.to_json())
    elif not (to_printer or output):
        _summary(made, tz)


def _moment(text: str | None, option: str, tz: ZoneInfo) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a time: write {TIME_FORMAT}, e.g. "
                                 "2026-12-07 06:30", param_hint=option) from None
    return moment.replace(tzinfo=tz) if moment.tzinfo is None else moment


def _summary(made, tz: ZoneInfo) -> None:
    """In English for IT; the Swedish report is the PDF (--output, --print)."""
    def when(moment):
        return local_time(moment, tz) if moment else "unknown"

    if not made.found:
        click.echo("no outage found in the audit log: no kit printed and no slot missed"
                   + ("" if made.detected else " in that period"))
        return
    click.echo(f"outage: first sign {when(made.began)}, "
               + (f"deliveries back {when(made.ended)}" if made.ended
                  else "no delivery since (ongoing?)")
               + f", {age(made.duration)}; last delivery before {when(made.last_delivery_before)}")
    for kit in made.kits:
        click.echo(f"kit {kit.number}: {when(kit.time)} {kit.trigger}"
                   f"{' DRILL' if kit.drill else ''} {kit.profile}, {kit.pages} pages, "
                   f"job {kit.job} {kit.ended or 'end not seen'}")
    for fault in made.faults:
        click.echo(f"printer fault {fault.condition}: {when(fault.began)} to "
                   f"{when(fault.ended) if fault.ended else 'not seen to end'}")
    for missed in made.missed:
        click.echo(f"missed delivery: {missed.kind}{f' ({missed.unit})' if missed.unit else ''}"
                   f" slot {when(missed.slot)}")
    click.echo(f"checklist: {sum(1 for row in made.checklist if row.kind)} list page(s) to "
               "enter in the record")
