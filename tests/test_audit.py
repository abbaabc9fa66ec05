from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import shutil
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.core.base.clock import FixedClock
from appliance.core.records.audit import (
    MAX_PROBLEMS,
    ZERO_HASH,
    AuditError,
    AuditLog,
    VerifyReport,
    entry_hash,
    format_report,
)
from tests.together import run_together

START = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)


def make_log(path: Path, count: int) -> AuditLog:
    clock = FixedClock(START)
    log = AuditLog(path, clock)
    for i in range(count):
        log.append("job_printed", job_id=f"job-{i}", unit="hk-norr", copies=i % 3 + 1)
        clock.advance(timedelta(minutes=1))
    return log


def read_lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def write_lines(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(lines))


def has_problem(report: VerifyReport, prefix: str, *words: str) -> bool:
    return any(p.startswith(prefix) and all(w in p for w in words) for p in report.problems)


# -- happy path ----------------------------------------------------------------------------


def test_chain_of_several_entries_verifies(tmp_path: Path) -> None:
    log = make_log(tmp_path / "audit.jsonl", 5)
    report = log.verify()
    assert report == VerifyReport(ok=True, entries=5, problems=[])

    entries = list(log.entries())
    assert [e["n"] for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0]["prev"] == ZERO_HASH
    for before, after in itertools.pairwise(entries):
        assert after["prev"] == before["hash"]
    for entry in entries:
        assert entry["hash"] == entry_hash(entry)
    assert entries[0]["time"] == "2026-11-27T07:00:00Z"
    assert entries[4]["time"] == "2026-11-27T07:04:00Z"
    assert entries[2]["job_id"] == "job-2" and entries[2]["event"] == "job_printed"


def test_append_returns_written_entry_in_canonical_form(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, FixedClock(START))
    entry = log.append("snapshot_refused", reason="signature_invalid", unit="hk-söder", size=0)
    line = path.read_bytes()
    assert line == (
        json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"
    ).encode("utf-8")
    assert "hk-söder".encode() in line  # ensure_ascii=False
    assert list(log.entries()) == [entry]
    anchor = json.loads((tmp_path / "audit.jsonl.anchor").read_text())
    assert anchor == {"n": 1, "hash": entry["hash"]}


def test_files_are_created_0640_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        log = make_log(tmp_path / "audit.jsonl", 1)
    finally:
        os.umask(old)
    assert stat.S_IMODE(log.path.stat().st_mode) == 0o640
    assert stat.S_IMODE(log.anchor_path.stat().st_mode) == 0o640


