from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import stat
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from appliance.core.base.clock import FixedClock, isoformat_utc
from appliance.core.crypto.seal import DocumentEntry, Header
from appliance.core.intake.store import (
    SequenceNotNewer,
    Store,
    StoredSnapshot,
    StoreError,
)

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
FP_A = "a" * 64
FP_B = "b" * 64
RECIPIENT = "f" * 64
UNIT = "Hemsjukvård Norr"

# (kind, unit, produced_at)
Doc = tuple[str, str, datetime]


def entry(kind: str, unit: str, produced: datetime, title: str = "Lista") -> DocumentEntry:
    return DocumentEntry(kind=kind, unit=unit, title=title, produced_at=produced,
                         content_type="application/pdf", size=1234, sha256="c" * 64)


def header(seq: int, *entries: DocumentEntry,
           sender_fp: str = FP_A) -> tuple[Header, tuple[DocumentEntry, ...]]:
    return Header(version=2, sender=sender_fp, recipient=RECIPIENT, seq=seq,
                  created=isoformat_utc(NOW), suite="x25519"), tuple(entries)


class Harness:
    """A store on a fixed clock, with a sequence counter per sender."""

    def __init__(self, state_dir: Path) -> None:
        self.clock = FixedClock(NOW)
        self.store = Store(state_dir, self.clock)
        self.seq: dict[str, int] = {}

    def add(self, *docs: Doc, sender: str = "kontor-a", sender_fp: str = FP_A,
            envelope: bytes | None = None) -> StoredSnapshot:
        """Store one snapshot; received one minute after the previous one."""
        self.seq[sender_fp] = self.seq.get(sender_fp, 0) + 1
        self.clock.advance(timedelta(minutes=1))
        entries = [entry(kind, unit, produced) for kind, unit, produced in docs]
        body = envelope if envelope is not None else f"envelope {self.seq}".encode()
        return self.store.add(body, *header(self.seq[sender_fp], *entries, sender_fp=sender_fp),
                              sender, [1] * len(entries))

    def ids(self) -> set[str]:
        return {snap.id for snap in self.store.snapshots()}

    def files(self) -> set[str]:
        return {path.name for path in self.store.snapshots_dir.iterdir()}


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return Harness(tmp_path / "state")


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


# -- adding and reading back ----------------------------------------------------------------


def test_added_snapshot_reads_back_with_every_field(h: Harness) -> None:
    envelope = b"APLSEAL\n" + bytes(range(256)) * 3
    h.clock.set(NOW)
    hdr = header(7, entry("todo", UNIT, days_ago(0.25), "Att göra kväll"),
                 entry("medications", "Hemsjukvård Syd", days_ago(1), "Läkemedel"))

    snap = h.store.add(envelope, *hdr, "kontor-a", [3, 12])

    assert snap.sender == "kontor-a"
    assert (snap.sender_fp, snap.seq, snap.size) == (FP_A, 7, len(envelope))
    assert snap.created == NOW
    assert snap.received_at == NOW
    assert snap.id.startswith("20261127T120000Z-")
    todo, meds = snap.documents
    assert (todo.position, todo.kind, todo.unit, todo.pages) == (0, "todo", UNIT, 3)
    assert todo.produced_at == days_ago(0.25)
    assert todo.received_at == NOW
    assert (todo.content_type, todo.size) == ("application/pdf", 1234)
    assert not hasattr(todo, "title") and not hasattr(todo, "sha256")  # never in the index
    assert (meds.position, meds.kind, meds.unit, meds.pages) == (
        1, "medications", "Hemsjukvård Syd", 12)
    assert h.store.snapshots() == [snap]
    assert h.store.snapshot(snap.id) == snap
    assert sorted(h.store.documents(), key=lambda d: d.position) == list(snap.documents)
    assert h.store.read_envelope(snap.id) == envelope


def test_snapshot_file_is_the_envelope_exactly_and_mode_0640(h: Harness) -> None:
    envelope = bytes(range(256)) * 40 + b"\x00\xff"
    snap = h.add(("todo", UNIT, days_ago(0)), envelope=envelope)

    path = h.store.snapshot_path(snap.id)
    assert path.read_bytes() == envelope
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert h.files() == {f"{snap.id}.seal"}


def test_documents_are_newest_data_first(h: Harness) -> None:
    h.add(("todo", UNIT, days_ago(2)))
    h.add(("todo", UNIT, days_ago(1)), ("occupancy", UNIT, days_ago(3)))
    h.add(("medications", UNIT, days_ago(1.5)))

    produced = [doc.produced_at for doc in h.store.documents()]
    assert produced == [days_ago(1), days_ago(1.5), days_ago(2), days_ago(3)]


