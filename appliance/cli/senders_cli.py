"""`appliance senders …`: enrol, re-scope, list and remove senders (core.intake.enrolment
does the work and its audit)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import click

from appliance.cli.appliance_parts import appliance_services
from appliance.cli.common import CleanGroup, echo_json
from appliance.core.crypto import keys
from appliance.core.intake import enrolment


@click.group(cls=CleanGroup)
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
    with _units_as_usage():
        enrolled = enrolment.enrol(appliance_services(ctx), name, Path(pubkey_file).read_bytes(),
                                   pubkey_file, units)
    click.echo(f"enrolled {name} ({keys.short_fingerprint(enrolled.fingerprint)}) in "
               f"{enrolled.path}")
    if units:
        click.echo(f"units: {', '.join(units)}")


@senders.command("units")
@click.argument("name")
@UNIT_OPTION
@click.pass_context
def senders_units(ctx: click.Context, name: str, units: tuple[str, ...]) -> None:
    """Set the units sender NAME may send for (replacing the list it had)."""
    with _units_as_usage():
        path = enrolment.set_units(appliance_services(ctx), name, units)
    click.echo(f"{name} may send for: {', '.join(units)} ({path})")


@contextlib.contextmanager
def _units_as_usage() -> Iterator[None]:
    """Units that do not fit the configuration are a usage error (exit 2), as ever."""
    try:
        yield
    except enrolment.UnitsRefused as exc:
        raise click.UsageError(str(exc)) from None


@senders.command("add-key")
@click.argument("name")
@click.argument("pubkey_file", type=click.Path(exists=True, dir_okay=False))
@click.pass_context
def senders_add_key(ctx: click.Context, name: str, pubkey_file: str) -> None:
    """Accept sender NAME's new key (its `appliance-sender key prepare`) beside its current
    one: the first step of rotating a sender's key (docs/sender.md)."""
    fingerprint = enrolment.add_key(appliance_services(ctx), name, Path(pubkey_file).read_bytes())
    click.echo(f"{name}: key {keys.short_fingerprint(fingerprint)} added")


@senders.command("retire-key")
@click.argument("name")
@click.argument("fingerprint")
@click.pass_context
def senders_retire_key(ctx: click.Context, name: str, fingerprint: str) -> None:
    """Stop accepting sender NAME's key FINGERPRINT (its first 8 or more hex digits, as
    `senders list` shows them): the last step of rotating a sender's key."""
    full = enrolment.retire_key(appliance_services(ctx), name, fingerprint)
    click.echo(f"{name}: key {keys.short_fingerprint(full)} retired")


@senders.command("list")
@click.option("--json", "as_json", is_flag=True, help="The same, as JSON.")
@click.pass_context
def senders_list(ctx: click.Context, as_json: bool) -> None:
    """List enrolled senders, their key fingerprints and the units they may send for."""
    svc = appliance_services(ctx)
    configured = svc.config.units
    by_name: dict[str, list] = {}
    for sender in svc.enrolled_senders().values():  # oldest key first, as in NAME.pub
        by_name.setdefault(sender.name, []).append(sender)
    enrolled = [by_name[name] for name in sorted(by_name)]
    if as_json:  # "fingerprint": the newest key, the one the sender signs with after rotating
        echo_json([{"name": s[-1].name, "fingerprint": s[-1].fingerprint,
                    "fingerprints": [key.fingerprint for key in s],
                    "units": sorted(s[-1].units or ()),
                    "any_unit": s[-1].units is None and not configured} for s in enrolled])
        return
    for sender_keys in enrolled:
        sender = sender_keys[-1]
        shown = " ".join(keys.short_fingerprint(key.fingerprint) for key in sender_keys)
        click.echo(f"{sender.name}\t{shown}\t{sender.describe_units(configured)}")


@senders.command("remove")
@click.argument("name")
@click.pass_context
def senders_remove(ctx: click.Context, name: str) -> None:
    """Stop accepting snapshots from sender NAME (its stored snapshots stay)."""
    enrolment.remove(appliance_services(ctx), name)
    click.echo(f"removed {name}")
