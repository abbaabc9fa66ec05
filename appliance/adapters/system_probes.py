"""The self-check's probes that ask the operating system (`core.watch.selftest`): CUPS'
own parser on its config, systemd on the appliance's units, dpkg on half-done upgrades, and
Debian's reboot flag.

Each runs a program with a timeout and turns its answer into a detail or a `CheckFailed`
that names the fix. Commands are fixed argument lists, never a shell.
"""

from __future__ import annotations

import os
import subprocess
import time
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
# apt holds the first for its whole run, dpkg the second while it works (both fcntl locks)
DPKG_LOCKS = (Path("/var/lib/dpkg/lock-frontend"), Path("/var/lib/dpkg/lock"))
PROC_LOCKS = Path("/proc/locks")
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
    lines = [line.strip().rstrip(".") for line in text.splitlines() if line.strip()]
    return " / ".join(lines[:MAX_LINES]) + (" / ..." if len(lines) > MAX_LINES else "")


def cupsd_config(config: Path = CUPSD_CONFIG, files: Path = CUPS_FILES_CONFIG,
                 cupsd: str = CUPSD) -> str:
    """`cupsd -t`: what the running cupsd would say of its config at its next start. A
    broken file does not stop the cupsd running now, which read the old one, but the next
    restart or boot: the fault shows before that happens."""
    done = _run([cupsd, "-t", "-c", str(config), "-s", str(files)])
    if done.returncode != 0:
        said = _lines(done.stderr + done.stdout) or f"exit status {done.returncode}"
        raise CheckFailed(f"{config} has errors, cupsd will not start with it (undo the "
                          "change or apply the Ansible role again, then `appliance "
                          f"selftest`): {said}")
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


def dpkg_busy(locks: Sequence[Path] = DPKG_LOCKS, proc_locks: Path = PROC_LOCKS) -> bool:
    """Whether apt or dpkg holds its lock now, read from the kernel's table of locks
    (`/proc/locks`: device and inode of each locked file), because the service user may not
    open the root-only lock files to try them. The apt hook starts the check while apt
    still runs: it waits for this to be False, so it judges the upgrade once it is done,
    not a package half-way through it."""
    wanted = set()
    for path in locks:
        try:
            info = path.stat()
        except OSError:
            continue
        wanted.add(f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}:{info.st_ino}")
    try:
        table = proc_locks.read_text()
    except OSError:
        return False
    return any(len(fields) > 5 and fields[5] in wanted
               for fields in (line.split() for line in table.splitlines()))


def wait_for_dpkg(limit_seconds: float, quiet_seconds: float = 5.0,
                  poll_seconds: float = 1.0) -> bool:
    """Wait (at most `limit_seconds`) until apt and dpkg have left their locks alone for
    `quiet_seconds` (unattended-upgrades lets go between packages); False if they never
    did (the check then runs anyway, and says what it sees)."""
    deadline = time.monotonic() + limit_seconds
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        if dpkg_busy():
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_seconds:
            return True
        time.sleep(poll_seconds)
    return not dpkg_busy()


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