def test_snapshots_are_most_recently_received_first(h: Harness) -> None:
    first = h.add(("todo", UNIT, days_ago(0)))
    second = h.add(("todo", UNIT, days_ago(5)))
    assert [s.id for s in h.store.snapshots()] == [second.id, first.id]


def test_latest_by_kind_goes_by_produced_at_not_by_arrival(h: Harness) -> None:
    newer_data = h.add(("todo", UNIT, days_ago(0.1)))
    h.add(("todo", UNIT, days_ago(0.5)))  # arrives later, but is older data
    meds = h.add(("medications", UNIT, days_ago(3)))

    latest = h.store.latest_by_kind()
    assert set(latest) == {"todo", "medications"}
    assert latest["todo"].snapshot_id == newer_data.id
    assert latest["todo"].produced_at == days_ago(0.1)
    assert latest["medications"].snapshot_id == meds.id


def test_latest_per_unit_and_kind(h: Harness) -> None:
    h.add(("todo", "Norr", days_ago(2)), ("todo", "Syd", days_ago(2)))
    h.add(("todo", "Norr", days_ago(1)))
    h.add(("medications", "Syd", days_ago(4)))
    h.add(("medications", "Syd", days_ago(5)), sender="kontor-b", sender_fp=FP_B)

    latest = {(d.unit, d.kind): d.produced_at for d in h.store.latest_per_unit_and_kind()}
    assert latest == {
        ("Norr", "todo"): days_ago(1),
        ("Syd", "todo"): days_ago(2),
        ("Syd", "medications"): days_ago(4),
    }


def test_empty_store_reads_empty(h: Harness) -> None:
    assert h.store.snapshots() == []
    assert h.store.documents() == []
    assert h.store.latest_by_kind() == {}
    assert h.store.latest_per_unit_and_kind() == []
    assert h.store.last_seq(FP_A) == 0
    with pytest.raises(KeyError):
        h.store.snapshot("20261127T120000Z-000000000000")


def test_missing_envelope_file_is_a_store_error(h: Harness) -> None:
    snap = h.add(("todo", UNIT, days_ago(0)))
    h.store.snapshot_path(snap.id).unlink()
    with pytest.raises(StoreError, match=snap.id):
        h.store.read_envelope(snap.id)


# -- sequence numbers -----------------------------------------------------------------------


def test_last_seq_is_kept_per_sender(h: Harness) -> None:
    h.store.add(b"x", *header(5, entry("todo", UNIT, NOW)), "kontor-a", [1])
    h.store.add(b"y", *header(2, entry("todo", UNIT, NOW), sender_fp=FP_B), "kontor-b", [1])
    h.store.add(b"z", *header(9, entry("todo", UNIT, NOW)), "kontor-a", [1])

    assert h.store.last_seq(FP_A) == 9
    assert h.store.last_seq(FP_B) == 2
    assert h.store.last_seq("e" * 64) == 0


@pytest.mark.parametrize("seq", [5, 4, 1])
def test_sequence_not_above_the_last_is_refused_and_changes_nothing(
    h: Harness, seq: int
) -> None:
    h.store.add(b"first", *header(5, entry("todo", UNIT, days_ago(1))), "kontor-a", [1])
    before = (h.store.snapshots(), h.files())

    with pytest.raises(SequenceNotNewer) as caught:
        h.store.add(b"again", *header(seq, entry("todo", UNIT, NOW)), "kontor-a", [1])

    assert (caught.value.seq, caught.value.last_seq) == (seq, 5)
    assert str(caught.value) == f"sequence {seq} is not newer than 5, the last accepted"
    assert (h.store.snapshots(), h.files()) == before
    assert h.store.last_seq(FP_A) == 5


def test_another_senders_sequence_is_independent(h: Harness) -> None:
    h.store.add(b"a", *header(5, entry("todo", UNIT, NOW)), "kontor-a", [1])
    snap = h.store.add(b"b", *header(1, entry("todo", UNIT, NOW), sender_fp=FP_B), "kontor-b",
                       [1])
    assert snap.seq == 1


# -- crash safety ---------------------------------------------------------------------------


