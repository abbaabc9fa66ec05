"""Tests for core.printing.stamping: every page upright, stamped in a top band, nothing covered.

The PDFs are checked with poppler (pdfinfo, pdftotext, pdftoppm), read from stdin, so the
checks see the pages the way a viewer or printer would.
"""

from __future__ import annotations

import gc
import html
import io
import math
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

import pikepdf
import pytest
from reportlab.lib.pagesizes import A4, LETTER
from reportlab.lib.units import mm

from appliance.core.printing.stamping import BAND_MM, Stamp, append_stamped, visible_size
from appliance.devtools.synthetic import FOOTER_NOTICE, make_document

pytestmark = pytest.mark.skipif(
    any(shutil.which(tool) is None for tool in ("pdfinfo", "pdftotext", "pdftoppm")),
    reason="poppler-utils (pdfinfo, pdftotext, pdftoppm) are not installed",
)

PRODUCED = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)  # 07:00 in Stockholm
LEFT = "RESERVUTSKRIFT · Att göra-lista · Hemsjukvård Sölvesborg · Data 2026-11-27 07:00"
BAND = BAND_MM * mm  # points
SIZES = {"A4": A4, "Letter": LETTER}
DPI = 50


def right(index: int, count: int) -> str:
    return f"Utskrivet 2026-11-27 12:12 · Sida {index + 1} av {count}"


def kit_stamp(index: int, count: int) -> Stamp:
    return Stamp(LEFT, right(index, count))


def alert_stamp(index: int, count: int) -> Stamp:
    return Stamp(LEFT, right(index, count), alert=True)


def blank_stamp(index: int, count: int) -> Stamp:
    return Stamp("", "")


def stamped(content: bytes, stamp_for_page=kit_stamp, **kwargs) -> bytes:
    target = pikepdf.new()
    appended = append_stamped(target, content, stamp_for_page, **kwargs)
    assert appended == len(target.pages)
    out = io.BytesIO()
    target.save(out)
    return out.getvalue()


def shown_size(page_size: str, landscape: bool, rotate: int) -> tuple[float, float]:
    """The size a viewer shows a make_document page at, worked out independently."""
    width, height = SIZES[page_size]
    if landscape:
        width, height = height, width
    return (height, width) if rotate in (90, 270) else (width, height)


# --------------------------------------------------------------------------- poppler


def poppler(tool: str, pdf: bytes, *args: str) -> bytes:
    result = subprocess.run(
        [tool, *args, "-", *(["-"] if tool == "pdftotext" else [])],
        input=pdf, capture_output=True, check=True, timeout=60,
    )
    return result.stdout


def page_info(pdf: bytes) -> list[tuple[float, float, int]]:
    """(width, height, rotation) of every page, from pdfinfo."""
    info = poppler("pdfinfo", pdf).decode()
    count = int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))
    info = poppler("pdfinfo", pdf, "-f", "1", "-l", str(count)).decode()
    sizes = re.findall(r"^Page\s+\d+ size:\s+([\d.]+) x ([\d.]+) pts", info, re.M)
    rotations = re.findall(r"^Page\s+\d+ rot:\s+(\d+)", info, re.M)
    assert len(sizes) == len(rotations) == count
    return [(float(w), float(h), int(r)) for (w, h), r in zip(sizes, rotations, strict=True)]


def text(pdf: bytes, page: int, *args: str) -> str:
    options = ("-enc", "UTF-8", "-f", str(page), "-l", str(page), *args)
    return poppler("pdftotext", pdf, *options).decode()


def band_text(pdf: bytes, page: int, width: float, band: float = BAND) -> str:
    """The text pdftotext -layout finds in the band alone, whitespace collapsed."""
    cropped = text(pdf, page, "-layout", "-x", "0", "-y", "0", "-W", str(math.ceil(width)),
                   "-H", str(math.floor(band)))
    return " ".join(cropped.split())


@dataclass(frozen=True)
class Word:
    text: str
    x0: float
    y0: float
    x1: float
    y1: float  # points from the top-left corner of the page as shown


WORD = re.compile(
    r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>'
)


