"""Garbage from the LAN cannot fill the disk through the audit log: refusals before any
signature is verified are counted (one audit line per reason a minute), exactly, across
processes; what the client sent is escaped and capped wherever it is echoed."""

from __future__ import annotations

import json
import multiprocessing
import struct
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

from appliance.core.base.clock import FixedClock
from appliance.core.crypto import seal
from appliance.core.intake.refusal_counts import EVENT, MAX_REMOTES, WINDOW, RefusalCounts
from appliance.core.records.audit import AuditLog
from tests.conftest import post
from tests.test_metrics import parse, value
from tests.together import run_together

START = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
GARBAGE_POSTS = 300


def audit_entries(state_dir: Path) -> list[dict]:
    return list(AuditLog(state_dir / "audit.log", FixedClock(START)).entries())


def with_header(envelope: bytes, edit) -> bytes:
    """`envelope` with its clear header's JSON text replaced by `edit(text)`: lengths fit, so
    the parser gets as far as the header's fields."""
    _, version, length = seal.PREFIX.unpack_from(envelope, 0)
    start = seal.PREFIX.size
    header = edit(envelope[start:start + length].decode()).encode()
    return seal.PREFIX.pack(seal.MAGIC, version, len(header)) + header \
        + envelope[start + length:]


def scrape(url: str) -> dict:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        return parse(response.read().decode())[0]


def test_a_flood_of_garbage_adds_no_audit_line_each_and_the_metric_stays_exact(
        installation, server):
    before = installation.state_dir.joinpath("audit.log").stat().st_size
    url = server.url + "/api/v1/snapshots"
    statuses = [post(url, b"garbage %d" % i)[0] for i in range(GARBAGE_POSTS)]
    statuses += [post(url, b"x", content_type="text/plain")[0] for _ in range(20)]
    assert statuses == [400] * GARBAGE_POSTS + [415] * 20
    grown = installation.state_dir.joinpath("audit.log").stat().st_size - before
    assert grown < 2000, f"{grown} bytes of audit log for {GARBAGE_POSTS + 20} garbage POSTs"
    assert not [e for e in audit_entries(installation.state_dir) if e["event"] == "refused"]
    for _ in range(4):  # more than one gunicorn worker answers
        samples = scrape(server.url)
        assert value(samples, "appliance_refusals_total", reason="malformed") == GARBAGE_POSTS
        assert value(samples, "appliance_refusals_total",
                     reason="unsupported_media_type") == 20
    # an authenticated sender's refusal is still one line of its own
    envelope = installation.envelope()
    assert post(url, envelope)[0] == 201
    assert post(url, envelope)[0] == 409
    refused = [e for e in audit_entries(installation.state_dir) if e["event"] == "refused"]
    assert [(e["reason"], e["sender"]) for e in refused] == [("replayed", "kontor-norr")]


def test_a_lone_surrogate_key_is_a_400_and_counted(installation, server):
    surrogate = with_header(installation.envelope(), lambda text: '{"\\ud800":1,' + text[1:])
    before = installation.store_state()
    status, reply = post(server.url + "/api/v1/snapshots", surrogate)
    assert status == 400 and reply["error"] == "malformed", reply
    assert "\\ud800" in reply["message"]  # escaped, not the raw code point
    assert installation.store_state() == before
    samples = scrape(server.url)
    assert value(samples, "appliance_refusals_total", reason="malformed") == 1


def test_what_the_client_sent_is_capped_in_the_answer_and_the_audit_log(installation, server):
    huge = "k" * 30_000 + "\\n\\u001b[2J"  # JSON escapes: a line break, a terminal control
    body = with_header(installation.envelope(), lambda text: '{"' + huge + '":1,' + text[1:])
    status, reply = post(server.url + "/api/v1/snapshots", body)
    assert status == 400 and reply["error"] == "malformed"
    assert len(reply["message"]) <= 300 and "\n" not in reply["message"]
    counts = RefusalCounts(installation.state_dir, AuditLog(
        installation.state_dir / "audit.log", FixedClock(START)),
        FixedClock(datetime.now(UTC) + WINDOW))
    counts.flush_due()  # the window is written out a minute (here: by the clock) later
    [entry] = [e for e in audit_entries(installation.state_dir) if e["event"] == EVENT]
    assert entry["reason"] == "malformed" and entry["count"] == 1
    assert len(entry["message"]) <= 200 and entry["message"].endswith("…")
    assert len(json.dumps(entry)) < 1000


def test_windows_are_written_once_a_minute_with_their_counts(tmp_path):
    clock = FixedClock(START)
    log = AuditLog(tmp_path / "audit.log", clock)
    counts = RefusalCounts(tmp_path, log, clock)
    for second in range(150):  # 2.5 minutes of one refusal a second, from 10 addresses
        counts.add("malformed", "not a sealed snapshot", f"10.0.0.{second % 10}")
        if second % 3 == 0:
            counts.add("too_large", "too big", "10.0.1.1")
        clock.advance(timedelta(seconds=1))
    lines = [e for e in log.entries() if e["event"] == EVENT]
    assert [(e["reason"], e["count"]) for e in lines] == [
        ("malformed", 60), ("too_large", 20), ("malformed", 60), ("too_large", 20)]
    first = lines[0]
    assert (first["since"], first["last"], first["until"]) == (
        "2026-11-27T07:00:00Z", "2026-11-27T07:00:59Z", "2026-11-27T07:01:00Z")
    assert len(first["remotes"]) == MAX_REMOTES and first["other_remotes"] == 12
    assert sum(first["remotes"].values()) + first["other_remotes"] == 60
    with counts.pending() as pending:
        assert pending == {"malformed": 30, "too_large": 10}
    clock.advance(WINDOW)
    counts.flush_due()
    assert sum(e["count"] for e in log.entries() if e["reason"] == "malformed") == 150
    with counts.pending() as pending:
        assert not pending
    assert log.verify().ok


def _count_in_process(state_dir: str, worker: int, count: int,
                      start: multiprocessing.synchronize.Event) -> None:
    clock = FixedClock(START)
    counts = RefusalCounts(Path(state_dir), AuditLog(Path(state_dir) / "audit.log", clock),
                           clock)
    start.wait(10)
    for i in range(count):
        clock.set(START + timedelta(seconds=i))  # every worker flushes some windows
        counts.add("malformed", "garbage", f"10.1.0.{worker}")


def test_counts_from_several_processes_add_up_exactly(tmp_path):
    run_together(_count_in_process, lambda w: (str(tmp_path), w, 400))
    log = AuditLog(tmp_path / "audit.log", FixedClock(START))
    written = sum(e["count"] for e in log.entries() if e["event"] == EVENT)
    with RefusalCounts(tmp_path, log, FixedClock(START)).pending() as pending:
        assert written + pending["malformed"] == 1600
    assert written > 0 and log.verify().ok


def test_a_damaged_counts_file_starts_a_new_window(tmp_path):
    clock = FixedClock(START)
    counts = RefusalCounts(tmp_path, AuditLog(tmp_path / "audit.log", clock), clock)
    counts.path.write_bytes(struct.pack(">Q", 7) * 10)
    counts.add("malformed", "garbage", "10.0.0.1")
    with counts.pending() as pending:
        assert pending == {"malformed": 1}
