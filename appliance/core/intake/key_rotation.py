"""Rotating the appliance's key pair, and destroying old keys once nothing needs them.

`rotate` and `prune` take the ring as it is and return the ring to keep; the caller writes
it where it lives (the key file, or standard output for `systemd-creds encrypt`), because a
credential can only be written by root and the state dir only by the service user
(docs/key-protection.md, "Rotating the appliance's key"). What is public (the rotation
record, `appliance.pub`) and the audit entries are written here, by the service user.

Why keep a previous key past its grace: the store holds every snapshot as it was sealed
(plaintext never touches the disk, and re-sealing would need the senders' signing keys),
so a snapshot received before the rotation opens only with the key it was sealed to, and
the newest of a kind is never deleted. The key goes when the last such snapshot does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from appliance.core.base.clock import isoformat_utc
from appliance.core.base.fsutil import atomic_write
from appliance.core.base.statefile import StateFileError
from appliance.core.crypto import keys, seal
from appliance.core.intake.key_ring import (
    KeyRing,
    PreviousKey,
    pruned,
    read_rotation,
    rotated,
    write_rotation,
)
from appliance.core.intake.store import StoreError

if TYPE_CHECKING:  # the type only: services.py is above every wing
    from appliance.core.services import Services

DEFAULT_GRACE = timedelta(days=14)
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rotated:
    ring: KeyRing
    done: bool  # False: this round was rotated before, the ring is unchanged


def rotate(services: Services, ring: KeyRing, grace: timedelta = DEFAULT_GRACE,
           round_name: str | None = None) -> Rotated:
    """A new current key of the config's KEM; the old one accepts new envelopes for `grace`
    and opens stored ones for as long as they are kept. With `round_name` (IT's name for a
    fleet rotation, e.g. `2027-spring`) a second call in the same round changes nothing once
    the ring it made is the one given; a rotation whose ring never reached the credential (a
    failed `systemd-creds encrypt`) is made again. So Ansible reruns are safe. Writes the
    record and `appliance.pub`, audits `appliance_key_rotated`. A damaged record raises
    `StateFileError` and changes nothing."""
    record = read_rotation(services.config.keys_dir)  # damaged: raise, change nothing
    if round_name is not None and record.round == round_name and \
            record.current == ring.fingerprints[0]:
        return Rotated(ring, done=False)  # done, and landed: the ring is the one it made
    ring = KeyRing(ring.keys, record)
    now = services.clock.now()
    new = rotated(ring, keys.generate_appliance_key(services.config.kem), now, grace, round_name)
    _publish(services, new)
    services.audit.append("appliance_key_rotated", fingerprint=new.fingerprints[0],
                          previous=ring.fingerprints[0], grace_ends=isoformat_utc(now + grace),
                          round=round_name)
    return Rotated(new, done=True)


def prune(services: Services, ring: KeyRing) -> tuple[KeyRing, tuple[PreviousKey, ...]]:
    """Drop the previous keys whose grace has ended and that no retained snapshot is sealed
    to; audited `appliance_key_destroyed` each. A snapshot whose header cannot be read
    counts as needing every key, and a damaged record raises `StateFileError`: nothing is
    destroyed on a guess."""
    ring = KeyRing(ring.keys, read_rotation(services.config.keys_dir))  # damaged: raise
    needed = retained_recipients(services)
    if needed is None:
        return ring, ()
    kept, dropped = pruned(ring, services.clock.now(), needed)
    if dropped or kept.rotation != ring.rotation:
        _publish(services, kept)
    for key in dropped:
        services.audit.append("appliance_key_destroyed", fingerprint=key.fingerprint,
                              rotated_at=isoformat_utc(key.rotated_at),
                              grace_ends=isoformat_utc(key.grace_ends))
    return kept, dropped


def end_grace(services: Services) -> tuple[PreviousKey, ...]:
    """End every running grace period now (every sender has the new key, or the old key may
    be known): new envelopes sealed to a previous key are refused from now on, stored ones
    still open. Only the public record changes, so no restart is needed. Audited as
    `appliance_key_grace_ended` per key; returns the keys whose grace was ended."""
    keys_dir = services.config.keys_dir
    record = read_rotation(keys_dir)
    now = services.clock.now()
    ended = record.in_grace(now)
    if not ended:
        return ()
    write_rotation(keys_dir, replace(record, previous=tuple(
        replace(key, grace_ends=now) if key in ended else key for key in record.previous)))
    for key in ended:
        services.audit.append("appliance_key_grace_ended", fingerprint=key.fingerprint,
                              planned=isoformat_utc(key.grace_ends))
    return ended


def retained_recipients(services: Services) -> set[str] | None:
    """The key fingerprints the stored snapshots are sealed to (from their clear headers);
    None when one cannot be read."""
    recipients = set()
    for snapshot in services.store.snapshots():
        try:
            envelope = seal.parse(services.store.read_envelope(snapshot.id), max_payload=2**63)
        except (seal.SealError, StoreError) as exc:
            log.error("snapshot %s: header unreadable, no old key is destroyed: %s",
                      snapshot.id, exc)
            return None
        recipients.add(envelope.header.recipient)
    return recipients


@dataclass(frozen=True)
class RotationState:
    """What IT is shown (status, metrics, `appliance key status`), from the public record."""

    previous_keys: int  # keys kept besides the current one
    in_grace: int  # of those, still accepting new envelopes
    grace_ends: datetime | None  # the last running grace period's end
    round: str | None
    problem: str | None = None  # the record cannot be read

    def to_json(self) -> dict[str, object]:
        return {"previous_keys": self.previous_keys, "in_grace": self.in_grace,
                "grace_ends": isoformat_utc(self.grace_ends) if self.grace_ends else None,
                "round": self.round, "problem": self.problem}


def rotation_state(keys_dir: Path, now: datetime) -> RotationState:
    """From the public record only: the jobs process and `status` have no private key."""
    try:
        record = read_rotation(keys_dir)
    except StateFileError as exc:
        return RotationState(0, 0, None, None, problem=str(exc))
    return RotationState(len(record.previous), len(record.in_grace(now)),
                         record.grace_ends(now), record.round)


def _publish(services: Services, ring: KeyRing) -> None:
    """The public half of a ring: the record and the current public key."""
    keys_dir = services.config.keys_dir
    keys_dir.mkdir(parents=True, exist_ok=True)
    write_rotation(keys_dir, ring.rotation)
    atomic_write(services.config.public_key_path, ring.current.public_key().to_pem())