def words(pdf: bytes, page: int) -> list[Word]:
    found = WORD.findall(text(pdf, page, "-bbox"))
    return [Word(html.unescape(t), float(a), float(b), float(c), float(d))
            for a, b, c, d, t in found]


@dataclass(frozen=True)
class Bitmap:
    width: int
    height: int
    pixels: bytes  # 8-bit gray, row by row; 0 is black

    def row(self, y: int) -> bytes:
        return self.pixels[y * self.width:(y + 1) * self.width]

    def dark_rows(self, threshold: int = 128) -> list[int]:
        return [y for y in range(self.height) if min(self.row(y)) < threshold]

    def dark_box(self, threshold: int = 128) -> tuple[int, int, int, int]:
        """(top, bottom, left, right) of the pixels darker than threshold."""
        rows = self.dark_rows(threshold)
        cols = [x for x in range(self.width)
                if any(self.pixels[y * self.width + x] < threshold for y in rows)]
        return rows[0], rows[-1], cols[0], cols[-1]


def render(pdf: bytes, page: int, dpi: int = DPI) -> Bitmap:
    # -cropbox: show what a viewer shows (pdftoppm renders the MediaBox by default).
    pgm = poppler(
        "pdftoppm", pdf, "-cropbox", "-gray", "-r", str(dpi), "-f", str(page), "-l", str(page)
    )
    match = re.match(rb"P5\s+(\d+)\s+(\d+)\s+255\s", pgm)
    assert match is not None, pgm[:40]
    width, height = int(match.group(1)), int(match.group(2))
    pixels = pgm[match.end():]
    assert len(pixels) == width * height
    return Bitmap(width, height, pixels)


# --------------------------------------------------------------------------- checks


def check_page(source: bytes, out: bytes, page: int, size: tuple[float, float],
               stamp: Stamp, band: float = BAND) -> None:
    """Page `page` of `out` is `page` of `source` under the stamp, whole and unmoved.

    Every word of the source page is on the output page, in the same order, at the
    position the placement predicts (shrunk by `scale`, centred, below the band) - so
    nothing is cut off, turned or covered - and the band holds exactly the stamp.
    """
    width, height = size
    scale = (height - band) / height
    offset = width * (1 - scale) / 2

    source_words = words(source, page)
    out_words = words(out, page)
    content = [w for w in out_words if w.y0 > band]
    # One line; sorted, as pdftotext's reading order follows the page's dominant text
    # direction, which on a page shown sideways is not the stamp's.
    in_band = sorted((w for w in out_words if w.y1 <= band), key=lambda w: w.x0)
    assert len(content) + len(in_band) == len(out_words), "a word straddles the band edge"

    # Paired by position, not by pdftotext's reading order: on a page shown sideways that
    # order follows heuristics that a change of scale can reshuffle. Each source word must
    # be found, same text, where the placement (a uniform scale and a shift) puts it.
    assert Counter(w.text for w in content) == Counter(w.text for w in source_words)
    unmatched = list(content)
    for before in source_words:
        predicted = (offset + before.x0 * scale, band + before.y0 * scale,
                     offset + before.x1 * scale, band + before.y1 * scale)
        match = next((w for w in unmatched if w.text == before.text and all(
            abs(got - want) <= 0.5 for got, want in zip((w.x0, w.y0, w.x1, w.y1), predicted,
                                                         strict=True))), None)
        assert match is not None, f"{before} not found at {predicted}"
        unmatched.remove(match)

    expected = " ".join(f"{stamp.left} {stamp.right}".split())
    assert " ".join(w.text for w in in_band) == expected
    for w in in_band:
        assert 0 <= w.x0 < w.x1 <= width
    # Upright: pdftotext -layout reads the band as one line, left part then right part.
    assert band_text(out, page, width, band) == expected

    # And in plain text extraction: the stamp and every word of the source page.
    out_text = text(out, page)
    assert " ".join(stamp.left.split()) in out_text
    assert " ".join(stamp.right.split()) in out_text
    assert not Counter(text(source, page).split()) - Counter(out_text.split())


# --------------------------------------------------------------------------- layout

