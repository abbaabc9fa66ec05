"""Every list page of a real kit tells its own age, first, large and bold: a page separated
from the cover still says how old it is at a glance (issue 21). Read back from the composed
PDF: the words and their boxes with pdftotext -bbox, the headline's font and size from the
stamp's content stream with pikepdf, the black band of a list that is not current from
pdftoppm's pixels. For short and long unit names, portrait, landscape, Letter, a page
shown sideways and an odd size; never overlapping the page's own text."""

from __future__ import annotations

import html
import io
import re
import subprocess
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pikepdf
import pytest
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from appliance.core.config.settings import ProfileConfig
from appliance.core.printing import fonts
from appliance.core.printing.kit import KitContext, KitDocument, compose
from appliance.core.printing.stamping import BAND_MM, SIGNOFF_BAND_MM
from appliance.devtools.synthetic import make_document

AT_LEAST_POINTS = 12  # the floor, not the module's constant: this test judges it
NOW = datetime(2026, 12, 7, 2, 10, tzinfo=UTC)
PRODUCED = NOW - timedelta(hours=3, minutes=25)
LONG_UNIT = "Hemsjukvård Sölvesborg-Mjällby, nattpatrullen och korttidsboendet Västanvind"
WORD = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">'
                  r"(.*?)</word>")


def odd_size_document() -> bytes:
    """A5, its text up to 12 mm from the top edge, as a small office template would be."""
    buffer = io.BytesIO()
    width, height = 148 * mm, 210 * mm
    canvas = Canvas(buffer, pagesize=(width, height), invariant=1)
    canvas.setFont(fonts.REGULAR, 11)
    for line in range(12):
        canvas.drawString(12 * mm, height - 12 * mm - line * 14, f"Rad{line} Patientnamn Åtgärd")
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


CASES = {
    "a4-portrait-short-unit": ("Syd", lambda unit: make_document("todo", unit=unit, pages=2,
                                                                   produced_at=PRODUCED)),
    "a4-landscape-long-unit": (LONG_UNIT, lambda unit: make_document(
        "medications", unit=unit, pages=1, produced_at=PRODUCED, landscape=True)),
    "letter": ("Hemsjukvård Norr", lambda unit: make_document(
        "occupancy", unit=unit, pages=1, produced_at=PRODUCED, page_size="Letter")),
    "shown-sideways": ("Hemsjukvård Väst", lambda unit: make_document(
        "relatives", unit=unit, pages=1, produced_at=PRODUCED, rotate=90)),
    "a5-odd-size": (LONG_UNIT, lambda unit: odd_size_document()),
}


def words(pdf: bytes, page: int) -> list[tuple[str, float, float, float, float]]:
    xml = subprocess.run(["pdftotext", "-bbox", "-f", str(page), "-l", str(page), "-", "-"],
                         input=pdf, capture_output=True, check=True).stdout.decode()
    return [(html.unescape(t), float(a), float(b), float(c), float(d))
            for a, b, c, d, t in WORD.findall(xml)]


def headline_font(pdf: bytes, page: int) -> tuple[str, float]:
    """The BaseFont and size of the first text the page's stamp draws."""
    with pikepdf.open(io.BytesIO(pdf)) as opened:
        stamp = opened.pages[page - 1].obj.Resources.XObject.Stamp
        for operands, operator in pikepdf.parse_content_stream(stamp):
            if str(operator) == "Tf":
                name, size = operands
                return str(stamp.Resources.Font[name].BaseFont), float(size)
    raise AssertionError("the stamp draws no text")


def band_darkness(pdf: bytes, page: int, band_points: float) -> float:
    """The mean grey (0 black, 255 white) of the band's stamp rows, at 36 dpi."""
    pgm = subprocess.run(["pdftoppm", "-gray", "-r", "36", "-f", str(page), "-l", str(page), "-"],
                         input=pdf, capture_output=True, check=True).stdout
    match = re.match(rb"P5\s+(\d+)\s+(\d+)\s+255\s", pgm)
    width = int(match.group(1))
    pixels = pgm[match.end():]
    rows = int(band_points * 36 / 72 * 0.6)  # the headline row, inside the band
    top = pixels[:rows * width]
    return sum(top) / len(top)


