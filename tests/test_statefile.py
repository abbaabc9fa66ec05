"""The small JSON state files (core.base.statefile): written whole even under kill -9, read
strictly, and a damaged or future file refused with a message naming it, never silently
reset. Then each of the eight files, through the component that owns it."""

from __future__ import annotations

import json
import logging
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from appliance.core.base.clock import FixedClock
from appliance.core.base.statefile import StateFile, StateFileError
from appliance.core.intake.importing import last_import
from appliance.core.records.panel_health import READY, read_panel_health, record_panel_health
from appliance.core.time.clock_trust import ClockTrust
from appliance.core.time.drills import DrillState, drill_status, record_drill
from appliance.core.watch.slots import AlertState
from appliance.sender.queue import DeliveryQueue
from appliance.sender.state import AgentState

NOW = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
DAMAGE = {
    "torn": b'{"version": 1, "last_drill_at": "2026-11-2',  # what a non-atomic write leaves
    "empty": b"",
    "not an object": b"[1, 2]",
    "no version": b'{"open": {}}',
    "older version": b'{"version": 0}',
    "binary": b"\xff\xfe\x00garbage",
}
FROM_THE_FUTURE = b'{"version": 99, "what": "a newer release keeps more"}'


def asides(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.name}.damaged-*"))


# -- the helper ------------------------------------------------------------------------------


def test_save_then_load_gives_the_object_back_with_its_version_on_disk(tmp_path):
    state = StateFile(tmp_path / "x.json", 3, mode=0o640)
    assert state.load() is None
    state.save({"a": [1, "två"]})
    assert state.load() == {"a": [1, "två"]}
    assert json.loads(state.path.read_text(encoding="utf-8"))["version"] == 3
    assert state.path.stat().st_mode & 0o777 == 0o640


@pytest.mark.parametrize("damage", DAMAGE, ids=list(DAMAGE))
def test_a_damaged_file_is_refused_naming_it(tmp_path, damage):
    state = StateFile(tmp_path / "x.json")
    state.path.write_bytes(DAMAGE[damage])
    with pytest.raises(StateFileError, match=r"state file .*x\.json: .*move it aside") as err:
        state.load()
    assert not err.value.from_the_future
    assert state.path.read_bytes() == DAMAGE[damage]  # load never touches it


def test_a_file_from_the_future_is_refused_and_never_set_aside(tmp_path, caplog):
    state = StateFile(tmp_path / "x.json")
    state.path.write_bytes(FROM_THE_FUTURE)
    with pytest.raises(StateFileError, match=r"x\.json: was written by a newer release "
                       r"\(format 99; this one reads format 1\); upgrade the software again"):
        state.load_or_set_aside("nothing much")
    assert state.path.read_bytes() == FROM_THE_FUTURE and asides(state.path) == []


def test_load_or_set_aside_keeps_the_damaged_file_for_it_and_says_so(tmp_path, caplog):
    state = StateFile(tmp_path / "x.json")
    state.path.write_bytes(DAMAGE["torn"])
    with caplog.at_level(logging.ERROR):
        assert state.load_or_set_aside("alerts may repeat") is None
    [aside] = asides(state.path)
    assert aside.read_bytes() == DAMAGE["torn"] and not state.path.exists()
    assert f"{state.path}: not JSON" in caplog.text
    assert aside.name in caplog.text and "alerts may repeat" in caplog.text


def test_a_file_from_before_versions_is_read_when_allowed(tmp_path):
    path = tmp_path / "clock.json"
    path.write_text('{"last_trusted": "2026-11-27T06:00:00Z"}')
    assert StateFile(path, unversioned_is=1).load() == {"last_trusted": "2026-11-27T06:00:00Z"}
    with pytest.raises(StateFileError, match="no valid version"):
        StateFile(path).load()


SAVER = """
import sys
from pathlib import Path
from appliance.core.base.statefile import StateFile
state = StateFile(Path(sys.argv[1]))
print("saving", flush=True)
n = 0
while True:
    n += 1
    state.save({"n": n, "padding": "x" * 20000})
"""


def test_kill_9_in_the_middle_of_saving_never_leaves_a_torn_file(tmp_path):
    path = tmp_path / "agent.json"
    for attempt in range(10):
        saver = subprocess.Popen([sys.executable, "-c", SAVER, str(path)],
                                 stdout=subprocess.PIPE, text=True)
        assert saver.stdout.readline() == "saving\n"
        time.sleep(0.02 * (attempt + 1))
        saver.send_signal(signal.SIGKILL)
        saver.wait(timeout=10)
        data = StateFile(path).load()
        assert data is not None and data["n"] >= 1 and len(data["padding"]) == 20000


# -- each file, through its owner ------------------------------------------------------------


