"""Enrolling, re-scoping and removing senders: the folder change and its audit entry as one
step, whoever asks (`appliance senders …`; Ansible copies the files and runs the same
commands). The unit rule is checked before anything is written."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from appliance.core.base.errors import ApplianceError
from appliance.core.config.settings import ApplianceConfig
from appliance.core.crypto import keys
from appliance.core.intake.registry import RegistryError

if TYPE_CHECKING:  # the type only: services.py is above every wing
    from appliance.core.services import Services


class UnitsRefused(ApplianceError, ValueError):
    """The units given do not fit the configuration; the message says what does."""


@dataclass(frozen=True)
class Enrolled:
    path: Path
    fingerprint: str
    units: tuple[str, ...]


def check_units(config: ApplianceConfig, units: tuple[str, ...], *,
                at_least_one: bool = False) -> None:
    """Units name configured units (`units.names`); in single-unit mode there are none to
    name. `at_least_one`: changing a sender's units needs some, in either mode."""
    if at_least_one and not units:
        raise UnitsRefused("give at least one --unit (to stop a sender, use "
                           "`appliance senders remove`)")
    if not config.units:
        if units:
            raise UnitsRefused("no units are configured, so units are not checked: list "
                               "this appliance's units in [units] names first")
        return
    if not units:
        raise UnitsRefused("this appliance checks units (units.names): give the sender "
                           "at least one --unit")
    unknown = [unit for unit in units if unit not in config.units]
    if unknown:
        raise UnitsRefused(f"unknown unit(s) {', '.join(map(repr, unknown))}; "
                           f"units.names: {', '.join(map(repr, config.units))}")


def enrol(services: Services, name: str, pem: bytes, source: str,
          units: tuple[str, ...]) -> Enrolled:
    """Enrol sender `name` with its public key `pem` (read from `source`, named in errors),
    allowed to send for `units`; audited as `sender_enrolled`."""
    check_units(services.config, units)
    key = keys.parse_sender_public_pem(pem, source)
    path = services.sender_folder.add(name, pem)
    if units:
        services.sender_folder.set_units(name, units)
    fingerprint = keys.sender_fingerprint(key)
    services.audit.append("sender_enrolled", sender=name, fingerprint=fingerprint,
                          units=list(units) or None)
    return Enrolled(path, fingerprint, units)


def set_units(services: Services, name: str, units: tuple[str, ...]) -> Path:
    """Replace the units sender `name` may send for; audited with the list it had (None if
    that was unreadable)."""
    check_units(services.config, units, at_least_one=True)
    try:
        before = services.sender_folder.units(name)
    except RegistryError:  # an unreadable list is replaced, and audited as unknown
        before = None
    path = services.sender_folder.set_units(name, units)
    services.audit.append("sender_units_changed", sender=name,
                          before=None if before is None else list(before), units=list(units))
    return path


def remove(services: Services, name: str) -> None:
    """Stop accepting snapshots from sender `name` (its stored snapshots stay)."""
    services.sender_folder.remove(name)
    services.audit.append("sender_removed", sender=name)


def add_key(services: Services, name: str, pem: bytes) -> str:
    """Accept a new key for sender `name` beside its current one (the first step of
    rotating a sender's key, docs/sender.md); audited as `sender_key_added`. Returns the new
    key's fingerprint."""
    key = services.sender_folder.add_key(name, pem)
    fingerprint = keys.sender_fingerprint(key)
    services.audit.append("sender_key_added", sender=name, fingerprint=fingerprint)
    return fingerprint


def retire_key(services: Services, name: str, fingerprint: str) -> str:
    """Stop accepting sender `name`'s key `fingerprint` (a prefix will do); its later
    envelopes are refused as `retired_key`. Audited as `sender_key_retired`; returns the
    retired key's full fingerprint."""
    retired = services.sender_folder.retire_key(name, fingerprint, services.clock.now())
    services.audit.append("sender_key_retired", sender=name, fingerprint=retired.fingerprint)
    return retired.fingerprint
