"""The appliance's key ring: the current key pair and the ones kept from earlier rotations.

Rotating the appliance's key must not stop the outage system (issue 23 §3). Senders learn the
new public key only when IT's enrolment round reaches them, so for a grace period a snapshot
sealed to the previous key is still accepted; and every retained snapshot was sealed to
whichever key was current when it came, so the key that opens it is kept for as long as the
store holds such a snapshot, grace or no grace. Only then is it destroyed (`prune`).

Two halves, kept apart on purpose:

- the **ring** (secret): the private keys, current first, in the key file or the systemd
  credential (`keys.parse_appliance_private_ring`);
- the **rotation record** (public): `state_dir/keys/rotation.json`, the fingerprints of the
  kept keys and when each one's grace ends. The jobs process, `appliance status` and the
  metrics read it without the private key. The ring is the truth about which keys exist; the
  record only says how long a previous key may still take new envelopes (one missing from
  the record takes none).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from appliance.core.base.clock import isoformat_utc, parse_iso
from appliance.core.base.statefile import StateFile, StateFileError
from appliance.core.crypto import keys

ROTATION_FILE = "rotation.json"


@dataclass(frozen=True)
class PreviousKey:
    """A key that is no longer current, still in the ring."""

    fingerprint: str
    rotated_at: datetime  # when it stopped being current
    grace_ends: datetime  # until then, new envelopes sealed to it are still accepted

    def in_grace(self, now: datetime) -> bool:
        return now < self.grace_ends


@dataclass(frozen=True)
class Rotation:
    """The public record of the ring: which keys it keeps besides the current one."""

    current: str | None = None  # fingerprint of the current key when the record was written
    round: str | None = None  # the name IT gave the last rotation (`--round`), for idempotence
    previous: tuple[PreviousKey, ...] = ()

    def in_grace(self, now: datetime) -> tuple[PreviousKey, ...]:
        return tuple(key for key in self.previous if key.in_grace(now))

    def grace_ends(self, now: datetime) -> datetime | None:
        """When the last grace period still running ends; None if none runs."""
        return max((key.grace_ends for key in self.in_grace(now)), default=None)


def rotation_file(keys_dir: Path) -> StateFile:
    return StateFile(Path(keys_dir) / ROTATION_FILE, mode=0o644)  # public: fingerprints, times


def read_rotation(keys_dir: Path) -> Rotation:
    """The record; an empty one when there is none (a key never rotated). A damaged record
    raises `StateFileError`: guessing would either refuse senders or accept a retired key."""
    state = rotation_file(keys_dir)
    data = state.load()
    if data is None:
        return Rotation()
    try:
        return Rotation(
            current=data.get("current"), round=data.get("round"),
            previous=tuple(PreviousKey(item["fingerprint"], parse_iso(item["rotated_at"]),
                                       parse_iso(item["grace_ends"]))
                           for item in data.get("previous", [])))
    except (KeyError, TypeError, ValueError) as exc:
        raise StateFileError(state.path, f"not a rotation record ({exc})",
                             "restore it from the audit log's appliance_key_rotated entries, "
                             "or delete it: every previous key then accepts no new "
                             "envelope, and still opens stored ones") from exc


def write_rotation(keys_dir: Path, rotation: Rotation) -> None:
    rotation_file(keys_dir).save({
        "current": rotation.current, "round": rotation.round,
        "previous": [{"fingerprint": key.fingerprint, "rotated_at": isoformat_utc(key.rotated_at),
                      "grace_ends": isoformat_utc(key.grace_ends)} for key in rotation.previous]})


@dataclass(frozen=True)
class KeyRing:
    """The private keys (current first) and the record that says what each may still do."""

    keys: tuple[keys.AppliancePrivateKey, ...]
    rotation: Rotation = field(default_factory=Rotation)

    def __post_init__(self) -> None:
        if not self.keys:
            raise keys.KeyFileError("a key ring holds at least the current key")

    @property
    def current(self) -> keys.AppliancePrivateKey:
        return self.keys[0]

    @property
    def fingerprints(self) -> tuple[str, ...]:
        return tuple(key.public_key().fingerprint for key in self.keys)

    def key_for(self, recipient: str) -> keys.AppliancePrivateKey | None:
        """The key that opens an envelope sealed to `recipient`, grace or not: printing a
        stored snapshot needs it for as long as the snapshot is kept."""
        for key, fingerprint in zip(self.keys, self.fingerprints, strict=True):
            if fingerprint == recipient:
                return key
        return None

    def previous(self) -> tuple[PreviousKey, ...]:
        """The record's entries for the keys this ring holds besides the current one; a key
        the record does not know is treated as past its grace (epoch)."""
        known = {key.fingerprint: key for key in self.rotation.previous}
        epoch = datetime.fromtimestamp(0, UTC)
        return tuple(known.get(fp) or PreviousKey(fp, epoch, epoch)
                     for fp in self.fingerprints[1:])

    def recipient_problem(self, recipient: str, now: datetime) -> tuple[int, str, str] | None:
        """Whether a new envelope sealed to `recipient` may be accepted now: (status, code,
        message) if not. The current key, or a previous one in its grace period."""
        current = self.fingerprints[0]
        if recipient == current:
            return None
        for key in self.previous():
            if key.fingerprint == recipient:
                if key.in_grace(now):
                    return None
                return (403, "retired_recipient",
                        f"sealed to this appliance's previous key "
                        f"{keys.short_fingerprint(recipient)}, whose grace period ended at "
                        f"{isoformat_utc(key.grace_ends)}: the sender needs the current public "
                        f"key {keys.short_fingerprint(current)} (ansible-playbook enrol.yml, "
                        "or appliance-sender appliances remove and add)")
        return (403, "wrong_recipient",
                "sealed for another appliance (recipient fingerprint differs)")


def rotated(ring: KeyRing, new: keys.AppliancePrivateKey, now: datetime, grace: timedelta,
            round_name: str | None) -> KeyRing:
    """`ring` with `new` as its current key; the old current key takes new envelopes until
    `now + grace`, and keys kept from earlier rotations keep their own grace end."""
    old = PreviousKey(ring.fingerprints[0], now, now + grace)
    previous = (old, *ring.previous())
    new_fp = new.public_key().fingerprint
    return KeyRing((new, *ring.keys),
                   Rotation(current=new_fp, round=round_name, previous=previous))


def pruned(ring: KeyRing, now: datetime,
           needed: set[str]) -> tuple[KeyRing, tuple[PreviousKey, ...]]:
    """`ring` without the previous keys past their grace that no retained snapshot is sealed
    to (`needed`: the recipients of the stored snapshots), and the keys dropped."""
    keep, dropped = [ring.current], []
    entries = []
    for key, entry in zip(ring.keys[1:], ring.previous(), strict=True):
        if entry.in_grace(now) or entry.fingerprint in needed:
            keep.append(key)
            entries.append(entry)
        else:
            dropped.append(entry)
    rotation = replace(ring.rotation, current=ring.fingerprints[0], previous=tuple(entries))
    return KeyRing(tuple(keep), rotation), tuple(dropped)