CASES = {
    # id: (kind, page_size, landscape, rotate)
    "a4-portrait": ("todo", "A4", False, 0),
    "a4-landscape": ("medications", "A4", True, 0),
    "letter-portrait": ("occupancy", "Letter", False, 0),
    "letter-landscape": ("relatives", "Letter", True, 0),
    "a4-rotate90": ("todo", "A4", False, 90),
    "a4-rotate180": ("medications", "A4", False, 180),
    "a4-rotate270": ("occupancy", "A4", False, 270),
    "a4-landscape-rotate90": ("relatives", "A4", True, 90),
    "letter-rotate270": ("todo", "Letter", False, 270),
}


@pytest.mark.parametrize("case", CASES)
def test_every_page_upright_same_size_stamped_and_whole(case):
    kind, page_size, landscape, rotate = CASES[case]
    marker = f"MRK-{case}"[:20]
    source = make_document(kind, produced_at=PRODUCED, pages=3, page_size=page_size,
                           landscape=landscape, rotate=rotate, marker=marker)
    size = shown_size(page_size, landscape, rotate)
    with pikepdf.open(io.BytesIO(source)) as pdf:
        for page in pdf.pages:
            assert visible_size(page) == pytest.approx(size, abs=1e-3)

    out = stamped(source)

    info = page_info(out)
    assert len(info) == 3
    for width, height, rotation in info:
        assert rotation == 0
        assert (width, height) == pytest.approx(size, abs=0.01)
    with pikepdf.open(io.BytesIO(out)) as pdf:
        assert all("/Rotate" not in page.obj for page in pdf.pages)

    for n in (1, 2, 3):
        check_page(source, out, n, size, kit_stamp(n - 1, 3))
        page_text = text(out, n)
        assert marker in page_text
        assert f"Sida {n} av 3" in page_text  # the source's own footer
        assert FOOTER_NOTICE in page_text
    if rotate == 0:  # content reads the same way as the stamp: the stamp is the top line
        first_line = next(line for line in text(out, 1, "-layout").splitlines() if line.strip())
        assert " ".join(first_line.split()) == " ".join(f"{LEFT} {right(0, 3)}".split())


def test_mixed_sizes_and_orientations_in_one_document():
    parts = [
        ("todo", "A4", False, 0),
        ("medications", "A4", True, 0),
        ("occupancy", "Letter", False, 0),
        ("relatives", "A4", False, 90),
        ("todo", "Letter", True, 270),
        ("medications", "A4", False, 180),
    ]
    mixed = pikepdf.new()
    for kind, page_size, landscape, rotate in parts:
        part = make_document(kind, produced_at=PRODUCED, pages=1, page_size=page_size,
                             landscape=landscape, rotate=rotate)
        with pikepdf.open(io.BytesIO(part)) as pdf:
            mixed.pages.extend(pdf.pages)
    buffer = io.BytesIO()
    mixed.save(buffer)
    source = buffer.getvalue()

    calls = []

    def stamp_for_page(index, count):
        calls.append((index, count))
        return Stamp(f"{LEFT} · dokument {index}", right(index, count), alert=index == 4)

    out = stamped(source, stamp_for_page)

    assert calls == [(i, 6) for i in range(6)]
    info = page_info(out)
    assert len(info) == 6
    for n, ((_, page_size, landscape, rotate), (width, height, rotation)) in enumerate(
        zip(parts, info, strict=True), start=1
    ):
        size = shown_size(page_size, landscape, rotate)
        assert rotation == 0
        assert (width, height) == pytest.approx(size, abs=0.01)
        check_page(source, out, n, size, stamp_for_page(n - 1, 6))


# --------------------------------------------------------------------------- pixels


def band_rows(bitmap_height: int, page_height: float) -> int:
    """Rows of the bitmap wholly inside the band."""
    return math.floor(BAND / page_height * bitmap_height)


@pytest.mark.parametrize(("landscape", "rotate"), [(False, 0), (True, 0), (False, 90),
                                                   (False, 180), (False, 270)])
