"""Append-only, hash-chained audit log (JSON Lines) in the appliance's state dir.

Auditors ask who printed what, what came in, what was refused and why. Every entry is one line
of canonical JSON carrying `n` (1-based sequence), `time` (UTC), `event`, the caller's fields,
`prev` (hash of the previous entry, 64 zeros for the first) and `hash` (SHA-256 of the entry's
canonical JSON without `hash`). Changing, removing, inserting or reordering lines breaks the
chain; `AuditLog.verify` finds where.

NO PATIENT DATA. The audit log outlives every snapshot and is read by people who have no right
to see care information. Callers pass only identifiers and codes: snapshot/job/device/user ids,
document kinds, unit codes, counts, sizes, digests and reason codes - never names, personal
identity numbers, addresses, diagnoses or free text taken from a document. Nothing here can
check that; it is the callers' duty.

Limits, on purpose:
- A chain cannot show that lines were cut from the end, so after every append the newest
  `(n, hash)` is written to an anchor file next to the log. The anchor is not a secret: someone
  who can rewrite both files can forge a consistent log. It guards against truncation by
  accident, restores of old copies and casual deletion, not against root on the appliance.
- Several processes append (web workers, the CLI): each append holds an exclusive `flock` on the
  log for the read-tail/write/fsync/anchor sequence, so the anchor never goes backwards.

Segments: once the log (`audit.log`) reaches `segment_max_bytes`, the append that got it
there renames it, under its lock, to `audit.log.NNNNNNNNNNNN` (the `n` of its first entry,
12 digits, so names sort in order) and the next append starts a new `audit.log` that
continues the chain: its first entry's `prev` is the hash of the segment's last. The
segments and the live log read as one log, in name order with `audit.log` last; `verify`
checks the chain across all of them. Segments are never deleted here: archiving them is
the auditor's decision (docs/storage-and-audit.md).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

from appliance.core.base.canonical import canonical_json
from appliance.core.base.clock import Clock, isoformat_utc
from appliance.core.base.errors import ApplianceError
from appliance.core.base.fsutil import atomic_write, fsync_dir

ZERO_HASH = "0" * 64
RESERVED_KEYS = frozenset({"n", "time", "event", "prev", "hash"})
RECOVERED_EVENT = "audit_recovered"
FILE_MODE = 0o640
MAX_PROBLEMS = 20

_EVENT_RE = re.compile(r"[a-z][a-z0-9_.-]{0,63}")
_HASH_RE = re.compile(r"[0-9a-f]{64}")
_TAIL_CHUNK = 8192
_SEGMENT_DIGITS = 12
_MAX_ANCHOR_BYTES = 4096
_MAX_FIRST_LINE = 1024 * 1024

_Anchor = tuple[int, str] | Literal[False] | None
"""`(n, hash)` from the anchor file; None: no anchor file; False: unusable (reported)."""


class AuditError(ApplianceError, OSError):
    """An entry could not be written (bad fields, unreadable log tail, I/O failure)."""


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    entries: int
    """Complete (newline-terminated) lines in the log, whether valid or not."""
    problems: list[str]
    """At most MAX_PROBLEMS messages, plus one closing "... N more problems not listed"."""


def entry_hash(entry: dict[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of `entry` without its `hash` field."""
    body = {key: value for key, value in entry.items() if key != "hash"}
    return hashlib.sha256(canonical_json(body)).hexdigest()


