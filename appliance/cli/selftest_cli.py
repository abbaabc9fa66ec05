"""`appliance selftest`: the self-check (`core.watch.selftest`), by hand or from its unit.

It builds the probes (the core's on the appliance's parts, the adapter's on the operating
system), runs them, records the result for every process to see (a failure is a fault on
every surface), sends the webhook alert if the outcome changed, and exits 0 when every
check passed, 2 when one failed (`State.exit_code`'s convention).

Root (IT at the console) is re-run as the service user in a transient unit that gets the
key credential and the `lp` group (to read cupsd's config): exactly what
`appliance-selftest.service` gets, so a check by hand and the unit's cannot disagree.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import click

from appliance.adapters import system_probes
from appliance.adapters.webhook import webhook_poster
from appliance.cli.appliance_parts import SERVICE_USER, appliance_services
from appliance.cli.common import echo_json
from appliance.core.base.clock import local_time
from appliance.core.base.statefile import StateFileError
from appliance.core.config.settings import load_appliance_config
from appliance.core.intake.appliance_key import with_credential
from appliance.core.watch import selftest as check
from appliance.core.watch.status import EXIT_FAULT, EXIT_OK

CUPS_GROUP = "lp"  # owns /etc/cups/cupsd.conf (0640) on Debian


@click.command("selftest")
@click.option("--json", "as_json", is_flag=True, help="The result as one JSON object.")
@click.option("--service", "units", multiple=True, metavar="UNIT",
              help="A unit that must be active, instead of the default list "
                   f"({', '.join(system_probes.SERVICES)}); repeat for several.")
@click.option("--skip", multiple=True, type=click.Choice(check.CHECKS),
              help="Leave out a check (e.g. services on a machine without the units).")
@click.option("--cupsd-config", type=click.Path(dir_okay=False), show_default=True,
              default=str(system_probes.CUPSD_CONFIG), help="The cupsd.conf to test.")
@click.option("--cups-files-config", type=click.Path(dir_okay=False), show_default=True,
              default=str(system_probes.CUPS_FILES_CONFIG), help="The cups-files.conf.")
@click.option("--wait-for-dpkg", type=click.FloatRange(0, 7200), default=0, metavar="SECONDS",
              help="First wait up to SECONDS for apt and dpkg to finish (the apt hook's run).")
@click.pass_context
def selftest(ctx: click.Context, as_json: bool, units: tuple[str, ...], skip: tuple[str, ...],
             cupsd_config: str, cups_files_config: str, wait_for_dpkg: float) -> None:
    """Check what printing depends on (cupsd's config, cupsd, the queue, the services, the
    key, the store, the audit chain, dpkg); record the result. Exit 0 ok, 2 fault."""
    _rerun_as_service_user_if_root(ctx)
    svc = appliance_services(ctx)
    if wait_for_dpkg:
        system_probes.wait_for_dpkg(wait_for_dpkg)
    probes = check.core_probes(svc) | {
        check.CUPSD_CONFIG: lambda: system_probes.cupsd_config(Path(cupsd_config),
                                                               Path(cups_files_config)),
        check.SERVICES: lambda: system_probes.services_active(units or system_probes.SERVICES),
        check.PACKAGES: system_probes.packages_configured,
    }
    flag = system_probes.reboot_flag()
    result = check.run(((name, probes[name]) for name in check.CHECKS if name not in skip),
                       svc.clock.now(), reboot_required=flag.required,
                       reboot_packages=flag.packages)
    if as_json:
        echo_json(result.to_json() | {"appliance": svc.config.name})
    else:
        _show(result, svc.config.timezone)
    try:
        check.record_selftest(svc.config.state_dir, result)
        alerts = svc.config.alerts
        check.SelftestAlerts(svc, webhook_poster(alerts.webhook_url, alerts.timeout_seconds)
                             ).evaluate()
    except StateFileError as exc:  # one from a newer release: not ours to overwrite
        click.echo(f"error: the result is not recorded: {exc}", err=True)
        sys.exit(EXIT_FAULT)
    sys.exit(EXIT_OK if result.ok else EXIT_FAULT)


def _show(result: check.SelftestResult, timezone) -> None:
    click.echo(f"selftest at {local_time(result.at, timezone, zone_abbreviation=True)}: "
               + ("ok" if result.ok else f"FAULT in {', '.join(result.failed)}"))
    for item in result.checks:
        click.echo(f"  {'ok  ' if item.ok else 'FAIL'} {item.name:<16} {item.detail}")
    if result.reboot_required:
        click.echo(reboot_line(result))


def reboot_line(result: check.SelftestResult) -> str:
    """What `selftest` and `status` say of a pending reboot (IT's, never the nurses')."""
    packages = f" ({', '.join(result.reboot_packages)})" if result.reboot_packages else ""
    return f"reboot required after an upgrade{packages}: reboot outside the slots"


def _rerun_as_service_user_if_root(ctx: click.Context) -> None:
    if os.geteuid() != 0:
        return
    config = load_appliance_config(ctx.obj)
    if not config.private_key_credential or os.environ.get("CREDENTIALS_DIRECTORY"):
        return  # root's own installation (tests, the demo): run here
    program = shutil.which(sys.argv[0]) or str(Path(sys.argv[0]).absolute())  # not PATH's
    argv = with_credential(config, [program, *sys.argv[1:]], SERVICE_USER)
    argv[1:1] = ["-p", f"SupplementaryGroups={CUPS_GROUP}"]
    os.execvp(argv[0], argv)
