"""`appliance-sender`: seal export files on an office PC and push them to appliances."""

from __future__ import annotations

import contextlib
import logging
import secrets
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import click

from appliance.adapters.stop_signals import SignalStop
from appliance.cli.common import CleanGroup, echo_json, window_options
from appliance.cli.config_cli import sender_config
from appliance.core.base.clock import SystemClock, local_time, parse_iso
from appliance.core.base.fsutil import atomic_write
from appliance.core.config.settings import (
    DEFAULT_SENDER_CONFIG,
    SENDER_CONFIG_ENV,
    SenderConfig,
    load_sender_config,
    resolve_path,
)
from appliance.core.config.setup import write_sender_config
from appliance.core.crypto import keys
from appliance.core.intake.registry import RegistryError
from appliance.core.records.planned_outages import OutagePlanError, local_to_utc
from appliance.sender import key_rotation
from appliance.sender.agent import Agent, PassReport, run_forever
from appliance.sender.appliances import ApplianceFolder
from appliance.sender.client import push as push_envelope
from appliance.sender.outages import SenderOutages
from appliance.sender.outgoing import Sender, documents_from_files
from appliance.sender.report import describe, sender_status


@click.group(cls=CleanGroup)
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help=f"Config file (default: ${SENDER_CONFIG_ENV} or {DEFAULT_SENDER_CONFIG}).")
@click.pass_context
def main(ctx: click.Context, config_path: str | None) -> None:
    """Seal record-system exports and deliver them to downtime print appliances."""
    ctx.obj = resolve_path(config_path, SENDER_CONFIG_ENV, DEFAULT_SENDER_CONFIG)


def _config(ctx: click.Context) -> SenderConfig:
    return load_sender_config(ctx.obj)


@main.command()
@click.option("--dir", "directory", type=click.Path(file_okay=False),
              help="Create DIR/sender.toml (state under DIR) if absent.")
@click.pass_context
def init(ctx: click.Context, directory: str | None) -> None:
    """Create the config (with --dir) and the sender's Ed25519 key pair, if absent."""
    config = load_sender_config(write_sender_config(Path(directory)) if directory else ctx.obj)
    created = not config.private_key_path.exists()
    if created:
        private = keys.generate_sender_key()
        keys.write_key_pair(config.private_key_path, keys.sender_private_pem(private),
                            keys.sender_public_pem(private.public_key()))
    sender = Sender.load(config)
    click.echo(f"config: {config.source}")
    click.echo(f"key ({'created' if created else 'existing'}, ed25519): "
               f"{config.public_key_path}")
    click.echo("fingerprint: "
               + keys.short_fingerprint(keys.sender_fingerprint(sender.key.public_key())))


@main.command()
@click.pass_context
def pubkey(ctx: click.Context) -> None:
    """Print the sender's public key (PEM), for enrolling it on appliances."""
    sender = Sender.load(_config(ctx))
    click.echo(keys.sender_public_pem(sender.key.public_key()).decode(), nl=False)


main.add_command(sender_config)


@main.group("key", cls=CleanGroup)
def sender_key() -> None:
    """Rotate the sender's signing key in two steps (docs/sender.md)."""


ROUND_OPTION = click.option("--round", "round_name", metavar="NAME",
                            help="IT's name for this rotation: a rerun changes nothing.")


@sender_key.command("prepare")
@ROUND_OPTION
@click.pass_context
def key_prepare(ctx: click.Context, round_name: str | None) -> None:
    """Make the next key beside the current one, which goes on signing; enrol the next
    public key (printed) on every appliance with `appliance senders add-key`."""
    config = _config(ctx)
    made = key_rotation.prepare(config, round_name)
    state = key_rotation.key_state(config)
    if state.next is None:
        click.echo(f"unchanged: round {round_name} was activated already")
        return
    click.echo(f"next key ({'created' if made else 'existing'}): "
               f"{keys.short_fingerprint(state.next)}; public key in "
               f"{config.public_key_path.parent / key_rotation.NEXT_PUBLIC}")