def test_stamp_in_band_and_content_below_it_uncovered(landscape, rotate):
    source = make_document("todo", produced_at=PRODUCED, pages=1, landscape=landscape,
                           rotate=rotate)
    width, height = shown_size("A4", landscape, rotate)
    scale = (height - BAND) / height
    plain = render(stamped(source, blank_stamp), 1)
    with_stamp = render(stamped(source), 1)
    original = render(source, 1)
    band = band_rows(plain.height, height)

    # Without stamp text nothing is drawn in the band; the content starts below it.
    assert plain.dark_rows()[0] > band
    # The content's bounding box is the source's, shrunk and moved below the band:
    # nothing was cut off, nothing moved up into the band.
    top, bottom, left, right_ = original.dark_box()
    px = plain.height / height  # pixels per point
    expected = (
        BAND * px + top * scale,
        BAND * px + bottom * scale,
        width * (1 - scale) / 2 * px + left * scale,
        width * (1 - scale) / 2 * px + right_ * scale,
    )
    assert plain.dark_box() == pytest.approx(expected, abs=2.0)

    # The stamp draws in the band, and only there: below it, the page is pixel for pixel
    # the page without stamp.
    assert sum(p < 128 for p in with_stamp.pixels[:band * with_stamp.width]) > 100
    assert with_stamp.pixels[(band + 1) * with_stamp.width:] == \
        plain.pixels[(band + 1) * plain.width:]


def test_alert_band_is_black_with_white_text_on_every_page():
    source = make_document("todo", produced_at=PRODUCED, pages=2, rotate=90)
    width, height = shown_size("A4", False, 90)
    out = stamped(source, alert_stamp)
    normal = stamped(source)
    for n in (1, 2):
        bitmap = render(out, n)
        band = band_rows(bitmap.height, height)
        band_pixels = bitmap.pixels[:band * bitmap.width]
        dark = sum(p < 64 for p in band_pixels) / len(band_pixels)
        light = sum(p > 192 for p in band_pixels)
        assert dark > 0.85  # a black band ...
        assert light > 50  # ... with white text in it
        below = (band + 1) * bitmap.width
        assert bitmap.pixels[below:] == render(normal, n).pixels[below:]
        check_page(source, out, n, (width, height), alert_stamp(n - 1, 2))

    # A normal stamp is a white band with dark text.
    bitmap = render(normal, 1)
    band_pixels = bitmap.pixels[:band_rows(bitmap.height, height) * bitmap.width]
    assert sum(p < 64 for p in band_pixels) / len(band_pixels) < 0.15


@pytest.mark.parametrize(("page_size", "landscape", "rotate"),
                         [("A4", False, 0), ("Letter", False, 90), ("A4", True, 0)])
def test_long_stamp_shrinks_instead_of_overflowing(page_size, landscape, rotate):
    source = make_document("medications", produced_at=PRODUCED, pages=1, page_size=page_size,
                           landscape=landscape, rotate=rotate)
    width, height = shown_size(page_size, landscape, rotate)
    long_left = " · ".join([LEFT] * 4)
    long_right = "Utskrivet 2026-11-27 12:12 av nattpatrullen Sölvesborg · Sida 1 av 1"
    stamp = Stamp(long_left, long_right)
    out = stamped(source, lambda index, count: stamp)
    normal = stamped(source)

    check_page(source, out, 1, (width, height), stamp)  # whole text, words within page
    band_words = sorted((w for w in words(out, 1) if w.y1 <= BAND), key=lambda w: w.x0)
    left_words = band_words[:len(long_left.split())]
    right_words = band_words[len(long_left.split()):]
    assert [w.text for w in right_words] == long_right.split()
    assert max(w.x1 for w in left_words) < min(w.x0 for w in right_words)  # no overlap
    assert min(w.x0 for w in band_words) > 0
    assert max(w.x1 for w in band_words) < width
    # It got there by a smaller font than the normal stamp's.
    normal_height = next(w for w in words(normal, 1) if w.text == "RESERVUTSKRIFT")
    long_height = band_words[0]
    assert long_height.y1 - long_height.y0 < 0.9 * (normal_height.y1 - normal_height.y0)


# --------------------------------------------------------------------------- boxes


