"""One kit in flight, across every process that can print.

The panel daemon, the web service (the kiosk) and `appliance print` are separate
processes, so the guard lives on disk, in the state directory:

- `print.lock` is held with `flock` while one caller composes and submits a kit. Another
  caller does not wait for it: a kit is on its way. The kernel drops the lock when its
  holder dies, so a crash mid-compose never leaves the guard stuck, and no process has to
  judge whether another is still alive.
- `print-job.json` names the job last handed to the printer (id, profile, trigger, when).
  It is read, written and cleared only under a second lock, `print-record.lock`, held for
  milliseconds (waited for, never refused), so exactly one caller sees a job end and audits
  it, whoever started the job — and a poll that reads the record never makes a press look
  like a second kit.

POSIX only (`fcntl`): the guard runs on the appliance, never on a Windows sender.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from appliance.core.base.clock import isoformat_utc, parse_iso
from appliance.core.base.statefile import StateFile, StateFileError

log = logging.getLogger(__name__)

COMPOSE_LOCK_NAME = "print.lock"
RECORD_LOCK_NAME = "print-record.lock"
RECORD_NAME = "print-job.json"


@dataclass(frozen=True)
class SubmittedJob:
    """The job last handed to the printer, as recorded for every process to see."""

    job_id: int
    profile: str
    trigger: str
    started_at: datetime
    drill: bool = False  # an outage drill (print_service)

    def to_json(self) -> dict:
        return asdict(self) | {"started_at": isoformat_utc(self.started_at)}

    @classmethod
    def from_json(cls, data: dict) -> SubmittedJob:
        return cls(int(data["job_id"]), str(data["profile"]), str(data["trigger"]),
                   parse_iso(data["started_at"]), data.get("drill") is True)


@dataclass(frozen=True)
class GuardRecord:
    job: SubmittedJob | None  # None once its end has been seen and audited
    last_started_at: datetime | None  # for the repeat guard, kept after the job ends


class PrintGuard:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)
        self.compose_lock_path = self.state_dir / COMPOSE_LOCK_NAME
        self.record_lock_path = self.state_dir / RECORD_LOCK_NAME
        self.record_path = self.state_dir / RECORD_NAME
        # written before it had a version, hence unversioned_is
        self._state = StateFile(self.record_path, mode=0o600, unversioned_is=1)

    @contextlib.contextmanager
    def composing(self) -> Iterator[bool]:
        """Try to become the one caller composing a kit, without waiting: yields True if
        this caller is, False if another (this process or another) is composing one now."""
        with self._flock(self.compose_lock_path, wait=False) as held:
            yield held

    def someone_composing(self) -> bool:
        with self._flock(self.compose_lock_path, wait=False) as held:
            return not held

    @contextlib.contextmanager
    def record_lock(self) -> Iterator[None]:
        """For reading and changing the record; held briefly, so callers wait for it."""
        with self._flock(self.record_lock_path, wait=True):
            yield

    @contextlib.contextmanager
    def _flock(self, path: Path, *, wait: bool) -> Iterator[bool]:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)  # closing the only descriptor releases the lock

    def read(self) -> GuardRecord:
        """The record, only while holding `record_lock`. A damaged one (edited, a disk
        error, or one a newer release wrote) is moved aside with an error logged and counts
        as empty: a damaged file can never block printing."""
        try:
            data = self._state.load()
        except StateFileError as exc:
            aside = self._state.set_aside()
            log.error("%s; moved aside to %s: the next kit does not wait for its job", exc,
                      aside.name if aside else "(not moved)")
            data = None
        try:
            job = SubmittedJob.from_json(data["job"]) if data and data.get("job") else None
            last = data.get("last_started_at") if data else None
            return GuardRecord(job, parse_iso(last) if last else None)
        except (ValueError, KeyError, TypeError):
            log.error("print record %s holds no usable job; it counts as empty",
                      self.record_path)
            return GuardRecord(None, None)

    def write(self, record: GuardRecord) -> None:
        """Only while holding `record_lock`."""
        self._state.save({"job": record.job.to_json() if record.job else None,
                          "last_started_at": isoformat_utc(record.last_started_at)
                          if record.last_started_at else None})
