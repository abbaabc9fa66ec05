"""The one print service: one kit in flight across processes, every print, export and job end
audited whoever started it. Real parts: the private cupsd, the real CLI and panel processes."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta

import cups
import pytest

from appliance.core.base.clock import FixedClock
from appliance.core.printing.print_guard import PrintGuard
from appliance.core.printing.print_service import Busy, PrintService, Started
from appliance.core.printing.printer import JobState
from tests.conftest import BIN
from tests.print_helpers import (
    another_process_holding,
    audit_events,
    first_kit_then_quit,
    send,
    simulated_panel,
    with_guard_config,
)


def cli(inst, *args: str) -> subprocess.Popen:
    return subprocess.Popen([str(BIN / "appliance"), "--config", str(inst.appliance_toml),
                             *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=inst.cups.env())


def test_panel_and_cli_pressed_at_the_same_moment_give_one_kit(installation):
    inst = with_guard_config(installation)
    inst.ingest(inst.envelope(pages=1))
    panel = simulated_panel(inst)
    try:
        send(panel, "press")
        printing = cli(inst, "print")
        out, err = printing.communicate(timeout=60)
        assert printing.returncode in (0, 3), out + err
        first_kit_then_quit(inst, panel)
    finally:
        panel.kill()
    printed = audit_events(inst, "printed")
    assert len(printed) == 1, printed
    assert len(inst.queue.captured()) == 1
    if printing.returncode == 3:
        assert "already on its way" in err
        assert printed[0]["trigger"] == "button"
    else:
        assert printed[0]["trigger"] == "cli"


def test_four_processes_asking_at_once_start_exactly_one_kit(installation):
    inst = with_guard_config(installation)
    inst.ingest(inst.envelope(pages=1))
    processes = [cli(inst, "print") for _ in range(4)]
    results = [(p.wait(timeout=60), p.stderr.read()) for p in processes]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 3, 3, 3], results
    inst.cups.wait_for(lambda: inst.queue.captured(), timeout=20, what="the kit")
    assert len(audit_events(inst, "printed")) == 1
    assert len(inst.queue.captured()) == 1


def test_a_kit_in_the_queue_makes_every_caller_wait_and_its_end_is_audited_once(installation):
    inst = with_guard_config(installation)
    inst.ingest(inst.envelope(pages=1))
    inst.queue.set_fault("media-empty")  # the job stays in the queue until the refill
    service = PrintService(inst.services())
    started = service.request("button", trigger="kiosk")
    assert isinstance(started, Started)
    again = inst.appliance("print", expect=3)
    assert f"job {started.job_id}" in again.output
    assert service.follow_up() is True
    assert audit_events(inst, "print_job_ended") == []

    inst.queue.clear_fault()
    inst.cups.wait_for(lambda: inst.cups.job_state(started.job_id) == cups.IPP_JOB_COMPLETED,
                       timeout=40, what="the held job completed")
    other_process_view = PrintService(inst.services())  # e.g. the panel, polling
    assert other_process_view.follow_up() is False
    assert service.follow_up() is False  # seen already: not audited twice
    ended = audit_events(inst, "print_job_ended")
    assert [(e["job"], e["state"], e["trigger"]) for e in ended] == \
        [(started.job_id, "completed", "kiosk")]


def test_repeat_guard_holds_across_processes_and_then_lets_go(installation):
    inst = with_guard_config(installation)  # repeat_guard_seconds = 600
    inst.ingest(inst.envelope(pages=1))
    clock = FixedClock(datetime.now(UTC))
    service = PrintService(inst.services(clock))
    first = service.request("button", trigger="kiosk")
    assert service.wait(first.job_id, timeout=30, poll=0.05) is JobState.COMPLETED
    second = inst.appliance("print", expect=3)  # another process, the job long done
    assert "moments ago" in second.output
    clock.advance(timedelta(seconds=599))
    assert "moments ago" in service.request("button", trigger="kiosk").reason
    clock.advance(timedelta(seconds=1))
    assert isinstance(service.request("button", trigger="kiosk"), Started)
    assert len(audit_events(inst, "printed")) == 2


def test_a_crash_while_composing_never_leaves_the_guard_stuck(installation):
    inst = with_guard_config(installation)
    inst.ingest(inst.envelope(pages=1))
    service = PrintService(inst.services())
    with another_process_holding("composing", inst):  # then SIGKILL: a crash mid-compose
        busy = service.request("button", trigger="kiosk")
        assert isinstance(busy, Busy) and "composed" in busy.reason
        assert service.follow_up() is True
    assert isinstance(service.request("button", trigger="kiosk"), Started)


def test_a_poll_reading_the_record_never_makes_a_press_look_like_a_second_kit(installation):
    """The race the panel benchmark found: a press while another process's poll reads the
    job record must wait the poll's moment out and print, not be refused as busy."""
    inst = with_guard_config(installation)
    inst.ingest(inst.envelope(pages=1))
    with another_process_holding("record_lock", inst, seconds=1.0):
        assert isinstance(PrintService(inst.services()).request("button", "button"), Started)


