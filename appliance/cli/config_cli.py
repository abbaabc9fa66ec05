"""`appliance config` and `appliance-sender config`: show or check the configuration in force.

`show` comes from the settings' declarations (appliance.core.config.schema): every setting,
defaults included, as `key.path = value` lines that are themselves valid TOML; secrets (the
webhook URLs, which may carry a token) are only said to be set.
The appliance's store is imported inside `appliance config check` only: the sender also
runs on Windows, where the store (fcntl) cannot be imported.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from appliance.cli.common import CleanGroup
from appliance.core.config.schema import settings_in_force
from appliance.core.config.settings import (
    ApplianceConfig,
    SenderConfig,
    load_appliance_config,
    load_sender_config,
)
from appliance.core.crypto import keys

if TYPE_CHECKING:
    from appliance.core.services import Services


def appliance_config_group(services: Callable[[click.Context], Services]) -> click.Group:
    """The `appliance config` group; `services(ctx)` builds the process's parts (the CLI
    owns that composition root, with the CUPS printer that `check` asks)."""

    @click.group(cls=CleanGroup, name="config")
    def config() -> None:
        """Show or check the configuration in force."""

    @config.command("show")
    @click.pass_context
    def show(ctx: click.Context) -> None:
        """Print every setting in force, defaults included (keys appear as paths only)."""
        _echo_settings(load_appliance_config(ctx.obj))

    @config.command("check")
    @click.option("--file-only", is_flag=True,
                  help="Check the file's settings only, not the key, store or senders (what "
                       "provisioning runs on a new file before it replaces the live one).")
    @click.pass_context
    def check(ctx: click.Context, file_only: bool) -> None:
        """Check the config, the key, the store and the enrolled senders; exit 1 on problems."""
        if file_only:
            config = load_appliance_config(ctx.obj)  # a ConfigError names each key and its rule
            _echo_contact_warnings(config, datetime.now(UTC))
            click.echo(f"config file ok: {ctx.obj}")
            return
        svc = services(ctx)
        problems = _appliance_problems(svc)
        _echo_contact_warnings(svc.config, svc.clock.now())
        for problem in problems:
            click.echo(f"problem: {problem}", err=True)
        click.echo("config ok" if not problems else f"{len(problems)} problem(s)")
        sys.exit(1 if problems else 0)

    return config


def _echo_contact_warnings(config: ApplianceConfig, now: datetime) -> None:
    """What the contacts sheet lacks: warnings, which leave the exit code alone (a kit
    without a number still prints, and says so)."""
    from appliance.core.printing.contacts import contact_warnings

    for warning in contact_warnings(config, now.astimezone(config.timezone).date()):
        click.echo(f"warning: {warning}", err=True)


def _appliance_problems(svc: Services) -> list[str]:
    from appliance.core.intake.store import StoreError

    problems = _key_problems(svc)
    try:
        svc.store.check_health()
        click.echo(f"store: {svc.config.state_dir} ok")
    except StoreError as exc:
        problems.append(str(exc))
    enrolled = svc.enrolled_senders()
    names = svc.sender_folder.names()
    click.echo(f"senders: {len(enrolled)} enrolled")
    unreadable = sorted(set(names) - {s.name for s in enrolled.values()})
    problems += [f"{svc.config.senders_dir}/{name}.pub: not an Ed25519 public key"
                 for name in unreadable]
    return problems + _unit_problems(svc) + _printing_problems(svc)


def _key_problems(svc: Services) -> list[str]:
    """The public key, and the private key where this process may read it (outside the
    services a credential is not given: they check it when they start)."""
    from appliance.core.intake.appliance_key import (
        CREDENTIAL_SETTING,
        CredentialNotGiven,
        plaintext_key_beside_credential,
        read_public_key,
    )

    config = svc.config
    try:
        public = read_public_key(config)
    except keys.KeyFileError as exc:
        return [str(exc)]
    click.echo(f"key: {keys.short_fingerprint(public.fingerprint)} ({public.suite.name})")
    problems = []
    if public.suite is not config.kem:
        problems.append(f"keys.kem: config says {config.kem.name} but the key is "
                        f"{public.suite.name}; a new key needs re-enrolment")
    if config.private_key_credential:
        click.echo(f"private key: systemd credential {config.private_key_credential}, "
                   f"encrypted in {config.private_key_credential_file}")
    try:
        if svc.private_key.public_key() != public:
            problems.append(f"{config.public_key_path}: not the public half of the private key")
    except CredentialNotGiven:
        pass
    except keys.KeyFileError as exc:
        problems.append(str(exc))
    plain = plaintext_key_beside_credential(config)
    if plain:
        problems.append(f"{plain}: a plaintext private key, although {CREDENTIAL_SETTING} is "
                        "set: delete it once the credential holds the same key "
                        "(docs/key-protection.md)")
    return problems


def _unit_problems(svc: Services) -> list[str]:
    """Say which unit rule is in force, and name senders that cannot send what they should."""
    from appliance.core.intake.registry import RegistryError

    configured = svc.config.units
    click.echo(f"units: {', '.join(configured)}" if configured else
               "units: none configured (single-unit mode: every enrolled sender may send for "
               "any unit)")
    problems = []
    for sender in sorted(svc.enrolled_senders().values(), key=lambda s: s.name):
        click.echo(f"  {sender.name}: {sender.describe_units(configured)}")
        try:
            svc.sender_folder.units(sender.name)
        except RegistryError as exc:
            problems.append(str(exc))
            continue
        if configured and not sender.units:
            problems.append(f"sender {sender.name} may send for no unit: give it some with "
                            f"`appliance senders units {sender.name} --unit ...`")
        unknown = sorted((sender.units or set()) - set(configured)) if configured else []
        if unknown:
            problems.append(f"{sender.name}.units names unit(s) not in units.names: "
                            f"{', '.join(map(repr, unknown))}")
    return problems


def _printing_problems(svc: Services) -> list[str]:
    """Forms that have no template, and a queue CUPS does not know or cannot be asked about."""
    from jinja2 import TemplateNotFound

    from appliance.adapters.cups import Condition
    from appliance.core.base.templating import environment
    from appliance.core.printing.kit import FORM_TEMPLATE

    problems = []
    for name in svc.config.printing.forms:
        try:
            environment().get_template(FORM_TEMPLATE.format(name=name))
        except TemplateNotFound:
            problems.append(f"printing.forms: no template {FORM_TEMPLATE.format(name=name)} "
                            f"for form {name!r}")
    report = svc.printer.report()
    click.echo(f"printer: {report.queue or '(CUPS default)'}: {report.english}")
    if report.condition is Condition.NO_PRINTER:
        problems.append("printing.queue: no such CUPS queue (and no default destination); "
                        "set it to a queue from `lpstat -p`")
    elif report.condition is Condition.CUPS_UNREACHABLE:
        problems.append("printing: CUPS is not reachable (is cups.service running?)")
    return problems


@click.group(cls=CleanGroup, name="config")
def sender_config() -> None:
    """Show the configuration in force."""


@sender_config.command("show")
@click.pass_context
def sender_show(ctx: click.Context) -> None:
    """Print every setting in force, defaults included (keys appear as paths only)."""
    _echo_settings(load_sender_config(ctx.obj))


def _echo_settings(config: ApplianceConfig | SenderConfig) -> None:
    click.echo(f"# {config.source}")
    private = (f"systemd credential {config.private_key_credential}"
               if isinstance(config, ApplianceConfig) and config.private_key_credential
               else config.private_key_path)
    click.echo(f"# private key: {private} (content never shown)")
    for line in settings_in_force(config):
        click.echo(line)