def test_missing_log_without_anchor_is_ok(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl", FixedClock(START))
    assert log.verify() == VerifyReport(ok=True, entries=0, problems=[])
    assert list(log.entries()) == []


def test_custom_anchor_path(tmp_path: Path) -> None:
    anchor = tmp_path / "elsewhere.anchor"
    log = AuditLog(tmp_path / "audit.jsonl", FixedClock(START), anchor_path=anchor)
    log.append("boot")
    assert anchor.exists()
    assert not (tmp_path / "audit.jsonl.anchor").exists()
    assert log.verify().ok


# -- tampering detected, with the right line named ----------------------------------------


def test_altered_field_in_middle_line(tmp_path: Path) -> None:
    log = make_log(tmp_path / "audit.jsonl", 5)
    lines = read_lines(log.path)
    assert b'"copies":3' in lines[2]
    lines[2] = lines[2].replace(b'"copies":3', b'"copies":9')
    write_lines(log.path, lines)
    report = log.verify()
    assert not report.ok
    assert report.problems == ["line 3: hash mismatch (entry was altered)"]


def test_altered_field_with_recomputed_hash_breaks_the_chain(tmp_path: Path) -> None:
    log = make_log(tmp_path / "audit.jsonl", 5)
    lines = read_lines(log.path)
    entry = json.loads(lines[2])
    entry["copies"] = 9
    entry["hash"] = entry_hash(entry)
    lines[2] = (json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n").encode()
    write_lines(log.path, lines)
    report = log.verify()
    assert report.problems == ["line 4: broken chain: prev does not match line 3"]


def test_reformatted_line_is_detected(tmp_path: Path) -> None:
    log = make_log(tmp_path / "audit.jsonl", 3)
    lines = read_lines(log.path)
    lines[1] = lines[1].replace(b'"copies":', b'"copies": ')  # same JSON value, other bytes
    write_lines(log.path, lines)
    report = log.verify()
    assert report.problems == ["line 2: not in canonical form (line was edited)"]


def test_deleted_middle_line(tmp_path: Path) -> None:
    log = make_log(tmp_path / "audit.jsonl", 6)
    lines = read_lines(log.path)
    del lines[2]
    write_lines(log.path, lines)
    report = log.verify()
    assert not report.ok
    assert report.entries == 5
    assert has_problem(report, "line 3: broken chain: prev does not match line 2")
    assert has_problem(report, "line 3: sequence number n=4, expected 3")
    assert all(p.startswith("line 3:") for p in report.problems)  # no cascade


def test_swapped_lines(tmp_path: Path) -> None:
    log = make_log(tmp_path / "audit.jsonl", 6)
    lines = read_lines(log.path)
    lines[2], lines[3] = lines[3], lines[2]
    write_lines(log.path, lines)
    report = log.verify()
    assert not report.ok
    assert has_problem(report, "line 3: broken chain")
    assert has_problem(report, "line 4: broken chain")
    assert not any(p.startswith(("line 1:", "line 2:", "line 6:")) for p in report.problems)


def test_truncated_last_lines(tmp_path: Path) -> None:
    log = make_log(tmp_path / "audit.jsonl", 9)
    write_lines(log.path, read_lines(log.path)[:4])
    report = log.verify()
    assert report.problems == [
        "anchor: log has 4 entries but the anchor says 9 (entries removed from the end)"
    ]


def test_emptied_log_is_detected_by_anchor(tmp_path: Path) -> None:
    log = make_log(tmp_path / "audit.jsonl", 3)
    log.path.write_bytes(b"")
    assert log.verify().problems == [
        "anchor: log has 0 entries but the anchor says 3 (entries removed from the end)"
    ]
    log.path.unlink()
    report = log.verify()
    assert not report.ok and has_problem(report, "anchor:", "missing")


@pytest.mark.parametrize(
    ("anchor_text", "expected"),
    [
        ('{"n":7,"hash":"' + "ab" * 32 + '"}', "anchor: entry n=7 (line 7) does not have"),
        ('{"n":12,"hash":"' + "ab" * 32 + '"}', "anchor: log has 9 entries but the anchor says 12"),
        ('{"n":9,"hash":', "anchor: not valid JSON"),
        ('{"n":"9","hash":"' + "ab" * 32 + '"}', "anchor: malformed"),
    ],
)
def test_edited_anchor(tmp_path: Path, anchor_text: str, expected: str) -> None:
    log = make_log(tmp_path / "audit.jsonl", 9)
    log.anchor_path.write_text(anchor_text)
    report = log.verify()
    assert not report.ok
    assert len(report.problems) == 1 and report.problems[0].startswith(expected)


def test_missing_anchor_with_entries(tmp_path: Path) -> None:
    log = make_log(tmp_path / "audit.jsonl", 2)
    log.anchor_path.unlink()
    assert log.verify().problems == ["anchor: missing (the log has 2 entries)"]


def test_entries_after_the_anchor_are_fine(tmp_path: Path) -> None:
    """A crash between writing the line and updating the anchor leaves the anchor behind."""
    log = make_log(tmp_path / "audit.jsonl", 3)
    old_anchor = log.anchor_path.read_bytes()
    log.append("job_printed", job_id="job-x")
    log.anchor_path.write_bytes(old_anchor)
    assert log.verify().ok


def test_invalid_json_line(tmp_path: Path) -> None:
    log = make_log(tmp_path / "audit.jsonl", 6)
    lines = read_lines(log.path)
    lines[4] = b'{"n":5,"event":\n'
    write_lines(log.path, lines)
    report = log.verify()
    assert report.problems == ["line 5: not valid JSON"]  # line 6 is not blamed for it
    with pytest.raises(AuditError, match="line 5"):
        list(log.entries())


def test_json_that_is_not_an_entry(tmp_path: Path) -> None:
    log = make_log(tmp_path / "audit.jsonl", 3)
    lines = read_lines(log.path)
    lines[1] = b'{"n":2}\n'
    write_lines(log.path, lines)
    report = log.verify()
    assert report.problems == [
        "line 2: not an audit entry (missing or malformed time, event, prev, hash)"
    ]


def test_torn_tail_is_reported(tmp_path: Path) -> None:
    log = make_log(tmp_path / "audit.jsonl", 3)
    with log.path.open("ab") as handle:
        handle.write(b'{"event":"job_prin')
    report = log.verify()
    assert report.entries == 3
    assert report.problems == [
        "line 4: torn fragment at end (18 bytes without a trailing newline; "
        "the next append discards it)"
    ]
    assert [e["n"] for e in log.entries()] == [1, 2, 3]


def test_problem_list_is_capped(tmp_path: Path) -> None:
    log = make_log(tmp_path / "audit.jsonl", 30)
    write_lines(log.path, [b"garbage\n"] * 30)
    report = log.verify()
    assert not report.ok
    assert len(report.problems) == MAX_PROBLEMS + 1
    assert report.problems[MAX_PROBLEMS - 1] == "line 20: not valid JSON"
    assert report.problems[-1] == "... 11 more problems not listed"  # 10 lines + the anchor


# -- recovery ------------------------------------------------------------------------------


def test_recovery_from_torn_tail_on_next_append(tmp_path: Path) -> None:
    log = make_log(tmp_path / "audit.jsonl", 3)
    intact = log.path.read_bytes()
    fragment = b'{"event":"job_printed","job_id":"job-3","n":4,"prev":"'
    log.path.write_bytes(intact + fragment)
    assert not log.verify().ok

    entry = log.append("job_printed", job_id="job-4")

    assert entry["n"] == 5
    entries = list(log.entries())
    assert [e["n"] for e in entries] == [1, 2, 3, 4, 5]
    assert entries[3]["event"] == "audit_recovered"
    assert entries[3]["discarded_bytes"] == len(fragment)
    assert entries[4] == entry
    assert log.path.read_bytes().startswith(intact)
    assert fragment not in log.path.read_bytes()
    assert log.verify() == VerifyReport(ok=True, entries=5, problems=[])


def test_recovery_when_the_only_line_is_torn(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl", FixedClock(START))
    log.path.write_bytes(b'{"n":1,"ev')
    log.append("boot")
    entries = list(log.entries())
    assert [(e["n"], e["event"]) for e in entries] == [(1, "audit_recovered"), (2, "boot")]
    assert entries[0]["prev"] == ZERO_HASH
    assert log.verify().ok


def test_append_refuses_to_extend_a_damaged_last_line(tmp_path: Path) -> None:
    log = make_log(tmp_path / "audit.jsonl", 2)
    with log.path.open("ab") as handle:
        handle.write(b"not json\n")
    before = log.path.read_bytes()
    with pytest.raises(AuditError, match="damaged"):
        log.append("boot")
    assert log.path.read_bytes() == before


def test_long_last_line_is_found_by_reading_backwards(tmp_path: Path) -> None:
    """The tail is read backwards in chunks; a last line longer than a chunk must work."""
    log = make_log(tmp_path / "audit.jsonl", 2)
    log.append("snapshot_ingested", ids=[f"doc-{i:06d}" for i in range(3000)])  # ~36 kB line
    entry = log.append("job_printed", job_id="job-9")
    assert entry["n"] == 4
    assert log.verify().ok


# -- refused input -------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["n", "time", "event", "prev", "hash"])
def test_reserved_key_collision_rejected(tmp_path: Path, key: str) -> None:
    log = AuditLog(tmp_path / "audit.jsonl", FixedClock(START))
    with pytest.raises(AuditError, match="reserved"):
        log.append("job_printed", **{key: "x"})
    assert not log.path.exists()


@pytest.mark.parametrize(
    "value",
    [
        float("nan"),
        float("inf"),
        b"bytes",
        ("a", "tuple"),
        {"a", "set"},
        datetime(2026, 1, 1, tzinfo=UTC),
        {1: "non-string key"},
        ["nested", {"deep": object()}],
        "\ud800",  # lone surrogate: not encodable as UTF-8
    ],
)
def test_non_json_values_rejected(tmp_path: Path, value: object) -> None:
    log = make_log(tmp_path / "audit.jsonl", 1)
    before = log.path.read_bytes()
    with pytest.raises(AuditError):
        log.append("job_printed", value=value)
    assert log.path.read_bytes() == before


@pytest.mark.parametrize("event", ["", "Job Printed", "x" * 100, "job\nprinted"])
def test_bad_event_names_rejected(tmp_path: Path, event: str) -> None:
    log = AuditLog(tmp_path / "audit.jsonl", FixedClock(START))
    with pytest.raises(AuditError):
        log.append(event)


def test_nested_json_values_accepted(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl", FixedClock(START))
    entry = log.append(
        "snapshot_ingested",
        units=["hk-norr", "hk-syd"],
        counts={"pages": 12, "docs": 3},
        ok=True,
        note=None,
        ratio=0.5,
    )
    assert next(iter(log.entries())) == entry
    assert log.verify().ok


# -- concurrency ---------------------------------------------------------------------------


def _append_worker(
    path: str,
    worker: int,
    count: int,
    start: multiprocessing.synchronize.Event,
) -> None:
    log = AuditLog(Path(path), FixedClock(START))
    start.wait(10)
    for i in range(count):
        log.append("job_printed", worker=worker, seq=i)


def test_concurrent_appends_from_several_processes(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    run_together(_append_worker, lambda w: (str(path), w, 50))

    report = AuditLog(path, FixedClock(START)).verify()
    assert report == VerifyReport(ok=True, entries=200, problems=[])
    entries = list(AuditLog(path, FixedClock(START)).entries())
    assert [e["n"] for e in entries] == list(range(1, 201))
    assert sorted((e["worker"], e["seq"]) for e in entries) == [
        (w, i) for w in range(4) for i in range(50)
    ]
    anchor = json.loads(path.with_name("audit.jsonl.anchor").read_text())
    assert anchor == {"n": 200, "hash": entries[-1]["hash"]}


# -- random damage -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    directory = tmp_path_factory.mktemp("pristine")
    log = make_log(directory / "audit.jsonl", 4)
    log.append("snapshot_refused", reason="expired", units=["hk-ö"], counts={"docs": 2})
    return log.path.read_bytes(), log.anchor_path.read_bytes()


@st.composite
def mutations(draw: st.DrawFn, size: int) -> list[tuple[str, int, int]]:
    ops = st.tuples(
        # "space" inserts whitespace: often still valid JSON with the same value
        st.sampled_from(["replace", "insert", "space", "delete", "truncate", "append"]),
        st.integers(0, size),
        st.integers(0, 255),
    )
    return draw(st.lists(ops, min_size=1, max_size=4))


def mutate(data: bytes, ops: list[tuple[str, int, int]]) -> bytes:
    buf = bytearray(data)
    for op, position, value in ops:
        pos = min(position, len(buf))
        if op == "replace" and pos < len(buf):
            buf[pos] = value
        elif op == "insert":
            buf.insert(pos, value)
        elif op == "space":
            buf.insert(pos, b" \t\r"[value % 3])
        elif op == "delete":
            del buf[pos : pos + 1 + value % 80]
        elif op == "truncate":
            del buf[pos:]
        elif op == "append":
            buf.append(value)
    return bytes(buf)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_byte_mutations_are_detected(
    tmp_path_factory: pytest.TempPathFactory, pristine: tuple[bytes, bytes], data: st.DataObject
) -> None:
    log_bytes, anchor_bytes = pristine
    directory = tmp_path_factory.mktemp("mutated", numbered=True)
    try:
        log = AuditLog(directory / "audit.jsonl", FixedClock(START))
        log.anchor_path.write_bytes(anchor_bytes)
        mutated = mutate(log_bytes, data.draw(mutations(len(log_bytes))))
        log.path.write_bytes(mutated)
        report = log.verify()  # must not raise
        assert report.ok == (mutated == log_bytes), (mutated, report)
        assert report.ok == (not report.problems)
        assert isinstance(format_report(report), str)
    finally:
        shutil.rmtree(directory)


def test_pristine_fixture_verifies(pristine: tuple[bytes, bytes], tmp_path: Path) -> None:
    """Guards the hypothesis test: an unmutated copy must verify, or it proves nothing."""
    log = AuditLog(tmp_path / "audit.jsonl", FixedClock(START))
    log.path.write_bytes(pristine[0])
    log.anchor_path.write_bytes(pristine[1])
    assert log.verify() == VerifyReport(ok=True, entries=5, problems=[])


# -- report text ---------------------------------------------------------------------------


def test_format_report() -> None:
    assert format_report(VerifyReport(ok=True, entries=0, problems=[])) == (
        "audit log OK: no entries yet"
    )
    assert "12 entries" in format_report(VerifyReport(ok=True, entries=12, problems=[]))
    text = format_report(
        VerifyReport(ok=False, entries=7, problems=["line 3: not valid JSON", "anchor: missing"])
    )
    lines = text.splitlines()
    assert lines[0] == "audit log NOT OK (7 entries checked):"
    assert "  - line 3: not valid JSON" in lines
    assert "  - anchor: missing" in lines


# -- segments ------------------------------------------------------------------------------


def make_segmented_log(path: Path, count: int, segment_max_bytes: int = 1500) -> AuditLog:
    log = AuditLog(path, FixedClock(START), segment_max_bytes=segment_max_bytes)
    for i in range(count):
        log.append("job_printed", job_id=f"job-{i}", unit="hk-norr")
    return log


def test_rotation_keeps_one_chain_across_segments(tmp_path: Path) -> None:
    log = make_segmented_log(tmp_path / "audit.log", 40)
    segments = log.segments()
    assert len(segments) >= 3
    assert all(p.stat().st_size >= 1500 for p in segments)
    assert log.path.stat().st_size < 1500
    entries = list(log.entries())
    assert [e["n"] for e in entries] == list(range(1, 41))
    for before, after in itertools.pairwise(entries):
        assert after["prev"] == before["hash"]
    first_of_each = [json.loads(read_lines(p)[0])["n"] for p in segments]
    assert [p.name for p in segments] == [f"audit.log.{n:012d}" for n in first_of_each]
    assert log.verify() == VerifyReport(ok=True, entries=40, problems=[])
    # a log without rotation setting reads the same segments
    assert AuditLog(tmp_path / "audit.log", FixedClock(START)).verify().ok


def test_rotation_right_before_a_crash_leaves_a_verifiable_log(tmp_path: Path) -> None:
    log = make_segmented_log(tmp_path / "audit.log", 40)
    first = json.loads(read_lines(log.path)[0])["n"]
    log.path.rename(log.path.with_name(f"audit.log.{first:012d}"))  # as the last append would
    anchored = json.loads(log.anchor_path.read_text())["n"]
    assert log.verify().ok and log.verify().entries == anchored
    entry = log.append("job_printed", job_id="after")
    assert entry["n"] == anchored + 1
    assert entry["prev"] == json.loads(read_lines(log.segments()[-1])[-1])["hash"]
    assert log.verify().ok


def test_tampering_in_a_segment_is_named(tmp_path: Path) -> None:
    log = make_segmented_log(tmp_path / "audit.log", 40)
    segment = log.segments()[1]
    lines = read_lines(segment)
    lines[1] = lines[1].replace(b"hk-norr", b"hk-xxxx")
    write_lines(segment, lines)
    report = log.verify()
    assert not report.ok
    assert has_problem(report, f"{segment.name} line 2", "hash mismatch")


@pytest.mark.parametrize("which", [0, 1, -1])
def test_a_missing_segment_is_detected(tmp_path: Path, which: int) -> None:
    log = make_segmented_log(tmp_path / "audit.log", 40)
    log.segments()[which].unlink()
    report = log.verify()
    assert not report.ok
    assert any("broken chain" in p or "sequence number" in p for p in report.problems)


def test_concurrent_appends_with_rotation(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    run_together(_append_rotating_worker, lambda w: (str(path), w, 50))
    log = AuditLog(path, FixedClock(START))
    assert len(log.segments()) > 5
    assert log.verify() == VerifyReport(ok=True, entries=200, problems=[])
    assert [e["n"] for e in log.entries()] == list(range(1, 201))


def _append_rotating_worker(path: str, worker: int, count: int,
                            start: multiprocessing.synchronize.Event) -> None:
    log = AuditLog(Path(path), FixedClock(START), segment_max_bytes=2000)
    start.wait(10)
    for i in range(count):
        log.append("job_printed", worker=worker, seq=i)
