"""`appliance-sender`: seal export files on an office PC and push them to appliances."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import click

from appliance import keys
from appliance.cli.common import CleanGroup
from appliance.clock import parse_iso
from appliance.config import (
    DEFAULT_SENDER_CONFIG,
    SENDER_CONFIG_ENV,
    SenderConfig,
    load_sender_config,
    resolve_path,
)
from appliance.fsutil import atomic_write
from appliance.registry import RegistryError
from appliance.sender.appliances import ApplianceFolder
from appliance.sender.client import push as push_envelope
from appliance.sender.outgoing import Sender, documents_from_files
from appliance.setup import write_sender_config


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
            pages = sum(d.get("pages", 0) for d in result.body.get("documents", []))
            click.echo(f"{target.name}: accepted as {result.body.get('id')} "
                       f"({len(documents)} document(s), {pages} page(s))")
        else:
            failures += 1
            status = result.status if result.status is not None else "-"
            click.echo(f"{target.name}: REFUSED {status} {result.error}: {result.message}")
    sys.exit(1 if failures else 0)


@main.command("seal")
@_document_options
@click.option("--recipient", required=True, type=click.Path(exists=True, dir_okay=False),
              help="The appliance's public key file.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Where to write the envelope.")
@click.pass_context
def seal_command(ctx, files, kind, unit, title, produced_at, recipient, output) -> None:
    """Seal FILES for one appliance into a file, without sending it."""
    config = _config(ctx)
    recipient_key = keys.parse_appliance_public_pem(Path(recipient).read_bytes(), recipient)
    documents = documents_from_files([Path(f) for f in files], kind, unit or config.unit,
                                     title, produced_at)
    envelope = Sender.load(config).seal_for(documents, recipient_key)
    atomic_write(Path(output), envelope)
    click.echo(f"sealed {len(documents)} document(s) for "
               f"{keys.short_fingerprint(recipient_key.fingerprint)}: {output} "
               f"({len(envelope)} bytes)")
