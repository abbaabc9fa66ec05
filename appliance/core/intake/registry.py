"""A folder of named public keys: enrolled senders on the appliance, appliances on a sender.

One file per peer, `NAME.pub`, so IT can enrol with a file copy (Ansible) as well as with
the CLI, and an auditor can see who is trusted with `ls`. On the appliance, an enrolled
sender's `NAME.units` says which units it may send for, one per line, for the same reasons.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ed25519

from appliance.core.base.clock import isoformat_utc, parse_iso
from appliance.core.base.errors import ApplianceError
from appliance.core.base.fsutil import atomic_write
from appliance.core.config.settings import UNIT_NAME_PATTERN, UNIT_NAME_RULE
from appliance.core.crypto import keys

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
KEY_SUFFIX = ".pub"
UNITS_SUFFIX = ".units"
RETIRED_SUFFIX = ".retired"


class RegistryError(ApplianceError, ValueError):
    """A name is invalid, already taken or unknown; the message says which."""


def check_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name):
        raise RegistryError(
            f"invalid name {name!r}: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


class KeyFolder:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def key_path(self, name: str) -> Path:
        return self.folder / f"{check_name(name)}{KEY_SUFFIX}"

    def names(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted(
            path.stem for path in self.folder.glob(f"*{KEY_SUFFIX}")
            if NAME_PATTERN.fullmatch(path.stem)
        )

    def read(self, name: str) -> bytes:
        path = self.key_path(name)
        if not path.is_file():
            raise RegistryError(f"no entry named {name!r} in {self.folder}")
        return path.read_bytes()

    def add(self, name: str, public_pem: bytes) -> Path:
        path = self.key_path(name)
        if path.exists():
            raise RegistryError(f"{name!r} is already enrolled ({path}); remove it first")
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write(path, public_pem)
        return path

    def remove(self, name: str) -> list[Path]:
        """Remove NAME.pub and any NAME.* companions; returns what was removed."""
        self.read(name)
        removed = []
        for path in self.folder.glob(f"{name}.*"):
            if path.stem == name:
                path.unlink()
                removed.append(path)
        return removed


class SenderFolder(KeyFolder):
    """The appliance's enrolled senders: `NAME.pub`, and `NAME.units` with the units NAME
    may send for (UTF-8, one unit per line; blank lines and lines starting with `#` are
    ignored). No `NAME.units` file: see the unit rule in docs/configuration.md."""

    def units_path(self, name: str) -> Path:
        return self.folder / f"{check_name(name)}{UNITS_SUFFIX}"

    def units(self, name: str) -> tuple[str, ...] | None:
        """The units NAME may send for, as written; None when it has no units file.
        Raises RegistryError for a file that cannot be read or has a line that is not a
        unit name (the caller decides: ingest then allows no unit at all)."""
        path = self.units_path(name)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise RegistryError(f"{path} cannot be read: {exc}") from None
        units = []
        for number, line in enumerate(text.splitlines(), start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if not re.fullmatch(UNIT_NAME_PATTERN, line):
                raise RegistryError(f"{path}, line {number}: not {UNIT_NAME_RULE}")
            units.append(line)
        return tuple(dict.fromkeys(units))

    def set_units(self, name: str, units: tuple[str, ...]) -> Path:
        """Replace NAME's units file (atomically: a reader sees the old list or the new)."""
        self.read(name)
        for unit in units:
            if not re.fullmatch(UNIT_NAME_PATTERN, unit):
                raise RegistryError(f"{unit!r} is not {UNIT_NAME_RULE}")
        path = self.units_path(name)
        atomic_write(path, "".join(f"{unit}\n" for unit in dict.fromkeys(units)).encode())
        return path


    # ------------------------------------------------ key rotation (docs/sender.md)

    def keys(self, name: str) -> list[ed25519.Ed25519PublicKey]:
        """NAME's valid keys, oldest first: one, or two while its key is rotated."""
        return keys.parse_sender_public_pems(self.read(name), str(self.key_path(name)))

    def add_key(self, name: str, public_pem: bytes) -> ed25519.Ed25519PublicKey:
        """Accept a further key for NAME beside the one(s) it has (appended to NAME.pub)."""
        new = keys.parse_sender_public_pem(public_pem, "the new key")
        have = self.keys(name)
        fingerprint = keys.sender_fingerprint(new)
        if fingerprint in {keys.sender_fingerprint(key) for key in have}:
            raise RegistryError(f"{name!r} already has key {keys.short_fingerprint(fingerprint)}")
        if fingerprint in {item.fingerprint for item in self.retired(name)}:
            raise RegistryError(f"key {keys.short_fingerprint(fingerprint)} of {name!r} was "
                                "retired: a retired key is never taken back; make a new one")
        self._write_keys(name, [*have, new])
        return new

    def retire_key(self, name: str, fingerprint: str, when: datetime) -> RetiredKey:
        """Stop accepting NAME's key whose fingerprint starts with `fingerprint` (hex, colons
        allowed); it is remembered in NAME.retired so its envelopes get a precise refusal."""
        wanted = fingerprint.replace(":", "").lower()
        have = self.keys(name)
        matching = [key for key in have if keys.sender_fingerprint(key).startswith(wanted)]
        if len(wanted) < 8 or len(matching) != 1:
            listed = ", ".join(keys.short_fingerprint(keys.sender_fingerprint(key))
                               for key in have)
            raise RegistryError(f"{name!r} has no single key whose fingerprint starts with "
                                f"{fingerprint!r} (at least 8 hex digits); its keys: {listed}")
        if len(have) == 1:
            raise RegistryError(f"{fingerprint!r} is the only key of {name!r}: enrol its new "
                                f"key first (appliance senders add-key {name} FILE), or stop "
                                f"the sender with `appliance senders remove {name}`")
        old = matching[0]
        retired = RetiredKey(name, old, keys.sender_fingerprint(old), when)
        earlier = [item for item in self.retired(name) if item.fingerprint != retired.fingerprint]
        atomic_write(self.retired_path(name), json.dumps(
            [item.to_json() for item in [*earlier, retired]], indent=1).encode() + b"\n")
        self._write_keys(name, [key for key in have if key is not old])
        return retired

    def retired_path(self, name: str) -> Path:
        return self.folder / f"{check_name(name)}{RETIRED_SUFFIX}"

    def retired(self, name: str) -> list[RetiredKey]:
        """NAME's retired keys; none when the file is missing or cannot be read (a retired
        key is refused either way, only less precisely: as unknown)."""
        try:
            items = json.loads(self.retired_path(name).read_text(encoding="utf-8"))
            return [RetiredKey(name, keys.parse_sender_public_pem(item["public_key"].encode(),
                                                                  str(self.retired_path(name))),
                               item["fingerprint"], parse_iso(item["retired_at"]))
                    for item in items]
        except (OSError, ValueError, KeyError, TypeError):
            return []

    def _write_keys(self, name: str, public_keys: list[ed25519.Ed25519PublicKey]) -> None:
        atomic_write(self.key_path(name), b"".join(keys.sender_public_pem(key)
                                                   for key in public_keys))


