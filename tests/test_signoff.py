"""Per-page sign-off: every page of a kind with `signoff` (the to-do list by default) carries
"Införd i journal: ____ sign. ____" in its stamp band, above the content and never on it;
other pages do not; the cover counts the pages to sign. Printed through the private cupsd
and read back with poppler, as a nurse's printer would get them."""

from __future__ import annotations

import math
import re

import pytest
from reportlab.lib.units import mm

from appliance.core.printing.kit import SIGNOFF_FIELD
from appliance.core.printing.stamping import SIGNOFF_BAND_MM, SIGNOFF_ROW_SHARE, Stamp
from appliance.devtools.synthetic import make_document
from tests.test_printing import FRONT, page_count, print_and_capture, text_of
from tests.test_stamping import (
    LEFT,
    PRODUCED,
    Word,
    band_text,
    render,
    right,
    shown_size,
    stamped,
    words,
)

FIELD = "Införd i journal: _"
BAND = SIGNOFF_BAND_MM * mm  # points


def overlap(a: Word, b: Word) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def test_every_todo_page_and_only_those_carry_the_field_and_the_cover_counts_them(
        installation):
    inst = installation
    inst.ingest(inst.envelope("todo", pages=3))
    inst.ingest(inst.envelope("medications", pages=2))
    pdf, _ = print_and_capture(inst, "--profile", "full")

    assert page_count(pdf) == FRONT + 3 + 2 + 2  # cover, contacts, to-do, medications, forms
    with_field = [page for page in range(1, page_count(pdf) + 1)
                  if FIELD in text_of(pdf, page)]
    assert with_field == [FRONT + 1, FRONT + 2, FRONT + 3]
    for page in with_field:
        assert re.search(r"Införd i journal: _{6,} sign\. _{6,}", text_of(pdf, page))
    assert "3 sidor att signera efter avbrottet" in text_of(pdf, 1)


def test_the_field_sits_in_the_band_between_the_stamp_and_the_content(installation):
    inst = installation
    inst.ingest(inst.envelope("todo", pages=2))
    pdf, _ = print_and_capture(inst)
    for page in (FRONT + 1, FRONT + 2):
        on_page = words(pdf, page)
        stamp_row = next(w for w in on_page if w.text == "Reservutskrift").y0
        first = next(i for i, w in enumerate(on_page) if w.text == "Införd")
        field = [w for w in on_page[first:] if w.y0 == on_page[first].y0]
        assert " ".join(w.text for w in field).startswith("Införd i journal: ___")
        # The stamp's rows: the headline (the age) and the details row, above the field.
        stamp = [w for w in on_page if w.y0 in (stamp_row, on_page[0].y0)]
        assert on_page[0].text == "Ålder" and on_page[0].y0 < stamp_row
        content = [w for w in on_page if w not in field and w not in stamp]
        assert len(content) > 100  # the list itself, read back whole
        field_bottom = max(w.y1 for w in field)
        assert min(w.y0 for w in field) >= max(w.y1 for w in stamp)  # below the stamp text
        assert all(w.y0 >= field_bottom for w in content), \
            [w for w in content if w.y0 < field_bottom]  # the content starts below it
        assert not any(overlap(c, f) for c in content for f in field)


def test_sign_off_is_configured_per_kind(installation):
    inst = installation
    config = inst.appliance_toml.read_text(encoding="utf-8")
    assert config.count("[kinds.todo]\n") == 1  # `init` writes it
    inst.appliance_toml.write_text(
        config.replace("[kinds.todo]\n", "[kinds.todo]\nsignoff = false\n")
        + "\n[kinds.medications]\nsignoff = true\n", encoding="utf-8")
    inst.ingest(inst.envelope("todo", pages=1))
    inst.ingest(inst.envelope("medications", pages=2))
    pdf, _ = print_and_capture(inst, "--profile", "full", "--wait")
    assert [page for page in range(1, page_count(pdf) + 1)
            if FIELD in text_of(pdf, page)] == [FRONT + 2, FRONT + 3]
    assert "2 sidor att signera efter avbrottet" in text_of(pdf, 1)

    # the button kit (to-do lists only) has nothing to sign now, and says nothing of it
    with open(inst.appliance_toml, "a", encoding="utf-8") as handle:
        handle.write("\n[panel]\nrepeat_guard_seconds = 0\n")
    pdf, _ = print_and_capture(inst, "--profile", "button")
    assert all(FIELD not in text_of(pdf, page) for page in range(1, page_count(pdf) + 1))
    assert "att signera" not in text_of(pdf, 1)


@pytest.mark.parametrize(("landscape", "rotate", "alert"),
                         [(False, 0, False), (True, 0, False), (False, 90, True)])
def test_the_field_draws_in_the_band_only_and_stays_writable_on_an_alert_page(
        landscape, rotate, alert):
    source = make_document("todo", produced_at=PRODUCED, pages=1, landscape=landscape,
                           rotate=rotate)
    width, height = shown_size("A4", landscape, rotate)

    def stamp(field):
        return lambda index, count: Stamp(LEFT, right(index, count), alert=alert,
                                          signoff=field)

    out = stamped(source, stamp(SIGNOFF_FIELD), band_mm=SIGNOFF_BAND_MM)
    with_field = render(out, 1)
    without = render(stamped(source, stamp(None), band_mm=SIGNOFF_BAND_MM), 1)
    rows = math.floor(BAND / height * with_field.height)  # bitmap rows inside the band
    row = with_field.width
    assert FIELD in band_text(out, 1, width, BAND)
    # Below the band the page is pixel for pixel the page without the field.
    assert with_field.pixels[(rows + 1) * row:] == without.pixels[(rows + 1) * row:]
    # The field is drawn in the band's lower row, on white: there is room to write.
    field_top = math.ceil(rows * (1 - SIGNOFF_ROW_SHARE))
    lower = slice((field_top + 1) * row, rows * row)
    assert with_field.pixels[lower] != without.pixels[lower]
    light = sum(p > 192 for p in with_field.pixels[lower]) / (lower.stop - lower.start)
    assert light > 0.8
    if alert:  # the stamp row above it is still the black alert band
        upper = with_field.pixels[:(field_top - 1) * row]
        assert sum(p < 64 for p in upper) / len(upper) > 0.85