def test_agent_and_queue_json_set_a_damaged_file_aside_and_refuse_one_from_the_future(
        tmp_path, caplog):
    for name, load in (("agent.json", AgentState.load), ("queue.json", DeliveryQueue.load)):
        path = tmp_path / name
        path.write_bytes(DAMAGE["torn"])
        with caplog.at_level(logging.ERROR):
            load(tmp_path)  # a fresh start: may send a file twice, never loses one
        assert len(asides(path)) == 1 and "may be sent twice" in caplog.text
        path.write_bytes(FROM_THE_FUTURE)
        with pytest.raises(StateFileError, match=re.escape(name)):
            load(tmp_path)
        assert path.read_bytes() == FROM_THE_FUTURE


def test_slot_alerts_json_damaged_is_set_aside_and_alerts_may_repeat(tmp_path, caplog):
    path = tmp_path / "slot-alerts.json"
    path.write_bytes(DAMAGE["not an object"])
    with caplog.at_level(logging.ERROR):
        assert AlertState.load(path) == AlertState()
    assert len(asides(path)) == 1 and "alerts may repeat" in caplog.text
    path.write_bytes(FROM_THE_FUTURE)
    with pytest.raises(StateFileError, match=r"slot-alerts\.json"):
        AlertState.load(path)


def test_drills_json_from_the_future_stops_recording_but_not_the_status(installation):
    path = installation.state_dir / "drills.json"
    installation.state_dir.mkdir(parents=True, exist_ok=True)
    path.write_bytes(FROM_THE_FUTURE)
    assert drill_status(installation.config, NOW).last_drill_at is None  # status reads on
    with pytest.raises(StateFileError, match=r"drills\.json: was written by a newer release"):
        record_drill(installation.state_dir, NOW)
    assert path.read_bytes() == FROM_THE_FUTURE
    path.write_bytes(DAMAGE["binary"])
    record_drill(installation.state_dir, NOW)  # damaged: set aside, this drill recorded
    assert DrillState.load(path).last_drill_at == NOW and len(asides(path)) == 1


def test_clock_json_damaged_is_warned_once_and_written_again_when_trusted(tmp_path, caplog):
    path = tmp_path / "clock.json"
    path.write_bytes(DAMAGE["empty"])
    clock = FixedClock(NOW)
    trust = ClockTrust(clock, lambda: True, has_rtc=False, state_dir=tmp_path,
                       newest_received=lambda: None)
    with caplog.at_level(logging.WARNING):
        assert trust.last_trusted() is None
        assert trust.last_trusted() is None
    assert caplog.text.count("the last trusted time is not usable") == 1
    trust.read()  # synchronised: trusted, remembered
    assert json.loads(path.read_text()) == {"last_trusted": "2026-11-27T06:00:00Z",
                                            "version": 1}
    clock.set(NOW + timedelta(minutes=10))
    assert trust.last_trusted() == NOW


def test_last_import_json_damaged_reads_as_none_and_an_old_one_still_reads(tmp_path, caplog):
    path = tmp_path / "last-import.json"
    path.write_text('{"accepted": 2, "refused": 0, "ignored": 0, "reasons": {}, "via": "usb",'
                    ' "time": "2026-11-27T06:00:00Z"}')  # as written before versions
    assert last_import(tmp_path)["accepted"] == 2
    path.write_bytes(DAMAGE["torn"])
    with caplog.at_level(logging.ERROR):
        assert last_import(tmp_path) is None
    assert "last-import.json: not JSON" in caplog.text


def test_panel_json_damaged_reads_as_no_record_and_the_next_change_replaces_it(tmp_path):
    path = tmp_path / "panel.json"
    path.write_bytes(DAMAGE["older version"])
    assert read_panel_health(tmp_path) is None
    record_panel_health(tmp_path, READY, NOW)
    assert read_panel_health(tmp_path).gpio == READY


def test_printer_supplies_json_damaged_is_set_aside_and_one_from_the_future_stops_the_check(
        memory_installation, caplog):
    from appliance.core.services import Services
    from appliance.core.watch.supplies_check import SuppliesWatch, supplies_status

    inst = memory_installation
    path = inst.state_dir / "printer-supplies.json"
    watch = SuppliesWatch(Services(inst.config, FixedClock(NOW), printer=inst.printer()), None)
    path.write_bytes(FROM_THE_FUTURE)
    assert supplies_status(inst.config, NOW) is None  # status reads on: not checked yet
    with pytest.raises(StateFileError, match=r"printer-supplies\.json: was written by a newer"):
        watch.evaluate()
    assert path.read_bytes() == FROM_THE_FUTURE
    path.write_bytes(DAMAGE["torn"])
    assert supplies_status(inst.config, NOW) is None
    with caplog.at_level(logging.ERROR):
        assert watch.evaluate().last_attempt_at == NOW  # set aside, checked afresh
    assert len(asides(path)) == 1 and "silence is counted afresh" in caplog.text
    assert supplies_status(inst.config, NOW).printers[0].reading.answered is True
