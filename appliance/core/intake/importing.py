"""Import envelopes from files: the USB stick carried when the network is down.

Each envelope goes through `ingest.ingest`, the function the HTTP route calls, so a file
is held to exactly the same checks, refused with the same reason codes and audited the
same way; only `via` (`import`, or `usb` from the udev-started unit) tells them apart.
What is added here is only what a file needs before it is bytes: which files count
(`*.seal` directly in a folder; symlinks and anything but a regular file are ignored, never
followed), and a size cap checked before a byte is read.

File names are never written to the audit log or the last-import record: a name on a stick
is whatever someone typed. A file is identified there by the start of its SHA-256.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import stat
import struct
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from appliance.core.base.clock import isoformat_utc
from appliance.core.base.statefile import StateFile, StateFileError
from appliance.core.crypto import seal
from appliance.core.intake.ingest import Refusal, ingest, max_envelope_bytes, refuse
from appliance.core.records.audit import AuditError

if TYPE_CHECKING:  # the type only: services.py is above every wing
    from appliance.core.services import Services

SUFFIX = ".seal"
MAX_FILES = 64  # per run: a stick holds a few kinds for a few appliances, not more
DIGEST_CHARS = 16
LAST_IMPORT_FILE = "last-import.json"
VIA_CHOICES = ("import", "usb")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What became of one file: `accepted`, `refused` (with the ingest reason code) or
    `ignored` (not a regular file, or past MAX_FILES: never read)."""

    path: Path
    result: str
    reason: str = ""
    message: str = ""
    snapshot: str = ""
    digest: str = ""


def import_paths(services: Services, paths: Iterable[Path], via: str) -> list[Outcome]:
    """Import every file named and every `*.seal` directly in every folder named, oldest
    envelope first; audit the run and record it for `status` (LAST_IMPORT_FILE)."""
    found = list(_candidates(paths))
    envelopes = sorted((path for path, why in found if not why), key=_sequence_order)
    outcomes = [import_file(services, path, via) for path in envelopes[:MAX_FILES]]
    outcomes += [Outcome(path, "ignored", reason="too_many_files",
                         message=f"more than {MAX_FILES} envelopes in one import")
                 for path in envelopes[MAX_FILES:]]
    outcomes += [Outcome(path, "ignored", reason=why) for path, why in found if why]
    _record(services, via, outcomes)
    return outcomes


def import_file(services: Services, path: Path, via: str) -> Outcome:
    """Read one envelope (regular files only, within the size cap) and ingest it."""
    limit = max_envelope_bytes(services)
    try:
        body = _read_regular_within(path, limit)
    except _NotRegular as exc:
        refusal = refuse(services, 400, "not_a_regular_file", str(exc), remote=via,
                         size=None, via=via)
        return _refused(path, refusal)
    except _TooLarge as exc:
        refusal = refuse(services, 413, "too_large", f"file larger than this appliance's "
                         f"limit of {limit} bytes (web.max_snapshot_mb)", remote=via,
                         size=exc.size, via=via)
        return _refused(path, refusal)
    except OSError as exc:  # a stick pulled out, a bad sector
        refusal = refuse(services, 400, "unreadable", f"cannot read the file: "
                         f"{exc.strerror or exc}", remote=via, size=None, via=via)
        return _refused(path, refusal)
    digest = hashlib.sha256(body).hexdigest()[:DIGEST_CHARS]
    try:
        snapshot = ingest(services, body, remote=f"{via} sha256:{digest}", via=via)
    except Refusal as refusal:
        return _refused(path, refusal, digest)
    return Outcome(path, "accepted", snapshot=snapshot.id, digest=digest)


def last_import_file(state_dir: Path) -> StateFile:
    """`last-import.json`: 0640, readable by the web service's group; written before it had
    a version, hence unversioned_is."""
    return StateFile(Path(state_dir) / LAST_IMPORT_FILE, mode=0o640, unversioned_is=1)