@sender_key.command("activate")
@click.pass_context
def key_activate(ctx: click.Context) -> None:
    """Sign with the next key from now on (restart the agent); then retire the old one on
    every appliance with `appliance senders retire-key NAME FINGERPRINT`."""
    config = _config(ctx)
    before = key_rotation.key_state(config)
    if not key_rotation.activate(config, datetime.now(UTC)):
        click.echo("unchanged: no next key (appliance-sender key prepare)")
        return
    click.echo(f"activated: key {keys.short_fingerprint(before.next or '')}; retire the old "
               f"key {keys.short_fingerprint(before.current)} on the appliances")


@sender_key.command("status")
@click.pass_context
def key_status(ctx: click.Context) -> None:
    """The current, next and last retired key fingerprints, as JSON."""
    echo_json(key_rotation.key_state(_config(ctx)).to_json())


@main.group(cls=CleanGroup)
def appliances() -> None:
    """Add, list and remove the appliances this sender delivers to."""


@appliances.command("add")
@click.argument("name")
@click.argument("url")
@click.argument("pubkey_file", type=click.Path(exists=True, dir_okay=False))
@click.pass_context
def appliances_add(ctx: click.Context, name: str, url: str, pubkey_file: str) -> None:
    """Deliver to appliance NAME at URL, sealing for the public key in PUBKEY_FILE."""
    folder = ApplianceFolder(_config(ctx).appliances_dir)
    added = folder.add(name, url, Path(pubkey_file).read_bytes())
    click.echo(f"added {name} at {url} "
               f"({keys.short_fingerprint(added.public_key.fingerprint)})")


@appliances.command("list")
@click.pass_context
def appliances_list(ctx: click.Context) -> None:
    """List appliances with URL and key fingerprint."""
    for appliance in ApplianceFolder(_config(ctx).appliances_dir).all():
        click.echo(f"{appliance.name}\t{appliance.url}\t"
                   f"{keys.short_fingerprint(appliance.public_key.fingerprint)}")


@appliances.command("remove")
@click.argument("name")
@click.pass_context
def appliances_remove(ctx: click.Context, name: str) -> None:
    """Stop delivering to appliance NAME."""
    ApplianceFolder(_config(ctx).appliances_dir).remove(name)
    click.echo(f"removed {name}")


def _document_options(command):
    for option in reversed([
        click.argument("files", nargs=-1, required=True,
                       type=click.Path(exists=True, dir_okay=False)),
        click.option("--kind", required=True, help="Document kind, e.g. todo, medications."),
        click.option("--unit", help="Organisational unit (default: sender.unit)."),
        click.option("--title", help="Title (default: the kind's Swedish title)."),
        click.option("--produced-at", "produced_at", type=_Timestamp(),
                     help="When the record system produced it (ISO 8601 with time zone; "
                          "default: the file's modification time)."),
    ]):
        command = option(command)
    return command


class _Timestamp(click.ParamType):
    name = "ISO-TIME"

    def convert(self, value, param, ctx) -> datetime:
        try:
            return parse_iso(value)
        except ValueError:
            self.fail(f"{value!r} is not ISO 8601 with a time zone, e.g. 2026-11-27T07:00+01:00")


@main.command()
@_document_options
@click.option("--to", "to_name", help="Deliver only to this appliance.")
@click.pass_context
def push(ctx: click.Context, files, kind, unit, title, produced_at, to_name) -> None:
    """Seal FILES as one snapshot for each appliance and deliver it; exit 0 only if every
    appliance accepted."""
    config = _config(ctx)
    sender = Sender.load(config)
    folder = ApplianceFolder(config.appliances_dir)
    targets = [folder.get(to_name)] if to_name else folder.all()
    if not targets:
        raise RegistryError("no appliances configured: run `appliance-sender appliances add`")
    documents = documents_from_files([Path(f) for f in files], kind, unit or config.unit,
                                     title, produced_at)
    failures = 0
    for target in targets:
        envelope = sender.seal_for(documents, target.public_key)
        result = push_envelope(target.snapshots_url, envelope, config.push_timeout_seconds)
        if result.accepted:
            # The answer says only accepted and the id: the manifest travels encrypted.
            click.echo(f"{target.name}: accepted as {result.body.get('id')} "
                       f"({len(documents)} document(s))")
        else:
            failures += 1
            status = result.status if result.status is not None else "-"
            click.echo(f"{target.name}: REFUSED {status} {result.error}: {result.message}")
    sys.exit(1 if failures else 0)


