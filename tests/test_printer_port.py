"""The printer port's contract, held by the CUPS adapter (on the private cupsd) and by the
memory printer the CUPS-free tests use alike: what the core relies on is the same in both."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from appliance.core.printing.printer import Condition, JobState
from appliance.devtools.synthetic import make_document
from tests.memory_printer import MemoryPrinter


@pytest.fixture(params=["cups", "memory"])
def printer(request):
    if request.param == "memory":
        return MemoryPrinter()
    installation = request.getfixturevalue("installation")
    return installation.printer()


def test_an_idle_printer_is_ready_and_accepting(printer):
    report = printer.report()
    assert (report.condition, report.accepting, report.blocking) == (Condition.READY, True,
                                                                     False)


def test_a_submitted_kit_gets_a_new_id_and_completes(printer):
    pdf = make_document("todo", pages=1, produced_at=datetime(2026, 11, 27, 6, 0, tzinfo=UTC))
    first, second = printer.submit(pdf, "Reservutskrift"), printer.submit(pdf, "Reservutskrift")
    assert isinstance(first, int) and second != first
    deadline = time.monotonic() + 30
    while printer.job_state(second) is not JobState.COMPLETED:
        assert time.monotonic() < deadline, printer.job_state(second)
        time.sleep(0.05)
    assert printer.job_state(first) is JobState.COMPLETED


def test_a_job_it_never_had_is_unknown(printer):
    assert printer.job_state(987654) is JobState.UNKNOWN


def test_supplies_are_read_without_a_job(printer):
    """One reading per printer, for the queue it names, answered (or not askable: the
    capture device) and without warnings. That it makes no job is checked against the
    cupsd's job list in tests/test_printer_supplies.py."""
    readings = printer.supplies()
    assert [r.name for r in readings] == [printer.queue]
    assert all(r.answered is not False and r.warnings == () for r in readings), readings
