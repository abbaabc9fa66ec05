"""First-time set-up of a self-contained installation folder (`init --dir DIR`).

The written config keeps every path relative to DIR, so the demo, the tests and a
technician's trial run need no root and leave nothing outside DIR.
"""

from __future__ import annotations

from pathlib import Path

from appliance.core.base.fsutil import atomic_write

APPLIANCE_TOML = """\
# Downtime print appliance: configuration. Relative paths are relative to this file.
# Every setting: docs/configuration.md.
# `appliance config show` prints every setting in force, defaults included.

[appliance]
name = "{name}"
state_dir = "state"        # keys, sealed snapshots, index, audit log
senders_dir = "senders"    # enrolled senders: NAME.pub

[keys]
kem = "mlkem768-x25519"    # or "x25519"; changing it needs a new key and re-enrolment

[web]
host = "127.0.0.1"
port = 8080
max_snapshot_mb = 64

[freshness]
timezone = "Europe/Stockholm"
grace_minutes = 30

[kinds.todo]
title = "Att göra-lista"
slots = ["07:00", "14:30"]

# Who to call: the contacts sheet after every kit's cover (docs/configuration.md,
# "Contacts"). Until some are set it says "Inga kontakter är inställda – ring IT-support."
# [contacts]
# updated = 2026-11-03             # the day the numbers were last changed or checked
# [contacts.manager_on_call]       # CIB, on-call hours
# phone = "070-123 45 67"
# [contacts.unit_manager]          # EC, by day
# name = "Anna Andersson"
# phone = "0456-123 45"
# [contacts.it_support]
# phone = "0456-816 00"
# [[contacts.pas]]                 # one per unit of units.names
# phone = "0456-123 50"
"""

SENDER_TOML = """\
# Downtime print appliance: sender (office PC) configuration.
# Relative paths are relative to this file. Every setting: docs/configuration.md.
# `appliance-sender config show` prints every setting in force, defaults included.

[sender]
name = "{name}"
unit = "Hemsjukvård"           # organisational unit named on printed sheets
state_dir = "state"            # the sender's key and sequence counter
appliances_dir = "appliances"  # appliances to deliver to: NAME.pub + NAME.url

[push]
timeout_seconds = 60

# `appliance-sender run` watches an outbox folder (docs/sender.md). Uncomment to use it:
# [outbox]
# dir = "outbox"
# after_delivery = "keep"          # or "delete" once every appliance accepted the file
# [[outbox.rules]]
# glob = "att*gora*.pdf"
# kind = "todo"
# [[outbox.rules]]
# glob = "lakemedel*.pdf"
# kind = "medications"
"""


def write_appliance_config(directory: Path, name: str = "jourrum") -> Path:
    return _write_if_absent(Path(directory) / "appliance.toml", APPLIANCE_TOML.format(name=name))


def write_sender_config(directory: Path, name: str = "kontor") -> Path:
    return _write_if_absent(Path(directory) / "sender.toml", SENDER_TOML.format(name=name))


def _write_if_absent(path: Path, text: str) -> Path:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, text.encode())
    return path