@main.command("seal")
@_document_options
@click.option("--recipient", type=click.Path(exists=True, dir_okay=False),
              help="The public key file of the one appliance to seal for (with -o).")
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Where to write the envelope (with --recipient).")
@click.option("--to-dir", "to_dir", type=click.Path(exists=True, file_okay=False),
              help="Write one envelope per configured appliance into this folder (a USB "
                   "stick), named APPLIANCE-TIME-RANDOM.seal: no kind, since anyone holding "
                   "the stick reads the names.")
@click.option("--to", "to_name", help="With --to-dir: only for this appliance.")
@click.pass_context
def seal_command(ctx, files, kind, unit, title, produced_at, recipient, output, to_dir,
                 to_name) -> None:
    """Seal FILES into files, without sending them: for one appliance (--recipient, -o), or
    for every configured appliance into a folder (--to-dir), such as a USB stick that
    `appliance import` reads when the network is down."""
    if bool(to_dir) == bool(recipient or output) or bool(recipient) != bool(output):
        raise click.UsageError("give either --recipient and -o, or --to-dir")
    if to_name and not to_dir:
        raise click.UsageError("--to goes with --to-dir")
    config = _config(ctx)
    documents = documents_from_files([Path(f) for f in files], kind, unit or config.unit,
                                     title, produced_at)
    sender = Sender.load(config)
    if recipient:
        targets = [(Path(output), keys.parse_appliance_public_pem(Path(recipient).read_bytes(),
                                                                  recipient))]
    else:
        folder = ApplianceFolder(config.appliances_dir)
        appliances = [folder.get(to_name)] if to_name else folder.all()
        if not appliances:
            raise RegistryError("no appliances configured: run `appliance-sender appliances "
                                "add`")
        # The time and a random part keep two kinds sealed in one second apart; the import
        # orders files by their sequence numbers, not by name.
        stamp = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
        targets = [(Path(to_dir) / f"{appliance.name}-{stamp}.seal", appliance.public_key)
                   for appliance in appliances]
    for path, recipient_key in targets:
        envelope = sender.seal_for(documents, recipient_key)
        atomic_write(path, envelope)
        click.echo(f"sealed {len(documents)} document(s) for "
                   f"{keys.short_fingerprint(recipient_key.fingerprint)}: {path} "
                   f"({len(envelope)} bytes)")


# ---------------------------------------------------------------- the agent

LOG_FORMAT = "%(asctime)s %(levelname)s %(message)s"


@contextlib.contextmanager
def _logging(log_file: str | None, level: int) -> Iterator[None]:
    """Send the agent's log (`appliance.sender`, and the core modules it uses, such as the
    alert queue) to stderr, and to LOG_FILE if given, for as long as the command runs."""
    logger = logging.getLogger("appliance")
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    previous = logger.level
    logger.setLevel(logging.INFO)
    for handler in handlers:
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handler.setLevel(level)
        logger.addHandler(handler)
    try:
        yield
    finally:
        for handler in handlers:
            logger.removeHandler(handler)
            handler.close()
        logger.setLevel(previous)


_log_file_option = click.option(
    "--log-file", type=click.Path(dir_okay=False),
    help="Also append the log to this file (Windows services and scheduled tasks have no "
         "console).")


@main.command()
@_log_file_option
@click.pass_context
def run(ctx: click.Context, log_file: str | None) -> None:
    """Watch the outbox and deliver exports until stopped (Ctrl+C): the service."""
    config = _config(ctx)
    with _logging(log_file, logging.INFO):
        agent = Agent(config)
        logging.getLogger("appliance.sender").info(
            "sender %s started: outbox %s, a pass every %s s, policy %s", config.name,
            config.outbox.dir, config.outbox.poll_seconds, config.outbox.after_delivery)
        try:
            with SignalStop() as stop:
                run_forever(agent, config.outbox.poll_seconds, stop)
        finally:
            agent.stop()
        logging.getLogger("appliance.sender").info("sender %s stopped", config.name)


@main.command()
@click.option("--retry-failed", is_flag=True,
              help="Also try again the deliveries an appliance refused for good (after "
                   "fixing the cause, e.g. enrolling this sender or adding a kind).")
@click.option("--force", is_flag=True, help="Run even though `run` seems to be running.")
@click.option("-v", "--verbose", is_flag=True,
              help="Log every queued and delivered export, not only problems.")
