"""systemd's notify protocol (READY=1, WATCHDOG=1, STATUS=...) without a dependency.

A no-op when the process does not run under a `Type=notify` unit (no NOTIFY_SOCKET).
"""

from __future__ import annotations

import os
import socket


def notify(message: str) -> bool:
    """Send one notification; True if it was sent."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # abstract namespace socket
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
    except OSError:
        return False
    return True


def watchdog_interval() -> float | None:
    """Seconds between watchdog pings (half the unit's WatchdogSec), or None if unused."""
    usec = os.environ.get("WATCHDOG_USEC")
    if not usec or not usec.isdigit():
        return None
    pid = os.environ.get("WATCHDOG_PID")
    if pid and pid.isdigit() and int(pid) != os.getpid():
        return None
    return int(usec) / 2_000_000