class AuditLog:
    def __init__(self, path: Path, clock: Clock, anchor_path: Path | None = None, *,
                 segment_max_bytes: int | None = None) -> None:
        self.path = Path(path)
        self.anchor_path = (
            Path(anchor_path) if anchor_path is not None else Path(f"{self.path}.anchor")
        )
        self._clock = clock
        self.segment_max_bytes = segment_max_bytes

    def segments(self) -> list[Path]:
        """The sealed segments, oldest first (not the live log)."""
        return segment_paths(self.path)

    def files(self) -> list[Path]:
        """Every file of the log in order: the segments, then the live log (which may be
        missing right after a rotation)."""
        return [*self.segments(), self.path]

    # -- writing -------------------------------------------------------------------------

    def append(self, event: str, /, **fields: Any) -> dict[str, Any]:
        """Append one entry and return it as written (with `n`, `time`, `prev`, `hash`).

        `event` is positional-only so that a caller field named `event` is refused like the
        other reserved keys instead of failing with a TypeError.
        """
        _check_event(event)
        _check_fields(fields)
        try:
            fd = self._open_locked()
        except OSError as exc:
            raise AuditError(f"cannot open audit log {self.path}: {exc}") from exc
        try:
            last_n, last_hash, discarded = _prepare_tail(fd, self.path)
            if last_n == 0:  # a new live log after a rotation continues the segments
                last_n, last_hash = self._segments_tail()
            now = isoformat_utc(self._clock.now())
            sealed: list[dict[str, Any]] = []
            if discarded:
                sealed.append(
                    _seal(
                        last_n + 1, now, RECOVERED_EVENT, {"discarded_bytes": discarded}, last_hash
                    )
                )
                last_n, last_hash = sealed[-1]["n"], sealed[-1]["hash"]
            entry = _seal(last_n + 1, now, event, fields, last_hash)
            sealed.append(entry)
            data = b"".join(canonical_json(item) + b"\n" for item in sealed)
            _write_all(fd, data)
            os.fsync(fd)
            anchor = canonical_json({"n": entry["n"], "hash": entry["hash"]}) + b"\n"
            try:
                atomic_write(self.anchor_path, anchor, mode=FILE_MODE)
            except OSError as exc:
                raise AuditError(
                    f"entry n={entry['n']} was written to {self.path} but the anchor "
                    f"{self.anchor_path} could not be updated: {exc}"
                ) from exc
            if self.segment_max_bytes and os.fstat(fd).st_size >= self.segment_max_bytes:
                self._seal_segment(fd)
        except AuditError:
            raise  # already says what failed
        except OSError as exc:
            raise AuditError(f"cannot append to audit log {self.path}: {exc}") from exc
        finally:
            os.close(fd)  # releases the lock
        return entry

    def _open_locked(self) -> int:
        """The live log, open and exclusively locked. A file that was rotated away while
        this process waited for its lock is let go, and the new live log taken instead."""
        while True:
            fd = self._open_for_append()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                if _is_current(fd, self.path):
                    return fd
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)

    def _segments_tail(self) -> tuple[int, str]:
        """`(n, hash)` of the newest segment's last entry: where a new live log continues."""
        segments = self.segments()
        if not segments:
            return 0, ZERO_HASH
        with open(segments[-1], "rb") as handle:
            fd = handle.fileno()
            size = os.fstat(fd).st_size
            start = _rfind_newline(fd, size - 1) + 1 if size else 0
            entry = _parse_entry(_pread_exact(fd, max(size - 1 - start, 0), start))
        if isinstance(entry, str):
            raise AuditError(f"the last line of {segments[-1]} is {entry}; refusing to "
                             "continue a damaged log (run `appliance audit verify`)")
        return entry["n"], entry["hash"]

    def _seal_segment(self, fd: int) -> None:
        """Under the lock: rename the live log to a segment named by its first `n`."""
        head = _pread_exact(fd, min(os.fstat(fd).st_size, _MAX_FIRST_LINE), 0)
        first = _parse_entry(head.split(b"\n", 1)[0])
        if isinstance(first, str):  # never rotate a damaged log: verify must see it whole
            return
        segment = self.path.with_name(f"{self.path.name}.{first['n']:0{_SEGMENT_DIGITS}d}")
        if segment.exists():
            return
        os.rename(self.path, segment)
        fsync_dir(self.path.parent)

    def _open_for_append(self) -> int:
        """Open read-write with O_APPEND; a new file gets exactly mode 0640 whatever the umask."""
        flags = os.O_RDWR | os.O_APPEND | os.O_CLOEXEC
        try:
            fd = os.open(self.path, flags | os.O_CREAT | os.O_EXCL, FILE_MODE)
        except FileExistsError:
            return os.open(self.path, flags)
        try:
            os.fchmod(fd, FILE_MODE)
            fsync_dir(self.path.parent)
        except BaseException:
            os.close(fd)
            raise
        return fd

    # -- reading -------------------------------------------------------------------------

    def entries(self) -> Iterator[dict[str, Any]]:
        """Yield the entries of every segment and the live log in order, without verifying
        hashes (use `verify` for that).

        A last line without a newline (a torn write, or an append in progress) is skipped; any
        other line that is not a JSON object raises AuditError.
        """
        for path in self.files():
            yield from _file_entries(path)

    def verify(self) -> VerifyReport:
        """Check every line of every segment, the chain across them and the anchor. Never
        raises on bad content.

        The live log's size, the list of segments and the anchor are read together under a
        shared lock on the live log (rotation needs it exclusively), then the lines up to that
        size are streamed without holding it, so appenders are not blocked while a large log
        is checked (bytes before the last newline are never rewritten).
        """
        problems = _Problems()
        try:
            handle = self._open_live_for_reading()
        except OSError as exc:
            problems.add(f"log: cannot open {self.path}: {exc.strerror or exc}")
            return problems.report(entries=0)
        scan = _Scan()
        size = complete_end = 0
        with handle or contextlib.nullcontext():
            try:
                if handle is not None:
                    try:
                        size = os.fstat(handle.fileno()).st_size
                        complete_end = _rfind_newline(handle.fileno(), size) + 1
                        segments = self.segments()
                        anchor = self._read_anchor(problems)
                    finally:
                        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
                else:
                    segments = self.segments()
                    anchor = self._read_anchor(problems)
                labelled = len(segments) > 0
                for segment in segments:
                    with open(segment, "rb") as part:
                        end = _rfind_newline(part.fileno(), os.fstat(part.fileno()).st_size) + 1
                        _scan_lines(part, end, anchor, problems, scan, segment.name)
                if handle is not None:
                    _scan_lines(handle, complete_end, anchor, problems, scan,
                                self.path.name if labelled else None)
            except OSError as exc:
                problems.add(f"log: read error: {exc.strerror or exc}")
                return problems.report(entries=scan.lines)
        if handle is None and not segments and isinstance(anchor, tuple):
            problems.add(
                f"anchor: log has 0 entries but the anchor says {anchor[0]} (log file missing)"
            )
            return problems.report(entries=0)
        if size > complete_end:
            problems.add(
                f"line {scan.lines + 1}: torn fragment at end ({size - complete_end} bytes "
                "without a trailing newline; the next append discards it)"
            )
        _check_anchor(anchor, scan, problems)
        return problems.report(entries=scan.lines)

    def _open_live_for_reading(self) -> BinaryIO | None:
        """The live log open for reading under a shared lock, None if there is none."""
        while True:
            try:
                handle = open(self.path, "rb")  # noqa: SIM115 - the caller closes it
            except FileNotFoundError:
                return None
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH)
            if _is_current(handle.fileno(), self.path):
                return handle
            handle.close()  # rotated away while we waited for the lock

    def _read_anchor(self, problems: _Problems) -> _Anchor:
        try:
            with open(self.anchor_path, "rb") as handle:
                raw = handle.read(_MAX_ANCHOR_BYTES + 1)
        except FileNotFoundError:
            return None
        except OSError as exc:
            problems.add(f"anchor: cannot read {self.anchor_path}: {exc.strerror or exc}")
            return False
        if len(raw) > _MAX_ANCHOR_BYTES:
            problems.add("anchor: file is too large to be an anchor")
            return False
        try:
            obj = json.loads(raw.decode("utf-8"))
        except (ValueError, RecursionError):
            problems.add("anchor: not valid JSON")
            return False
        n = obj.get("n") if isinstance(obj, dict) else None
        digest = obj.get("hash") if isinstance(obj, dict) else None
        if not _is_seq(n) or not _is_hash(digest):
            problems.add('anchor: malformed (needs {"n": positive integer, "hash": hex SHA-256})')
            return False
        return n, digest


