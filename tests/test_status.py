from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from appliance.core.base.clock import FixedClock, isoformat_utc
from appliance.core.config.settings import ApplianceConfig, Slot, load_appliance_config
from appliance.core.crypto.seal import DocumentEntry, Header
from appliance.core.intake.store import Store, StoredDocument
from appliance.core.watch.status import KindStatus, State, compute_status, overall_state

STOCKHOLM = ZoneInfo("Europe/Stockholm")
UNIT = "Hemtjänst Gröna Dalen"
DOC_TITLE = "Insatser kvällspass Gröna Dalen"
SENDER_FP = "a" * 64


def local(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=STOCKHOLM).astimezone(UTC)


MORNING = local(2026, 11, 27, 6, 50)  # today's list, exported a little before 07:00
AFTER_MORNING_GRACE = local(2026, 11, 27, 7, 45)


class Appliance:
    """A loaded config (defaults: todo due 07:00 and 14:30, 30 min grace) and a real store."""

    def __init__(self, folder: Path, extra_toml: str = "") -> None:
        (folder / "appliance.toml").write_text('[appliance]\nstate_dir = "state"\n' + extra_toml,
                                               encoding="utf-8")
        self.config: ApplianceConfig = load_appliance_config(folder / "appliance.toml")
        self.clock = FixedClock(local(2026, 11, 27, 7, 0))
        self.store = Store(self.config.state_dir, self.clock)
        self.seq = 0

    def receive(self, *docs: tuple[str, datetime]) -> None:
        self.seq += 1
        entries = tuple(
            DocumentEntry(kind=kind, unit=UNIT, title=DOC_TITLE,
                          produced_at=produced, content_type="application/pdf",
                          size=2048, sha256="d" * 64)
            for kind, produced in docs)
        header = Header(version=2, sender=SENDER_FP, recipient="f" * 64, seq=self.seq,
                        created=isoformat_utc(self.clock.now()), suite="x25519")
        self.store.add(b"sealed", header, entries, "kontor-norr", [2] * len(entries))

    def status_at(self, now: datetime):
        return compute_status(self.config, self.store, now)


@pytest.fixture
def app(tmp_path: Path) -> Appliance:
    return Appliance(tmp_path)


# -- the one state --------------------------------------------------------------------------


def test_empty_store_is_no_data(app: Appliance) -> None:
    status = app.status_at(AFTER_MORNING_GRACE)

    assert status.state is State.NO_DATA
    assert all(kind.latest is None for kind in status.kinds.values())
    assert status.kinds["todo"].stale is True
    assert status.kinds["medications"].stale is False


def test_medications_without_the_expected_todo_is_no_data(app: Appliance) -> None:
    app.receive(("medications", MORNING))
    status = app.status_at(AFTER_MORNING_GRACE)

    assert status.state is State.NO_DATA
    assert status.kinds["medications"].latest is not None
    assert status.kinds["todo"].latest is None


def test_fresh_todo_is_ready(app: Appliance) -> None:
    app.receive(("todo", MORNING))
    status = app.status_at(AFTER_MORNING_GRACE)

    assert status.state is State.READY
    assert status.kinds["todo"].stale is False
    assert status.kinds["todo"].latest.produced_at == MORNING


def test_old_kinds_without_slots_do_not_make_it_stale(app: Appliance) -> None:
    app.receive(("todo", MORNING), ("careplan", MORNING - timedelta(days=90)))
    assert app.status_at(AFTER_MORNING_GRACE).state is State.READY


def test_stale_todo_is_stale(app: Appliance) -> None:
    app.receive(("todo", local(2026, 11, 26, 14, 20)))  # yesterday afternoon's
    status = app.status_at(AFTER_MORNING_GRACE)

    assert status.state is State.STALE
    assert status.kinds["todo"].stale is True
    assert status.kinds["todo"].due_slot == local(2026, 11, 27, 7, 0)


def test_yesterdays_list_is_still_ready_within_the_grace(app: Appliance) -> None:
    app.receive(("todo", local(2026, 11, 26, 14, 20)))
    assert app.status_at(local(2026, 11, 27, 7, 20)).state is State.READY


