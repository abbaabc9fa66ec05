"""The small JSON state files, one way: versioned, written whole, read strictly.

Small files keep what a process must remember between runs: `agent.json`, `queue.json` and
`planned-outages.json` (the sender), `slot-alerts.json`, `drills.json`, `clock.json`,
`printer-supplies.json`, `print-job.json`, `last-import.json`, `panel.json`, `metrics-tally.json`,
`planned-outages.json` and `selftest.json` (the appliance); the table in
docs/storage-and-audit.md says what each owner does with a damaged one. Each is a
`StateFile`:

- `load()` returns the stored object (without its `version`), or None when there is no file
  yet. Anything else it cannot use is a `StateFileError` that names the file and says what
  to do: not JSON (a torn write by something other than us, a disk error, a hand edit), not
  an object, no or a wrong `version`, or a version from the future (a newer release wrote
  it, then the appliance was rolled back).
- `save(data)` writes the whole file atomically (temp file, fsync, rename, fsync of the
  folder: `fsutil.atomic_write`), with `version` added. A reader never sees half a file.
- `locked()` holds the file's own lock file, when it has one, across processes.
- `set_aside()` moves a damaged file out of the way as `NAME.damaged-<ns>`, kept for IT.

What a caller does with a damaged file is its decision, made visible: `load_or_set_aside()`
moves it aside, logs an error naming both files and starts afresh, for files whose loss
costs a repeated alert or a lost hint, never a patient list. A file from the future is
never set aside or overwritten by `load_or_set_aside()`: the release that wrote it may
come back, and the error says to upgrade or move it aside by hand.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from appliance.core.base.errors import ApplianceError
from appliance.core.base.fsutil import atomic_write, exclusive_lock

log = logging.getLogger(__name__)

REPLACE_ATTEMPTS = 10  # Windows: a reader holding the file open fails a rename briefly
REPLACE_PAUSE_SECONDS = 0.05


class StateFileError(ApplianceError, ValueError):
    """A state file that cannot be used; the message names it and the way out."""

    def __init__(self, path: Path, problem: str, fix: str, *, from_the_future: bool = False):
        super().__init__(f"state file {path}: {problem}; {fix}")
        self.path = path
        self.from_the_future = from_the_future


class StateFile:
    """One JSON object at `path`, format `version`. `unversioned_is` accepts files written
    before the format had a version field as that version (`clock.json`, `print-job.json`
    and `last-import.json` once had none)."""

    def __init__(self, path: Path, version: int = 1, *, mode: int = 0o600,
                 lock_path: Path | None = None, unversioned_is: int | None = None) -> None:
        self.path = Path(path)
        self.version = version
        self.mode = mode
        self.lock_path = lock_path
        self.unversioned_is = unversioned_is

    def load(self) -> dict[str, Any] | None:
        """The stored object, or None if there is no file. Raises `StateFileError`."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StateFileError(self.path, f"unreadable ({exc.strerror})",
                                 "check the disk and the file's owner and mode") from exc
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise StateFileError(self.path, f"not JSON ({_short(exc)}; {len(raw)} bytes)",
                                 "it is damaged; move it aside to start afresh") from exc
        if not isinstance(data, dict):
            raise StateFileError(self.path, f"holds a JSON {type(data).__name__}, not an "
                                 "object", "it is damaged; move it aside to start afresh")
        version = data.pop("version", self.unversioned_is)
        if isinstance(version, bool) or not isinstance(version, int):
            raise StateFileError(self.path, f"has no valid version (got {version!r}, "
                                 f"expected {self.version})",
                                 "it is damaged; move it aside to start afresh")
        if version > self.version:
            raise StateFileError(
                self.path, f"was written by a newer release (format {version}; this one "
                f"reads format {self.version})", "upgrade the software again, or move the "
                "file aside to start afresh (what it holds is then forgotten)",
                from_the_future=True)
        if version != self.version:
            raise StateFileError(self.path, f"has format {version}, which this release no "
                                 f"longer reads (it reads {self.version})",
                                 "move it aside to start afresh")
        return data

    def save(self, data: dict[str, Any]) -> None:
        """Replace the file atomically with `data` and its version."""
        payload = (json.dumps({**data, "version": self.version}, ensure_ascii=False, indent=1,
                              sort_keys=True) + "\n").encode("utf-8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(REPLACE_ATTEMPTS):
            try:
                atomic_write(self.path, payload, mode=self.mode)
                return
            except PermissionError:
                if os.name != "nt" or attempt == REPLACE_ATTEMPTS - 1:
                    raise
                time.sleep(REPLACE_PAUSE_SECONDS)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the file's lock (its `lock_path`) across processes; a no-op without one."""
        if self.lock_path is None:
            yield
            return
        with exclusive_lock(self.lock_path):
            yield

    def set_aside(self) -> Path | None:
        """Move the file to `NAME.damaged-<ns>` next to it; the new path, or None if the
        move failed (logged)."""
        aside = self.path.with_name(f"{self.path.name}.damaged-{time.time_ns()}")
        try:
            os.replace(self.path, aside)
        except OSError as exc:
            log.error("cannot move the damaged state file %s aside: %s", self.path, exc)
            return None
        return aside

    def load_or_set_aside(self, consequence: str) -> dict[str, Any] | None:
        """`load()`, but a damaged file is moved aside and logged as an error with
        `consequence` (what starting afresh costs), and None returned. A file from the
        future still raises: it is not ours to throw away."""
        try:
            return self.load()
        except StateFileError as exc:
            if exc.from_the_future:
                raise
            aside = self.set_aside()
            log.error("%s; moved aside to %s and starting afresh: %s", exc,
                      aside.name if aside else "(not moved)", consequence)
            return None

    def read(self, consequence: str, *, quiet: bool = False) -> dict[str, Any] | None:
        """`load_or_set_aside(consequence)` for the file's owner; for a `quiet` reader (a
        status polled every second, which leaves a damaged file to its owner) `load()`,
        with anything it cannot use read as no file."""
        if not quiet:
            return self.load_or_set_aside(consequence)
        try:
            return self.load()
        except StateFileError:
            return None


def _short(exc: Exception) -> str:
    return str(exc).split(":")[0] if isinstance(exc, json.JSONDecodeError) else type(exc).__name__