def segment_paths(live: Path) -> list[Path]:
    """The sealed segments of the log whose live file is `live`, oldest first."""
    pattern = re.compile(re.escape(live.name) + rf"\.\d{{{_SEGMENT_DIGITS}}}")
    try:
        names = [entry.name for entry in os.scandir(live.parent) if pattern.fullmatch(entry.name)]
    except FileNotFoundError:
        return []
    return [live.with_name(name) for name in sorted(names)]


def format_report(report: VerifyReport) -> str:
    """Multi-line text for `appliance audit verify`."""
    if report.ok:
        if report.entries == 0:
            return "audit log OK: no entries yet"
        return f"audit log OK: {report.entries} entries, hash chain intact, anchor matches"
    lines = [f"audit log NOT OK ({report.entries} entries checked):"]
    lines += [f"  - {problem}" for problem in report.problems]
    lines.append(
        "The log was altered, truncated or damaged. Keep copies of the log and its anchor "
        "for investigation before appending more."
    )
    return "\n".join(lines)


# -- internals -----------------------------------------------------------------------------


class _Problems:
    def __init__(self) -> None:
        self.listed: list[str] = []
        self.unlisted = 0

    def add(self, problem: str) -> None:
        if len(self.listed) < MAX_PROBLEMS:
            self.listed.append(problem)
        else:
            self.unlisted += 1

    def report(self, entries: int) -> VerifyReport:
        problems = list(self.listed)
        if self.unlisted:
            problems.append(f"... {self.unlisted} more problems not listed")
        return VerifyReport(ok=not problems, entries=entries, problems=problems)


