"""`appliance key`: make the key pair as a stream, for `systemd-creds encrypt` to store.

The private key never touches the disk in plaintext: `key generate` writes it to a pipe,
`systemd-creds encrypt` reads the pipe, and `systemd-creds decrypt ... - | appliance key public`
gives the public half back (docs/key-protection.md). Neither command touches the state dir, so
root may run them (the Ansible role does).
"""

from __future__ import annotations

import sys

import click

from appliance.cli.common import CleanGroup
from appliance.core.config.settings import load_appliance_config
from appliance.core.crypto import keys

STDIN_SOURCE = "standard input"


@click.group("key", cls=CleanGroup)
def key() -> None:
    """Make the appliance key pair for systemd-creds (docs/key-protection.md)."""


@key.command("generate")
@click.pass_context
def generate(ctx: click.Context) -> None:
    """Write a new private key (PEM, the config's keys.kem) to standard output, which must be
    a pipe or a file: e.g. `appliance key generate | systemd-creds encrypt
    --name=appliance-key - appliance-key.cred`."""
    if sys.stdout.isatty():
        raise click.UsageError("refusing to show a private key on a terminal: pipe it into "
                               "`systemd-creds encrypt --name=appliance-key - FILE.cred`")
    config = load_appliance_config(ctx.obj)
    click.echo(keys.generate_appliance_key(config.kem).to_pem().decode(), nl=False)


@key.command("public")
def public() -> None:
    """Read a private key (PEM) on standard input; write its public key (PEM) and nothing else
    to standard output: e.g. `systemd-creds decrypt --name=appliance-key FILE.cred - |
    appliance key public`."""
    private = keys.parse_appliance_private_pem(sys.stdin.buffer.read(), STDIN_SOURCE)
    click.echo(private.public_key().to_pem().decode(), nl=False)