@_log_file_option
@click.pass_context
def sync(ctx: click.Context, retry_failed: bool, force: bool, log_file: str | None,
         verbose: bool) -> None:
    """One pass: push every pending export now (backoff ignored), check the slots, exit.

    Exit status 0 when nothing is left undelivered, 1 otherwise."""
    config = _config(ctx)
    with _logging(log_file, logging.INFO if verbose else logging.WARNING):
        agent = Agent(config)
        if agent.running_elsewhere() and not force:
            click.echo("error: `appliance-sender run` is running for this configuration and "
                       "delivers by itself; use `status`, or --force", err=True)
            sys.exit(2)
        report = agent.sync(retry_failed=retry_failed)
    for line in _describe_pass(report, config):
        click.echo(line)
    sys.exit(1 if report.pending or report.failed_total or report.settling else 0)


def _describe_pass(report: PassReport, config: SenderConfig) -> list[str]:
    lines = [f"queued {report.queued}, delivered {report.delivered}, "
             f"retrying {report.retrying}, refused {report.failed}, dropped {report.dropped}",
             f"left: {report.pending} pending, {report.failed_total} refused for good, "
             f"{report.settling} export(s) not yet complete"]
    lines.extend(f"MISSING: no {kind} export for the "
                 f"{local_time(slot, config.schedule.timezone)} slot"
                 for kind, slot in report.missing)
    return lines


@main.command()
@click.option("--json", "as_json", is_flag=True, help="The same, as JSON.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Per appliance the last success, what is pending and the last error; per kind the last
    export. Exit 1 when something is undelivered too long, refused, or missing."""
    config = _config(ctx)
    result = sender_status(config, SystemClock())
    if as_json:
        echo_json(result)
    else:
        for line in describe(result, config):
            click.echo(line)
    sys.exit(0 if result["ok"] else 1)


@main.group(cls=CleanGroup)
def outage() -> None:
    """Planned outages: announced to every appliance, with one extra delivery of every
    kind 30 minutes before each begins (docs/planned-outages.md)."""


@outage.command("plan")
@window_options("schedule.timezone")
@click.pass_context
def outage_plan(ctx: click.Context, starts, ends, note: str) -> None:
    """Announce a planned outage to every appliance (the agent sends it on its next pass)."""
    config = _config(ctx)
    tz = config.schedule.timezone
    try:
        window = SenderOutages.load(config.state_dir).plan(
            local_to_utc(starts, tz), local_to_utc(ends, tz), note, datetime.now(UTC), tz)
    except OutagePlanError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"planned {_outage_line(window, tz)}")
    click.echo("the agent announces it to every appliance on its next pass "
               "(`appliance-sender sync` does it now, when `run` is not running)")


@outage.command("list")
@click.pass_context
def outage_list(ctx: click.Context) -> None:
    """List the planned outages not yet ended, and which appliances know of each."""
    config = _config(ctx)
    windows = SenderOutages.load(config.state_dir).live(
        datetime.now(UTC), config.outage.planned, config.schedule.timezone)
    progress = sender_status(config, SystemClock()).get("outages", {})
    if not windows:
        click.echo("no planned outages")
    for window in windows:
        done = progress.get(window.id, {})
        sent = sorted(name for name, item in done.get("announced", {}).items()
                      if item.get("notice") == window.notice_key)
        announced = ("set in the config, not announced" if window.from_config
                     else f"announced to: {', '.join(sent) or 'none yet'}")
        click.echo(f"{_outage_line(window, config.schedule.timezone)}; {announced}"
                   + ("; extra delivery queued" if done.get("extra_delivery_at") else ""))


@outage.command("cancel")
@click.argument("window_id", metavar="ID")
@click.pass_context
def outage_cancel(ctx: click.Context, window_id: str) -> None:
    """Cancel a planned outage; the agent tells every appliance on its next pass."""
    config = _config(ctx)
    try:
        window = SenderOutages.load(config.state_dir).cancel(window_id, datetime.now(UTC))
    except OutagePlanError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"cancelled {_outage_line(window, config.schedule.timezone)}")


def _outage_line(window, tz) -> str:
    notice = window.notice
    return (f"{window.id}: {local_time(notice.starts_at, tz)} – "
            f"{local_time(notice.ends_at, tz, zone_abbreviation=True)}"
            + (" CANCELLED" if notice.cancelled else "")
            + (f": {notice.note}" if notice.note else ""))
