"""`appliance print`, `appliance drill` and `appliance printer`: the kit through the one
print service, and the queue's condition."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from appliance.cli.appliance_parts import appliance_services, print_service
from appliance.cli.common import echo_json
from appliance.core.printing.printer import JobState


@click.command("print")
@click.option("--profile", default="button", show_default=True,
              help="What to print: button (to-do lists + forms), full, forms, or a custom one.")
@click.option("--unit", metavar="NAME",
              help="Only this configured unit's lists (units.names); default: every unit.")
@click.option("--wait", is_flag=True, help="Exit 0 only once the job has completed.")
@click.option("--output", type=click.Path(dir_okay=False),
              help="Write the kit to this PDF file instead of printing (holds patient data!).")
@click.pass_context
def print_command(ctx: click.Context, profile: str, unit: str | None, wait: bool,
                  output: str | None) -> None:
    """Print the outage kit through CUPS: cover sheet, stamped lists, blank forms.

    Exit status: 0 printed (with --wait: completed), 1 not printed or the job failed,
    2 usage error, 3 not started because a kit is already on its way (from the button,
    the kiosk or another `appliance print`).
    """
    from appliance.core.printing.print_service import UnknownProfile, UnknownUnit

    service = print_service(ctx)
    if output:
        try:
            summary = service.export(profile, Path(output), trigger="cli", unit=unit)
        except (UnknownProfile, UnknownUnit) as exc:
            raise click.UsageError(str(exc)) from None
        click.echo(f"wrote {output}: {summary.pages} pages ({profile})")
        click.echo("warning: this file holds patient data; delete it when done", err=True)
        return
    _print_kit(service, profile, unit, wait, drill=False)


@click.command()
@click.option("--profile", default="button", show_default=True,
              help="What to print, as for `appliance print`.")
@click.option("--unit", metavar="NAME",
              help="Only this configured unit's lists (units.names); default: every unit.")
@click.option("--wait", is_flag=True, help="Exit 0 only once the job has completed.")
@click.pass_context
def drill(ctx: click.Context, profile: str, unit: str | None, wait: bool) -> None:
    """Print an outage drill: the kit with "ÖVNING – INTE FÖR VÅRD" across every page.

    Audited as a drill (`drill_printed`), never as a real print; it restarts the drill
    reminder and changes nothing else. Exit status as for `appliance print`.
    """
    _print_kit(print_service(ctx), profile, unit, wait, drill=True)


def _print_kit(service, profile: str, unit: str | None, wait: bool, *, drill: bool) -> None:
    """Request the kit (a drill, or the real one) and say what came of it; exits 1 or 3
    when it was not started, and with --wait as the job ended."""
    from appliance.core.printing.print_service import Busy, UnknownProfile, UnknownUnit
    from appliance.core.printing.printer import PrinterUnavailable

    try:
        outcome = service.request(profile, trigger="cli", unit=unit, drill=drill)
    except (UnknownProfile, UnknownUnit) as exc:
        raise click.UsageError(str(exc)) from None
    except PrinterUnavailable as exc:
        click.echo(f"not printed: {exc}", err=True)
        sys.exit(1)
    if isinstance(outcome, Busy):
        click.echo(f"not printed: a kit is already on its way ({outcome.reason})", err=True)
        sys.exit(3)
    summary = outcome.summary
    what = profile if unit is None else f"{profile}, {unit}"
    click.echo(f"job {outcome.job_id} accepted by {outcome.printer.queue}: {summary.pages} pages"
               f" ({what}{', DRILL' if drill else ''}); printer: {outcome.printer.english}")
    for kind in summary.missing:
        click.echo(f"note: no {kind} document in the store; the cover says so")
    if wait:
        state = service.wait(outcome.job_id, service.config.printing.job_timeout_seconds)
        click.echo(f"job {outcome.job_id}: {state}")
        sys.exit(0 if state is JobState.COMPLETED else 1)


@click.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="The same, as JSON.")
@click.pass_context
def printer(ctx: click.Context, as_json: bool) -> None:
    """Show the CUPS queue in use, its condition and its state reasons.

    The condition is the live one from CUPS, or `not-answering` when the daily supplies
    check has had no answer from the printer for 24 h (`appliance printer check`)."""
    if ctx.invoked_subcommand is not None:
        return
    from appliance.core.watch.supplies_check import supplies_status, with_silence

    svc = appliance_services(ctx)
    report = with_silence(svc.printer.report(), supplies_status(svc.config, svc.clock.now()))
    if as_json:
        echo_json(report.to_json())
        return
    click.echo(f"queue: {report.queue or '(CUPS default destination)'}")
    click.echo(f"condition: {report.condition} – {report.english}")
    click.echo(f"for nurses: {report.swedish}")
    click.echo(f"state: {report.state}, accepting jobs: {'yes' if report.accepting else 'no'},"
               f" active jobs: {report.active_jobs}")
    click.echo(f"reasons: {', '.join(report.reasons) or 'none'}")
    if report.detail:
        click.echo(f"detail: {report.detail}")


@printer.command("check")
@click.option("--json", "as_json", is_flag=True, help="The same, as JSON.")
@click.pass_context
def printer_check(ctx: click.Context, as_json: bool) -> None:
    """Ask the printer (each printer of a class) for its state, reasons and supply levels
    now, as the jobs service does once a day: no page is printed. The answer is recorded
    (a printer that answers is no longer `not-answering`) and a change is sent to the
    webhook.

    Exit status: 0 every printer answered (or cannot be asked without a job), 1 a warning
    (toner-low, paper-low), 2 a printer did not answer."""
    from appliance.adapters.webhook import webhook_poster
    from appliance.core.watch.supplies_check import SuppliesWatch

    svc = appliance_services(ctx)
    alerts = svc.config.alerts
    status = SuppliesWatch(svc, webhook_poster(alerts.webhook_url, alerts.timeout_seconds)
                           ).evaluate(force=True)
    if as_json:
        echo_json(status.to_json())
    else:
        for item in status.printers:
            _echo_supplies(item)
    readings = [item.reading for item in status.printers]
    if any(reading.answered is False for reading in readings):
        sys.exit(2)
    sys.exit(1 if status.warnings else 0)


def _echo_supplies(item) -> None:
    reading = item.reading
    answered = {True: "answered", False: "DID NOT ANSWER", None: "cannot be asked"}
    click.echo(f"{reading.name} ({reading.label}): {answered[reading.answered]} – "
               f"{reading.detail}")
    if item.silent:
        click.echo(f"  not-answering: no answer for {item.silent_for} (last: "
                   f"{item.last_answer_at or 'never'})")
    click.echo(f"  state: {reading.state}, reasons: {', '.join(reading.reasons) or 'none'}")
    for supply in reading.supplies:
        level = f"{supply.level}%" if supply.level is not None else "level unknown"
        low = f", low at {supply.low_level}%" if supply.low_level is not None else ""
        click.echo(f"  {supply.name} ({supply.type}): {level}{low}"
                   f"{' – LOW' if supply.low else ''}")
    click.echo(f"  warnings: {', '.join(reading.warnings) or 'none'}")
