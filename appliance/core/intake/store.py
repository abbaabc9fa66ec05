"""Sealed snapshots on disk plus a SQLite index of what they hold.

The file is the envelope exactly as received: plaintext never touches the disk. The index
holds what freshness, retention and the kit need without decrypting (each document's kind,
unit, production time, size and pages), taken from the manifest that ingest decrypted; it
keeps no title and no hash (docs/storage-and-audit.md, "What the index holds"). Every
change takes an exclusive lock on `store.lock`, so web workers and the CLI can share one
store. Order of writes makes a crash at any moment recoverable:

- ingest: envelope file (temp, fsync, rename, fsync dir) first, then the index commit;
- deletion: index commit first, then the file. The commit also journals each deleted
  snapshot (`deletions_to_audit`), and a journal row goes only once the caller's audit
  entry for it is written: a crash in between leaves the row, audited at the next
  retention run.

So after a crash the only possible disagreement is a file with no index row, and
`reconcile()` (run when the store opens) removes it together with any temp file. The
snapshot was never acknowledged to its sender, which will send it again.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from appliance.core.base.clock import Clock, isoformat_utc, parse_iso
from appliance.core.base.errors import ApplianceError
from appliance.core.base.fsutil import TEMP_PREFIX, atomic_write, fsync_dir
from appliance.core.crypto.seal import DocumentEntry, Header

SNAPSHOT_SUFFIX = ".seal"
SCHEMA = """
CREATE TABLE IF NOT EXISTS snapshots (
    id TEXT PRIMARY KEY,
    sender TEXT NOT NULL,
    sender_fp TEXT NOT NULL,
    seq INTEGER NOT NULL,
    created TEXT NOT NULL,
    received_at TEXT NOT NULL,
    size INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS documents (
    snapshot_id TEXT NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    kind TEXT NOT NULL,
    unit TEXT NOT NULL,
    produced_at TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    pages INTEGER NOT NULL,
    PRIMARY KEY (snapshot_id, position)
);
CREATE INDEX IF NOT EXISTS documents_by_kind ON documents(kind, produced_at);
CREATE TABLE IF NOT EXISTS sender_sequence (
    sender_fp TEXT PRIMARY KEY,
    last_seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sender_name_sequence (
    sender TEXT PRIMARY KEY,
    last_seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS deletions_to_audit (
    snapshot_id TEXT PRIMARY KEY,
    sender TEXT NOT NULL,
    kinds TEXT NOT NULL,
    units TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS unconfigured_units (
    unit TEXT PRIMARY KEY,
    since TEXT NOT NULL
);
"""


class StoreError(ApplianceError, OSError):
    """The store cannot be read or written (disk, permissions, corrupt index)."""


class SequenceNotNewer(ApplianceError, ValueError):
    """A snapshot's sequence number is not above the last one accepted from its sender."""

    def __init__(self, seq: int, last_seq: int) -> None:
        self.seq, self.last_seq = seq, last_seq
        super().__init__(f"sequence {seq} is not newer than {last_seq}, the last accepted")


@dataclass(frozen=True)
class Deletion:
    """A snapshot retention deleted, as its audit entry describes it."""

    snapshot_id: str
    sender: str
    kinds: tuple[str, ...]
    units: tuple[str, ...]
    delayed: bool
    """Deleted by an earlier run whose audit entry was never written (a crash, a full disk)."""


AuditDeletion = Callable[[Deletion], None]


@dataclass(frozen=True)
class StoredDocument:
    snapshot_id: str
    position: int  # 0-based place in the snapshot's manifest
    sender: str
    kind: str
    unit: str
    produced_at: datetime
    received_at: datetime
    content_type: str
    size: int
    pages: int


@dataclass(frozen=True)
class StoredSnapshot:
    id: str
    sender: str
    sender_fp: str
    seq: int
    created: datetime
    received_at: datetime
    size: int
    documents: tuple[StoredDocument, ...]


# Keepers inherited across a fork: held, never used or closed, in the child.
_KEEPERS_OF_OTHER_PROCESSES: list[sqlite3.Connection] = []


class Store:
    def __init__(self, state_dir: Path, clock: Clock) -> None:
        self.state_dir = Path(state_dir)
        self.snapshots_dir = self.state_dir / "snapshots"
        self.index_path = self.state_dir / "index.sqlite3"
        self.lock_path = self.state_dir / "store.lock"
        self.clock = clock
        self._keeper: sqlite3.Connection | None = None
        self._keeper_pid: int | None = None
        try:
            self.snapshots_dir.mkdir(parents=True, exist_ok=True)
            with self._locked(), self._connect() as db:
                db.executescript(SCHEMA)
                self._reconcile(db)
            self._hold_index_open()
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the store in {self.state_dir}: {exc}") from exc

    # ------------------------------------------------------------ plumbing

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection for one operation. One that wrote empties the WAL into the index
        before it closes (`wal_checkpoint(TRUNCATE)`), as the close of the last connection
        did before `_hold_index_open`: the index is whole at rest, and the -wal small. A
        checkpoint that cannot finish (a reader, a full disk) leaves the committed
        transactions in the WAL, where they are as safe; the next writer tries again."""
        if self._keeper_pid is not None:  # None: the schema is being made (__init__)
            self._hold_index_open()
        db = sqlite3.connect(self.index_path, timeout=30, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")  # a 201 means the snapshot survives power loss
            db.execute("PRAGMA foreign_keys=ON")
            db.row_factory = sqlite3.Row
            yield db
            if db.total_changes:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            db.close()

    def _hold_index_open(self) -> None:
        """Keep one idle connection to the index open for this store's life, per process.

        SQLite deletes `index.sqlite3-wal` and `-shm` when the last connection to the index
        closes, and the next connection creates them again. With a connection per
        operation that was a create and an unlink of two files on every call: for the
        panel's status once a second, 620 MB a day of file system journal written to the
        card, measured on ext4 (bench/sqlite_churn.py; the data pages themselves never got
        there). A connection that has read once holds both files open, so they persist and
        every other connection reuses them. It runs no statement after that one read.

        A connection must not cross a fork (SQLite's rule): a process that finds another
        process's keeper leaves it alone, never closing it, and opens its own."""
        if self._keeper_pid == os.getpid():
            return
        if self._keeper is not None:
            _KEEPERS_OF_OTHER_PROCESSES.append(self._keeper)
        keeper = sqlite3.connect(self.index_path, timeout=30, check_same_thread=False)
        try:
            keeper.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.Error:
            keeper.close()
            raise
        self._keeper, self._keeper_pid = keeper, os.getpid()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.lock_path, "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def snapshot_path(self, snapshot_id: str) -> Path:
        return self.snapshots_dir / f"{snapshot_id}{SNAPSHOT_SUFFIX}"

    def _reconcile(self, db: sqlite3.Connection) -> list[str]:
        """Remove temp files and envelope files the index does not know (crash leftovers)."""
        known = {row["id"] for row in db.execute("SELECT id FROM snapshots")}
        removed = []
        for path in self.snapshots_dir.iterdir():
            orphan = path.suffix == SNAPSHOT_SUFFIX and path.stem not in known
            if path.name.startswith(TEMP_PREFIX) or orphan:
                path.unlink(missing_ok=True)
                removed.append(path.name)
        if removed:
            fsync_dir(self.snapshots_dir)
        return removed

    # ------------------------------------------------------------ writing

    def add(self, envelope: bytes, header: Header, entries: tuple[DocumentEntry, ...],
            sender: str, pages: list[int]) -> StoredSnapshot:
        """Store an envelope that ingest has fully verified, indexed by its decrypted
        manifest `entries`. Atomic: all or nothing."""
        received = self.clock.now()
        snapshot_id = f"{received.strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:12]}"
        path = self.snapshot_path(snapshot_id)
        with self._locked(), self._connect() as db:
            last = self._last_seq(db, header.sender, sender)
            if header.seq <= last:
                raise SequenceNotNewer(header.seq, last)
            atomic_write(path, envelope, mode=0o640)
            try:
                db.execute("BEGIN IMMEDIATE")
                db.execute(
                    "INSERT INTO snapshots VALUES (?,?,?,?,?,?,?)",
                    # `created` as one canonical UTC form, not as the sender spelt it
                    (snapshot_id, sender, header.sender, header.seq,
                     isoformat_utc(parse_iso(header.created)),
                     isoformat_utc(received), len(envelope)),
                )
                db.executemany(
                    "INSERT INTO documents VALUES (?,?,?,?,?,?,?,?)",
                    [(snapshot_id, position, d.kind, d.unit, isoformat_utc(d.produced_at),
                      d.content_type, d.size, count)
                     for position, (d, count) in enumerate(zip(entries, pages, strict=True))],
                )
                db.execute(
                    "INSERT INTO sender_sequence VALUES (?, ?) ON CONFLICT(sender_fp) "
                    "DO UPDATE SET last_seq = excluded.last_seq",
                    (header.sender, header.seq),
                )
                db.execute(
                    "INSERT INTO sender_name_sequence VALUES (?, ?) ON CONFLICT(sender) "
                    "DO UPDATE SET last_seq = excluded.last_seq",
                    (sender, header.seq),
                )
                db.execute("COMMIT")
            except BaseException as exc:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
                path.unlink(missing_ok=True)
                if isinstance(exc, sqlite3.Error):
                    raise StoreError(f"cannot index snapshot {snapshot_id}: {exc}") from exc
                raise
        return self.snapshot(snapshot_id)

    def apply_retention(self, keep_per_unit_kind: int, max_age: timedelta,
                        units: tuple[str, ...] = (),
                        unit_grace: timedelta = timedelta(0), *,
                        audit: AuditDeletion | None = None) -> list[StoredSnapshot]:
        """Delete snapshots none of whose documents is worth keeping; return what went.

        A document is kept when it is among the newest `keep_per_unit_kind` of its unit and
        kind (from any sender), whatever its age: in a weeks-long outage those old lists
        are all there is; and any document produced less than `max_age` ago. With
        configured `units`, a unit not among them keeps nothing once `unit_grace` has passed
        since retention first found it unconfigured.

        Each deletion is journalled in the transaction that makes it, and `audit` is called
        for it (first for any an earlier run left unaudited) before the journal forgets it,
        all under the store's lock: every deletion is audited, also across a crash. If
        `audit` raises, the rest stay journalled for the next run.
        """
        now = self.clock.now()
        with self._locked():
            self._audit_deletions(audit, delayed=True)
            documents = self.documents()
            expired = self._units_past_grace({doc.unit for doc in documents}, units, now,
                                             unit_grace)
            keep_ids = _kept_snapshot_ids(documents, keep_per_unit_kind, now - max_age,
                                          expired)
            doomed = [snap for snap in self.snapshots() if snap.id not in keep_ids]
            if doomed:
                with self._connect() as db:
                    db.execute("BEGIN IMMEDIATE")
                    db.executemany("INSERT INTO deletions_to_audit VALUES (?,?,?,?)",
                                   [_journal_row(snap) for snap in doomed])
                    db.executemany("DELETE FROM snapshots WHERE id = ?",
                                   [(snap.id,) for snap in doomed])
                    db.execute("COMMIT")
                for snap in doomed:
                    self.snapshot_path(snap.id).unlink(missing_ok=True)
                fsync_dir(self.snapshots_dir)
                self._audit_deletions(audit, delayed=False)
        return doomed

    def _audit_deletions(self, audit: AuditDeletion | None, *, delayed: bool) -> None:
        """Hand every journalled deletion to `audit`, oldest first, forgetting each once
        its entry is written. Only while holding the store's lock."""
        if audit is None:
            return
        with self._connect() as db:
            rows = db.execute("SELECT * FROM deletions_to_audit ORDER BY rowid").fetchall()
            for row in rows:
                audit(Deletion(row["snapshot_id"], row["sender"],
                               tuple(json.loads(row["kinds"])), tuple(json.loads(row["units"])),
                               delayed))
                db.execute("DELETE FROM deletions_to_audit WHERE snapshot_id = ?",
                           (row["snapshot_id"],))

    def _units_past_grace(self, present: set[str], configured: tuple[str, ...],
                          now: datetime, grace: timedelta) -> set[str]:
        """Stored units that are not configured and have not been for `grace`. When each was
        first found unconfigured is kept in the index, so the grace period counts from the
        configuration change, not from the data's age, and survives restarts; a unit
        configured again (or single-unit mode, no `configured`) forgets it. Only while
        holding the store's lock."""
        unconfigured = present - set(configured) if configured else set()
        with self._connect() as db:
            since = {row["unit"]: parse_iso(row["since"])
                     for row in db.execute("SELECT unit, since FROM unconfigured_units")}
            new = unconfigured - since.keys()
            forgotten = since.keys() - unconfigured
            if new or forgotten:
                db.execute("BEGIN IMMEDIATE")
                db.executemany("DELETE FROM unconfigured_units WHERE unit = ?",
                               [(unit,) for unit in forgotten])
                db.executemany("INSERT INTO unconfigured_units VALUES (?, ?)",
                               [(unit, isoformat_utc(now)) for unit in new])
                db.execute("COMMIT")
        return {unit for unit in unconfigured if since.get(unit, now) + grace <= now}

    # ------------------------------------------------------------ reading

    def last_seq(self, sender_fp: str, sender: str | None = None) -> int:
        """The last sequence number accepted from key `sender_fp` or, given its enrolled
        name, from `sender` under any key: replay protection survives a sender's key
        rotation (docs/sender.md, "Rotating a sender's key")."""
        with self._connect() as db:
            return self._last_seq(db, sender_fp, sender)

    def newest_received_at(self) -> datetime | None:
        """When the most recent snapshot still stored arrived, by the appliance's clock: a
        lower bound on now (`clock_trust`). Read-only, without `_connect`'s pragmas, so that
        it works on a full disk whatever else has happened to the WAL files there
        (tests/test_full_disk.py)."""
        uri = f"{self.index_path.as_uri()}?mode=ro"
        try:
            with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=30)) as db:
                row = db.execute("SELECT MAX(received_at) FROM snapshots").fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the store in {self.state_dir}: {exc}") from exc
        return parse_iso(row[0]) if row[0] else None

    @staticmethod
    def _last_seq(db: sqlite3.Connection, sender_fp: str, sender: str | None = None) -> int:
        row = db.execute(
            "SELECT MAX(last_seq) AS last_seq FROM (SELECT last_seq FROM sender_sequence "
            "WHERE sender_fp = ? UNION ALL SELECT last_seq FROM sender_name_sequence "
            "WHERE sender = ?)", (sender_fp, sender)).fetchone()
        return row["last_seq"] or 0

    def documents(self) -> list[StoredDocument]:
        """Every stored document, newest data first."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT d.*, s.sender, s.received_at FROM documents d "
                "JOIN snapshots s ON s.id = d.snapshot_id "
                # rowid = arrival order, finer than received_at's whole seconds
                "ORDER BY d.produced_at DESC, s.rowid DESC, d.position"
            ).fetchall()
        return [_document(row) for row in rows]

    def snapshots(self) -> list[StoredSnapshot]:
        """Every stored snapshot, most recently received first."""
        by_snapshot: dict[str, list[StoredDocument]] = {}
        for doc in self.documents():
            by_snapshot.setdefault(doc.snapshot_id, []).append(doc)
        with self._connect() as db:
            rows = db.execute("SELECT * FROM snapshots ORDER BY rowid DESC")
            return [_snapshot(row, by_snapshot.get(row["id"], [])) for row in rows]

    def snapshot(self, snapshot_id: str) -> StoredSnapshot:
        for snap in self.snapshots():
            if snap.id == snapshot_id:
                return snap
        raise KeyError(snapshot_id)

    def latest_by_kind(self) -> dict[str, StoredDocument]:
        """The newest document of each kind (by the time the record system produced it)."""
        return {doc.kind: doc for doc in _newest_per(self.documents(), ("kind",))}

    def latest_per_unit_and_kind(self) -> list[StoredDocument]:
        return _newest_per(self.documents(), ("unit", "kind"))

    def read_envelope(self, snapshot_id: str) -> bytes:
        try:
            return self.snapshot_path(snapshot_id).read_bytes()
        except OSError as exc:
            raise StoreError(f"snapshot {snapshot_id} cannot be read: {exc.strerror}") from exc

    # ------------------------------------------------------------ health

    def free_bytes(self) -> int:
        return shutil.disk_usage(self.state_dir).free

    def check_health(self) -> None:
        """Raise StoreError unless the index can be read and the folder written."""
        try:
            with self._connect() as db:
                db.execute("SELECT count(*) FROM snapshots").fetchone()
            probe = self.snapshots_dir / f"{TEMP_PREFIX}health-{os.getpid()}"
            probe.write_bytes(b"ok")
            probe.unlink(missing_ok=True)  # another process's reconcile may have taken it
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"store in {self.state_dir} is not usable: {exc}") from exc


def _kept_snapshot_ids(documents: list[StoredDocument], keep_per_group: int,
                       cutoff: datetime, expired_units: set[str]) -> set[str]:
    """The retention rule's choice (see `Store.apply_retention`); `documents` newest first."""
    keep_ids = set()
    ranks: dict[tuple[str, str], int] = {}
    for doc in documents:
        if doc.unit in expired_units:
            continue
        group = (doc.unit, doc.kind)
        ranks[group] = ranks.get(group, 0) + 1
        if ranks[group] <= keep_per_group or doc.produced_at >= cutoff:
            keep_ids.add(doc.snapshot_id)
    return keep_ids


def _newest_per(documents: list[StoredDocument], key: tuple[str, ...]) -> list[StoredDocument]:
    """The first (newest) document of each group; `documents` must be newest first."""
    seen: dict[tuple, StoredDocument] = {}
    for doc in documents:
        seen.setdefault(tuple(getattr(doc, name) for name in key), doc)
    return list(seen.values())


def _journal_row(snap: StoredSnapshot) -> tuple[str, str, str, str]:
    return (snap.id, snap.sender, json.dumps(sorted({d.kind for d in snap.documents})),
            json.dumps(sorted({d.unit for d in snap.documents}), ensure_ascii=False))


def _time(row: sqlite3.Row, column: str, snapshot_id: str) -> datetime:
    """A time of the index; one its reader cannot parse (written by a version before the
    four-digit fix, or by hand) names the snapshot instead of ending in a traceback."""
    try:
        return parse_iso(row[column])
    except (TypeError, ValueError) as exc:
        raise StoreError(f"index: snapshot {snapshot_id} has an unreadable {column} "
                         f"{row[column]!r}; call IT: the snapshot must be removed from the index "
                         "and re-sent (docs/storage-and-audit.md)") from exc


def _document(row: sqlite3.Row) -> StoredDocument:
    snapshot_id = row["snapshot_id"]
    return StoredDocument(
        snapshot_id=snapshot_id, position=row["position"], sender=row["sender"],
        kind=row["kind"], unit=row["unit"],
        produced_at=_time(row, "produced_at", snapshot_id),
        received_at=_time(row, "received_at", snapshot_id),
        content_type=row["content_type"], size=row["size"], pages=row["pages"],
    )


def _snapshot(row: sqlite3.Row, documents: list[StoredDocument]) -> StoredSnapshot:
    return StoredSnapshot(
        id=row["id"], sender=row["sender"], sender_fp=row["sender_fp"], seq=row["seq"],
        created=_time(row, "created", row["id"]), received_at=_time(row, "received_at", row["id"]),
        size=row["size"], documents=tuple(sorted(documents, key=lambda d: d.position)),
    )
