"""What both command-line tools share: clean errors instead of traces, JSON output."""

from __future__ import annotations

import json
import sys

import click

from appliance.core.base.statefile import StateFileError
from appliance.core.config.schema import Invalid, parse_local_datetime
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


class LocalTime(click.ParamType):
    """`2026-12-12T18:00`: a local time without a zone (`parse_local_datetime`), for the
    `outage plan` commands of both tools."""

    name = "YYYY-MM-DDTHH:MM"

    def convert(self, value, param, ctx):
        try:
            return parse_local_datetime(value)
        except Invalid as exc:
            self.fail(f"{value!r}: {exc}", param, ctx)


def window_options(timezone_setting: str):
    """`--from`, `--to` and `--note` of a planned outage (`starts`, `ends`: naive local
    times in the zone of `timezone_setting`; `note`)."""
    def decorate(command):
        for option in reversed((
            click.option("--from", "starts", type=LocalTime(), required=True,
                         help=f"When the outage begins, local time ({timezone_setting})."),
            click.option("--to", "ends", type=LocalTime(), required=True,
                         help="When it is expected to end, local time."),
            click.option("--note", default="", help="What IT says about it (one line, at "
                         "most 200 characters; shown in status; never patient data)."),
        )):
            command = option(command)
        return command
    return decorate
