"""Retention with the default settings (issue 13 §3): per unit and kind the newest and the one
before it stay whatever their age, everything else goes once 72 h old; each deletion takes the
envelope and its index rows and is audited. Real installation, injected clock."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

from appliance.core.base.clock import FixedClock
from appliance.core.intake.ingest import ingest
from appliance.core.intake.retention import apply_retention
from appliance.core.records.audit import AuditLog
from appliance.core.services import Services
from tests.conftest import make_installation

START = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)


def index_rows(inst, table: str, column: str) -> set[str]:
    db = sqlite3.connect(f"file:{inst.state_dir / 'index.sqlite3'}?mode=ro", uri=True)
    try:
        return {row[0] for row in db.execute(f"SELECT {column} FROM {table}")}
    finally:
        db.close()


def receive(inst, clock: FixedClock, kind: str, produced_at: datetime) -> str:
    """The export arrives when it is produced, as a sender's would."""
    clock.set(produced_at)
    return ingest(Services(inst.config, clock), inst.envelope(kind, produced_at=produced_at),
                  remote="test").id


def test_defaults_keep_the_newest_two_and_the_last_72_hours(tmp_path) -> None:
    inst = make_installation(tmp_path)
    config = inst.config
    assert (config.keep_per_unit_kind, config.max_age_hours) == (2, 72)
    clock = FixedClock(START)
    todos = [receive(inst, clock, "todo", START + timedelta(hours=h)) for h in (0, 8, 16, 24)]
    meds = receive(inst, clock, "medications", START)  # alone of its kind, however old

    clock.set(START + timedelta(hours=95))  # the first three are past 72 h, the last is not
    services = Services(config, clock)
    gone = apply_retention(services)

    assert {snap.id for snap in gone} == {todos[0], todos[1]}
    kept = {todos[2], todos[3], meds}
    assert index_rows(inst, "snapshots", "id") == kept
    assert index_rows(inst, "documents", "snapshot_id") == kept
    assert {p.stem for p in (inst.state_dir / "snapshots").iterdir()} == kept
    audited = [e for e in AuditLog(inst.state_dir / "audit.log", clock).entries()
               if e["event"] == "retention_deleted"]
    assert sorted(e["snapshot"] for e in audited) == sorted([todos[0], todos[1]])
    assert all(e["kinds"] == ["todo"] and "delayed" not in e for e in audited)

    clock.set(START + timedelta(days=400))  # a long outage: the newest two stay
    assert apply_retention(services) == []
    assert index_rows(inst, "snapshots", "id") == kept


def test_within_72_hours_nothing_is_deleted_however_many_arrive(tmp_path) -> None:
    inst = make_installation(tmp_path)
    clock = FixedClock(START)
    todos = [receive(inst, clock, "todo", START + timedelta(hours=h)) for h in range(0, 72, 12)]

    clock.set(START + timedelta(hours=71, minutes=59))
    assert apply_retention(Services(inst.config, clock)) == []
    assert index_rows(inst, "snapshots", "id") == set(todos)

    clock.set(START + timedelta(hours=72, minutes=1))  # the first is now past 72 h
    assert [snap.id for snap in apply_retention(Services(inst.config, clock))] == [todos[0]]
