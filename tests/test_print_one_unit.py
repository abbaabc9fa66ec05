"""Printing one unit's lists (`unit=` of the print service, `appliance print --unit`): the
kiosk's per-unit buttons use it. Against the real private cupsd and capture backend."""

from __future__ import annotations

import pytest

from appliance.core.printing.print_service import PrintService, Started, UnknownUnit
from tests.print_helpers import audit_events
from tests.test_printing import print_and_capture, text_of
from tests.test_units import MARKER_A, MARKER_B, NORR, SYD, configure_units, second_sender

VAST = "Hemsjukvård Västra Sölvesborg"  # long: on the kiosk its button wraps


def with_three_units(installation):
    """Norr holds a to-do list (marker A), Syd one (marker B), Väst none."""
    configure_units(installation, NORR, SYD, VAST)
    installation.appliance("senders", "units", "kontor-norr", "--unit", NORR)
    syd = second_sender(installation, "kontor-syd", SYD)
    installation.ingest(installation.envelope(unit=NORR, marker=MARKER_A, pages=2))
    installation.ingest(syd.envelope(unit=SYD, marker=MARKER_B, pages=3))
    return installation


@pytest.fixture
def three_units(installation):
    return with_three_units(installation)


def test_a_units_kit_holds_only_that_units_lists(three_units):
    inst = three_units
    pdf, job = print_and_capture(inst, "--profile", "button", "--unit", SYD)

    text = text_of(pdf)
    assert MARKER_B in text and MARKER_A not in text
    cover = text_of(pdf, 1)
    assert SYD in cover and NORR not in cover and VAST not in cover  # nor Väst's missing list
    assert f"({NORR}" not in job["output"] and f"button, {SYD}" in job["output"]
    printed = audit_events(inst, "printed")
    assert [entry["unit"] for entry in printed] == [SYD]
    assert [doc["unit"] for doc in printed[0]["documents"]] == [SYD]


def test_a_unit_without_lists_gets_its_missing_line_and_the_forms(three_units, tmp_path):
    inst = three_units
    kit = tmp_path / "vast.pdf"
    summary = PrintService(inst.services()).export("full", kit, trigger="test", unit=VAST)

    assert summary.missing == (f"todo/{VAST}",) and summary.documents == ()
    assert summary.forms
    cover = text_of(kit.read_bytes(), 1)
    assert f"SAKNAS: ingen att göra-lista för {VAST} finns i apparaten" in cover
    assert NORR not in cover and SYD not in cover
    assert MARKER_A not in text_of(kit.read_bytes())
    assert audit_events(inst, "exported")[0]["unit"] == VAST


def test_the_whole_kit_still_holds_every_unit(three_units):
    inst = three_units
    outcome = PrintService(inst.services()).request("button", trigger="test")

    assert isinstance(outcome, Started)
    assert sorted(doc["unit"] for doc in outcome.summary.documents) == [NORR, SYD]
    assert outcome.summary.missing == (f"todo/{VAST}",)
    assert audit_events(inst, "printed")[0]["unit"] is None


@pytest.mark.parametrize("units", [(NORR, SYD), ()], ids=["several units", "single-unit"])
def test_an_unknown_unit_is_a_clear_error_and_prints_nothing(installation, units):
    if units:
        configure_units(installation, *units)
    result = installation.appliance("print", "--unit", "Hemsjukvård Påhittad", expect=2)

    assert "no unit 'Hemsjukvård Påhittad'" in result.output
    assert (f"configured: {NORR}, {SYD}" if units else "no units are configured") \
        in result.output
    with pytest.raises(UnknownUnit):
        PrintService(installation.services()).request("button", trigger="test",
                                                      unit="Hemsjukvård Påhittad")
    assert installation.queue.captured() == []
    assert audit_events(installation, "printed") == []
