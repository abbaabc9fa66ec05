"""`appliance`: set up, run and inspect the appliance."""

from __future__ import annotations

import logging
import os
import pwd
import shlex
import sys
from pathlib import Path

import click

from appliance.cli.common import CleanGroup, echo_json
from appliance.cli.config_cli import appliance_config_group
from appliance.cli.jobs_cli import jobs
from appliance.cli.key_cli import key
from appliance.core.base.clock import isoformat_utc, local_time, parse_iso
from appliance.core.base.errors import ApplianceError
from appliance.core.base.safe_text import bounded_text
from appliance.core.config.settings import (
    APPLIANCE_CONFIG_ENV,
    DEFAULT_APPLIANCE_CONFIG,
    ApplianceConfig,
    load_appliance_config,
    resolve_path,
)
from appliance.core.config.setup import write_appliance_config
from appliance.core.crypto import keys
from appliance.core.intake.appliance_key import CredentialNotGiven, read_public_key
from appliance.core.intake.importing import VIA_CHOICES, import_paths, last_import
from appliance.core.intake.registry import RegistryError
from appliance.core.intake.store import StoreError
from appliance.core.printing.printer import JobState
from appliance.core.printing.wording import age
from appliance.core.records.audit import format_report
from appliance.core.services import Services
from appliance.core.watch.status import compute_status


@click.group(cls=CleanGroup)
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help=f"Config file (default: ${APPLIANCE_CONFIG_ENV} or "
                   f"{DEFAULT_APPLIANCE_CONFIG}).")
@click.pass_context
def main(ctx: click.Context, config_path: str | None) -> None:
    """Downtime print appliance: receives sealed snapshots and prints them on demand."""
    ctx.obj = resolve_path(config_path, APPLIANCE_CONFIG_ENV, DEFAULT_APPLIANCE_CONFIG)


SERVICE_USER_ENV = "APPLIANCE_SERVICE_USER"
SERVICE_USER = "appliance"  # User= of the systemd units
MAX_SHOWN_PATH = 200  # of a file name from a stick, escaped, in `import` output


class RootOnServiceState(ApplianceError, PermissionError):
    """Root was asked to work on an installation that belongs to the service user."""


def _config(ctx: click.Context) -> ApplianceConfig:
    config = load_appliance_config(ctx.obj)
    refuse_root_on_service_state(config.state_dir)
    return config


def refuse_root_on_service_state(state_dir: Path, *, new_system_install: bool = False) -> None:
    """As root, never touch a state dir that belongs to the service user: what root creates
    there (a 0600 key, SQLite's -wal and -shm files, the audit anchor) the services cannot
    read, and `audit verify` would report tampering. Say exactly what to run instead, with
    `runuser` (util-linux, on every Debian; docs/decisions.md, "The CLI and root"). A state
    dir root owns, or none at all outside a system install, is root's own (tests, the demo).
    """
    if os.geteuid() != 0:
        return
    prepare = ""
    try:
        uid = state_dir.stat().st_uid
    except FileNotFoundError:
        if not new_system_install:
            return
        try:
            uid = pwd.getpwnam(os.environ.get(SERVICE_USER_ENV) or SERVICE_USER).pw_uid
        except KeyError:
            return  # no service user on this machine: not a system install
        owner = _user_name(uid)
        prepare = shlex.join(["install", "-d", "-o", owner, "-g", owner, "-m", "0750",
                              str(state_dir)]) + " && "
    if uid == 0:
        return
    owner = _user_name(uid)
    raise RootOnServiceState(
        f"refusing to run as root: {state_dir} belongs to {owner}, the user the appliance's "
        "services run as, and files root creates there would be unreadable to them (or make "
        "`audit verify` report tampering). Run it as that user:\n  "
        f"{prepare}{shlex.join(['runuser', '-u', owner, '--', *sys.argv])}")


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)  # an owner without a name: a broken install, shown as it is


def _services(ctx: click.Context) -> Services:
    """This process's parts: the config, the CUPS queue it names and the kernel's word on
    the system clock (the composition root)."""
    from appliance.adapters.cups import printer_for
    from appliance.adapters.timesync import kernel_synchronised

    config = _config(ctx)
    printing = config.printing
    return Services(config, printer=printer_for(
        printing.queue, printing.options, stalled_after_seconds=printing.stalled_after_seconds),
        clock_sync=kernel_synchronised)


