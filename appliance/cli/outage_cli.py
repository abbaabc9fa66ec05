"""`appliance outage plan|list|cancel`: planned outages announced on the appliance itself
(docs/planned-outages.md). Times are local, in `freshness.timezone`, to the minute."""

from __future__ import annotations

import click

from appliance.cli.appliance_parts import appliance_services
from appliance.cli.common import CleanGroup, echo_json, window_options
from appliance.core.base.clock import local_time
from appliance.core.records.planned_outages import (
    SOURCE_CLI,
    OutagePlan,
    OutagePlanError,
    PlannedWindow,
    local_to_utc,
)


@click.group("outage", cls=CleanGroup)
def outage() -> None:
    """Outages: plan, list and cancel planned ones (shown on the kiosk and in `status`; the
    kit may print by itself as one begins: outage.print_kit_at_start), and the report after
    one (`report`: the facts and the reconciliation checklist)."""


@outage.command("plan")
@window_options("freshness.timezone")
@click.pass_context
def plan(ctx: click.Context, starts, ends, note: str) -> None:
    """Announce a planned outage. Planning one with the same start again replaces it."""
    svc = appliance_services(ctx)
    tz = svc.config.timezone
    now = svc.clock.now()
    try:
        window = OutagePlan(svc.config).plan(local_to_utc(starts, tz), local_to_utc(ends, tz),
                                             note, SOURCE_CLI, now)
    except OutagePlanError as exc:
        raise click.UsageError(str(exc)) from None
    svc.audit.append("outage_planned", **_audit_fields(window))
    click.echo(f"planned {_line(window, svc.config.timezone)}")
    if not svc.config.outage.print_kit_at_start:
        click.echo("note: outage.print_kit_at_start is off: no kit is printed by itself")


@outage.command("list")
@click.option("--json", "as_json", is_flag=True, help="The same, as JSON.")
@click.pass_context
def list_windows(ctx: click.Context, as_json: bool) -> None:
    """List planned outages not yet ended, with the kit printed for each."""
    svc = appliance_services(ctx)
    plan_ = OutagePlan(svc.config)
    now = svc.clock.now()
    windows = [w for w in plan_.windows(quiet=False) if w.ends_at > now]
    if as_json:
        echo_json([w.to_json() | {"ongoing": w.ongoing(now), "kit": plan_.kit_record(w.id)}
                   for w in windows])
        return
    if not windows:
        click.echo("no planned outages")
    for window in windows:
        kit = plan_.kit_record(window.id)
        click.echo(_line(window, svc.config.timezone)
                   + (" UNDER WAY" if window.ongoing(now) else "")
                   + (f"; kit: {kit['outcome']}" if kit else ""))


@outage.command("cancel")
@click.argument("window_id", metavar="ID")
@click.pass_context
def cancel(ctx: click.Context, window_id: str) -> None:
    """Cancel a planned outage by its ID (`appliance outage list`)."""
    svc = appliance_services(ctx)
    try:
        window = OutagePlan(svc.config).cancel(window_id)
    except OutagePlanError as exc:
        raise click.UsageError(str(exc)) from None
    svc.audit.append("outage_cancelled", **(_audit_fields(window) | {"source": SOURCE_CLI,
                                                                    "planned_by": window.source}))
    click.echo(f"cancelled {_line(window, svc.config.timezone)}")


def _audit_fields(window: PlannedWindow) -> dict:
    data = window.to_json()
    return {"window": data["id"], "starts_at": data["starts_at"], "ends_at": data["ends_at"],
            "note": data["note"], "source": data["source"]}


def _line(window: PlannedWindow, tz) -> str:
    return (f"{window.id}: {local_time(window.starts_at, tz)} – "
            f"{local_time(window.ends_at, tz, zone_abbreviation=True)} ({window.source})"
            + (f": {window.note}" if window.note else ""))