@dataclass
class _Scan:
    """What the scan has seen so far, carried from one segment to the next."""

    lines: int = 0
    max_n: int = 0
    anchored_hash: str | None = None
    anchored_line: int = 0
    prev_hash: str | None = ZERO_HASH  # None: previous line unreadable, chain not checkable
    expected_n: int | None = 1


def _scan_lines(handle: Any, end: int, anchor: _Anchor, problems: _Problems, scan: _Scan,
                label: str | None) -> None:
    """Check lines in bytes [0, end) of one file one at a time; `end` is just after a newline.
    `label` names the file in problems when the log has segments (lines are then counted
    per file)."""
    pos = 0
    local = 0
    handle.seek(0)
    while pos < end:
        raw = handle.readline(end - pos)
        if not raw.endswith(b"\n"):
            problems.add(f"log: changed while being verified (at byte {pos})")
            break
        pos += len(raw)
        scan.lines += 1
        local += 1
        line_no = scan.lines
        where = f"{label} line {local}" if label else f"line {line_no}"
        entry = _parse_entry(raw[:-1])
        if isinstance(entry, str):
            problems.add(f"{where}: {entry}")
            scan.prev_hash = scan.expected_n = None
            continue
        try:
            canonical = canonical_json(entry)
        except ValueError:  # NaN/Infinity, lone surrogates, oversized integers
            canonical = None
        if canonical != raw[:-1]:
            problems.add(f"{where}: not in canonical form (line was edited)")
        try:
            hash_ok = canonical is not None and entry_hash(entry) == entry["hash"]
        except ValueError:
            hash_ok = False
        if not hash_ok:
            problems.add(f"{where}: hash mismatch (entry was altered)")
        n = entry["n"]
        if scan.expected_n is not None and n != scan.expected_n:
            problems.add(f"{where}: sequence number n={n}, expected {scan.expected_n}")
        if scan.prev_hash is not None and entry["prev"] != scan.prev_hash:
            if line_no == 1:
                problems.add(f"{where}: broken chain: prev of the first entry is not 64 zeros")
            elif local == 1:
                problems.add(f"{where}: broken chain: prev does not match the last line of "
                             "the previous segment")
            else:
                problems.add(f"{where}: broken chain: prev does not match line {local - 1}")
        scan.prev_hash, scan.expected_n = entry["hash"], n + 1
        scan.max_n = max(scan.max_n, n)
        if isinstance(anchor, tuple) and n == anchor[0] and scan.anchored_hash is None:
            scan.anchored_hash, scan.anchored_line = entry["hash"], line_no


def _check_anchor(anchor: _Anchor, scan: _Scan, problems: _Problems) -> None:
    if anchor is None:
        if scan.lines:
            problems.add(f"anchor: missing (the log has {scan.lines} entries)")
        return
    if not isinstance(anchor, tuple):  # unusable anchor, already reported
        return
    anchored_n, anchored_hash = anchor
    if scan.anchored_hash is None:
        if scan.max_n < anchored_n:
            problems.add(
                f"anchor: log has {scan.lines} entries but the anchor says {anchored_n} "
                "(entries removed from the end)"
            )
        else:
            problems.add(
                f"anchor: no entry with n={anchored_n} in the log "
                "(the anchored entry was altered or removed)"
            )
    elif scan.anchored_hash != anchored_hash:
        problems.add(
            f"anchor: entry n={anchored_n} (line {scan.anchored_line}) does not have the "
            "anchored hash (log rewritten or anchor edited)"
        )


def _parse_entry(line: bytes) -> dict[str, Any] | str:
    """The entry on `line` (without its newline), or a description of why it is not one."""
    try:
        obj = json.loads(line.decode("utf-8"))
    except (ValueError, RecursionError):
        return "not valid JSON"
    if not isinstance(obj, dict):
        return "not an audit entry (not a JSON object)"
    bad = [
        key
        for key, ok in (
            ("n", _is_seq(obj.get("n"))),
            ("time", isinstance(obj.get("time"), str)),
            ("event", isinstance(obj.get("event"), str)),
            ("prev", _is_hash(obj.get("prev"))),
            ("hash", _is_hash(obj.get("hash"))),
        )
        if not ok
    ]
    if bad:
        return f"not an audit entry (missing or malformed {', '.join(bad)})"
    return obj