def _print_service(ctx: click.Context):
    from appliance.core.printing.print_service import PrintService

    return PrintService(_services(ctx))


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
    created = _ensure_appliance_key(config)
    public = read_public_key(config)
    click.echo(f"config: {config.source}")
    click.echo(f"key ({'created' if created else 'existing'}, {public.suite.name}): "
               f"{config.public_key_path}")
    click.echo(f"fingerprint: {keys.short_fingerprint(public.fingerprint)}")


def _ensure_appliance_key(config: ApplianceConfig) -> bool:
    if config.private_key_path.exists():
        return False
    if config.private_key_credential:
        if config.public_key_path.exists():
            return False
        raise CredentialNotGiven(
            f"keys.private_key_credential is set, so `init` writes no plaintext key: make the "
            f"key pair with `appliance key generate | systemd-creds encrypt "
            f"--name={config.private_key_credential} - {config.private_key_credential_file}` "
            "and `appliance key public` (the Ansible role does both; docs/key-protection.md)")
    private = keys.generate_appliance_key(config.kem)
    keys.write_key_pair(config.private_key_path, private.to_pem(), private.public_key().to_pem())
    return True


@main.command()
@click.pass_context
def pubkey(ctx: click.Context) -> None:
    """Print the appliance's public key (PEM), for enrolling it on senders."""
    click.echo(read_public_key(_config(ctx)).to_pem().decode(), nl=False)


@main.group(cls=CleanGroup)
def senders() -> None:
    """Enrol, list and remove the senders whose snapshots are accepted."""


UNIT_OPTION = click.option(
    "--unit", "units", multiple=True, metavar="UNIT",
    help="A unit (from units.names) the sender may send for; repeat for several.")


@senders.command("add")
@click.argument("name")
@click.argument("pubkey_file", type=click.Path(exists=True, dir_okay=False))
@UNIT_OPTION
@click.pass_context
def senders_add(ctx: click.Context, name: str, pubkey_file: str, units: tuple[str, ...]) -> None:
    """Enrol sender NAME with its Ed25519 public key file, allowed to send for each --unit
    (required when units.names is configured; not allowed in single-unit mode)."""
    svc = _services(ctx)
    _check_units(svc.config, units)
    pem = Path(pubkey_file).read_bytes()
    key = keys.parse_sender_public_pem(pem, pubkey_file)
    path = svc.sender_folder.add(name, pem)
    if units:
        svc.sender_folder.set_units(name, units)
    fingerprint = keys.sender_fingerprint(key)
    svc.audit.append("sender_enrolled", sender=name, fingerprint=fingerprint,
                     units=list(units) or None)
    click.echo(f"enrolled {name} ({keys.short_fingerprint(fingerprint)}) in {path}")
    if units:
        click.echo(f"units: {', '.join(units)}")


@senders.command("units")
@click.argument("name")
@UNIT_OPTION
@click.pass_context
def senders_units(ctx: click.Context, name: str, units: tuple[str, ...]) -> None:
    """Set the units sender NAME may send for (replacing the list it had)."""
    svc = _services(ctx)
    if not units:
        raise click.UsageError("give at least one --unit (to stop a sender, use "
                               "`appliance senders remove`)")
    _check_units(svc.config, units)
    try:
        before = svc.sender_folder.units(name)
    except RegistryError:  # an unreadable list is replaced, and audited as unknown
        before = None
    path = svc.sender_folder.set_units(name, units)
    svc.audit.append("sender_units_changed", sender=name,
                     before=None if before is None else list(before), units=list(units))
    click.echo(f"{name} may send for: {', '.join(units)} ({path})")


def _check_units(config: ApplianceConfig, units: tuple[str, ...]) -> None:
    """--unit names configured units; in single-unit mode there are none to name."""
    if not config.units:
        if units:
            raise click.UsageError("no units are configured, so units are not checked: list "
                                   "this appliance's units in [units] names first")
        return
    if not units:
        raise click.UsageError("this appliance checks units (units.names): give the sender "
                               "at least one --unit")
    unknown = [unit for unit in units if unit not in config.units]
    if unknown:
        raise click.UsageError(f"unknown unit(s) {', '.join(map(repr, unknown))}; "
                               f"units.names: {', '.join(map(repr, config.units))}")


