"""What both command-line tools share: clean errors instead of traces, JSON output."""

from __future__ import annotations

import json
import sys

import click

from appliance.core.base.statefile import StateFileError
from appliance.core.config.settings import ConfigError
from appliance.core.crypto.keys import KeyFileError
from appliance.core.crypto.seal import SealError
from appliance.core.intake.registry import RegistryError

try:
    from appliance.core.intake.store import StoreError
except ModuleNotFoundError:  # no fcntl on Windows, where only the sender runs (no store)
    StoreError = OSError

EXPECTED_ERRORS = (ConfigError, KeyFileError, RegistryError, SealError, StoreError, StateFileError,
                   OSError)


class CleanGroup(click.Group):
    """A click group that reports expected errors as one clear message and exit status 2."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Each command's first sentence whole, wrapped, not cut to the terminal's width
        with "..." (click's default): the list is how a technician finds a command."""
        rows = [(name, command.get_short_help_str(limit=1000))
                for name in self.list_commands(ctx)
                if (command := self.get_command(ctx, name)) is not None and not command.hidden]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except EXPECTED_ERRORS as exc:
            click.echo(f"error: {_describe(exc)}", err=True)
            sys.exit(2)


def _describe(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.filename}: {exc.strerror}"
    return str(exc)


def echo_json(obj: object) -> None:
    click.echo(json.dumps(obj, indent=2, ensure_ascii=False))