@dataclass(frozen=True)
class RetiredKey:
    name: str
    key: ed25519.Ed25519PublicKey
    fingerprint: str
    retired_at: datetime

    def to_json(self) -> dict[str, str]:
        return {"fingerprint": self.fingerprint, "retired_at": isoformat_utc(self.retired_at),
                "public_key": keys.sender_public_pem(self.key).decode()}


@dataclass(frozen=True)
class EnrolledSender:
    name: str
    key: ed25519.Ed25519PublicKey
    fingerprint: str
    units: frozenset[str] | None = None  # from NAME.units; None: it has no such file

    def may_send_for(self, unit: str, configured_units: tuple[str, ...]) -> bool:
        """The unit rule: the units in NAME.units; without that file, any unit in
        single-unit mode (no `units.names` configured) and none otherwise."""
        if self.units is None:
            return not configured_units
        return unit in self.units

    def describe_units(self, configured_units: tuple[str, ...]) -> str:
        """What it may send for, in words, for `senders list` and `config check`."""
        if self.units is None and not configured_units:
            return "any unit (single-unit mode: no units.names configured)"
        if not self.units:
            return (f"NO unit: every snapshot it sends is refused (no or an empty "
                    f"{self.name}.units; appliance senders units {self.name} --unit ...)")
        return ", ".join(sorted(self.units))