def compose_kit(content: bytes, unit: str, *, stale: bool, signoff: bool = False):
    pages = len(pikepdf.open(io.BytesIO(content)).pages)
    document = KitDocument("todo", "Att göra-lista", unit, PRODUCED, pages, stale, content,
                           signoff=signoff)
    context = KitContext("jourrum", NOW, ZoneInfo("Europe/Stockholm"), ())
    kit = compose(ProfileConfig("button", "Knappen", ("todo",), False), [document], [], context)
    return kit.pdf, kit.summary.pages - pages, pages  # the cover's pages come first


@pytest.mark.parametrize("stale", [False, True], ids=["current", "not-current"])
@pytest.mark.parametrize("case", list(CASES))
def test_every_list_page_says_its_age_first_large_and_bold(case: str, stale: bool) -> None:
    unit, make = CASES[case]
    content = make(unit)
    pdf, cover_pages, pages = compose_kit(content, unit, stale=stale)
    band = BAND_MM * mm
    for index in range(pages):
        page = cover_pages + index + 1
        found = words(pdf, page)
        in_band = sorted((w for w in found if w[4] <= band + 0.5), key=lambda w: (w[2], w[1]))
        below = [w for w in found if w[2] >= band - 0.5]
        assert len(in_band) + len(below) == len(found), "a word straddles the band's edge"
        assert Counter(w[0] for w in below) == Counter(w[0] for w in words(content, index + 1)), \
            "the page's own text is not all below the band"

        band_text = " ".join(w[0] for w in in_band)
        assert [w[0] for w in in_band[:4]] == ["Ålder", "3", "h", "25"], band_text
        if stale:
            assert "EJ AKTUELL" in band_text
        assert "Att göra-lista" in band_text
        assert unit.split()[0] in band_text
        assert f"Utskrift sida {page} av {cover_pages + pages}" in band_text
        assert "Data från 2026-12-06 23:45" in band_text

        base_font, size = headline_font(pdf, page)
        assert size >= AT_LEAST_POINTS and "Bold" in base_font, (base_font, size)
        darkness = band_darkness(pdf, page, band)
        assert (darkness < 110) if stale else (darkness > 200), darkness


def test_a_long_unit_name_is_cut_at_its_end_never_the_age() -> None:
    pdf, cover_pages, _ = compose_kit(make_document("todo", unit=LONG_UNIT * 2, pages=1,
                                                    produced_at=PRODUCED),
                                      LONG_UNIT * 2, stale=True)
    band = [w[0] for w in sorted(words(pdf, cover_pages + 1), key=lambda w: (w[2], w[1]))
            if w[4] <= BAND_MM * mm]
    line = " ".join(band)
    assert line.startswith("Ålder 3 h 25 min · EJ AKTUELL · Att göra-lista"), line
    assert "…" in line
    assert headline_font(pdf, cover_pages + 1)[1] >= AT_LEAST_POINTS


def test_the_signoff_band_keeps_the_age_and_the_field() -> None:
    content = make_document("todo", unit="Syd", pages=1, produced_at=PRODUCED)
    pdf, cover_pages, _ = compose_kit(content, "Syd", stale=False, signoff=True)
    found = words(pdf, cover_pages + 1)
    band = SIGNOFF_BAND_MM * mm
    in_band = sorted((w for w in found if w[4] <= band + 0.5), key=lambda w: (w[2], w[1]))
    assert [w[0] for w in in_band[:4]] == ["Ålder", "3", "h", "25"]
    assert "Införd" in [w[0] for w in in_band]
    assert Counter(w[0] for w in found if w[2] >= band - 0.5) == \
        Counter(w[0] for w in words(content, 1))