@pytest.mark.parametrize("damage", [b"", b"{not json", b'{"job": {"job_id": "x"}}',
                                    b'{"job": null, "last_started_at": "yesterday"}'])
def test_a_damaged_guard_record_never_blocks_printing(installation, damage):
    inst = with_guard_config(installation)
    inst.ingest(inst.envelope(pages=1))
    inst.state_dir.mkdir(parents=True, exist_ok=True)
    record = PrintGuard(inst.state_dir).record_path
    record.write_bytes(damage)
    assert isinstance(PrintService(inst.services()).request("button", "cli"), Started)
    if damage in (b"", b"{not json"):  # not JSON: kept for IT, next to the new record
        [aside] = record.parent.glob("print-job.json.damaged-*")
        assert aside.read_bytes() == damage


def test_wait_returns_the_final_state_and_audits_the_end(installation):
    inst = installation
    inst.ingest(inst.envelope(pages=1))
    service = PrintService(inst.services())
    started = service.request("forms", trigger="cli")
    assert service.wait(started.job_id, timeout=30, poll=0.05) is JobState.COMPLETED
    assert [e["job"] for e in audit_events(inst, "print_job_ended")] == [started.job_id]


def test_export_is_audited_and_private_from_the_first_byte(installation, tmp_path):
    inst = installation
    inst.ingest(inst.envelope(pages=2))
    out = tmp_path / "kit.pdf"
    inst.appliance("print", "--profile", "full", "--output", str(out))
    assert out.stat().st_mode & 0o777 == 0o600
    exported = audit_events(inst, "exported")
    assert len(exported) == 1
    assert exported[0]["path"] == str(out.resolve())
    assert exported[0]["pages"] == 6  # cover, contacts, the list's 2, 2 forms
    assert exported[0]["trigger"] == "cli"
    assert audit_events(inst, "printed") == [] and inst.queue.captured() == []


def test_the_jobs_service_audits_the_end_of_a_kit_nobody_waited_for(installation):
    import threading

    from appliance.cli.jobs_daemon import run_jobs

    inst = installation
    inst.ingest(inst.envelope(pages=1))
    job_id = int(inst.appliance("print").output.split()[1])  # no --wait, and no panel runs
    inst.cups.wait_for(lambda: inst.cups.job_state(job_id) == cups.IPP_JOB_COMPLETED, timeout=30,
                       what="the job completed")
    assert audit_events(inst, "print_job_ended") == []
    stop = threading.Event()
    jobs = threading.Thread(target=run_jobs, args=(inst.services(), stop))
    jobs.start()
    try:
        inst.cups.wait_for(lambda: audit_events(inst, "print_job_ended"), timeout=20,
                           what="the job's end audited by the jobs service")
    finally:
        stop.set()
        jobs.join(timeout=20)
    ended = audit_events(inst, "print_job_ended")
    assert [(e["job"], e["state"], e["trigger"]) for e in ended] == [(job_id, "completed", "cli")]
