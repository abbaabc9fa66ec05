"""`appliance key`: make the key pair as a stream, for `systemd-creds encrypt` to store, and
rotate it.

The private key never touches the disk in plaintext: `key generate` writes it to a pipe,
`systemd-creds encrypt` reads the pipe, and `systemd-creds decrypt ... - | appliance key public`
gives the public half back (docs/key-protection.md). Neither command touches the state dir, so
root may run them (the Ansible role does). `rotate`, `prune`, `end-grace` and `status` work on
the state dir (the rotation record, `appliance.pub`, the audit log), so they run as the
service user; with a credential, `--stdio` takes the ring in a pipe from `systemd-creds
decrypt` and gives the ring to keep to `systemd-creds encrypt`.
"""

from __future__ import annotations

import sys
from datetime import timedelta

import click

from appliance.cli.appliance_parts import appliance_config
from appliance.cli.common import CleanGroup, echo_json
from appliance.core.base.clock import isoformat_utc
from appliance.core.config.settings import ApplianceConfig, load_appliance_config
from appliance.core.crypto import keys
from appliance.core.intake import key_rotation
from appliance.core.intake.appliance_key import read_public_key, replace_key_file
from appliance.core.intake.key_ring import KeyRing
from appliance.core.intake.key_rotation import DEFAULT_GRACE
from appliance.core.services import Services

STDIN_SOURCE = "standard input"


@click.group("key", cls=CleanGroup)
def key() -> None:
    """Make, rotate and retire the appliance's key pair (docs/key-protection.md)."""


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


GRACE_OPTION = click.option(
    "--grace-days", type=click.IntRange(0, 365), default=DEFAULT_GRACE.days, show_default=True,
    help="Days the old key still accepts new snapshots, while the senders get the new "
         "public key (ansible-playbook enrol.yml).")
STDIO_OPTION = click.option(
    "--stdio", is_flag=True,
    help="Read the key ring on standard input and write the ring to keep on standard output "
         "(between `systemd-creds decrypt` and `systemd-creds encrypt`), instead of the key "
         "file.")


@key.command("rotate")
@GRACE_OPTION
@click.option("--round", "round_name", metavar="NAME",
              help="IT's name for this rotation (e.g. 2027-spring): a second run with the same "
                   "name changes nothing.")
@STDIO_OPTION
@click.pass_context
def rotate(ctx: click.Context, grace_days: int, round_name: str | None, stdio: bool) -> None:
    """Make a new key pair; the old key still accepts new snapshots for --grace-days and
    opens the stored ones for as long as they are kept (docs/key-protection.md)."""
    svc, ring = _ring(ctx, stdio)
    result = key_rotation.rotate(svc, ring, timedelta(days=grace_days), round_name)
    _keep(svc, result.ring, stdio, changed=result.done)
    if not result.done:
        _say(stdio, f"unchanged: the key was rotated in round {round_name} already "
                    f"(current {keys.short_fingerprint(ring.fingerprints[0])})")
        return
    grace_ends = result.ring.rotation.previous[0].grace_ends
    _say(stdio, f"rotated: new key {keys.short_fingerprint(result.ring.fingerprints[0])}, "
                f"old key {keys.short_fingerprint(ring.fingerprints[0])} accepts new "
                f"snapshots until {isoformat_utc(grace_ends)}")
    _say(stdio, "next: restart the services (systemctl restart appliance-web appliance-panel), "
                "then give the senders the new public key (ansible-playbook enrol.yml)")