def test_status_goes_by_the_newest_produced_not_the_last_received(app: Appliance) -> None:
    app.receive(("todo", MORNING))
    app.receive(("todo", local(2026, 11, 26, 14, 20)))  # a late re-send of older data
    assert app.status_at(AFTER_MORNING_GRACE).state is State.READY


def test_kind_with_configured_slots_but_no_data_is_no_data(tmp_path: Path) -> None:
    app = Appliance(tmp_path, '[kinds.medications]\nslots = ["08:00"]\n')
    app.receive(("todo", MORNING))

    assert app.status_at(AFTER_MORNING_GRACE).state is State.NO_DATA


SOME_DOCUMENT = StoredDocument(
    snapshot_id="s", position=0, sender="kontor-norr", kind="todo", unit=UNIT,
    produced_at=MORNING, received_at=MORNING, content_type="application/pdf", size=1,
    pages=1)


def _kind(name: str, slots: tuple[Slot, ...], has_data: bool, stale: bool) -> KindStatus:
    latest = SOME_DOCUMENT if has_data else None
    return KindStatus(name, name, slots, latest, stale, None, None)


@pytest.mark.parametrize(
    ("kinds", "state"),
    [
        ([], State.NO_DATA),
        ([("todo", True, False, True)], State.NO_DATA),
        ([("todo", True, True, False), ("other", False, False, False)], State.READY),
        ([("todo", True, True, True), ("other", False, True, False)], State.STALE),
        ([("todo", False, True, False)], State.READY),
        ([("todo", False, False, False), ("other", False, False, False)], State.NO_DATA),
        ([("todo", True, False, True), ("lab", True, True, True)], State.NO_DATA),
    ],
)
def test_overall_state_priorities(kinds: list[tuple], state: State) -> None:
    table = {name: _kind(name, (Slot(7, 0),) if expected else (), has_data, stale)
             for name, expected, has_data, stale in kinds}
    assert overall_state(table.values()) is state


# -- JSON -----------------------------------------------------------------------------------


def test_json_shape_and_values(app: Appliance) -> None:
    app.clock.set(local(2026, 11, 27, 6, 55))
    app.receive(("todo", MORNING))
    now = AFTER_MORNING_GRACE

    body = app.status_at(now).to_json()

    assert body["state"] == "ready"
    assert body["now"] == isoformat_utc(now)
    assert list(body["kinds"]) == list(app.config.kinds)
    todo = body["kinds"]["todo"]
    assert todo == {
        "title": "Att göra-lista",
        "slots": ["07:00", "14:30"],
        "produced_at": "2026-11-27T05:50:00Z",
        "received_at": "2026-11-27T05:55:00Z",
        "age_seconds": 55 * 60,
        "stale": False,
        "due_slot": "2026-11-27T06:00:00Z",
        "next_slot": "2026-11-27T13:30:00Z",
    }
    meds = body["kinds"]["medications"]
    assert meds["produced_at"] is None and meds["received_at"] is None
    assert meds["stale"] is False and meds["slots"] == []
    assert json.loads(json.dumps(body)) == body


def test_json_of_a_stale_kind(app: Appliance) -> None:
    app.receive(("todo", local(2026, 11, 26, 14, 20)))
    body = app.status_at(AFTER_MORNING_GRACE).to_json()

    assert body["state"] == "stale"
    assert body["kinds"]["todo"]["stale"] is True
    assert body["kinds"]["todo"]["produced_at"] == "2026-11-26T13:20:00Z"


def test_json_carries_kind_titles_but_no_unit_or_document_title(app: Appliance) -> None:
    app.receive(*[(kind, MORNING) for kind in app.config.kinds])
    text = json.dumps(app.status_at(AFTER_MORNING_GRACE).to_json(), ensure_ascii=False)

    assert "Att göra-lista" in text and "Läkemedelslista" in text
    assert UNIT not in text
    assert DOC_TITLE not in text
    assert "Gröna Dalen" not in text
    assert "kontor-norr" not in text
