"""Missed-slot alerts with an injected clock (no real waiting) and a real webhook receiver on
127.0.0.1: one alert per missed slot, one recovery, across restarts and two processes, and
webhook failures retried until delivered once. Also the `appliance jobs` service."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import threading
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from appliance.adapters.webhook import webhook_poster
from appliance.cli.jobs_daemon import run_jobs
from appliance.core.base.clock import FixedClock, isoformat_utc
from appliance.core.intake.ingest import ingest
from appliance.core.records.audit import AuditLog
from appliance.core.services import Services
from appliance.core.watch.slots import STATE_FILE, AlertState, SlotWatch, missed_totals
from tests.conftest import BIN, Installation, free_port, make_installation
from tests.webhook_receiver import WebhookReceiver as Receiver

STOCKHOLM = ZoneInfo("Europe/Stockholm")
MARKER = "Zqxmarkör-Patient-4711"


def local(day: int, hour: int, minute: int) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=STOCKHOLM).astimezone(UTC)


@pytest.fixture
def receiver():
    rec = Receiver(port=free_port())  # the port is known before it listens (see webhook_down)
    yield rec
    rec.stop()


def watch_of(services: Services) -> SlotWatch:
    """A slot watch with the real webhook poster of the configuration, as `appliance jobs`
    builds it."""
    alerts = services.config.alerts
    return SlotWatch(services, webhook_poster(alerts.webhook_url, alerts.timeout_seconds))


class Site:
    """An installation whose webhook points at `url`, watched with a FixedClock."""

    def __init__(self, inst: Installation, start: datetime) -> None:
        self.inst = inst
        self.clock = FixedClock(start)
        self.services = Services(inst.config, self.clock)
        self.watch = watch_of(self.services)

    def receive_todo(self, produced_at: datetime) -> None:
        """The list arrives when it is produced: the clock moves on to then if behind."""
        self.clock.set(max(self.clock.now(), produced_at))
        envelope = self.inst.envelope("todo", produced_at=produced_at, marker=MARKER)
        ingest(self.services, envelope, remote="test")

    def at(self, moment: datetime) -> list[dict]:
        self.clock.set(moment)
        return self.watch.evaluate()

    def restart(self) -> None:
        self.services = Services(self.inst.config, self.clock)
        self.watch = watch_of(self.services)

    def audited(self, *events: str) -> list[dict]:
        log = AuditLog(self.inst.state_dir / "audit.log", self.clock)
        return [entry for entry in log.entries() if entry["event"] in events]


START = local(27, 6, 0)


def make_site(tmp_path, url: str | None, start: datetime = START) -> Site:
    alerts = f'[alerts]\nwebhook_url = "{url}"\ntimeout_seconds = 2\n' if url else ""
    return Site(make_installation(tmp_path, alerts), start)


@pytest.fixture
def site(tmp_path, receiver) -> Site:
    receiver.start()
    return make_site(tmp_path, receiver.url)


# -- the missed-slot rule ------------------------------------------------------------------


def test_a_slot_met_by_a_fresh_export_raises_no_alert(site: Site, receiver: Receiver) -> None:
    site.receive_todo(local(27, 6, 50))  # a little before 07:00 counts

    assert site.at(local(27, 7, 31)) == []
    assert site.at(local(27, 14, 59)) == []
    assert receiver.attempts == 0
    assert site.audited("slot_missed", "slot_recovered") == []
    assert not (site.inst.state_dir / STATE_FILE).exists()  # nothing to remember, no write


def test_one_alert_per_missed_slot_and_one_recovery(site: Site, receiver: Receiver,
                                                    caplog) -> None:
    caplog.set_level(logging.INFO, logger="appliance")
    site.receive_todo(local(27, 6, 50))
    site.at(local(27, 7, 31))

    raised = site.at(local(27, 15, 1))  # 14:30 + 30 min grace passed with no new list
    assert [alert["event"] for alert in raised] == ["slot_missed"]
    state_file = site.inst.state_dir / STATE_FILE
    written = (state_file.stat().st_ino, state_file.stat().st_mtime_ns)
    for _ in range(10):
        site.clock.advance(timedelta(seconds=30))
        assert site.watch.evaluate() == []
    assert (state_file.stat().st_ino, state_file.stat().st_mtime_ns) == written  # no rewrite
    site.restart()  # a new process must not repeat it
    assert site.watch.evaluate() == []
    assert receiver.events() == [("slot_missed", isoformat_utc(local(27, 14, 30)))]

    site.at(local(28, 7, 29))  # within the next slot's grace: nothing new yet
    assert len(receiver.received) == 1
    site.at(local(28, 7, 31))  # the next slot missed too: a second alert
    assert receiver.events()[1] == ("slot_missed", isoformat_utc(local(28, 7, 0)))

    site.clock.set(local(28, 7, 40))
    site.receive_todo(local(28, 7, 35))
    for _ in range(5):
        site.watch.evaluate()
        site.clock.advance(timedelta(seconds=30))
    site.restart()
    site.watch.evaluate()

    assert receiver.events() == [
        ("slot_missed", isoformat_utc(local(27, 14, 30))),
        ("slot_missed", isoformat_utc(local(28, 7, 0))),
        ("slot_recovered", isoformat_utc(local(28, 7, 0))),
    ]
    missed, _, recovered = receiver.received
    assert missed == {
        "event": "slot_missed", "appliance": site.services.config.name, "kind": "todo",
        "unit": None,  # single-unit mode
        "title": "Att göra-lista", "slot": "2026-11-27T13:30:00Z",
        "timezone": "Europe/Stockholm", "newest_produced_at": "2026-11-27T05:50:00Z",
        "detected_at": "2026-11-27T14:01:00Z",
        "message": "No new todo (Att göra-lista) arrived for the 2026-11-27 14:30 "
                   "(Europe/Stockholm) slot; the newest was produced 2026-11-27 06:50 "
                   "(Europe/Stockholm).",
    }
    assert recovered["missed_slots"] == 2
    assert recovered["newest_produced_at"] == isoformat_utc(local(28, 7, 35))
    assert "after 2 missed slot(s)" in recovered["message"]

    assert [(e["event"], e["kind"], e["slot"]) for e in
            site.audited("slot_missed", "slot_recovered")] == [
        ("slot_missed", "todo", "2026-11-27T13:30:00Z"),
        ("slot_missed", "todo", "2026-11-28T06:00:00Z"),
        ("slot_recovered", "todo", "2026-11-28T06:00:00Z"),
    ]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["missed slot: kind todo, slot 2026-11-27T13:30:00Z, newest data "
                        "2026-11-27T05:50:00Z",
                        "missed slot: kind todo, slot 2026-11-28T06:00:00Z, newest data "
                        "2026-11-27T05:50:00Z"]
    assert missed_totals(site.inst.state_dir) == {"todo": 2}
    everything = json.dumps(receiver.received, ensure_ascii=False) + caplog.text
    assert "Patient-4711" not in everything and "Sölvesborg" not in everything


def test_an_empty_appliance_has_missed_its_slot(site: Site, receiver: Receiver) -> None:
    site.at(local(27, 6, 0))  # due slot: yesterday 14:30

    assert receiver.events() == [("slot_missed", isoformat_utc(local(26, 14, 30)))]
    assert receiver.received[0]["newest_produced_at"] is None
    assert "has none at all" in receiver.received[0]["message"]


def test_kinds_without_slots_are_never_alerted(site: Site, receiver: Receiver) -> None:
    site.receive_todo(local(27, 6, 50))
    site.at(local(30, 12, 0))  # days later: todo missed; medications etc. have no slots

    assert {alert["kind"] for alert in receiver.received} == {"todo"}


# -- the webhook -----------------------------------------------------------------------------


def test_webhook_down_is_logged_retried_and_delivered_once(tmp_path, receiver: Receiver,
                                                           caplog) -> None:
    caplog.set_level(logging.INFO, logger="appliance")
    site = make_site(tmp_path, receiver.url)  # nothing listens on the port yet
    site.receive_todo(local(27, 6, 50))

    raised = site.at(local(27, 15, 1))
    assert len(raised) == 1
    assert f"webhook at 127.0.0.1:{receiver.port} unreachable" in caplog.text
    assert len(site.audited("slot_missed")) == 1  # audited whatever the webhook does

    receiver.start()
    site.at(local(27, 15, 1) + timedelta(seconds=30))
    assert receiver.attempts == 0  # retried at most once a minute
    site.at(local(27, 15, 2) + timedelta(seconds=1))
    assert receiver.events() == [("slot_missed", isoformat_utc(local(27, 14, 30)))]
    for minutes in range(3, 8):
        site.at(local(27, 15, minutes))
    site.restart()
    site.watch.evaluate()
    assert receiver.attempts == 1
    assert len(AlertState.load(site.inst.state_dir / STATE_FILE).queue) == 0


def test_an_error_status_is_a_failure_and_order_is_kept(site: Site, receiver: Receiver) -> None:
    receiver.status = 500
    site.receive_todo(local(27, 6, 50))
    site.at(local(27, 15, 1))
    site.clock.set(local(27, 15, 5))
    site.receive_todo(local(27, 15, 4))
    site.watch.evaluate()  # recovered, queued behind the undelivered alert
    assert receiver.attempts == 2 and receiver.received == []

    receiver.status = 200
    site.at(local(27, 15, 7))
    assert [event for event, _ in receiver.events()] == ["slot_missed", "slot_recovered"]


def test_without_a_webhook_alerts_are_logged_and_audited(tmp_path, caplog) -> None:
    site = make_site(tmp_path, None)
    site.receive_todo(local(27, 6, 50))

    assert len(site.at(local(27, 15, 1))) == 1
    assert "missed slot: kind todo" in caplog.text
    assert len(site.audited("slot_missed")) == 1
    assert len(AlertState.load(site.inst.state_dir / STATE_FILE).queue) == 0


def test_two_processes_watching_alert_once(site: Site, receiver: Receiver) -> None:
    site.receive_todo(local(27, 6, 50))
    site.clock.set(local(27, 15, 1))
    watches = [watch_of(Services(site.inst.config, site.clock)) for _ in range(4)]
    start = threading.Barrier(len(watches))

    def run(watch: SlotWatch) -> None:
        start.wait(timeout=10)
        for _ in range(5):
            watch.evaluate()

    threads = [threading.Thread(target=run, args=(watch,)) for watch in watches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert len(receiver.received) == 1
    assert len(site.audited("slot_missed")) == 1
    assert missed_totals(site.inst.state_dir) == {"todo": 1}


def test_a_damaged_state_file_means_a_fresh_start(site: Site, receiver: Receiver) -> None:
    site.receive_todo(local(27, 6, 50))
    site.at(local(27, 15, 1))
    (site.inst.state_dir / STATE_FILE).write_text("{not json")

    site.at(local(27, 15, 2))  # an alert repeated beats one never sent

    assert len(receiver.received) == 2
    [aside] = site.inst.state_dir.glob(f"{STATE_FILE}.damaged-*")  # kept for IT
    assert aside.read_text() == "{not json"


# -- the jobs service -----------------------------------------------------------------------


def test_run_jobs_checks_slots_and_applies_retention_at_once(site: Site,
                                                             receiver: Receiver) -> None:
    october = datetime(2026, 10, 20, 5, 0, tzinfo=STOCKHOLM)
    site.clock.set(october + timedelta(hours=1))
    for minutes in (0, 30, 45):
        site.receive_todo(october + timedelta(minutes=minutes))
    site.clock.set(local(27, 15, 1))  # all past max_age_hours (72); the newest two are kept
    stop = threading.Event()
    thread = threading.Thread(target=run_jobs, args=(site.services, stop))
    thread.start()
    try:
        assert receiver.arrived.wait(timeout=20)
    finally:
        stop.set()
        thread.join(timeout=20)
    assert not thread.is_alive()

    # the same webhook also gets the reminder of a first drill (never drilled: core.time.drills)
    assert [(alert["event"], alert.get("slot")) for alert in receiver.received] == [
        ("slot_missed", isoformat_utc(local(27, 14, 30))), ("drill_due", None)]
    assert len(site.audited("retention_deleted")) == 1
    assert [d.produced_at for d in site.services.store.documents()] == [
        october + timedelta(minutes=45), october + timedelta(minutes=30)]


def test_the_jobs_command_notifies_systemd_and_stops_on_sigterm(tmp_path,
                                                                receiver: Receiver) -> None:
    # The default webhook timeout (10 s), not the 2 s of the other tests: a loaded machine
    # (a fresh container running the suite under faketime) once took longer than 2 s to
    # answer, and the next attempt comes only after RETRY_SECONDS.
    receiver.start()
    inst = make_installation(tmp_path, f'[alerts]\nwebhook_url = "{receiver.url}"\n')
    address = f"appliance-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind("\0" + address)
        notify.settimeout(30)
        process = subprocess.Popen(
            [str(BIN / "appliance"), "--config", str(inst.appliance_toml), "jobs"],
            env={**os.environ, "NOTIFY_SOCKET": "@" + address}, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            assert notify.recv(4096).startswith(b"READY=1")
            arrived = receiver.arrived.wait(timeout=30)  # empty store: todo's slot is missed
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=20)
            assert arrived, output  # what the service logged says why not
        finally:
            process.kill()
        assert notify.recv(4096) == b"STOPPING=1"
    assert process.returncode == 0, output
    assert b"missed slot: kind todo" in output
    assert receiver.received[0]["event"] == "slot_missed"