def shifted(content: bytes, dx: float, dy: float) -> bytes:
    """The same pages, with MediaBox and drawing moved to start at (dx, dy)."""
    with pikepdf.open(io.BytesIO(content)) as pdf:
        for page in pdf.pages:
            x0, y0, x1, y1 = (float(v) for v in page.obj.MediaBox)
            page.contents_add(f"q 1 0 0 1 {dx} {dy} cm\n".encode(), prepend=True)
            page.contents_add(b"\nQ\n")
            page.obj.MediaBox = [x0 + dx, y0 + dy, x1 + dx, y1 + dy]
        out = io.BytesIO()
        pdf.save(out)
        return out.getvalue()


@pytest.mark.parametrize("rotate", [0, 90, 180, 270])
def test_mediabox_not_at_origin(rotate):
    source = make_document("todo", produced_at=PRODUCED, pages=1, rotate=rotate, marker="ORIGIN")
    moved = shifted(source, 100, -250)
    size = shown_size("A4", False, rotate)
    for a, b in zip(words(moved, 1), words(source, 1), strict=True):  # same page as shown
        assert a.text == b.text
        assert (a.x0, a.y0, a.x1, a.y1) == pytest.approx((b.x0, b.y0, b.x1, b.y1), abs=0.01)
    out = stamped(moved)
    assert page_info(out)[0][:2] == pytest.approx(size, abs=0.01)
    check_page(moved, out, 1, size, kit_stamp(0, 1))
    assert render(out, 1).pixels == render(stamped(source), 1).pixels


@pytest.mark.parametrize("rotate", [0, 90, 270])
def test_cropbox_is_what_is_shown_and_what_is_kept(rotate):
    source = make_document("relatives", produced_at=PRODUCED, pages=1, rotate=rotate)
    with pikepdf.open(io.BytesIO(source)) as pdf:
        page = pdf.pages[0]
        x0, y0, x1, y1 = (float(v) for v in page.obj.MediaBox)
        # Cut 30 pt off the left and 100 pt off the top of the drawing (the title and
        # unit lines), and let the box stick out beyond the MediaBox at the bottom and on
        # the right. (Not wider or taller than the MediaBox: poppler then ignores that
        # side of the CropBox instead of clipping it to the MediaBox as the spec says.)
        page.obj.CropBox = [x0 + 30, y0 - 20, x1 + 10, y1 - 100]
        # A viewer shows the CropBox, not the TrimBox (which qpdf's page-to-form uses).
        page.obj.TrimBox = [x0 + 100, y0 + 100, x1 - 100, y1 - 200]
        # Ink outside the MediaBox but inside the CropBox is not shown either.
        page.contents_add(f"0 g {x1 + 1} {y0 + 50} 8 600 re f".encode())
        crop_w, crop_h = x1 - x0 - 30, y1 - y0 - 100
        expected = (crop_h, crop_w) if rotate in (90, 270) else (crop_w, crop_h)
        assert visible_size(page) == pytest.approx(expected)
        buffer = io.BytesIO()
        pdf.save(buffer)
        cropped = buffer.getvalue()

    out = stamped(cropped)
    assert page_info(out)[0][:2] == pytest.approx(expected, abs=0.01)
    # What was cropped away stays away (clipped), what was shown is all there, in place.
    original = render(cropped, 1)
    plain = render(stamped(cropped, blank_stamp), 1)
    width, height = expected
    scale = (height - BAND) / height
    px = plain.height / height
    # Any ink, not only dark pixels: at this resolution a thin stroke at the edge, shrunk,
    # can render lighter than half grey and seem to vanish.
    top, bottom, left, right_ = original.dark_box(threshold=250)
    assert plain.dark_box(threshold=250) == pytest.approx((
        BAND * px + top * scale,
        BAND * px + bottom * scale,
        width * (1 - scale) / 2 * px + left * scale,
        width * (1 - scale) / 2 * px + right_ * scale,
    ), abs=2.0)
    assert "Anhöriglista" not in text(out, 1)  # the title was above the CropBox


# --------------------------------------------------------------------------- visible_size