def _file_entries(path: Path) -> Iterator[dict[str, Any]]:
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed by the with below
    except FileNotFoundError:
        return
    with handle:
        for line_no, raw in enumerate(handle, start=1):
            if not raw.endswith(b"\n"):
                return
            try:
                obj = json.loads(raw.decode("utf-8"))
            except (ValueError, RecursionError) as exc:
                raise AuditError(f"{path} line {line_no}: not valid JSON") from exc
            if not isinstance(obj, dict):
                raise AuditError(f"{path} line {line_no}: not a JSON object")
            yield obj


def _is_current(fd: int, path: Path) -> bool:
    """Whether `fd` is still the file at `path` (not renamed away to a segment)."""
    held = os.fstat(fd)
    try:
        current = os.stat(path)
    except FileNotFoundError:
        return False
    return (current.st_dev, current.st_ino) == (held.st_dev, held.st_ino)


def _is_seq(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _is_hash(value: object) -> bool:
    return isinstance(value, str) and _HASH_RE.fullmatch(value) is not None


def _seal(n: int, time: str, event: str, fields: dict[str, Any], prev: str) -> dict[str, Any]:
    entry: dict[str, Any] = {**fields, "n": n, "time": time, "event": event, "prev": prev}
    entry["hash"] = entry_hash(entry)
    return entry


def _check_event(event: object) -> None:
    if not isinstance(event, str) or _EVENT_RE.fullmatch(event) is None:
        raise AuditError(
            f"event must be a short code like 'job_printed' ([a-z][a-z0-9_.-]*), got {event!r}"
        )


def _check_fields(fields: dict[str, Any]) -> None:
    clash = sorted(RESERVED_KEYS & fields.keys())
    if clash:
        raise AuditError(f"field names {clash} are reserved for the audit log itself")
    for key, value in fields.items():
        _check_value(value, key)
    try:
        canonical_json(fields)
    except ValueError as exc:  # lone surrogates, integers too long to print
        raise AuditError(f"fields cannot be written as JSON: {exc}") from exc


def _check_value(value: object, where: str) -> None:
    """JSON scalars, lists and string-keyed dicts only: no tuples, sets, bytes, dates, NaN."""
    if value is None or isinstance(value, str | bool | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise AuditError(f"field {where}: {value} is not a JSON number")
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            _check_value(item, f"{where}[{index}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise AuditError(f"field {where}: key {key!r} is not a string")
            _check_value(item, f"{where}.{key}")
        return
    raise AuditError(f"field {where}: {type(value).__name__} is not a JSON value")


def _prepare_tail(fd: int, path: Path) -> tuple[int, str, int]:
    """Under the lock: `(n, hash)` of the last complete line and the size of a torn fragment
    after it, which is truncated away. Reads only the end of the file."""
    size = os.fstat(fd).st_size
    if size == 0:
        return 0, ZERO_HASH, 0
    end = size
    if os.pread(fd, 1, size - 1) != b"\n":
        end = _rfind_newline(fd, size) + 1
    discarded = size - end
    last_n, last_hash = 0, ZERO_HASH
    if end > 0:
        start = _rfind_newline(fd, end - 1) + 1
        entry = _parse_entry(_pread_exact(fd, end - 1 - start, start))
        if isinstance(entry, str):
            raise AuditError(
                f"the last line of {path} is {entry}; refusing to extend a damaged log "
                "(run `appliance audit verify`)"
            )
        last_n, last_hash = entry["n"], entry["hash"]
    if discarded:
        os.ftruncate(fd, end)
    return last_n, last_hash, discarded


def _rfind_newline(fd: int, end: int) -> int:
    """Offset of the last b"\\n" before `end`, or -1; reads backwards in chunks."""
    pos = end
    while pos > 0:
        start = max(0, pos - _TAIL_CHUNK)
        chunk = _pread_exact(fd, pos - start, start)
        index = chunk.rfind(b"\n")
        if index >= 0:
            return start + index
        pos = start
    return -1


def _pread_exact(fd: int, length: int, offset: int) -> bytes:
    parts: list[bytes] = []
    while length > 0:
        part = os.pread(fd, length, offset)
        if not part:
            break
        parts.append(part)
        length -= len(part)
        offset += len(part)
    return b"".join(parts)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
