"""SIGKILL the whole server at random moments during a stream of ingests; after each
restart the index and the files agree, no partial file is visible, and the newest
snapshot opens."""

from __future__ import annotations

import fcntl
import os
import random
import signal
import sqlite3
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta

from appliance.core.base.clock import SystemClock
from appliance.core.crypto import keys, seal
from appliance.core.intake.pdf import PdfLimits, count_pages
from appliance.core.intake.retention import apply_retention
from appliance.core.intake.store import Store
from appliance.core.records.audit import AuditLog
from appliance.core.services import Services
from appliance.core.time.drills import record_drill
from tests.conftest import BIN, Server, make_installation, post

ROUNDS = 8


def pusher(url: str, envelopes: list[bytes], stop: threading.Event, accepted: list[str]):
    for body in envelopes:
        if stop.is_set():
            return
        try:
            status, reply = post(url, body, timeout=10)
        except OSError:
            return  # the server died under us: expected
        if status == 201:
            accepted.append(reply["id"])


def index_ids(inst) -> set[str]:
    db = sqlite3.connect(f"file:{inst.state_dir / 'index.sqlite3'}?mode=ro", uri=True)
    try:
        return {row[0] for row in db.execute("SELECT id FROM snapshots")}
    finally:
        db.close()


def test_sigkill_during_ingests_leaves_a_consistent_store(tmp_path):
    # retention off the table: every acknowledged snapshot must still be there at the end
    installation = make_installation(tmp_path, "[retention]\nkeep_per_unit_kind = 10000\n")
    rng = random.Random(20261127)
    private = keys.parse_appliance_private_pem(
        (installation.state_dir / "keys" / "appliance.key").read_bytes(), "key")
    all_accepted: list[str] = []
    for _ in range(ROUNDS):
        envelopes = [installation.envelope(pages=rng.randint(1, 3)) for _ in range(12)]
        server = Server(installation).start()
        stop, accepted = threading.Event(), []
        thread = threading.Thread(target=pusher, args=(server.url + "/api/v1/snapshots",
                                                       envelopes, stop, accepted))
        thread.start()
        time.sleep(rng.uniform(0.02, 0.6))
        server.kill()
        stop.set()
        thread.join(timeout=30)
        all_accepted += accepted

        restarted = Server(installation).start()  # reconciles on start
        restarted.stop()
        files = {p.name for p in (installation.state_dir / "snapshots").iterdir()}
        ids = index_ids(installation)
        assert not [name for name in files if name.startswith(".tmp-")]
        assert files == {f"{snapshot_id}.seal" for snapshot_id in ids}
        assert set(all_accepted) <= ids, "an acknowledged snapshot was lost"

    store = Store(installation.state_dir, SystemClock())
    newest = store.snapshots()[0]
    documents = seal.decrypt(seal.parse(store.read_envelope(newest.id), 10**9), private)
    limits = PdfLimits.of(installation.config)
    assert count_pages(documents[0].content, limits) == newest.documents[0].pages
    assert len(all_accepted) > 0


def audit_events(inst, event: str) -> list[dict]:
    return [e for e in AuditLog(inst.state_dir / "audit.log", SystemClock()).entries()
            if e["event"] == event]


def test_a_retention_deletion_killed_before_its_audit_entry_is_audited_later(tmp_path):
    """kill -9 `appliance jobs` after its retention committed a deletion but before the
    audit entry: the audit log is held locked by the test, so the process stops exactly
    there. The next retention run must write the missing entry."""
    inst = make_installation(tmp_path)
    text = inst.appliance_toml.read_text()  # no slots: the slot check has nothing to audit
    inst.appliance_toml.write_text(text.replace('slots = ["07:00", "14:30"]', "slots = []"))
    older = inst.ingest(inst.envelope(produced_at=datetime.now(UTC) - timedelta(hours=2)))
    newer = inst.ingest(inst.envelope(produced_at=datetime.now(UTC) - timedelta(hours=1)))
    with open(inst.appliance_toml, "a", encoding="utf-8") as handle:
        handle.write("\n[retention]\nkeep_per_unit_kind = 1\nmax_age_hours = 1\n")
    record_drill(inst.state_dir, datetime.now(UTC))  # no drill reminder to audit first

    with open(inst.state_dir / "audit.log", "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        jobs = subprocess.Popen([str(BIN / "appliance"), "--config", str(inst.appliance_toml),
                                 "jobs"], start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while older.id in index_ids(inst):
                assert jobs.poll() is None and time.monotonic() < deadline
                time.sleep(0.02)
        finally:
            os.killpg(jobs.pid, signal.SIGKILL)
            jobs.wait(10)
    assert index_ids(inst) == {newer.id}
    assert not audit_events(inst, "retention_deleted")  # the crash came first

    apply_retention(Services(inst.config))  # the next run: an ingest or the daily job
    [entry] = audit_events(inst, "retention_deleted")
    assert (entry["snapshot"], entry["sender"], entry["kinds"], entry.get("delayed")) == (
        older.id, "kontor-norr", ["todo"], True)
    apply_retention(Services(inst.config))
    assert len(audit_events(inst, "retention_deleted")) == 1  # written once, not again
    assert AuditLog(inst.state_dir / "audit.log", SystemClock()).verify().ok
