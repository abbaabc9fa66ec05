"""The outbox folder: which exports are in it, what kind each is, and which are complete.

The record system's print-to-PDF lands here. A file is mapped to a document by the first
`[[outbox.rules]]` glob that matches its name (case-insensitively, the same on Windows and
Linux). It is *ready* once its size and modification time (in nanoseconds) have not changed
for `stable_seconds`, measured with the injected clock across scans, and it can be opened
and read: on Windows a file still being written is often locked, which reads as
PermissionError and means "not yet". Empty files are never ready.

Only the top level of the folder is looked at. Hidden files (`.name`) and Office lock files
(`~$name`) are skipped silently. File names of exports may contain patient names, so
nothing here logs one: logs say the kind, or the extension of an unmatched file.
"""

from __future__ import annotations

import hashlib
import logging
import stat as stat_module
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from pathlib import Path

from appliance.core.base.clock import Clock
from appliance.core.config.settings import OutboxConfig, OutboxRule

log = logging.getLogger("appliance.sender")
READ_CHUNK = 1024 * 1024


def match_rule(name: str, rules: tuple[OutboxRule, ...]) -> OutboxRule | None:
    folded = name.casefold()
    return next((rule for rule in rules if fnmatchcase(folded, rule.glob.casefold())), None)


def mtime_datetime(mtime_ns: int) -> datetime:
    return datetime.fromtimestamp(mtime_ns / 1e9, UTC)


@dataclass(frozen=True)
class ExportFile:
    """A complete export: what it is, and which version (by content hash)."""

    name: str
    path: Path
    rule: OutboxRule
    size: int
    mtime_ns: int
    sha256: str

    @property
    def produced_at(self) -> datetime:
        """The record system wrote it when it was last modified."""
        return mtime_datetime(self.mtime_ns)


@dataclass
class Scan:
    ready: list[ExportFile] = field(default_factory=list)  # oldest first
    settling: dict[str, int] = field(default_factory=dict)  # kind -> files not yet complete
    newest: dict[str, datetime] = field(default_factory=dict)  # kind -> newest mtime, any state
    present: set[str] | None = None  # every name in the folder; None: it could not be listed
    unmatched: int = 0


@dataclass
class _Seen:
    signature: tuple[int, int]  # size, mtime_ns
    since: datetime  # when this signature was first seen


class Outbox:
    def __init__(self, config: OutboxConfig, clock: Clock) -> None:
        if config.dir is None:
            raise ValueError("outbox.dir is not set")
        self.folder = Path(config.dir)
        self.config = config
        self.clock = clock
        self._seen: dict[str, _Seen] = {}
        self._hashes: dict[str, tuple[tuple[int, int], str]] = {}
        self._reported_unmatched: set[str] = set()
        self._folder_problem: str | None = None

    def scan(self) -> Scan:
        scan = Scan()
        try:
            names = sorted(path.name for path in self.folder.iterdir())
        except OSError as exc:
            self._report_folder_problem(type(exc).__name__)
            return scan
        self._report_folder_problem(None)
        scan.present = set(names)
        for name in names:
            if name.startswith((".", "~$")):
                continue
            rule = match_rule(name, self.config.rules)
            if rule is None:
                if (self.folder / name).is_file():
                    scan.unmatched += 1
                    self._note_unmatched(name)
                continue
            self._look_at(name, rule, scan)
        for table in (self._seen, self._hashes):
            for name in set(table) - scan.present:
                del table[name]
        self._reported_unmatched &= scan.present
        scan.ready.sort(key=lambda export: (export.mtime_ns, export.name))
        return scan

    def _look_at(self, name: str, rule: OutboxRule, scan: Scan) -> None:
        path = self.folder / name
        try:
            stat = path.stat()
        except FileNotFoundError:
            return  # gone since the listing
        except OSError as exc:
            log.warning("a %s export cannot be examined (%s); trying again next pass",
                        rule.kind, type(exc).__name__)
            return
        if not stat_module.S_ISREG(stat.st_mode):
            return
        signature = (stat.st_size, stat.st_mtime_ns)
        produced = mtime_datetime(stat.st_mtime_ns)
        scan.newest[rule.kind] = max(produced, scan.newest.get(rule.kind, produced))
        export = self._complete(name, path, rule, signature)
        if export is None:
            scan.settling[rule.kind] = scan.settling.get(rule.kind, 0) + 1
        else:
            scan.ready.append(export)

    def _complete(self, name: str, path: Path, rule: OutboxRule,
                  signature: tuple[int, int]) -> ExportFile | None:
        now = self.clock.now()
        seen = self._seen.get(name)
        if seen is None or seen.signature != signature:
            self._seen[name] = seen = _Seen(signature, now)
        if signature[0] == 0 or (now - seen.since).total_seconds() < self.config.stable_seconds:
            return None
        sha256 = self._hash(name, path, rule, signature)
        if sha256 is None:
            return None
        return ExportFile(name, path, rule, signature[0], signature[1], sha256)

    def _hash(self, name: str, path: Path, rule: OutboxRule,
              signature: tuple[int, int]) -> str | None:
        cached = self._hashes.get(name)
        if cached and cached[0] == signature:
            return cached[1]
        digest = hashlib.sha256()
        try:
            with open(path, "rb") as handle:
                while chunk := handle.read(READ_CHUNK):
                    digest.update(chunk)
            after = path.stat()
        except (PermissionError, FileNotFoundError):
            return None  # locked by the writer (Windows) or gone: not ready
        except OSError as exc:
            log.warning("a %s export cannot be read (%s); trying again next pass",
                        rule.kind, type(exc).__name__)
            return None
        if (after.st_size, after.st_mtime_ns) != signature:
            return None  # written to while we read it; the next scan starts the wait again
        self._hashes[name] = (signature, digest.hexdigest())
        return digest.hexdigest()

    def _note_unmatched(self, name: str) -> None:
        if name not in self._reported_unmatched:
            self._reported_unmatched.add(name)
            suffix = Path(name).suffix.lower() or "(no extension)"
            log.warning("a file in the outbox (%s) matches no [[outbox.rules]] glob and is "
                        "ignored", suffix)

    def _report_folder_problem(self, problem: str | None) -> None:
        if problem and problem != self._folder_problem:
            log.error("the outbox folder %s cannot be listed (%s); nothing is sent until it "
                      "can", self.folder, problem)
        elif problem is None and self._folder_problem:
            log.info("the outbox folder %s can be listed again", self.folder)
        self._folder_problem = problem
