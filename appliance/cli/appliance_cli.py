"""`appliance`: set up, run and inspect the appliance."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from appliance.cli.appliance_parts import (
    appliance_config,
    appliance_services,
    refuse_root_on_service_state,
)
from appliance.cli.common import CleanGroup, echo_json
from appliance.cli.config_cli import appliance_config_group
from appliance.cli.jobs_cli import jobs
from appliance.cli.key_cli import key
from appliance.cli.outage_cli import outage
from appliance.cli.outage_report_cli import report as outage_report
from appliance.cli.print_cli import drill, print_command, printer
from appliance.cli.selftest_cli import reboot_line, selftest
from appliance.cli.senders_cli import senders
from appliance.core.base.clock import isoformat_utc, local_time, parse_iso
from appliance.core.base.safe_text import bounded_text
from appliance.core.config.settings import (
    APPLIANCE_CONFIG_ENV,
    DEFAULT_APPLIANCE_CONFIG,
    load_appliance_config,
    resolve_path,
)
from appliance.core.config.setup import write_appliance_config
from appliance.core.crypto import keys
from appliance.core.intake.appliance_key import ensure_appliance_key, read_public_key
from appliance.core.intake.importing import VIA_CHOICES, import_paths, last_import
from appliance.core.intake.store import StoreError
from appliance.core.printing.wording import age
from appliance.core.records.audit import format_report
from appliance.core.services import Services


@click.group(cls=CleanGroup)
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help=f"Config file (default: ${APPLIANCE_CONFIG_ENV} or "
                   f"{DEFAULT_APPLIANCE_CONFIG}).")
@click.pass_context
def main(ctx: click.Context, config_path: str | None) -> None:
    """Downtime print appliance: receives sealed snapshots and prints them on demand."""
    ctx.obj = resolve_path(config_path, APPLIANCE_CONFIG_ENV, DEFAULT_APPLIANCE_CONFIG)


@main.command()
@click.option("--dir", "directory", type=click.Path(file_okay=False),
              help="Create DIR/appliance.toml (state under DIR) if absent.")
@click.pass_context
def init(ctx: click.Context, directory: str | None) -> None:
    """Create the config (with --dir) and the appliance key pair, if absent."""
    if directory:
        refuse_root_on_service_state(Path(directory).absolute() / "state")
    path = write_appliance_config(Path(directory)) if directory else ctx.obj
    config = load_appliance_config(path)
    refuse_root_on_service_state(config.state_dir, new_system_install=not directory)
    created = ensure_appliance_key(config)
    public = read_public_key(config)
    click.echo(f"config: {config.source}")
    click.echo(f"key ({'created' if created else 'existing'}, {public.suite.name}): "
               f"{config.public_key_path}")
    click.echo(f"fingerprint: {keys.short_fingerprint(public.fingerprint)}")


@main.command()
@click.pass_context
def pubkey(ctx: click.Context) -> None:
    """Print the appliance's public key (PEM), for enrolling it on senders."""
    click.echo(read_public_key(appliance_config(ctx)).to_pem().decode(), nl=False)


@main.command()
@click.option("--socket", "socket_path", type=click.Path(dir_okay=False),
              help="Unix socket to listen on (default: web.socket).")
@click.pass_context
def serve(ctx: click.Context, socket_path: str | None) -> None:
    """Run the web service (ingest API, status) under gunicorn on a Unix socket.

    The network reaches it only through nginx (see `proxy-config`), which reads whole
    requests first, so slow clients never hold a worker.
    """
    from appliance.adapters.web.server import serve as run_server

    config = appliance_config(ctx)
    svc = Services(config)
    svc.store.check_health()
    svc.private_key  # noqa: B018 - fail now, not on the first snapshot, without a key
    run_server(config, Path(socket_path) if socket_path else config.web_socket)


@main.command("proxy-config")
@click.option("--output", required=True, type=click.Path(dir_okay=False),
              help="Where to write nginx's config; nginx keeps its pid and temporary "
                   "files in the same folder.")
@click.option("--host", help="Address nginx listens on (default: web.host).")
@click.option("--port", type=int, help="TCP port nginx listens on (default: web.port).")
@click.option("--socket", "socket_path", type=click.Path(dir_okay=False),
              help="gunicorn's Unix socket (default: web.socket).")