@key.command("prune")
@STDIO_OPTION
@click.pass_context
def prune(ctx: click.Context, stdio: bool) -> None:
    """Destroy the old keys whose grace has ended and that no stored snapshot is sealed to."""
    svc, ring = _ring(ctx, stdio)
    kept, dropped = key_rotation.prune(svc, ring)
    _keep(svc, kept, stdio, changed=bool(dropped))
    for old in dropped:
        _say(stdio, f"destroyed: old key {keys.short_fingerprint(old.fingerprint)}")
    for old in kept.previous():
        why = ("its grace runs until " + isoformat_utc(old.grace_ends)
               if old.in_grace(svc.clock.now()) else "stored snapshots are sealed to it")
        _say(stdio, f"kept: old key {keys.short_fingerprint(old.fingerprint)} ({why})")
    if not dropped and not kept.previous():
        _say(stdio, "unchanged: no old key is held")


@key.command("end-grace")
@click.pass_context
def end_grace(ctx: click.Context) -> None:
    """Stop accepting new snapshots sealed to an old key now, before its grace would end
    (stored ones still print). Needs no private key and no restart."""
    ended = key_rotation.end_grace(Services(appliance_config(ctx)))
    for old in ended:
        click.echo(f"grace ended: old key {keys.short_fingerprint(old.fingerprint)} accepts "
                   "no new snapshots")
    if not ended:
        click.echo("unchanged: no grace period is running")


@key.command("status")
@click.option("--json", "as_json", is_flag=True, help="The same, as JSON.")
@click.pass_context
def key_status(ctx: click.Context, as_json: bool) -> None:
    """The current key and any rotation in progress (needs no private key)."""
    svc = Services(appliance_config(ctx))
    state = key_rotation.rotation_state(svc.config.keys_dir, svc.clock.now())
    current = read_public_key(svc.config).fingerprint
    if as_json:
        echo_json({"fingerprint": current, **state.to_json()})
        return
    click.echo(f"current key: {keys.short_fingerprint(current)}")
    if state.problem:
        click.echo(f"rotation record: {state.problem}")
    elif state.grace_ends:
        click.echo(f"rotation in progress: {state.in_grace} old key(s) accept new snapshots "
                   f"until {isoformat_utc(state.grace_ends)}")
    if state.previous_keys:
        click.echo(f"old keys held: {state.previous_keys} (appliance key prune destroys those "
                   "past their grace that no stored snapshot needs)")


def _ring(ctx: click.Context, stdio: bool) -> tuple[Services, KeyRing]:
    """The services (no printer) and the ring, from standard input or the key file; with a
    credential and no --stdio, the error says the pipeline that works."""
    config = appliance_config(ctx)
    svc = Services(config)
    if stdio:
        if sys.stdout.isatty():
            raise click.UsageError("--stdio writes the key ring: pipe it into "
                                   "`systemd-creds encrypt`, never onto a terminal")
        private = keys.parse_appliance_private_ring(sys.stdin.buffer.read(), STDIN_SOURCE)
        return svc, KeyRing(private, svc.rotation())
    if config.private_key_credential:
        raise click.UsageError(_credential_pipeline(config, ctx.info_name or "rotate"))
    return svc, svc.key_ring


def _keep(svc: Services, ring: KeyRing, stdio: bool, *, changed: bool) -> None:
    if stdio:
        sys.stdout.buffer.write(keys.appliance_ring_pem(ring.keys))
        sys.stdout.flush()
    elif changed:
        replace_key_file(svc.config, ring.keys)


def _say(stdio: bool, text: str) -> None:
    """A report for IT: on standard error when standard output carries the ring."""
    click.echo(text, err=stdio)


def _credential_pipeline(config: ApplianceConfig, command: str) -> str:
    cred = config.private_key_credential_file
    name = config.private_key_credential
    return (f"the private key is the systemd credential {name!r} "
            f"(keys.private_key_credential): run, as root, with the ring in a pipe "
            f"(docs/key-protection.md, \"Rotating the appliance's key\"):\n"
            f"  set -o pipefail; systemd-creds decrypt --name={name} {cred} - | runuser -u "
            f"appliance -- appliance {command} --stdio ... | systemd-creds encrypt "
            f"--name={name} - {cred}.new && mv {cred}.new {cred} && systemctl restart "
            "appliance-web appliance-panel")