@senders.command("list")
@click.option("--json", "as_json", is_flag=True, help="The same, as JSON.")
@click.pass_context
def senders_list(ctx: click.Context, as_json: bool) -> None:
    """List enrolled senders, their key fingerprints and the units they may send for."""
    svc = _services(ctx)
    configured = svc.config.units
    enrolled = sorted(svc.enrolled_senders().values(), key=lambda s: s.name)
    if as_json:
        echo_json([{"name": s.name, "fingerprint": s.fingerprint,
                    "units": sorted(s.units or ()),
                    "any_unit": s.units is None and not configured} for s in enrolled])
        return
    for sender in enrolled:
        click.echo(f"{sender.name}\t{keys.short_fingerprint(sender.fingerprint)}\t"
                   f"{sender.describe_units(configured)}")


@senders.command("remove")
@click.argument("name")
@click.pass_context
def senders_remove(ctx: click.Context, name: str) -> None:
    """Stop accepting snapshots from sender NAME (its stored snapshots stay)."""
    svc = _services(ctx)
    svc.sender_folder.remove(name)
    svc.audit.append("sender_removed", sender=name)
    click.echo(f"removed {name}")


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

    config = _config(ctx)
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

    config = _config(ctx)
    config = dataclasses.replace(
        config, web_host=host or config.web_host, web_port=port or config.web_port,
        web_socket=Path(socket_path).absolute() if socket_path else config.web_socket)
    write_nginx_config(config, Path(output))


@main.command()
@click.option("--json", "as_json", is_flag=True, help="The same, as one JSON object.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Show the state and how fresh each list is. Exit 0 ready, 1 needs attention, 2 fault."""
    svc = _services(ctx)
    result = compute_status(svc.config, svc.store, svc.clock_reading(), svc.printer.report())
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
    stored = _services(ctx).store.snapshots()
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
    config = _config(ctx)
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


@main.command("print")
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

    service = _print_service(ctx)
    if output:
        try:
            summary = service.export(profile, Path(output), trigger="cli", unit=unit)
        except (UnknownProfile, UnknownUnit) as exc:
            raise click.UsageError(str(exc)) from None
        click.echo(f"wrote {output}: {summary.pages} pages ({profile})")
        click.echo("warning: this file holds patient data; delete it when done", err=True)
        return
    _print_kit(service, profile, unit, wait, drill=False)


@main.command()
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
    _print_kit(_print_service(ctx), profile, unit, wait, drill=True)


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


@main.command()
@click.option("--json", "as_json", is_flag=True, help="The same, as JSON.")
@click.pass_context
def printer(ctx: click.Context, as_json: bool) -> None:
    """Show the CUPS queue in use, its condition and its state reasons."""
    report = _services(ctx).printer.report()
    if as_json:
        echo_json(report.to_json())
        return
    click.echo(f"queue: {report.queue or '(CUPS default destination)'}")
    click.echo(f"condition: {report.condition} – {report.english}")
    click.echo(f"for nurses: {report.swedish}")
    click.echo(f"state: {report.state}, accepting jobs: {'yes' if report.accepting else 'no'},"
               f" active jobs: {report.active_jobs}")
    click.echo(f"reasons: {', '.join(report.reasons) or 'none'}")


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
    svc = _services(ctx)
    if selftest:
        ctx.exit(0 if panel_daemon.run_selftest(svc, press_timeout=press_timeout) else 1)
    if simulate:
        panel_daemon.run_simulated(svc)
    else:
        panel_daemon.run_daemon(svc)


main.add_command(jobs)
main.add_command(key)
main.add_command(appliance_config_group(_services))


@main.group(cls=CleanGroup)
def audit() -> None:
    """Inspect the append-only audit log."""


@audit.command("verify")
@click.pass_context
def audit_verify(ctx: click.Context) -> None:
    """Check the audit log's hash chain, and that the store's index reads back; exit 1 and
    say where, if either fails."""
    svc = _services(ctx)
    report = svc.audit.verify()
    click.echo(format_report(report))
    try:  # what the audit log records is in the index too: a row its reader refuses is named
        count = len(svc.store.snapshots())
    except StoreError as exc:
        click.echo(f"store index: {exc}")
        sys.exit(1)
    click.echo(f"store index: {count} snapshot(s), every time readable")
    sys.exit(0 if report.ok else 1)