@click.pass_context
def proxy_config(ctx: click.Context, output: str, host: str | None, port: int | None,
                 socket_path: str | None) -> None:
    """Write the config of nginx, the web proxy in front of `serve`, from the [web]
    settings (run it as `nginx -e stderr -c OUTPUT`)."""
    import dataclasses

    from appliance.adapters.web.proxy import write_nginx_config

    config = appliance_config(ctx)
    config = dataclasses.replace(
        config, web_host=host or config.web_host, web_port=port or config.web_port,
        web_socket=Path(socket_path).absolute() if socket_path else config.web_socket)
    write_nginx_config(config, Path(output))


@main.command()
@click.option("--json", "as_json", is_flag=True, help="The same, as one JSON object.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Show the state and how fresh each list is. Exit 0 ready, 1 needs attention, 2 fault."""
    svc = appliance_services(ctx)
    result = svc.status(svc.printer.report())
    _show_status(svc, result, as_json)
    sys.exit(result.state.exit_code)


def _show_status(svc, result, as_json: bool) -> None:
    if as_json:
        echo_json(result.to_json() | {"appliance": svc.config.name,
                                      "last_import": last_import(svc.config.state_dir)})
        return
    tz = svc.config.timezone

    def local(moment) -> str:
        return local_time(moment, tz, zone_abbreviation=True)

    click.echo(f"appliance: {svc.config.name}")
    click.echo(f"state: {result.state}")
    clock = result.clock
    if clock.trusted:
        click.echo(f"clock: trusted ({clock.reason.english})")
    else:
        click.echo(f"clock: UNSURE ({clock.reason.english}): it reads {local(clock.reading)}; "
                   f"ages are at least those below, counted from {local(clock.now)}")
    click.echo(f"printer: {result.printer.queue or '(default)'}: {result.printer.english}")
    supplies = result.supplies
    click.echo("supplies: " + (f"last check {local(supplies.last_attempt_at)}, warnings: "
                               f"{', '.join(supplies.warnings) or 'none'}"
                               if supplies else "not checked yet (`appliance printer check`)"))
    drill = result.drill
    click.echo("drill: " + (f"last {local(drill.last_drill_at)} ({drill.age.days} days ago)"
                            if drill.last_drill_at else "never")
               + (f"; DUE (every {drill.remind_after.days} days): run `appliance drill`"
                  if drill.reminder_due else ""))
    panel = result.panel
    if panel is not None:
        click.echo(f"panel: {panel.gpio} since {local(panel.since)}"
                   + (f": FAULT, the button and LED do not work: {panel.reason} "
                      "(docs/panel.md, 'No GPIO')" if panel.fault else ""))
    for window in result.planned_outages:
        click.echo(f"planned outage {window.id}: {result.planned_outage_text(window)}"
                   + (f" ({window.note})" if window.note else ""))
    checked = result.selftest
    if checked is not None:
        click.echo(f"selftest: {'ok' if checked.ok else 'FAULT'} at {local(checked.at)}"
                   + "".join(f"; {c.name}: {c.detail}" for c in checked.checks if not c.ok))
        if checked.reboot_required:
            click.echo(reboot_line(checked))
    rotation = result.key_rotation
    if rotation is not None and (rotation.previous_keys or rotation.problem):
        click.echo("appliance key: " + (rotation.problem or (
            f"rotation in progress, old key accepts new snapshots until "
            f"{local(rotation.grace_ends)}" if rotation.grace_ends else
            f"{rotation.previous_keys} old key(s) kept for stored snapshots")
            + " (appliance key status)"))
    imported = last_import(svc.config.state_dir)
    if imported:
        click.echo(f"last import ({imported['via']}): {local(parse_iso(imported['time']))}: "
                   f"{imported['accepted']} accepted, {imported['refused']} refused, "
                   f"{imported['ignored']} ignored")

    def line(kind) -> str:
        if kind.latest is None:
            return "no data" + (" (STALE: expected)" if kind.expected else "")
        return (f"produced {local(kind.latest.produced_at)} ({age(kind.age(result.now))} ago),"
                f" received {local(kind.latest.received_at)}"
                + (f" STALE: no data for the {local(kind.due_slot)} slot"
                   if kind.stale else ""))

    if not result.units:
        click.echo("units: none configured (single-unit mode: any sender, any unit)")
        for name, kind in result.kinds.items():
            click.echo(f"  {name:<12} {line(kind)}")
    for unit, kinds in result.units.items():
        click.echo(f"unit: {unit}")
        for name, kind in kinds.items():
            click.echo(f"  {name:<12} {line(kind)}")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="The same, as JSON.")
