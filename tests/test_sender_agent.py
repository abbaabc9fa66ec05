"""The sender agent (`appliance-sender run/sync/status`) against real appliance servers.

Time is a FixedClock moved by hand: no test waits for real time. Appliances are real
gunicorn servers on 127.0.0.1 (tests.conftest.Server); the webhook receiver is a tiny
http.server in a thread.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from appliance.core.base.clock import FixedClock, isoformat_utc
from appliance.core.config.settings import load_sender_config
from appliance.devtools.synthetic import make_document
from appliance.sender import outbox as outbox_module
from appliance.sender.agent import Agent, run_forever
from appliance.sender.client import PushResult
from appliance.sender.queue import backoff_seconds
from appliance.sender.report import sender_status
from tests.conftest import Installation, Server, free_port, make_installation
from tests.webhook_receiver import WebhookReceiver

TZ = ZoneInfo("Europe/Stockholm")
STABLE = 5  # outbox.stable_seconds in these tests
RETRY_INITIAL = 30
ALERT_KEY = ("event", "kind", "slot")


# Taken once, when the module is imported: a run that crosses midnight (test-clock starts
# 30 s before the year's end) must not see "yesterday" change between two calls of a test.
YESTERDAY = datetime.now(TZ).date() - timedelta(days=1)


def local(hour: int, minute: int = 0, days: int = 0) -> datetime:
    """Yesterday (in Stockholm, as of the run's start) at HH:MM local time, as UTC: always
    in the past, so the appliance (on the real clock) never refuses it as produced in the
    future (`ingest.max_clock_skew_minutes`), and recent, so its retention (by age) leaves
    the test's documents alone."""
    day = YESTERDAY + timedelta(days=days)
    return datetime.combine(day, time(hour, minute), tzinfo=TZ).astimezone(UTC)


# ---------------------------------------------------------------- set-up helpers


@dataclass
class Site:
    """One office PC (sender with an outbox) and its appliances, each a real server."""

    root: Path
    sender: Installation  # also appliance "jourrum"
    appliances: dict[str, Installation]
    servers: dict[str, Server] = field(default_factory=dict)

    @property
    def outbox(self) -> Path:
        return self.root / "outbox"

    @property
    def config(self):
        return load_sender_config(self.sender.sender_toml)

    def agent(self, clock: FixedClock, **kwargs) -> Agent:
        return Agent(self.config, clock, **kwargs)

    def snapshots(self, name: str) -> list[dict]:
        """What appliance NAME holds from this sender, oldest sequence number first."""
        rows = json.loads(self.appliances[name].appliance("snapshots", "--json").output)
        return sorted(rows, key=lambda row: row["seq"])

    def refusals(self, name: str) -> list[dict]:
        audit = self.appliances[name].state_dir / "audit.log"
        return [entry for entry in map(json.loads, audit.read_text().splitlines())
                if entry["event"] == "refused"]


def write_sender_toml(site: Site, *, after_delivery: str = "keep", stable: float = STABLE,
                      webhook: str | None = None, required: str = '"todo"',
                      outbox: bool = True) -> None:
    outbox_section = f"""
[outbox]
dir = "{site.outbox.as_posix()}"
stable_seconds = {stable}
poll_seconds = 2
after_delivery = "{after_delivery}"

[[outbox.rules]]
glob = "todo*.pdf"
kind = "todo"

[[outbox.rules]]
glob = "lakemedel*.pdf"
kind = "medications"
unit = "Hemsjukvård Mjällby"
""" if outbox else ""
    site.sender.sender_toml.write_text(f"""
[sender]
name = "kontor-norr"
unit = "Hemsjukvård Sölvesborg"
state_dir = "state"
appliances_dir = "appliances"

[push]
timeout_seconds = 10
retry_initial_seconds = {RETRY_INITIAL}
retry_max_seconds = 600
{outbox_section}
[schedule]
slots = ["07:00", "14:30"]
grace_minutes = 30
required_kinds = [{required}]
timezone = "Europe/Stockholm"

[alerts]
webhook_url = "{webhook or ''}"
undelivered_warn_minutes = 60
""", encoding="utf-8")


@pytest.fixture
def make_site(tmp_path):
    sites: list[Site] = []

    def make(*names: str, start: bool = True, **config) -> Site:
        names = names or ("jourrum",)
        sender = make_installation(tmp_path / names[0])
        site = Site(tmp_path, sender, {names[0]: sender})
        for name in names[1:]:  # further appliances enrol the same sender key
            other = make_installation(tmp_path / name)
            other.appliance("senders", "remove", "kontor-norr")
            other.appliance("senders", "add", "kontor-norr",
                            str(tmp_path / names[0] / "sender.pub"))
            site.appliances[name] = other
        sites.append(site)
        for name, inst in site.appliances.items():
            site.servers[name] = server = Server(inst)
            if start:
                server.start()
            pub = tmp_path / f"{name}.pub"
            pub.write_text(inst.appliance("pubkey").output)
            sender.sender_cli("appliances", "add", name, server.url, str(pub))
        site.outbox.mkdir()
        write_sender_toml(site, **config)
        return site

    yield make
    for site in sites:
        for server in site.servers.values():
            server.stop()


def offline_site(tmp_path: Path, **config) -> Site:
    """A sender whose only appliance ("nere") never answers: nothing to start."""
    sender = make_installation(tmp_path / "pc")
    site = Site(tmp_path, sender, {})
    pub = tmp_path / "nere.pub"
    pub.write_text(sender.appliance("pubkey").output)
    sender.sender_cli("appliances", "add", "nere", f"http://127.0.0.1:{free_port()}", str(pub))
    site.outbox.mkdir()
    write_sender_toml(site, **config)
    return site


def export(site: Site, name: str, produced: datetime, *, pages: int = 2, kind: str = "todo",
           content: bytes | None = None) -> Path:
    """An export landing in the outbox, modified (= produced) at `produced`."""
    path = site.outbox / name
    path.write_bytes(content if content is not None else
                     make_document(kind, produced_at=produced, pages=pages, marker=name))
    set_mtime(path, produced)
    return path


def set_mtime(path: Path, moment: datetime) -> None:
    ns = int(moment.timestamp()) * 10**9
    os.utime(path, ns=(ns, ns))


def settle(agent: Agent, clock: FixedClock):
    """A pass that sees new files, then one after they stayed unchanged long enough."""
    agent.tick()
    clock.advance(timedelta(seconds=STABLE))
    return agent.tick()


@pytest.fixture
def webhook():
    receiver = WebhookReceiver().start()
    yield receiver
    receiver.stop()


# ---------------------------------------------------------------- slots and alerts


def test_missed_slot_alerts_once_and_recovery_once(make_site, webhook, caplog):
    caplog.set_level(logging.INFO, logger="appliance.sender")
    site = make_site(webhook=webhook.url)
    clock = FixedClock(local(6, 50))
    export(site, "todo-yesterday.pdf", local(14, 20, days=-1))
    agent = site.agent(clock)
    settle(agent, clock)
    assert len(site.snapshots("jourrum")) == 1
    clock.set(local(7, 29))  # the 07:00 slot is due, but its grace has not run out
    assert agent.tick().missing == [] and webhook.received == []

    clock.set(local(7, 31))
    assert agent.tick().missing == [("todo", local(7, 0))]
    for _ in range(5):
        clock.advance(timedelta(minutes=1))
        agent.tick()
    agent = site.agent(clock)  # a restart does not forget that it has alerted
    agent.tick()
    assert webhook.events(*ALERT_KEY) == [("missing_export", "todo", isoformat_utc(local(7, 0)))]
    alert = webhook.received[0]
    assert set(alert) == {"event", "sender", "kind", "slot", "message"}
    assert alert["sender"] == "kontor-norr" and "07:00" in alert["message"]
    status = sender_status(site.config, clock)
    assert status["kinds"]["todo"]["missing_slot"] == isoformat_utc(local(7, 0))
    assert any("todo: no export for the" in p for p in status["problems"])

    export(site, "todo-morning.pdf", local(7, 40))
    clock.set(local(7, 45))
    report = settle(agent, clock)
    assert report.missing == [] and len(site.snapshots("jourrum")) == 2
    for _ in range(3):
        clock.advance(timedelta(minutes=10))
        agent.tick()
    assert webhook.events(*ALERT_KEY) == [("missing_export", "todo", isoformat_utc(local(7, 0))),
                                ("export_recovered", "todo", isoformat_utc(local(7, 0)))]

    # 14:30 passes with a fresh export (produced a little early): no alert
    export(site, "todo-afternoon.pdf", local(14, 10))
    clock.set(local(14, 15))
    settle(agent, clock)
    clock.set(local(15, 5))
    assert agent.tick().missing == []
    assert len(webhook.received) == 2
    assert "todo-" not in caplog.text  # no export file name in any log line


def test_webhook_failure_is_retried_without_duplicates(tmp_path, webhook):
    webhook.status = 503
    site = offline_site(tmp_path, webhook=webhook.url)
    clock = FixedClock(local(7, 31))
    agent = site.agent(clock)
    agent.tick()
    agent.tick()  # backoff: not yet
    assert webhook.attempts == 1 and webhook.received == []
    status = sender_status(site.config, clock)
    assert [alert["event"] for alert in status["alerts"]["pending"]] == ["missing_export"]

    webhook.status = 204
    clock.advance(timedelta(seconds=RETRY_INITIAL))
    agent.tick()
    site.agent(clock).tick()  # a restart does not send it again
    assert webhook.attempts == 2
    assert webhook.events(*ALERT_KEY) == [("missing_export", "todo", isoformat_utc(local(7, 0)))]
    status = sender_status(site.config, clock)
    assert status["alerts"]["pending"] == []
    assert [a["webhook"] for a in status["alerts"]["recent"]] == ["sent"]


# ---------------------------------------------------------------- delivery


def test_down_appliance_gets_everything_in_order_after_a_restart(make_site):
    site = make_site("jourrum", "reserv")
    site.servers["reserv"].stop()
    clock = FixedClock(local(6, 55))
    export(site, "todo-1.pdf", local(6, 50))
    export(site, "todo-2.pdf", local(6, 52), pages=3)
    agent = site.agent(clock)
    report = settle(agent, clock)
    assert (report.queued, report.delivered, report.retrying, report.pending) == (4, 2, 1, 2)
    assert len(site.snapshots("jourrum")) == 2
    clock.advance(timedelta(seconds=RETRY_INITIAL - 1))
    assert agent.tick().retrying == 0  # nothing is offered to reserv before its retry
    status = sender_status(site.config, clock)["appliances"]
    assert [e["produced_at"] for e in status["reserv"]["pending"]] == [
        isoformat_utc(local(6, 50)), isoformat_utc(local(6, 52))]
    assert status["reserv"]["last_error"]["error"] == "unreachable"
    assert status["reserv"]["next_attempt_at"] == isoformat_utc(clock.now() + timedelta(seconds=1))
    assert status["jourrum"]["pending"] == [] and status["jourrum"]["last_success"]

    del agent  # the PC reboots; hours later the appliance is back
    clock.advance(timedelta(hours=3))
    site.servers["reserv"].start()
    agent = site.agent(clock)
    report = agent.tick()
    assert (report.queued, report.delivered, report.pending) == (0, 2, 0)
    for _ in range(3):
        clock.advance(timedelta(minutes=5))
        agent.tick()
    site.agent(clock).tick()
    for name in ("jourrum", "reserv"):
        rows = site.snapshots(name)
        assert [row["documents"][0]["produced_at"] for row in rows] == [
            isoformat_utc(local(6, 50)), isoformat_utc(local(6, 52))], name
        assert [row["documents"][0]["pages"] for row in rows] == [2, 3]


def test_backoff_doubles_up_to_the_maximum(tmp_path):
    assert [backoff_seconds(n, 30, 600) for n in range(1, 8)] == [30, 60, 120, 240, 480,
                                                                   600, 600]
    site = offline_site(tmp_path)
    clock = FixedClock(local(9, 0))
    export(site, "todo.pdf", local(8, 55))
    agent = site.agent(clock)
    settle(agent, clock)
    attempts = []
    for _ in range(40):
        clock.advance(timedelta(seconds=10))
        if agent.tick().retrying:
            attempts.append(clock.now())
    gaps = [(b - a).total_seconds() for a, b in pairwise(attempts)]
    assert gaps == [60, 120]  # attempts 2, 3 and 4; attempt 5 waits 240 s


def test_file_written_in_pieces_is_pushed_once_complete(make_site):
    site = make_site()
    content = make_document("todo", produced_at=local(6, 58), pages=3)
    clock = FixedClock(local(7, 0))
    agent = site.agent(clock)
    path = site.outbox / "todo-0700.pdf"
    path.write_bytes(b"")  # the exporter creates the file, then pauses
    assert settle(agent, clock).settling == 1  # empty: never complete
    path.write_bytes(content[: len(content) // 2])
    agent.tick()
    clock.advance(timedelta(seconds=STABLE - 1))
    report = agent.tick()
    assert (report.queued, report.settling) == (0, 1)
    with open(path, "ab") as handle:
        handle.write(content[len(content) // 2:])
    clock.advance(timedelta(seconds=2))  # half was stable for 6 s, but it has changed now
    assert agent.tick().queued == 0
    clock.advance(timedelta(seconds=STABLE - 1))
    assert agent.tick().queued == 0
    clock.advance(timedelta(seconds=1))
    assert agent.tick().delivered == 1
    for _ in range(3):
        clock.advance(timedelta(seconds=STABLE))
        agent.tick()
    rows = site.snapshots("jourrum")
    assert [row["documents"][0]["pages"] for row in rows] == [3]
    assert site.refusals("jourrum") == []


def test_locked_or_growing_file_is_not_ready(tmp_path, monkeypatch, caplog):
    """On Windows a file still being written may be locked: PermissionError = not yet,
    quietly. A file that grows while it is being read is not ready either."""
    caplog.set_level(logging.INFO, logger="appliance.sender")
    site = offline_site(tmp_path)
    clock = FixedClock(local(9, 0))
    path = export(site, "todo.pdf", local(8, 59))
    agent = site.agent(clock)

    def locked(*args, **kwargs):
        raise PermissionError(13, "The process cannot access the file")

    monkeypatch.setattr(outbox_module, "open", locked, raising=False)
    report = settle(agent, clock)
    assert (report.queued, report.settling) == (0, 1)
    assert "cannot be read" not in caplog.text

    def growing(file, mode):
        with open(file, "ab") as handle:  # the exporter writes on while we read
            handle.write(b"%% more")
        return open(file, mode)

    monkeypatch.setattr(outbox_module, "open", growing, raising=False)
    clock.advance(timedelta(seconds=1))
    assert agent.tick().queued == 0
    monkeypatch.undo()
    set_mtime(path, local(8, 59))
    assert agent.tick().queued == 0  # changed since it was first seen: wait again
    clock.advance(timedelta(seconds=STABLE))
    assert agent.tick().queued == 1


def test_delete_policy_waits_for_every_appliance(make_site):
    site = make_site("jourrum", "reserv", after_delivery="delete")
    site.servers["reserv"].stop()
    clock = FixedClock(local(14, 30))
    path = export(site, "todo-1430.pdf", local(14, 25))
    agent = site.agent(clock)
    settle(agent, clock)
    clock.advance(timedelta(hours=1))
    agent.tick()
    assert len(site.snapshots("jourrum")) == 1
    assert path.exists()  # reserv has not accepted it yet

    site.servers["reserv"].start()
    clock.advance(timedelta(hours=1))
    assert agent.tick().delivered == 1
    assert not path.exists()
    for _ in range(3):
        clock.advance(timedelta(minutes=1))
        report = agent.tick()
        assert (report.queued, report.dropped, report.pending) == (0, 0, 0)
    assert [len(site.snapshots(name)) for name in ("jourrum", "reserv")] == [1, 1]
    assert sender_status(site.config, clock)["dropped"] == []


def test_changed_file_is_delivered_again_and_only_then(make_site):
    site = make_site()
    clock = FixedClock(local(7, 0))
    path = export(site, "todo.pdf", local(6, 58), pages=2)
    agent = site.agent(clock)
    settle(agent, clock)
    for _ in range(3):
        clock.advance(timedelta(minutes=1))
        agent.tick()
    settle(site.agent(clock), clock)  # a restart does not send it again
    assert len(site.snapshots("jourrum")) == 1

    clock.set(local(14, 30))
    export(site, "todo.pdf", local(14, 28), pages=4)
    settle(agent, clock)
    clock.advance(timedelta(minutes=1))
    agent.tick()
    rows = site.snapshots("jourrum")
    assert [row["documents"][0]["pages"] for row in rows] == [2, 4]
    assert path.exists()  # policy keep


def test_file_matching_no_rule_is_ignored_and_reported_once(tmp_path, caplog):
    site = offline_site(tmp_path)
    (site.outbox / "Andersson Karl 19340101.docx").write_bytes(b"x")
    (site.outbox / "~$lock.pdf").write_bytes(b"x")  # Office lock file: skipped silently
    clock = FixedClock(local(9, 0))
    agent = site.agent(clock)
    with caplog.at_level(logging.INFO, logger="appliance.sender"):
        for _ in range(4):
            report = agent.tick()
            clock.advance(timedelta(seconds=STABLE))
    assert report.queued == 0 and agent.queue.entries == []
    unmatched = [r for r in caplog.records if "matches no" in r.getMessage()]
    assert len(unmatched) == 1 and ".docx" in unmatched[0].getMessage()
    assert "Andersson" not in caplog.text
    assert sender_status(site.config, clock)["outbox"]["unmatched"] == 1


def test_permanent_refusal_stops_retrying_and_shows_in_status(make_site):
    site = make_site()
    clock = FixedClock(local(7, 0))
    export(site, "todo-broken.pdf", local(6, 55), content=b"%PDF-1.7 this is not a pdf")
    agent = site.agent(clock)
    report = settle(agent, clock)
    assert (report.failed, report.failed_total, report.pending) == (1, 1, 0)
    for _ in range(5):
        clock.advance(timedelta(hours=1))
        agent.tick()
    assert [r["reason"] for r in site.refusals("jourrum")] == ["unreadable_pdf"]

    export(site, "todo-good.pdf", local(12, 0))  # a bad file does not block the next one
    clock.set(local(12, 1))
    assert settle(agent, clock).delivered == 1
    status = sender_status(site.config, clock)
    failed = status["appliances"]["jourrum"]["failed"]
    assert [(f["kind"], f["last_error"]["status"], f["last_error"]["error"]) for f in failed] \
        == [("todo", 422, "unreadable_pdf")]
    assert [p for p in status["problems"] if "refused for good" in p] == [
        "jourrum: the todo export produced "
        f"{local(6, 55).astimezone(TZ):%Y-%m-%d %H:%M} was refused for good: HTTP 422 "
        f"unreadable_pdf: {failed[0]['last_error']['message']}"]

    report = agent.sync(retry_failed=True, sleep=lambda s: clock.advance(timedelta(seconds=s)))
    assert (report.failed, report.failed_total) == (1, 1)  # tried once more, on request
    assert len(site.refusals("jourrum")) == 2


def test_export_removed_before_delivery_is_dropped_and_reported(tmp_path):
    site = offline_site(tmp_path)
    clock = FixedClock(local(9, 0))
    path = export(site, "todo.pdf", local(8, 58))
    agent = site.agent(clock)
    assert settle(agent, clock).retrying == 1
    path.unlink()
    clock.advance(timedelta(hours=1))
    report = agent.tick()
    assert (report.dropped, report.pending) == (1, 0)
    status = sender_status(site.config, clock)
    assert [(d["appliance"], d["kind"], d["reason"]) for d in status["dropped"]] == [
        ("nere", "todo", "source_missing")]
    assert status["appliances"]["nere"]["pending"] == []


def test_sync_waits_for_a_new_file_with_the_injected_sleep(tmp_path):
    site = offline_site(tmp_path)
    clock = FixedClock(local(9, 0))
    export(site, "lakemedel-anna.pdf", local(8, 59), kind="medications")
    slept = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(timedelta(seconds=seconds))

    report = site.agent(clock).sync(sleep=sleep)
    assert slept == [STABLE]
    assert (report.queued, report.retrying, report.pending) == (1, 1, 1)
    entry = site.agent(clock).queue.entries[0]
    assert (entry.kind, entry.unit) == ("medications", "Hemsjukvård Mjällby")


def test_run_forever_makes_a_pass_at_once_and_stops_when_asked(tmp_path):
    site = offline_site(tmp_path, stable=0)
    export(site, "todo.pdf", local(8, 59))
    agent = site.agent(FixedClock(local(9, 0)))
    stop = threading.Event()
    stop.set()  # asked to stop before the first wait: the first pass still runs

    run_forever(agent, 2.0, stop)
    assert len(agent.queue.entries) == 1
    assert agent.state.run_heartbeat["pid"] == os.getpid()


# ---------------------------------------------------------------- the commands


def test_sync_and_status_commands(make_site):
    site = make_site(stable=0)
    cli = site.sender.sender_cli
    export(site, "todo.pdf", datetime.now(UTC) - timedelta(minutes=1), pages=2)

    result = cli("sync")
    assert "queued 1, delivered 1" in result.output and "left: 0 pending" in result.output
    assert len(site.snapshots("jourrum")) == 1
    status = json.loads(cli("status", "--json").output)
    assert status["ok"] is True and status["problems"] == []
    assert status["appliances"]["jourrum"]["last_success"]
    assert "todo.pdf" not in cli("status").output

    site.servers["jourrum"].stop()
    export(site, "todo-2.pdf", datetime.now(UTC), pages=1)
    result = cli("sync", expect=1)
    assert "retrying 1" in result.output and "left: 1 pending" in result.output
    assert "unreachable" in cli("status").output

    write_sender_toml(site, outbox=False)
    assert "outbox.dir: must be set" in cli("sync", expect=2).output


def test_status_exit_code_for_undelivered_and_missing(tmp_path):
    site = offline_site(tmp_path)
    now = datetime.now(UTC)
    clock = FixedClock(now - timedelta(minutes=90))
    export(site, "lakemedel.pdf", clock.now() - timedelta(minutes=1), kind="medications")
    agent = site.agent(clock)
    settle(agent, clock)
    clock.set(now)
    export(site, "todo.pdf", now - timedelta(minutes=1))
    settle(agent, clock)

    result = site.sender.sender_cli("status", "--json", expect=1)
    status = json.loads(result.output)
    assert status["ok"] is False
    assert len(status["problems"]) == 1 and "nere: 1 export(s) undelivered since" in \
        status["problems"][0]
    pending = status["appliances"]["nere"]["pending"]
    assert [(e["kind"], e["attempts"] > 0) for e in pending] == [("medications", True),
                                                                 ("todo", False)]
    assert status["appliances"]["nere"]["last_error"]["error"] == "unreachable"
    assert status["kinds"]["todo"]["last_export"] == isoformat_utc(now - timedelta(minutes=1))
    assert status["kinds"]["todo"]["missing_slot"] is None

    write_sender_toml(site, required='"todo", "careplan"')
    status = json.loads(site.sender.sender_cli("status", "--json", expect=1).output)
    assert any(p.startswith("careplan: no export for the") for p in status["problems"])


POSIX_ONLY = ("fcntl", "termios", "pwd", "grp", "resource")
WITHOUT_POSIX_ONLY = """
import sys

class WindowsLike:
    def find_spec(self, name, path=None, target=None):
        if name in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}")

sys.meta_path.insert(0, WindowsLike())
from appliance.cli.sender_cli import main
for args in (["sync"], ["status", "--json"]):
    try:
        main(["--config", {config!r}, *args])
    except SystemExit as exc:
        print("exit", exc.code)
"""


def test_sender_runs_without_posix_only_modules(tmp_path):
    """What Windows lacks (fcntl & co.) is neither imported nor called by the sender."""
    site = offline_site(tmp_path, stable=0)
    export(site, "todo.pdf", datetime.now(UTC))
    code = WITHOUT_POSIX_ONLY.format(blocked=set(POSIX_ONLY),
                                     config=str(site.sender.sender_toml))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=Path(__file__).parent.parent, timeout=120)
    assert result.returncode == 0, result.stderr
    assert [line for line in result.stdout.splitlines() if line.startswith("exit")] == [
        "exit 1", "exit 0"]  # sync: one export pending; status: not late yet
    assert "left: 1 pending" in result.stdout


def test_a_failing_pass_is_logged_once_and_the_agent_carries_on(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="appliance.sender")
    site = offline_site(tmp_path, stable=0)
    export(site, "todo-Andersson.pdf", local(8, 59))
    broken = True

    def push(url: str, envelope: bytes, timeout: float):
        if broken:
            raise RuntimeError("todo-Andersson.pdf")  # a message must not reach the log
        return PushResult(True, 201, "", "accepted", {"id": "x"})

    clock = FixedClock(local(9, 0))
    agent = site.agent(clock, push=push)
    assert [agent.tick_safely() for _ in range(3)] == [None, None, None]
    failures = [r for r in caplog.records if "a pass failed" in r.getMessage()]
    assert len(failures) == 1 and "RuntimeError" in failures[0].getMessage()
    broken = False
    assert agent.tick_safely().delivered == 1
    assert "passes work again" in caplog.text and "Andersson" not in caplog.text


def test_run_command_delivers_and_stops_cleanly_on_ctrl_c(tmp_path):
    site = offline_site(tmp_path, stable=0)
    export(site, "todo.pdf", datetime.now(UTC))
    queue_file = site.sender.root / "sender" / "state" / "queue.json"
    log_file = tmp_path / "sender.log"
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "appliance-sender"), "--config",
         str(site.sender.sender_toml), "run", "--log-file", str(log_file)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    agent_file = queue_file.parent / "agent.json"

    def first_pass_done() -> bool:
        # The pass has queued the export, tried (and failed) to deliver it, and recorded
        # itself: only then is everything the assertions below check on disk.
        return (agent_file.exists() and json.loads(agent_file.read_text())["last_pass"]
                and log_file.exists() and "could not deliver" in log_file.read_text()
                and json.loads(queue_file.read_text())["entries"])

    try:
        deadline = datetime.now(UTC) + timedelta(seconds=30)
        while not first_pass_done():
            assert process.poll() is None and datetime.now(UTC) < deadline, process.stdout
            threading.Event().wait(0.05)  # waiting for an event, with a deadline
    finally:
        process.send_signal(signal.SIGINT)  # what Ctrl+C (and systemd's KillSignal) sends
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    log = log_file.read_text()
    assert "sender kontor-norr started" in log and "sender kontor-norr stopped" in log
    assert "could not deliver a todo export to nere" in log and "todo.pdf" not in log
    agent_state = json.loads((queue_file.parent / "agent.json").read_text())
    assert agent_state["run_heartbeat"] is None and agent_state["last_pass"]


def test_sync_refuses_to_race_a_running_agent(tmp_path):
    site = offline_site(tmp_path, stable=0)
    agent = Agent(site.config)  # the system clock, like the command
    agent.state.run_heartbeat = {"pid": os.getpid() + 1, "at": isoformat_utc(
        datetime.now(UTC) - timedelta(seconds=5))}
    agent.state.save(force=True)
    result = site.sender.sender_cli("sync", expect=2)
    assert "`appliance-sender run` is running" in result.output
    site.sender.sender_cli("sync", "--force")

    agent.state.run_heartbeat["at"] = isoformat_utc(datetime.now(UTC) - timedelta(hours=1))
    agent.state.save(force=True)  # a `run` that died an hour ago does not count
    site.sender.sender_cli("sync")
