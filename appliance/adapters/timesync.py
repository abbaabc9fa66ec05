"""Whether the kernel's clock is synchronised: what `timedatectl` shows as NTPSynchronized.

Read with the adjtimex(2) system call in read-only mode (`modes` 0), with systemd's own rule
(`ntp_synced()`): synchronised while the kernel's estimate of its maximum error is below
16 s. The NTP daemon (systemd-timesyncd, chrony, ntpd) keeps that estimate low; without
updates the kernel lets it grow by 500 ppm, so the flag drops about 9 hours after the last
successful synchronisation, and a clock set from fake-hwclock at boot is never
synchronised. No subprocess and no D-Bus: cheap enough for the panel's once-a-second poll,
and the same answer in every process.

A process under a systemd unit may ask only if its unit allows the call (`SystemCallFilter=
adjtimex clock_adjtime`: glibc's `adjtimex()` is the `clock_adjtime` system call; the web
service and the panel; without CAP_SYS_TIME it can only read); elsewhere seccomp would kill
it. Other processes get no sync state, and their
clock is then unsure unless `clock.has_rtc` (appliance.core.time.clock_trust).
"""

from __future__ import annotations

import ctypes
import functools

MAXERROR_LIMIT_US = 16_000_000  # the kernel's NTP_PHASE_LIMIT, systemd's threshold


class _Timex(ctypes.Structure):
    """The head of `struct timex` (linux/timex.h), then room for the rest, never read."""

    _fields_ = [("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
                ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long),
                ("status", ctypes.c_int), ("_rest", ctypes.c_byte * 256)]


@functools.cache
def _adjtimex():
    try:
        return ctypes.CDLL(None, use_errno=True).adjtimex
    except (OSError, AttributeError):  # not Linux
        return None


def kernel_synchronised() -> bool | None:
    """True or False; None where the kernel cannot be asked (not Linux, call refused)."""
    adjtimex = _adjtimex()
    if adjtimex is None:
        return None
    timex = _Timex()  # all zero: modes 0 reads and changes nothing
    if adjtimex(ctypes.byref(timex)) < 0:
        return None
    return timex.maxerror < MAXERROR_LIMIT_US