@click.pass_context
def snapshots(ctx: click.Context, as_json: bool) -> None:
    """List stored snapshots (metadata only), most recently received first."""
    stored = appliance_services(ctx).store.snapshots()
    rows = [{
        "id": snap.id, "sender": snap.sender, "seq": snap.seq,
        "received_at": isoformat_utc(snap.received_at), "bytes": snap.size,
        "documents": [{"kind": d.kind, "unit": d.unit,
                       "produced_at": isoformat_utc(d.produced_at), "pages": d.pages}
                      for d in snap.documents],
    } for snap in stored]
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        kinds = ", ".join(f"{d['kind']} ({d['pages']} p)" for d in row["documents"])
        click.echo(f"{row['id']}  {row['sender']:<16} {row['received_at']}  {kinds}")


MAX_SHOWN_PATH = 200  # of a file name from a stick, escaped, in `import` output


@main.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--via", type=click.Choice(VIA_CHOICES), default="import", show_default=True,
              help="How the files came, for the audit log (the USB unit says usb).")
@click.option("--hide-names", is_flag=True,
              help="Name files by the start of their SHA-256 only (for logs: a name on a "
                   "stick is whatever someone typed).")
@click.pass_context
def import_command(ctx: click.Context, paths: tuple[str, ...], via: str,
                   hide_names: bool) -> None:
    """Ingest sealed envelopes from files, or every *.seal directly in a folder (a USB
    stick), with exactly the checks, refusals and audit of the HTTP API.

    Symlinks and anything but regular files are ignored. Exit status 0 when every
    envelope was accepted, 1 when any was refused (or nothing was found)."""
    config = appliance_config(ctx)
    outcomes = import_paths(Services(config), [Path(p) for p in paths], via)
    for number, outcome in enumerate(outcomes, start=1):
        name = (f"file {number} (sha256:{outcome.digest or '-'})" if hide_names
                else bounded_text(str(outcome.path), MAX_SHOWN_PATH))
        if outcome.result == "accepted":
            click.echo(f"{name}: accepted as {outcome.snapshot}")
        else:
            click.echo(f"{name}: {outcome.result.upper()} {outcome.reason}"
                       + (f": {outcome.message}" if outcome.message else ""))
    accepted = sum(outcome.result == "accepted" for outcome in outcomes)
    refused = sum(outcome.result == "refused" for outcome in outcomes)
    click.echo(f"imported {accepted}, refused {refused}, "
               f"ignored {len(outcomes) - accepted - refused}")
    sys.exit(1 if refused or not accepted else 0)


@main.command()
@click.option("--simulate", is_flag=True,
              help="Mock GPIO: read `press` / `hold` lines on stdin, print `led: <state>`.")
@click.option("--selftest", is_flag=True,
              help="Hardware acceptance test: the LED walks through its states, then press "
                   "once and hold once; exit 1 if a press was not seen. Stop "
                   "appliance-panel.service first.")
@click.option("--press-timeout", type=click.FloatRange(1, 600), default=60, show_default=True,
              help="With --selftest: seconds to wait for each press.")
@click.pass_context
def panel(ctx: click.Context, simulate: bool, selftest: bool, press_timeout: float) -> None:
    """Run the button and status LED (its own daemon: works without web or network)."""
    from appliance.cli import panel_daemon

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    svc = appliance_services(ctx)
    if selftest:
        ctx.exit(0 if panel_daemon.run_selftest(svc, press_timeout=press_timeout) else 1)
    if simulate:
        panel_daemon.run_simulated(svc)
    else:
        panel_daemon.run_daemon(svc)


main.add_command(jobs)
main.add_command(senders)
main.add_command(print_command)
main.add_command(drill)
main.add_command(printer)
main.add_command(key)
main.add_command(outage)
main.add_command(selftest)
main.add_command(appliance_config_group(appliance_services))


outage.add_command(outage_report)  # beside plan, list and cancel (cli/outage_cli.py)


@main.group(cls=CleanGroup)
def audit() -> None:
    """Inspect the append-only audit log."""


@audit.command("verify")
@click.pass_context
def audit_verify(ctx: click.Context) -> None:
    """Check the audit log's hash chain, and that the store's index reads back; exit 1 and
    say where, if either fails."""
    svc = appliance_services(ctx)
    report = svc.audit.verify()
    click.echo(format_report(report))
    try:  # what the audit log records is in the index too: a row its reader refuses is named
        count = len(svc.store.snapshots())
    except StoreError as exc:
        click.echo(f"store index: {exc}")
        sys.exit(1)
    click.echo(f"store index: {count} snapshot(s), every time readable")
    sys.exit(0 if report.ok else 1)
