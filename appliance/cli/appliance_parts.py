"""The `appliance` command's parts (its composition root): the config it was given, and
the services built from it, with the refusal to let root work on the service user's state.
"""

from __future__ import annotations

import os
import pwd
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from appliance.core.base.errors import ApplianceError
from appliance.core.config.settings import ApplianceConfig, load_appliance_config
from appliance.core.services import Services

if TYPE_CHECKING:
    from appliance.core.printing.print_service import PrintService

SERVICE_USER_ENV = "APPLIANCE_SERVICE_USER"
SERVICE_USER = "appliance"  # User= of the systemd units


class RootOnServiceState(ApplianceError, PermissionError):
    """Root was asked to work on an installation that belongs to the service user."""


def appliance_config(ctx: click.Context) -> ApplianceConfig:
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


def appliance_services(ctx: click.Context) -> Services:
    """This process's parts: the config, the CUPS queue it names and the kernel's word on
    the system clock (the composition root)."""
    from appliance.adapters.cups import printer_for
    from appliance.adapters.timesync import kernel_synchronised

    config = appliance_config(ctx)
    printing = config.printing
    return Services(config, printer=printer_for(
        printing.queue, printing.options, stalled_after_seconds=printing.stalled_after_seconds),
        clock_sync=kernel_synchronised)


def print_service(ctx: click.Context) -> PrintService:
    from appliance.core.printing.print_service import PrintService

    return PrintService(appliance_services(ctx))
