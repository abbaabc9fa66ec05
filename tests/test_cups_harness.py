"""The real-CUPS harness: a private cupsd, capture queues, simulated printer faults.

These tests pin down how CUPS 2.4 really behaves (values recorded in
docs/testing-with-cups.md) so the appliance's printing code can rely on them.
"""

from __future__ import annotations

import getpass
import subprocess
from pathlib import Path

import pytest
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from appliance.devtools.cups_harness.harness import PrivateCups

cups = pytest.importorskip("cups", reason="pycups is not installed")

# Until tests/conftest.py imports them, take the harness fixtures from the fixtures module.

HTTP_CONTINUE = 100  # pycups has no constant for it

# A job held by CUPS_BACKEND_RETRY is only retried on cupsd's 10-second housekeeping tick
# (cupsdCheckJobs), whatever JobRetryInterval says; allow two ticks.
RETRY_RECOVERY_TIMEOUT = 25.0
CAPTURE_TIMEOUT = 10.0
FAULT_KEYWORDS = ["media-empty", "media-jam", "toner-empty", "door-open", "offline"]


@pytest.fixture(scope="module")
def sample_pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-page PDF with known text (synthetic; no patient data)."""
    path = tmp_path_factory.mktemp("pdf") / "lista.pdf"
    c = canvas.Canvas(str(path), pagesize=A4)
    c.drawString(72, 770, "Testlista sida 1 - hemtjanst natt")
    c.showPage()
    c.drawString(72, 770, "Testlista sida 2 - slut")
    c.showPage()
    c.save()
    return path


def pdftotext(path: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def pdf_pages(path: Path) -> int:
    out = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True)
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("Pages:"))
    return int(line.split()[1])


def test_lp_pdf_is_captured_byte_for_byte(private_cups, capture_queue, sample_pdf):
    job_id = private_cups.lp(capture_queue.name, sample_pdf, title="Lista natt – område 3")

    job = private_cups.wait_for(
        lambda: capture_queue.captured_job(job_id), CAPTURE_TIMEOUT, what="the capture"
    )

    # Raw queue: the backend gets exactly the bytes that were submitted.
    assert job.data == sample_pdf.read_bytes()
    assert pdf_pages(job.path) == 2
    text = pdftotext(job.path)
    assert "Testlista sida 1" in text and "Testlista sida 2" in text
    assert job.title == "Lista natt – område 3"
    assert job.user == getpass.getuser()
    private_cups.wait_for(lambda: private_cups.job_state(job_id) == cups.IPP_JOB_COMPLETED, 5)
    assert [c.job_id for c in capture_queue.captured()] == [job_id]


def test_media_empty_holds_job_then_prints_it_once(private_cups, capture_queue, sample_pdf):
    """Default "retry" mode: backend exits CUPS_BACKEND_RETRY while the fault flag exists."""
    capture_queue.set_fault("media-empty")
    job_id = private_cups.lp(capture_queue.name, sample_pdf, title="Fault test")

    def held_for_paper() -> bool:
        job = private_cups.job_attributes(job_id)
        reasons = private_cups.printer_state_reasons(capture_queue.name)
        return job["job-state"] == cups.IPP_JOB_HELD and "media-empty-error" in reasons

    private_cups.wait_for(held_for_paper, CAPTURE_TIMEOUT, what="job held, media-empty-error")
    job = private_cups.job_attributes(job_id)
    assert job["job-state-reasons"] == "resources-are-not-ready"
    assert job["job-printer-state-reasons"] == ["media-empty-error"]
    attrs = private_cups.printer_attributes(capture_queue.name)
    assert attrs["printer-state-message"] == "Simulated printer fault: media-empty-error"
    assert attrs["printer-is-accepting-jobs"] is True
    assert capture_queue.captured() == []

    capture_queue.clear_fault()
    private_cups.wait_for(
        lambda: capture_queue.captured_job(job_id), RETRY_RECOVERY_TIMEOUT, what="the retry"
    )
    private_cups.wait_for(lambda: private_cups.job_state(job_id) == cups.IPP_JOB_COMPLETED, 5)
    assert private_cups.printer_state_reasons(capture_queue.name) == ["none"]
    assert [(c.job_id, c.meta["delivery"]) for c in capture_queue.captured()] == [(job_id, 1)]


@pytest.mark.parametrize("keyword", FAULT_KEYWORDS)
def test_wait_mode_fault_keeps_job_processing(private_cups, sample_pdf, keyword):
    """ "wait" mode: the backend stays in the job while the fault lasts, like a USB printer."""
    queue = private_cups.add_capture_queue(f"wait_{keyword.replace('-', '_')}", mode="wait")
    queue.set_fault(keyword)
    job_id = private_cups.lp(queue.name, sample_pdf, title="Wait test")

    reason = f"{keyword}-error"
    private_cups.wait_for(
        lambda: reason in private_cups.printer_state_reasons(queue.name), CAPTURE_TIMEOUT
    )
    assert private_cups.job_state(job_id) == cups.IPP_JOB_PROCESSING
    printer_state = private_cups.printer_attributes(queue.name)["printer-state"]
    assert printer_state == cups.IPP_PRINTER_PROCESSING
    assert queue.captured() == []

    queue.clear_fault()
    private_cups.wait_for(lambda: queue.captured_job(job_id), CAPTURE_TIMEOUT)
    private_cups.wait_for(lambda: private_cups.job_state(job_id) == cups.IPP_JOB_COMPLETED, 5)
    assert private_cups.printer_state_reasons(queue.name) == ["none"]
    assert len(queue.captured()) == 1


def test_pycups_streamed_job_without_a_file(private_cups, capture_queue, sample_pdf):
    data = sample_pdf.read_bytes()
    conn = private_cups.connect()

    job_id = conn.createJob(capture_queue.name, "Streamed lista", {})
    status = conn.startDocument(capture_queue.name, job_id, "lista.pdf", "application/pdf", 1)
    assert status == HTTP_CONTINUE
    assert conn.writeRequestData(data, len(data)) == HTTP_CONTINUE
    assert conn.finishDocument(capture_queue.name) == cups.IPP_OK

    job = private_cups.wait_for(lambda: capture_queue.captured_job(job_id), CAPTURE_TIMEOUT)
    assert job.data == data
    assert job.title == "Streamed lista"


def test_completed_job_keeps_title_in_history_but_no_document(
    private_cups, capture_queue, sample_pdf
):
    job_id = private_cups.lp(capture_queue.name, sample_pdf, title="Historiktest")
    private_cups.wait_for(lambda: private_cups.job_state(job_id) == cups.IPP_JOB_COMPLETED, 10)

    completed = private_cups.connect().getJobs(
        which_jobs="completed", requested_attributes=["job-id", "job-name", "job-state"]
    )
    assert completed[job_id]["job-name"] == "Historiktest"
    assert completed[job_id]["job-state"] == cups.IPP_JOB_COMPLETED
    # PreserveJobFiles No: the document (d#####-###) is gone, only history (c#####) stays.
    private_cups.wait_for(lambda: not private_cups.spool_data_files(), 5, what="no d* files")
    assert private_cups.spool_data_files() == []


def test_cupsd_down_and_back(sample_pdf):
    """Own cupsd, so stopping it cannot disturb the session one."""
    with PrivateCups() as cupsd:
        queue = cupsd.add_capture_queue("restart")
        conn = cupsd.connect()
        assert "restart" in conn.getPrinters()

        cupsd.stop()
        with pytest.raises(cups.IPPError) as raised:  # on an open connection
            conn.getPrinters()
        assert raised.value.args[0] == cups.IPP_SERVICE_UNAVAILABLE
        with pytest.raises(RuntimeError, match="failed to connect"):  # new connection
            cupsd.connect()
        lp = cupsd.run("lp", "-d", "restart", str(sample_pdf), check=False)
        assert lp.returncode != 0

        cupsd.start()
        assert "restart" in conn.getPrinters()  # the old connection reconnects
        job_id = cupsd.lp("restart", sample_pdf, title="After restart")
        cupsd.wait_for(lambda: queue.captured_job(job_id), CAPTURE_TIMEOUT)


def test_job_submitted_while_faulted_survives_cupsd_restart(sample_pdf):
    with PrivateCups() as cupsd:
        queue = cupsd.add_capture_queue("survivor")
        queue.set_fault("media-jam")
        job_id = cupsd.lp("survivor", sample_pdf, title="Survivor")
        cupsd.wait_for(lambda: cupsd.job_state(job_id) == cups.IPP_JOB_HELD, CAPTURE_TIMEOUT)

        cupsd.restart()
        state = cupsd.job_state(job_id)
        assert state in (cups.IPP_JOB_PENDING, cups.IPP_JOB_HELD, cups.IPP_JOB_PROCESSING)
        queue.clear_fault()
        cupsd.wait_for(lambda: queue.captured_job(job_id), RETRY_RECOVERY_TIMEOUT)
        assert len(queue.captured()) == 1
