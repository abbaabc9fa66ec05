"""Rotating the sender's signing key in two steps, so no appliance ever refuses a push.

`prepare` makes the next key beside the current one, which goes on signing; IT enrols the
next public key on every appliance the sender delivers to (`appliance senders add-key`), each
of which then accepts both. `activate` makes the next key the current one; IT then retires
the old key on the appliances (`appliance senders retire-key`), which refuse it from then on
with a message that says so. The sequence numbers do not depend on the key
(`sequence.py`), so the appliances' replay protection carries on across the change
(docs/sender.md, "Rotating a sender's key").

`--round NAME` makes both steps idempotent for Ansible: a round is prepared and activated
once, and a rerun of the playbook changes nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from appliance.core.base.clock import isoformat_utc
from appliance.core.base.fsutil import atomic_write, fsync_dir, write_new_private
from appliance.core.base.statefile import StateFile
from appliance.core.config.settings import SenderConfig
from appliance.core.crypto import keys

NEXT_PRIVATE = "sender.next.key"
NEXT_PUBLIC = "sender.next.pub"
RETIRED_PUBLIC = "sender.retired.pub"  # the key `activate` replaced: for retire-key
ROTATION_FILE = "rotation.json"


@dataclass(frozen=True)
class KeyState:
    current: str  # fingerprints
    next: str | None
    retired: str | None  # replaced by the last activation; retire it on the appliances
    round: str | None  # the last round activated
    prepared_round: str | None

    def to_json(self) -> dict[str, str | None]:
        return {"fingerprint": self.current, "next": self.next, "retired": self.retired,
                "round": self.round, "prepared_round": self.prepared_round}


def _keys_dir(config: SenderConfig) -> Path:
    return config.private_key_path.parent


def _record(config: SenderConfig) -> StateFile:
    return StateFile(_keys_dir(config) / ROTATION_FILE, mode=0o644)


def _public_fingerprint(path: Path) -> str | None:
    if not path.exists():
        return None
    return keys.sender_fingerprint(keys.parse_sender_public_pem(keys.read_key_file(path),
                                                                str(path)))


def key_state(config: SenderConfig) -> KeyState:
    record = _record(config).load() or {}
    keys_dir = _keys_dir(config)
    return KeyState(_public_fingerprint(config.public_key_path) or "",
                    _public_fingerprint(keys_dir / NEXT_PUBLIC),
                    _public_fingerprint(keys_dir / RETIRED_PUBLIC),
                    record.get("round"), record.get("prepared_round"))


def prepare(config: SenderConfig, round_name: str | None = None) -> bool:
    """Make the next key unless there is one, or this round was activated; True if made."""
    state = key_state(config)
    if state.next is not None or (round_name is not None and state.round == round_name):
        return False
    private = keys.generate_sender_key()
    keys_dir = _keys_dir(config)
    write_new_private(keys_dir / NEXT_PRIVATE, keys.sender_private_pem(private))
    atomic_write(keys_dir / NEXT_PUBLIC, keys.sender_public_pem(private.public_key()))
    _save(config, prepared_round=round_name)
    return True


def activate(config: SenderConfig, now: datetime) -> bool:
    """Sign with the next key from now on; the old public key is kept as
    `sender.retired.pub` (its private key is gone). True if there was a next key."""
    state = key_state(config)
    keys_dir = _keys_dir(config)
    if state.next is None:
        return False
    atomic_write(keys_dir / RETIRED_PUBLIC, keys.read_key_file(config.public_key_path))
    os.replace(keys_dir / NEXT_PRIVATE, config.private_key_path)  # the old key is gone
    os.replace(keys_dir / NEXT_PUBLIC, config.public_key_path)
    fsync_dir(keys_dir)
    _save(config, round=state.prepared_round, activated_at=isoformat_utc(now))
    return True


def _save(config: SenderConfig, **changes: str | None) -> None:
    record = _record(config)
    record.save((record.load() or {}) | changes)
