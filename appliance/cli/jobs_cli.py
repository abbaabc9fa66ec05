"""`appliance jobs`: run the slot checks and retention until stopped (a systemd service)."""

from __future__ import annotations

import logging

import click

from appliance.adapters.cups import printer_for
from appliance.adapters.stop_signals import SignalStop
from appliance.cli.jobs_daemon import run_jobs
from appliance.core.config.settings import load_appliance_config
from appliance.core.services import Services


@click.command("jobs")
@click.pass_context
def jobs(ctx: click.Context) -> None:
    """Check expected slots (alerts, webhook) and apply retention until SIGTERM or Ctrl-C."""
    config = load_appliance_config(ctx.obj)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    with SignalStop() as stop:
        # No clock sync state (its unit does not allow adjtimex): the slot watch judges by
        # the clock's lower bound (clock_trust), which is the clock itself unless it is wrong.
        run_jobs(Services(config, printer=printer_for(config.printing.queue,
                                                      config.printing.options)), stop)
