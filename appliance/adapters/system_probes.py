"""The self-check's probes that ask the operating system (`core.watch.selftest`): CUPS'
own parser on its config, systemd on the appliance's units, dpkg on half-done upgrades, and
Debian's reboot flag.

Each runs a program with a timeout and turns its answer into a detail or a `CheckFailed`
that names the fix. Commands are fixed argument lists, never a shell.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from appliance.core.watch.selftest import CheckFailed

CUPSD = "/usr/sbin/cupsd"
CUPSD_CONFIG = Path("/etc/cups/cupsd.conf")
CUPS_FILES_CONFIG = Path("/etc/cups/cups-files.conf")
# The units a working appliance runs (the kiosk's only where there is a screen: --service).
SERVICES = ("appliance-web.service", "appliance-proxy.service", "appliance-panel.service",
            "appliance-jobs.service", "cups.service")
REBOOT_REQUIRED = Path("/run/reboot-required")  # update-notifier-common's flag, Debian's
TIMEOUT_SECONDS = 60
MAX_LINES = 5


def _run(argv: Sequence[str]) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(list(argv), capture_output=True, text=True, errors="replace",
                              timeout=TIMEOUT_SECONDS, check=False)
    except FileNotFoundError:
        raise CheckFailed(f"{argv[0]} is not installed") from None
    except subprocess.TimeoutExpired:
        raise CheckFailed(f"{argv[0]} gave no answer in {TIMEOUT_SECONDS} s") from None


def _lines(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " / ".join(lines[:MAX_LINES]) + (" / ..." if len(lines) > MAX_LINES else "")


def cupsd_config(config: Path = CUPSD_CONFIG, files: Path = CUPS_FILES_CONFIG,
                 cupsd: str = CUPSD) -> str:
    """`cupsd -t`: what the running cupsd would say of its config at its next start. A
    broken file does not stop the cupsd running now, which read the old one, but the next
    restart or boot: the fault shows before that happens."""
    done = _run([cupsd, "-t", "-c", str(config), "-s", str(files)])
    if done.returncode != 0:
        said = _lines(done.stderr + done.stdout) or f"exit status {done.returncode}"
        raise CheckFailed(f"{config} has errors, cupsd will not start with it: {said}. "
                          "Undo the change, or apply the Ansible role again (it writes the "
                          "file whole); then `appliance selftest`")
    return f"{config} is OK"


def services_active(units: Sequence[str] = SERVICES) -> str:
    """`systemctl is-active` on each unit: every one must be active."""
    done = _run(["systemctl", "is-active", *units])
    states = done.stdout.split()
    if len(states) != len(units):
        raise CheckFailed(f"systemctl gave no state for each unit: {_lines(done.stderr)}")
    down = [f"{unit} {state}" for unit, state in zip(units, states, strict=True)
            if state != "active"]
    if down:
        raise CheckFailed(f"not active: {', '.join(down)}: `systemctl status UNIT`, "
                          "`journalctl -u UNIT -b`")
    return f"{len(units)} units active"


def packages_configured(admindir: Path | None = None) -> str:
    """`dpkg --audit`: nothing half-installed or unconfigured, as a power cut or a failing
    post-install script during an upgrade leaves it. dpkg exits 0 either way: what it
    says is the answer. `admindir`: another dpkg database (tests)."""
    done = _run(["dpkg", *([f"--admindir={admindir}"] if admindir else []), "--audit"])
    said = _lines(done.stdout)
    if done.returncode != 0 or said:
        raise CheckFailed(f"an upgrade was left half done: {said or done.stderr.strip()}. "
                          "Run `dpkg --configure -a` as root, then `appliance selftest`")
    return "every package installed and configured"


@dataclass(frozen=True)
class RebootFlag:
    required: bool
    packages: tuple[str, ...]


def reboot_flag(path: Path = REBOOT_REQUIRED) -> RebootFlag:
    """Debian's `/run/reboot-required` (and `.pkgs`: the packages that want it), written by
    package scripts (a new kernel, libc) and cleared by the reboot, /run being a tmpfs."""
    if not path.exists():
        return RebootFlag(False, ())
    try:
        packages = path.with_name(path.name + ".pkgs").read_text(errors="replace").split()
    except OSError:
        packages = []
    return RebootFlag(True, tuple(dict.fromkeys(packages)))
