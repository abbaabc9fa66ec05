"""The appliance's long-lived parts, opened once per process from its config.

The web app, the CLI and the panel each build one `Services` and pass it down, so no module
keeps state of its own. Parts are passed in, never found: the clock and the printer (the
`Printer` port; the CUPS adapter in production, the same adapter aimed at a private cupsd in
tests) come from whoever builds the process, and so does the clock's synchronisation state
(`clock_sync`; the kernel's in production). Without one, the clock is trusted only if the
config says the appliance has a real-time clock (`clock_trust`).
"""

from __future__ import annotations

import functools
import logging
from datetime import datetime

from appliance.core.base.clock import Clock, SystemClock
from appliance.core.base.errors import ApplianceError
from appliance.core.base.statefile import StateFileError
from appliance.core.config.settings import ApplianceConfig
from appliance.core.crypto import keys
from appliance.core.intake.appliance_key import load_private_ring
from appliance.core.intake.key_ring import KeyRing, Rotation, read_rotation
from appliance.core.intake.registry import (
    EnrolledSender,
    RegistryError,
    RetiredKey,
    SenderFolder,
)
from appliance.core.intake.store import Store
from appliance.core.printing.printer import Printer, PrinterReport
from appliance.core.records.audit import AuditLog
from appliance.core.time.clock_trust import ClockReading, ClockTrust, SyncState
from appliance.core.watch.status import ApplianceStatus, compute_status

log = logging.getLogger(__name__)


class NoPrinter(ApplianceError, RuntimeError):
    """A part that prints was used in a process built without a printer."""


class Services:
    def __init__(self, config: ApplianceConfig, clock: Clock | None = None, *,
                 printer: Printer | None = None, clock_sync: SyncState | None = None) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self._printer = printer
        self._clock_sync = clock_sync
        self.sender_folder = SenderFolder(config.senders_dir)

    @property
    def printer(self) -> Printer:
        if self._printer is None:
            raise NoPrinter("this process was built without a printer")
        return self._printer

    @property
    def has_printer(self) -> bool:
        return self._printer is not None

    @functools.cached_property
    def store(self) -> Store:
        return Store(self.config.state_dir, self.clock)

    @functools.cached_property
    def clock_trust(self) -> ClockTrust:
        return ClockTrust(self.clock, self._clock_sync, has_rtc=self.config.has_rtc,
                          state_dir=self.config.state_dir,
                          newest_received=lambda: self.store.newest_received_at())

    def clock_reading(self) -> ClockReading:
        """The time to judge ages by, and whether the clock can be trusted."""
        return self.clock_trust.read()

    def status(self, printer: PrinterReport | None = None, *,
               reading: ClockReading | datetime | None = None) -> ApplianceStatus:
        """The one state of the appliance, for the LED, the kiosk, the API, the CLI, the slot
        watch and metrics alike: by `reading` (default: the clock now, as trusted; a bare
        datetime is taken as is), with the printer's report when the caller has one
        (`self.printer.report()`)."""
        return compute_status(self.config, self.store, reading or self.clock_reading(),
                              printer)

    @functools.cached_property
    def audit(self) -> AuditLog:
        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        return AuditLog(self.config.state_dir / "audit.log", self.clock,
                        segment_max_bytes=self.config.audit_segment_max_bytes)

    @functools.cached_property
    def _private_ring(self) -> tuple[keys.AppliancePrivateKey, ...]:
        return load_private_ring(self.config)

    @property
    def key_ring(self) -> KeyRing:
        """The private keys from the systemd credential or the key file, as the config says
        (appliance_key), read once: a new key is used once the services restart. With them
        the rotation record (key_ring), read on every call: `appliance key end-grace` takes
        effect at once. A damaged record is logged and counts as empty: the current key
        goes on working, previous keys then only open stored snapshots."""
        return KeyRing(self._private_ring, self.rotation())

    def rotation(self) -> Rotation:
        """The rotation record; empty, and logged, when damaged (see `key_ring`)."""
        try:
            return read_rotation(self.config.keys_dir)
        except StateFileError as exc:
            log.error("%s", exc)
            return Rotation()

    @property
    def private_key(self) -> keys.AppliancePrivateKey:
        """The current key: what new snapshots are sealed to."""
        return self.key_ring.current

    @functools.cached_property
    def public_key(self) -> keys.AppliancePublicKey:
        return self.private_key.public_key()

    def enrolled_senders(self) -> dict[str, EnrolledSender]:
        """Enrolled senders by fingerprint, read from disk on every call: enrolling a sender
        takes effect without a restart. A broken key file is skipped, never fatal; a broken
        units file allows no unit (`appliance config check` names both)."""
        senders = {}
        for name in self.sender_folder.names():
            try:  # two keys while the sender's key is rotated (docs/sender.md)
                sender_keys = self.sender_folder.keys(name)
            except (keys.KeyFileError, RegistryError, OSError):
                continue
            try:
                units = self.sender_folder.units(name)
            except RegistryError:
                units = ()
            for key in sender_keys:
                fingerprint = keys.sender_fingerprint(key)
                senders[fingerprint] = EnrolledSender(
                    name, key, fingerprint, None if units is None else frozenset(units))
        return senders

    def retired_sender_keys(self) -> dict[str, RetiredKey]:
        """The enrolled senders' retired keys by fingerprint, for a precise refusal."""
        return {retired.fingerprint: retired for name in self.sender_folder.names()
                for retired in self.sender_folder.retired(name)}