def last_import(state_dir: Path) -> dict | None:
    """The record of the last import run (counts and reasons, no names), or None. A damaged
    record is logged and read as none: the next import writes a new one (the audit log
    keeps every import's `import_finished` anyway)."""
    try:
        return last_import_file(state_dir).load()
    except StateFileError as exc:
        log.error("%s; the last import is shown as none until the next one", exc)
        return None


def _refused(path: Path, refusal: Refusal, digest: str = "") -> Outcome:
    return Outcome(path, "refused", refusal.error, refusal.message, digest=digest)


def _candidates(paths: Iterable[Path]) -> Iterator[tuple[Path, str]]:
    """(path, why it is ignored or ""): named files as they are (checked when read), and
    the `*.seal` entries of named folders, not recursively, symlinks never followed."""
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            try:
                entries = sorted(path.iterdir())
            except OSError:  # a folder the service user may not read, a stick pulled out
                yield path, "unreadable"
                continue
            for entry in entries:
                if entry.name.endswith(SUFFIX) and not entry.name.startswith("."):
                    yield entry, _not_regular(entry)
        else:
            yield path, ""


def _sequence_order(path: Path) -> tuple[int, str]:
    """Oldest envelope first, by the sequence number in its clear header: a sender numbers
    all its envelopes in one series, so in name order (appliance, kind, time) an evening
    medication list would make the morning to-do list after it a replay. The number is not
    yet authenticated; it only orders, and each file is then checked in full. Files without
    a readable header come last (they are refused anyway)."""
    try:
        with open(path, "rb", opener=_no_follow) as handle:
            prefix = handle.read(seal.PREFIX.size)
            magic, _, header_length = seal.PREFIX.unpack(prefix)
            if magic != seal.MAGIC or header_length > seal.MAX_HEADER_LENGTH:
                raise ValueError("not an envelope")
            seq = json.loads(handle.read(header_length))["seq"]
            if not isinstance(seq, int):
                raise TypeError("seq is not a number")
            return seq, path.name
    except (OSError, ValueError, KeyError, TypeError, struct.error):
        return 2**63, path.name


def _no_follow(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK)


def _not_regular(path: Path) -> str:
    try:
        mode = path.lstat().st_mode
    except OSError:
        return "unreadable"
    if stat.S_ISLNK(mode):
        return "symlink"
    return "" if stat.S_ISREG(mode) else "not_a_regular_file"


class _NotRegular(Exception):
    pass


class _TooLarge(Exception):
    def __init__(self, size: int | None) -> None:
        super().__init__(size)
        self.size = size


def _read_regular_within(path: Path, limit: int) -> bytes:
    """The file's bytes: refused unopened if it is a symlink, a device or a FIFO
    (O_NOFOLLOW, O_NONBLOCK, then fstat), and by its size before it is read; a file growing
    while read is cut off at one byte past the cap and refused."""
    try:
        fd = _no_follow(str(path), os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _NotRegular("a symlink (not followed)") from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _NotRegular("not a regular file")
        if info.st_size > limit:
            raise _TooLarge(info.st_size)
        chunks, total = [], 0
        while chunk := os.read(fd, min(1024 * 1024, limit + 1 - total)):
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise _TooLarge(None)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _record(services: Services, via: str, outcomes: list[Outcome]) -> None:
    """Audit the run and keep it as the last import (for `status` and the kiosk)."""
    counts = Counter(outcome.result for outcome in outcomes)
    record = {
        "via": via, "accepted": counts["accepted"], "refused": counts["refused"],
        "ignored": counts["ignored"],
        "reasons": dict(Counter(o.reason for o in outcomes if o.result != "accepted")),
    }
    try:
        services.audit.append("import_finished", **record)
    except AuditError as exc:
        log.error("an import could not be audited: %s", exc)
    record["time"] = isoformat_utc(services.clock.now())
    last_import_file(services.config.state_dir).save(record)