def test_reopening_removes_temp_and_orphan_files_but_keeps_indexed_ones(h: Harness) -> None:
    kept = h.add(("todo", UNIT, days_ago(0)))
    folder = h.store.snapshots_dir
    (folder / ".tmp-abc123").write_bytes(b"half written")
    (folder / "20261127T120500Z-0123456789ab.seal").write_bytes(b"never indexed")

    reopened = Store(h.store.state_dir, h.clock)

    assert h.files() == {f"{kept.id}.seal"}
    assert reopened.read_envelope(kept.id) == h.store.read_envelope(kept.id)
    assert [s.id for s in reopened.snapshots()] == [kept.id]


class _FailingCommit:
    """A connection whose COMMIT fails, like a disk error at the last moment."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def execute(self, sql: str, *args):
        if sql == "COMMIT":
            raise sqlite3.OperationalError("disk I/O error (injected)")
        return self._db.execute(sql, *args)

    def __getattr__(self, name: str):
        return getattr(self._db, name)


def test_failed_index_commit_leaves_no_file_and_no_rows(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    earlier = h.add(("todo", UNIT, days_ago(1)))
    real_connect = Store._connect

    @contextlib.contextmanager
    def failing_connect(self):
        with real_connect(self) as db:
            yield _FailingCommit(db)

    with monkeypatch.context() as patch:
        patch.setattr(Store, "_connect", failing_connect)
        with pytest.raises(StoreError, match="injected"):
            h.store.add(b"lost", *header(2, entry("todo", UNIT, NOW)), "kontor-a", [1])

    assert h.files() == {f"{earlier.id}.seal"}
    assert h.ids() == {earlier.id}
    assert h.store.last_seq(FP_A) == 1
    retried = h.store.add(b"lost", *header(2, entry("todo", UNIT, NOW)), "kontor-a", [1])
    assert h.ids() == {earlier.id, retried.id}


def test_failure_mid_transaction_rolls_back_the_snapshot_row(h: Harness) -> None:
    # two documents but one page count: fails after the snapshot row is inserted
    hdr = header(1, entry("todo", UNIT, NOW), entry("medications", UNIT, NOW))

    with pytest.raises(ValueError):
        h.store.add(b"bad", *hdr, "kontor-a", [1])

    assert h.files() == set()
    assert h.store.snapshots() == []
    assert h.store.documents() == []
    assert h.store.last_seq(FP_A) == 0


def test_index_is_in_wal_mode(h: Harness) -> None:
    h.add(("todo", UNIT, days_ago(0)))
    with contextlib.closing(sqlite3.connect(h.store.index_path)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


# -- health ---------------------------------------------------------------------------------


def test_healthy_store_passes_and_leaves_no_probe(h: Harness) -> None:
    h.add(("todo", UNIT, days_ago(0)))
    before = h.files()
    h.store.check_health()
    assert h.files() == before


def test_unwritable_snapshots_folder_fails_the_health_check(h: Harness) -> None:
    # chmod does not stop root, so the folder is replaced by a file: writes in it fail
    shutil.rmtree(h.store.snapshots_dir)
    h.store.snapshots_dir.write_bytes(b"")

    with pytest.raises(StoreError, match="is not usable"):
        h.store.check_health()


def test_corrupt_index_fails_the_health_check(h: Harness) -> None:
    h.store.index_path.write_bytes(b"this is not an SQLite database" * 100)
    with pytest.raises(StoreError, match=str(h.store.state_dir)):
        h.store.check_health()


def test_health_check_survives_a_store_opened_meanwhile(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write_bytes = Path.write_bytes

    def write_then_other_process_opens(self: Path, data: bytes) -> int:
        written = real_write_bytes(self, data)
        if self.name.startswith(".tmp-health"):
            Store(h.store.state_dir, h.clock)  # what `appliance status` does on start
        return written

    monkeypatch.setattr(Path, "write_bytes", write_then_other_process_opens)
    h.store.check_health()


def test_store_that_cannot_be_created_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "state"
    blocker.write_bytes(b"a file where the folder should be")
    with pytest.raises(StoreError, match="cannot open the store"):
        Store(blocker, FixedClock(NOW))


# -- retention ------------------------------------------------------------------------------

KEEP = 2  # the defaults: the newest and the one before it, and anything younger than 72 h
MAX_AGE = timedelta(hours=72)


def retain(h: Harness, keep: int = KEEP, max_age: timedelta = MAX_AGE) -> set[str]:
    gone = h.store.apply_retention(keep, max_age)
    return {snap.id for snap in gone}


def test_keeps_the_newest_two_of_each_unit_and_kind_whatever_their_age(h: Harness) -> None:
    todos = [h.add(("todo", UNIT, days_ago(d))) for d in (10, 8, 6, 5)]
    meds = h.add(("medications", UNIT, days_ago(9)))

    assert retain(h) == {todos[0].id, todos[1].id}
    assert h.ids() == {todos[2].id, todos[3].id, meds.id}


def test_everything_younger_than_max_age_is_kept_and_older_goes(h: Harness) -> None:
    hours = (80, 71, 48, 24, 12, 1)
    todos = [h.add(("todo", UNIT, NOW - timedelta(hours=n))) for n in hours]

    assert retain(h) == {todos[0].id}
    assert h.ids() == {snap.id for snap in todos[1:]}


def test_the_newest_two_count_over_all_senders_of_the_unit(h: Harness) -> None:
    own = [h.add(("todo", UNIT, days_ago(d))) for d in (10, 8)]
    other = h.add(("todo", UNIT, days_ago(6)), sender="kontor-b", sender_fp=FP_B)

    assert retain(h) == {own[0].id}
    assert h.ids() == {own[1].id, other.id}


def test_a_snapshot_with_several_units_counts_once_for_each(h: Harness) -> None:
    snaps = [h.add(("todo", "Norr", days_ago(d)), ("todo", "Syd", days_ago(d)))
             for d in (5, 4, 3)]

    assert retain(h) == {snaps[0].id}
    assert h.ids() == {snaps[1].id, snaps[2].id}


def test_rank_goes_by_produced_at_not_arrival(h: Harness) -> None:
    late_old = [h.add(("todo", UNIT, days_ago(d))) for d in (4, 5, 6)]
    assert retain(h) == {late_old[2].id}


def test_newest_of_a_unit_and_kind_survives_a_long_outage(h: Harness) -> None:
    snaps = [h.add(("todo", UNIT, days_ago(d))) for d in (50, 45, 40)]

    assert retain(h) == {snaps[0].id}
    assert h.ids() == {snaps[1].id, snaps[2].id}

    h.clock.advance(timedelta(days=365))
    assert retain(h, keep=1, max_age=timedelta(hours=1)) == {snaps[1].id}
    assert retain(h, keep=1, max_age=timedelta(hours=1)) == set()
    assert h.ids() == {snaps[2].id}
    assert h.store.read_envelope(snaps[2].id)


def test_snapshot_with_two_kinds_lives_while_either_document_is_kept(h: Harness) -> None:
    both = h.add(("todo", UNIT, days_ago(5)), ("medications", UNIT, days_ago(5)))
    newer_todos = [h.add(("todo", UNIT, days_ago(d))) for d in (4, 3)]

    assert retain(h, keep=1) == {newer_todos[0].id}
    assert both.id in h.ids()  # its medications list is still the newest of its kind

    newer_meds = h.add(("medications", UNIT, days_ago(4)))
    assert retain(h, keep=1) == {both.id}
    assert h.ids() == {newer_todos[1].id, newer_meds.id}


def test_retention_returns_what_it_deleted_and_removes_the_files(h: Harness) -> None:
    snaps = [h.add(("todo", UNIT, days_ago(d))) for d in (5, 4, 3)]

    gone = h.store.apply_retention(1, MAX_AGE)

    assert sorted(s.id for s in gone) == sorted([snaps[0].id, snaps[1].id])
    assert {s.id: s for s in gone} == {s.id: s for s in snaps[:2]}
    for snap in gone:
        assert not h.store.snapshot_path(snap.id).exists()
        with pytest.raises(StoreError):
            h.store.read_envelope(snap.id)
    assert h.files() == {f"{snaps[2].id}.seal"}
    assert {d.snapshot_id for d in h.store.documents()} == {snaps[2].id}
    assert h.store.apply_retention(1, MAX_AGE) == []


def test_retention_keeps_the_sequence_so_deleted_snapshots_cannot_be_replayed(
    h: Harness,
) -> None:
    h.add(("todo", UNIT, days_ago(40)))
    h.add(("todo", UNIT, days_ago(2)), sender="kontor-b", sender_fp=FP_B)
    h.add(("todo", UNIT, days_ago(1)), sender="kontor-b", sender_fp=FP_B)

    retain(h)

    assert {s.sender for s in h.store.snapshots()} == {"kontor-b"}
    assert h.store.last_seq(FP_A) == 1
    with pytest.raises(SequenceNotNewer):
        h.store.add(b"replay", *header(1, entry("todo", UNIT, days_ago(40))), "kontor-a", [1])


def test_retention_on_an_empty_store_does_nothing(h: Harness) -> None:
    assert h.store.apply_retention(1, timedelta(days=1)) == []


_DOCS = st.lists(
    st.tuples(st.sampled_from(["todo", "medications"]), st.sampled_from(["Norr", "Syd"]),
              st.integers(min_value=0, max_value=8)),
    min_size=1, max_size=3,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(snapshots=[(False, [("todo", "Norr", 30)]), (False, [("todo", "Norr", 1)])], keep=2)
@given(snapshots=st.lists(st.tuples(st.booleans(), _DOCS), min_size=1, max_size=8),
       keep=st.integers(min_value=1, max_value=3))
def test_retention_invariants(snapshots: list[tuple[bool, list]], keep: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        h = Harness(Path(directory))
        for from_b, docs in snapshots:
            fp, name = (FP_B, "kontor-b") if from_b else (FP_A, "kontor-a")
            h.add(*[(k, u, days_ago(d)) for k, u, d in docs], sender=name, sender_fp=fp)
        documents = h.store.documents()
        before = h.ids()
        newest = {(d.unit, d.kind): d.produced_at for d in h.store.latest_per_unit_and_kind()}

        deleted = retain(h, keep=keep)

        assert deleted | h.ids() == before and not deleted & h.ids()
        assert h.files() == {f"{i}.seal" for i in h.ids()}
        # the newest data of every unit and kind is still there
        after = {(d.unit, d.kind): d.produced_at for d in h.store.latest_per_unit_and_kind()}
        assert after == newest
        # a snapshot goes exactly when none of its documents is young or among the newest
        # `keep` of its unit and kind
        cutoff = h.clock.now() - MAX_AGE
        kept = {doc.snapshot_id for doc in documents
                if doc.produced_at >= cutoff
                or [d for d in documents if (d.unit, d.kind) == (doc.unit, doc.kind)
                    ].index(doc) < keep}
        assert deleted == before - kept
        assert retain(h, keep=keep) == set()


def _wal_files(store: Store) -> dict[str, tuple[int, int]]:
    """(inode, ctime) of the index's -wal and -shm; a missing file raises."""
    found = {}
    for suffix in ("-wal", "-shm"):
        info = os.stat(f"{store.index_path}{suffix}")
        found[suffix] = (info.st_ino, info.st_ctime_ns)
    return found


