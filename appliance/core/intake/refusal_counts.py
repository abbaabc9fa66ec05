"""Refusals of requests nobody has authenticated, counted instead of logged one line each.

Anyone on the LAN can send garbage: one audit line per garbage POST filled a disk at about
21 GiB a day. So a refusal that happens before a signature has been verified (the reasons
in `UNVERIFIED`) only adds one to a small shared file, `audit.counts` next to the audit
log, and the audit log gets one `refusals_counted` entry per reason per window: the
number, the window's first and last refusal, the busiest client addresses and the first
message (capped). A window is written out once it is `WINDOW` old, at the next refusal,
`/metrics` scrape or `appliance jobs` tick after that, whichever comes first.

Several processes count at once (gunicorn workers, the CLI): each holds an exclusive
`flock` on the file while it reads, adds and writes, and the one that finds the window
due writes it out under the same lock, so no count is lost or written twice between
processes. The file has a fixed size and is rewritten in place: counting on a full disk
needs no new block.

Crash safety: each count is written to the file before the refusal is answered, without
fsync (the page cache survives a kill -9; a power cut may lose the window in progress).
A window is cleared from the file before its audit entries are written, and put back if
writing them fails (a full disk): a crash between the two loses that window's counts,
at most about a minute of them, and never counts them twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from appliance.core.base.clock import Clock, isoformat_utc, parse_iso
from appliance.core.base.safe_text import bounded_text
from appliance.core.records.audit import AuditError, AuditLog

if TYPE_CHECKING:
    from appliance.core.services import Services

log = logging.getLogger(__name__)

UNVERIFIED = frozenset({"unsupported_media_type", "too_large", "malformed", "unknown_sender",
                        "bad_signature"})
"""Reasons given before any signature has been verified: anyone can cause them."""
EVENT = "refusals_counted"
WINDOW = timedelta(minutes=1)
FILE_NAME = "audit.counts"
FILE_SIZE = 16 * 1024  # fixed: rewritten in place, never grows
MAX_REMOTES = 8  # busiest addresses listed per reason; the rest are summed
MAX_REMOTE_CHARS = 64
MAX_MESSAGE_CHARS = 200


class RefusalCounts:
    """The shared counts of one state dir and the audit log their windows are written to."""

    def __init__(self, state_dir: Path, audit: AuditLog, clock: Clock) -> None:
        self.path = Path(state_dir) / FILE_NAME
        self._audit = audit
        self._clock = clock

    @classmethod
    def of(cls, services: Services) -> RefusalCounts:
        return cls(services.config.state_dir, services.audit, services.clock)

    def add(self, reason: str, message: str, remote: str) -> None:
        """Count one refusal; write out the window if it is due. Never raises: a refusal is
        answered even when it cannot be counted (logged)."""
        try:
            with self._held() as window:
                window.add(reason, message, remote, self._clock.now())
        except OSError as exc:
            log.error("could not count a %s refusal in %s: %s", reason, self.path, exc)

    def flush_due(self) -> None:
        """Write out the window if it is due (the jobs service calls this every tick)."""
        with self._held():
            pass

    @contextlib.contextmanager
    def pending(self) -> Iterator[Counter[str]]:
        """The counts not yet written to the audit log, by reason; while the block runs
        no process writes a window out, so a reader of the audit log can add both exactly."""
        with self._held() as window:
            yield Counter({reason: item["count"] for reason, item in window.reasons.items()})

    @contextlib.contextmanager
    def _held(self) -> Iterator[_Window]:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            window = _Window.read(fd)
            window = self._write_out_if_due(fd, window)
            before = window.encode()
            yield window
            after = window.encode()
            if after != before or os.fstat(fd).st_size != FILE_SIZE:
                _write(fd, after)  # the first use gives the file its full size
        finally:
            os.close(fd)  # releases the lock

    def _write_out_if_due(self, fd: int, window: _Window) -> _Window:
        now = self._clock.now()
        if not window.reasons or now - window.since < WINDOW:
            return window
        _write(fd, _Window().encode())  # cleared first: a crash loses, never repeats
        unwritten = dict(window.reasons)
        try:
            for reason in sorted(window.reasons):
                self._audit.append(EVENT, reason=reason, **window.reasons[reason],
                                   until=isoformat_utc(now))
                del unwritten[reason]
        except AuditError as exc:
            log.error("could not write counted refusals to the audit log (kept for the "
                      "next try): %s", exc)
            kept = _Window(window.since, unwritten)
            _write(fd, kept.encode())
            return kept
        return _Window()


class _Window:
    """The counts since `since`: per reason `count`, `since`, `last`, `remotes`,
    `other_remotes` and the first `message`, exactly as the audit entry will carry them."""

    def __init__(self, since: datetime | None = None,
                 reasons: dict[str, dict[str, Any]] | None = None) -> None:
        self.since = since
        self.reasons = reasons or {}

    @classmethod
    def read(cls, fd: int) -> _Window:
        raw = os.pread(fd, FILE_SIZE, 0).rstrip(b" \n\0")
        if not raw:
            return cls()
        try:
            data = json.loads(raw)
            return cls(parse_iso(data["since"]), data["reasons"])
        except (ValueError, KeyError, TypeError):
            log.error("counted refusals file is damaged; starting a new window")
            return cls()

    def add(self, reason: str, message: str, remote: str, now: datetime) -> None:
        if self.since is None:
            self.since = now
        item = self.reasons.setdefault(reason, {
            "count": 0, "since": isoformat_utc(now), "remotes": {}, "other_remotes": 0,
            "message": bounded_text(message, MAX_MESSAGE_CHARS)})
        item["count"] += 1
        item["last"] = isoformat_utc(now)
        remote = bounded_text(remote, MAX_REMOTE_CHARS)
        remotes = item["remotes"]
        if remote in remotes or len(remotes) < MAX_REMOTES:
            remotes[remote] = remotes.get(remote, 0) + 1
        else:
            item["other_remotes"] += 1

    def encode(self) -> bytes:
        if not self.reasons:
            return b""
        data = json.dumps({"since": isoformat_utc(self.since), "reasons": self.reasons},
                          sort_keys=True, separators=(",", ":")).encode()
        if len(data) > FILE_SIZE:  # cannot happen with the caps above; never lose a count
            raise AuditError(f"counted refusals need {len(data)} bytes, more than {FILE_SIZE}")
        return data


def _write(fd: int, data: bytes) -> None:
    """Rewrite the fixed-size file in place (padded with spaces): no new block is needed
    once it exists, so counting keeps working on a full disk."""
    padded = data.ljust(FILE_SIZE, b" ")
    if os.pwrite(fd, padded, 0) != FILE_SIZE:
        raise OSError("short write to the counted refusals file")