def test_visible_size_rules():
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(200, 100))
    page = pdf.pages[0]
    assert visible_size(page) == (200, 100)
    page.obj.Rotate = -90
    assert visible_size(page) == (100, 200)
    page.obj.Rotate = 450
    assert visible_size(page) == (100, 200)
    page.obj.Rotate = 180
    assert visible_size(page) == (200, 100)
    del page.obj.Rotate
    pdf.Root.Pages.Rotate = 270  # inherited from the page tree
    assert visible_size(page) == (100, 200)
    del pdf.Root.Pages.Rotate
    page.obj.MediaBox = [50, 50, -150, -50]  # corners in any order
    assert visible_size(page) == (200, 100)
    page.obj.CropBox = [0, 0, 500, 500]  # clipped to the MediaBox
    assert visible_size(page) == (50, 50)
    page.obj.CropBox = [1000, 1000, 1100, 1100]  # outside it: ignored
    assert visible_size(page) == (200, 100)
    page.obj.UserUnit = 2
    assert visible_size(page) == (400, 200)
    del page.obj.MediaBox
    with pytest.raises(ValueError, match="MediaBox"):
        visible_size(page)


# --------------------------------------------------------------------------- kits


def test_kit_of_several_documents_and_sources_need_not_stay_alive():
    first = make_document("todo", produced_at=PRODUCED, pages=2, marker="FIRSTDOC")
    second = make_document("medications", produced_at=PRODUCED, pages=3, rotate=90,
                           marker="SECONDDOC")
    target = pikepdf.new()
    target.add_blank_page(page_size=A4)  # e.g. the cover sheet
    seen = []

    def stamp_for_page(index, count):
        seen.append((index, count))
        return kit_stamp(index, count)

    assert append_stamped(target, first, stamp_for_page) == 2
    assert append_stamped(target, second, stamp_for_page) == 3
    assert seen == [(0, 2), (1, 2), (0, 3), (1, 3), (2, 3)]
    # Nothing refers back to the source bytes or the Pdfs opened from them: drop them all
    # before saving, and the pages are still complete.
    del first, second
    gc.collect()
    buffer = io.BytesIO()
    target.save(buffer)
    out = buffer.getvalue()
    assert len(page_info(out)) == 6
    assert text(out, 1).strip() == ""
    assert "FIRSTDOC" in text(out, 2) and "Sida 2 av 2" in text(out, 3)
    assert "SECONDDOC" in text(out, 4) and right(2, 3) in text(out, 6)


def test_annotations_and_form_fields_that_print_are_kept():
    source = make_document("todo", produced_at=PRODUCED, pages=1)
    with pikepdf.open(io.BytesIO(source)) as pdf:
        font = pdf.make_indirect(pikepdf.Dictionary(
            Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1,
            BaseFont=pikepdf.Name.Helvetica))
        annots = []
        for flags, word, y in ((4, "PRINTEDNOTE", 300), (0, "SCREENONLYNOTE", 340)):
            appearance = pdf.make_stream(
                f"BT /F1 12 Tf 2 8 Td ({word}) Tj ET".encode(),
                Type=pikepdf.Name.XObject, Subtype=pikepdf.Name.Form, BBox=[0, 0, 150, 30],
                Resources=pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font)))
            annots.append(pdf.make_indirect(pikepdf.Dictionary(
                Type=pikepdf.Name.Annot, Subtype=pikepdf.Name.Square, F=flags,
                Rect=[300, y, 450, y + 30], AP=pikepdf.Dictionary(N=appearance))))
        # A filled-in text field whose look is left to the viewer (NeedAppearances).
        field = pdf.make_indirect(pikepdf.Dictionary(
            Type=pikepdf.Name.Annot, Subtype=pikepdf.Name.Widget, FT=pikepdf.Name.Tx,
            T=pikepdf.String("anteckning"), V=pikepdf.String("FIELDVALUE"), F=4,
            Rect=[300, 400, 450, 420], P=pdf.pages[0].obj,
            DA=pikepdf.String("/Helv 10 Tf 0 g")))
        annots.append(field)
        pdf.Root.AcroForm = pikepdf.Dictionary(
            Fields=pikepdf.Array([field]), NeedAppearances=True,
            DA=pikepdf.String("/Helv 10 Tf 0 g"),
            DR=pikepdf.Dictionary(Font=pikepdf.Dictionary(Helv=font)))
        pdf.pages[0].obj.Annots = pikepdf.Array(annots)
        buffer = io.BytesIO()
        pdf.save(buffer)
        annotated = buffer.getvalue()

    out_text = text(stamped(annotated), 1)
    assert "PRINTEDNOTE" in out_text
    assert "FIELDVALUE" in out_text
    assert "SCREENONLYNOTE" not in out_text