def test_reads_neither_create_nor_delete_the_wal_files(h: Harness) -> None:
    """The card-wear problem of bench/sqlite_churn.py: with a connection per operation and
    none kept, every read created and unlinked `-wal` and `-shm` (a file system journal
    commit for each). The store's idle connection keeps them, untouched."""
    h.add(("todo", UNIT, days_ago(0.1)))
    before = _wal_files(h.store)
    for _ in range(5):
        h.store.documents()
        h.store.latest_per_unit_and_kind()
        h.store.last_seq(FP_A)
    assert _wal_files(h.store)["-wal"][0] == before["-wal"][0]
    assert _wal_files(h.store)["-shm"][0] == before["-shm"][0]


def test_a_write_leaves_the_index_whole_and_the_wal_empty(h: Harness) -> None:
    for day in range(3):
        h.add(("todo", UNIT, days_ago(day)))
    assert os.path.getsize(f"{h.store.index_path}-wal") == 0
    # The index alone, copied without its -wal, holds every snapshot: nothing waits in
    # the WAL for a checkpoint that a power cut could postpone.
    copy = h.store.index_path.with_name("copy.sqlite3")
    copy.write_bytes(h.store.index_path.read_bytes())
    with contextlib.closing(sqlite3.connect(copy)) as db:
        assert db.execute("SELECT count(*) FROM snapshots").fetchone()[0] == 3


def test_a_forked_child_opens_its_own_connection_and_leaves_the_parents(h: Harness) -> None:
    h.add(("todo", UNIT, days_ago(0.1)))
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: a gunicorn worker forked from a parent that had a store
        try:
            os.close(reader)
            os.write(writer, str(len(h.store.documents())).encode())
        finally:
            os._exit(0)
    os.close(writer)
    with os.fdopen(reader, "rb") as pipe:
        answer = pipe.read()
    os.waitpid(pid, 0)
    assert answer == b"1"
    h.add(("medications", UNIT, days_ago(0.1)))  # the parent's connections still work
    assert len(h.store.documents()) == 2
