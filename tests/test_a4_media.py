"""A4 by default (tasks/printer_media.yml): a queue whose printer defaults to Letter prints the
A4 kit unscaled once the role has set the queue's default paper, on a single queue and on a
class's printers; a second run changes nothing. The printer here is cups-filters' Generic
PDF Printer PPD (Letter by default, as a US-configured office printer is) behind the capture
backend, so the bytes captured are what the printer would get after CUPS's filters.
Skipped without .venv-ansible (test-deploy runs them)."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from appliance.devtools.cups_harness.harness import PrivateCups
from tests.ansible_runner import role_tasks_runner

LETTER_PPD = Path("/usr/share/ppd/cupsfilters/Generic-PDF_Printer-PDF.ppd")
A4_POINTS = "595 x 842"
LETTER_POINTS = "612 x 792"


def a4_pdf(path: Path) -> Path:
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer, pagesize=A4)
    page.drawString(72, 72, "A4")
    page.showPage()
    page.save()
    path.write_bytes(buffer.getvalue())
    return path


def printed_page_size(cups: PrivateCups, queue: str, capture: str, pdf: Path,
                      tmp_path: Path) -> str:
    before = len(cups.queues[capture].captured())
    cups.run("lp", "-d", queue, str(pdf))
    cups.wait_for(lambda: len(cups.queues[capture].captured()) > before, timeout=60)
    out = tmp_path / "printed.pdf"
    out.write_bytes(cups.queues[capture].captured()[-1].data)
    info = subprocess.run(["pdfinfo", str(out)], capture_output=True, text=True, check=True)
    return next(line for line in info.stdout.splitlines() if line.startswith("Page size:"))


@pytest.fixture
def letter_printer(private_cups: PrivateCups):
    if not LETTER_PPD.exists():
        pytest.skip(f"{LETTER_PPD} missing (Debian's cups-filters)")
    private_cups.add_capture_queue("letter_office")
    private_cups.run("lpadmin", "-p", "letter_office", "-P", str(LETTER_PPD))
    yield "letter_office"
    for queue in ("media_kit", "letter_office"):
        private_cups.run("lpadmin", "-x", queue, check=False)


def test_a_letter_printer_gets_the_a4_kit_unscaled(letter_printer, private_cups: PrivateCups,
                                                   tmp_path: Path) -> None:
    pdf = a4_pdf(tmp_path / "a4.pdf")
    assert LETTER_POINTS in printed_page_size(private_cups, letter_printer, letter_printer,
                                              pdf, tmp_path)  # what the issue saw

    apply = role_tasks_runner(tmp_path, "printer_media.yml",
                              {"CUPS_SERVER": private_cups.server})
    result = apply({"appliance_printer_queue": letter_printer})
    assert result.returncode == 0 and result.changed == 1, result.output[-4000:]
    assert A4_POINTS in printed_page_size(private_cups, letter_printer, letter_printer,
                                          pdf, tmp_path)
    again = apply({"appliance_printer_queue": letter_printer})
    assert again.returncode == 0 and again.changed == 0, again.output[-4000:]


def test_a_class_of_letter_printers_gets_a4(letter_printer, private_cups: PrivateCups,
                                            tmp_path: Path) -> None:
    private_cups.add_class("media_kit", [letter_printer])
    apply = role_tasks_runner(tmp_path, "printer_media.yml",
                              {"CUPS_SERVER": private_cups.server})
    variables = {"appliance_printer_queue": "media_kit",
                 "appliance_printer_class_members": [{"name": letter_printer,
                                                      "uri": "capture:/x"}]}
    result = apply(variables)
    assert result.returncode == 0, result.output[-4000:]
    for queue in ("media_kit", letter_printer):  # the class and its printer
        assert f"changed: [localhost] => (item={queue})" in result.output, result.output
    again = apply(variables)
    assert again.returncode == 0 and again.changed == 0, again.output[-4000:]
    pdf = a4_pdf(tmp_path / "a4.pdf")
    assert A4_POINTS in printed_page_size(private_cups, "media_kit", letter_printer, pdf,
                                          tmp_path)