# --------------------------------------------------------------------------- failures


def test_failures_leave_target_pages_alone():
    source = make_document("todo", produced_at=PRODUCED, pages=3)
    target = pikepdf.new()
    target.add_blank_page()

    def failing(index, count):
        if index == 2:
            raise RuntimeError("no stamp")
        return kit_stamp(index, count)

    with pytest.raises(RuntimeError):
        append_stamped(target, source, failing)
    with pytest.raises(ValueError, match="band_mm"):
        append_stamped(target, source, kit_stamp, band_mm=1)
    with pytest.raises(ValueError, match="band_mm"):
        append_stamped(target, source, kit_stamp, band_mm=80)
    with pytest.raises(ValueError, match="band_mm"):
        append_stamped(target, source, kit_stamp, band_mm=float("nan"))
    with pytest.raises(TypeError):
        append_stamped(target, source, lambda index, count: "not a stamp")
    with pytest.raises(pikepdf.PdfError):
        append_stamped(target, b"%PDF-1.4 not really", kit_stamp)
    assert len(target.pages) == 1


def test_band_height_is_configurable():
    source = make_document("todo", produced_at=PRODUCED, pages=1, landscape=True)
    out = stamped(source, band_mm=15)
    check_page(source, out, 1, (A4[1], A4[0]), kit_stamp(0, 1), band=15 * mm)


def test_tiny_page_gets_a_smaller_band_and_stamp_text_is_one_line():
    tiny = pikepdf.new()
    tiny.add_blank_page(page_size=(200, 80))  # band at most a quarter: 20 pt, not 25.5
    font = tiny.make_indirect(pikepdf.Dictionary(
        Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica))
    tiny.pages[0].obj.Resources = pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font))
    tiny.pages[0].contents_add(b"BT /F1 10 Tf 10 60 Td (Top line) Tj 0 -50 Td (Bottom) Tj ET")
    buffer = io.BytesIO()
    tiny.save(buffer)
    source = buffer.getvalue()
    stamp = Stamp("Kvittens\n  Sölvesborg", "Sida\t1 av 1")

    out = stamped(source, lambda index, count: stamp)

    assert page_info(out) == [(200, 80, 0)]
    check_page(source, out, 1, (200, 80), stamp, band=20)
    assert band_text(out, 1, 200, 20) == "Kvittens Sölvesborg Sida 1 av 1"


# --------------------------------------------------------------------------- memory only


def test_never_writes_to_disk(tmp_path, monkeypatch):
    temp = tmp_path / "tmp"
    cwd = tmp_path / "cwd"
    temp.mkdir()
    cwd.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    for variable in ("TMPDIR", "TEMP", "TMP"):
        monkeypatch.setenv(variable, str(temp))
    monkeypatch.chdir(cwd)
    source = make_document("todo", produced_at=PRODUCED, pages=5, rotate=90, marker="SECRET")

    target = pikepdf.new()
    append_stamped(target, source, kit_stamp)
    append_stamped(target, source, alert_stamp)
    target.save(io.BytesIO())

    assert os.listdir(temp) == []
    assert os.listdir(cwd) == []


def test_two_hundred_pages(capsys):
    source = make_document("todo", produced_at=PRODUCED, pages=200)
    target = pikepdf.new()
    started = time.perf_counter()
    assert append_stamped(target, source, kit_stamp) == 200
    buffer = io.BytesIO()
    target.save(buffer)
    elapsed = time.perf_counter() - started
    with capsys.disabled():
        print(f"\nstamped and saved 200 pages in {elapsed:.2f} s")
    out = buffer.getvalue()
    assert len(page_info(out)) == 200
    assert right(199, 200) in text(out, 200)


def test_document_without_pages_appends_nothing():
    empty = io.BytesIO()
    pikepdf.new().save(empty)
    target = pikepdf.new()
    assert append_stamped(target, empty.getvalue(), kit_stamp) == 0
    assert len(target.pages) == 0
