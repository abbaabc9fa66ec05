"""Stamp every page of a printed document in a band along its top edge.

Each page that goes into a kit says, in its margin, what it is and how old its data is:
kind, unit, data time, print time and "page i of n". The stamp must never cover the
document's own content, whatever the page looks like: A4 or Letter, portrait or
landscape, /Rotate 90/180/270, a CropBox, a MediaBox that does not start at (0, 0), or
all of those mixed in one document.

How: every source page becomes a new *upright* page (no /Rotate) the size of what a
viewer shows of it (its CropBox, clipped to the MediaBox, width and height swapped for
/Rotate 90/270, times /UserUnit). The source page is drawn onto it as a Form XObject,
shrunk uniformly (aspect ratio kept) just enough to free a band of `band_mm` at the top,
and centred horizontally. The form's /BBox clips it to the visible box, so nothing the
source's viewer would have hidden appears, and nothing can reach into the band. The
stamp text is drawn in that band, always upright on the page as shown; the content
keeps the orientation a viewer shows it in (a page with /Rotate 90 whose text runs
sideways still runs sideways, under an upright stamp).

The stamps of a document are drawn with reportlab as one multi-page PDF (one page per
source page, same sizes) and each of its pages is placed as a second Form XObject.

A stamp may carry a sign-off field (`Stamp.signoff`, "Införd i journal: ____ sign. ____"):
the band is then taller (`SIGNOFF_BAND_MM`, chosen by the caller) and split in two rows,
the stamp text in the upper one and the field, to be filled in by hand, in the lower one.
Both rows are inside the band, so the field can never cover content either.

`add_watermark` draws a text diagonally across every page of a finished PDF (the drill's
"ÖVNING – INTE FÖR VÅRD"), outlined so that the content underneath stays legible.

Everything happens in memory: the document holds patient data and is never written to
a file.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pikepdf
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from appliance.core.printing import fonts

__all__ = ["BAND_MM", "SIGNOFF_BAND_MM", "Stamp", "add_watermark", "append_stamped",
           "visible_size"]

BAND_MM: float = 15.0
"""Default height of the stamp band at the top of every page, in millimetres: the
headline row (the data's age, large) and the details row under it."""

SIGNOFF_BAND_MM: float = 22.0
"""Band height for stamps with a sign-off field: the stamp's rows, and a row with room
to write a date and a signature by hand."""

FONT = fonts.REGULAR
ALERT_FONT = fonts.BOLD
HEADLINE_FONT = fonts.BOLD
FONT_SIZE = 7.75
"""The details' font size in points; smaller when the text would not fit the width."""
HEADLINE_SIZE = 13.0
"""The headline's font size in points (bold)."""
HEADLINE_MIN_SIZE = 12.0
"""The headline is never smaller than this on a page of ordinary size: a headline too
long at this size loses its end ("…"), never its beginning, which is the age."""

_MIN_BAND_MM = 4.0
_MAX_BAND_MM = 30.0
_MAX_BAND_FRACTION = 0.25  # on a tiny page the band is cut to this share of its height
_SIDE_INSET = 20.0  # points between the page edge and the stamp text (~7 mm)
_GAP_EM = 2.0  # minimum space between the left and right parts, in ems
_BASELINE_FRACTION = 0.28  # baseline height above the band's lower edge, share of band
_MAX_SIZE_FRACTION = 0.4  # font size at most this share of the band height
_HEADLINE_SHARE = 0.6  # the headline row's share of the rows above a sign-off field
_HEADLINE_SIZE_FRACTION = 0.55  # headline font size at most this share of its row
SIGNOFF_ROW_SHARE = 0.32
"""The sign-off row's share of a band that has one (the rows above hold the stamp)."""
_ELLIPSIS = "…"
_ROTATIONS = (0, 90, 180, 270)
_MAX_PARENT_DEPTH = 64  # page-tree depth searched for inherited attributes


@dataclass(frozen=True)
class Stamp:
    """The text stamped on one page: `left` left-aligned, `right` right-aligned.

    `headline`, if given, is a row of its own above them, bold and large (at least
    HEADLINE_MIN_SIZE on an ordinary page): what must be read from across the room.
    `alert` draws the band black with white bold text, for data too old to trust, so it
    cannot be missed on any page. `signoff`, if given, is a fill-in field drawn
    right-aligned in a last row of the band (black on white, to be written on, even on
    an alert page).
    """

    left: str
    right: str
    alert: bool = False
    signoff: str | None = None
    headline: str = ""


@dataclass(frozen=True)
class _Geometry:
    """Where a source page's visible area is and how it is turned to be read upright."""

    box: tuple[float, float, float, float]  # visible box in the page's own space
    rotate: int  # clockwise, one of 0/90/180/270
    user_unit: float

    @property
    def size(self) -> tuple[float, float]:
        x0, y0, x1, y1 = self.box
        w, h = (x1 - x0) * self.user_unit, (y1 - y0) * self.user_unit
        return (h, w) if self.rotate in (90, 270) else (w, h)

    def matrix(self) -> tuple[float, ...]:
        """Map the visible box onto (0, 0)-(width, height) of the upright page."""
        x0, y0, x1, y1 = self.box
        u = self.user_unit
        a, b, c, d, e, f = {
            0: (1, 0, 0, 1, -x0, -y0),
            90: (0, -1, 1, 0, -y0, x1),  # clockwise: left edge goes to the top
            180: (-1, 0, 0, -1, x1, y1),
            270: (0, 1, -1, 0, y1, -x0),
        }[self.rotate]
        return (a * u, b * u, c * u, d * u, e * u, f * u)


def visible_size(page: pikepdf.Page) -> tuple[float, float]:
    """The (width, height) in points a viewer shows of `page`, after /Rotate.

    That is the CropBox (clipped to the MediaBox; the MediaBox if there is no CropBox),
    with width and height swapped for /Rotate 90 and 270, scaled by /UserUnit.
    Raises ValueError for a page without a usable MediaBox.
    """
    return _geometry(page).size


def append_stamped(
    target: pikepdf.Pdf,
    content: bytes,
    stamp_for_page: Callable[[int, int], Stamp],
    *,
    band_mm: float = BAND_MM,
) -> int:
    """Append every page of the PDF `content` to `target`, upright and stamped.

    `stamp_for_page(index, count)` gets the 0-based page index within this document and
    the document's page count. Returns the number of pages appended. Nothing is written
    to disk.

    `band_mm` (4-30 mm, else ValueError) is the height of the stamp band; on a page so
    small that the band would take more than a quarter of its height, the band is that
    quarter (and the text smaller). If anything fails (an unreadable PDF, a page without
    a usable MediaBox, `stamp_for_page` raising), no page is appended and the exception
    propagates.
    """
    if not _MIN_BAND_MM <= band_mm <= _MAX_BAND_MM:
        raise ValueError(
            f"band_mm must be between {_MIN_BAND_MM} and {_MAX_BAND_MM}, not {band_mm!r}"
        )

    # Foreign objects: pikepdf opens every Pdf with qpdf's setImmediateCopyFrom(true), so
    # `copy_foreign` copies stream data into `target` in memory at once - including the
    # page-to-form XObjects, whose data qpdf otherwise produces lazily from the source
    # page. After the copies, `target` depends neither on the source Pdf nor on its
    # BytesIO, so both are closed here (by the `with` blocks) and nothing needs to be
    # kept alive until `target` is saved. tests/test_stamping.py checks this by saving
    # after the source is gone.
    with pikepdf.open(io.BytesIO(content)) as source:
        # Annotations (filled-in form fields, comments) are not part of the page content
        # and would be lost with the page dictionary; burn those a printer would print
        # into it. Form fields whose look is left to the viewer (NeedAppearances) get
        # appearance streams first, or qpdf would skip them. That generator is best
        # effort: if it fails, the fields that have appearances are still flattened.
        if any("/Annots" in page.obj for page in source.pages):
            with contextlib.suppress(pikepdf.PdfError):
                source.generate_appearance_streams()
            source.flatten_annotations(mode="print")
        pages = list(source.pages)
        count = len(pages)
        if count == 0:
            return 0
        geometries = [_geometry(page) for page in pages]
        bands = [min(band_mm * mm, g.size[1] * _MAX_BAND_FRACTION) for g in geometries]
        stamps = [stamp_for_page(index, count) for index in range(count)]
        for stamp in stamps:
            if not isinstance(stamp, Stamp):
                raise TypeError(f"stamp_for_page must return a Stamp, not {type(stamp)!r}")

        stamp_pdf = _render_stamps([g.size for g in geometries], stamps, bands)
        with pikepdf.open(io.BytesIO(stamp_pdf)) as stamp_source:
            new_pages = [
                _stamped_page(target, page, geometry, stamp_page, band)
                for page, geometry, stamp_page, band in zip(
                    pages, geometries, stamp_source.pages, bands, strict=True
                )
            ]
    # Only now change the page list, so that a failure above leaves `target`'s pages as
    # they were (objects copied so far are unreferenced and not written on save).
    for page in new_pages:
        target.pages.append(page)
    return count


# --------------------------------------------------------------------------- geometry


def _geometry(page: pikepdf.Page) -> _Geometry:
    media = _rectangle(_inherited(page.obj, "/MediaBox"))
    if media is None:
        raise ValueError("page has no usable MediaBox")
    box = media
    crop = _rectangle(_inherited(page.obj, "/CropBox"))
    if crop is not None:
        clipped = (
            max(crop[0], media[0]),
            max(crop[1], media[1]),
            min(crop[2], media[2]),
            min(crop[3], media[3]),
        )
        if clipped[0] < clipped[2] and clipped[1] < clipped[3]:
            box = clipped  # a CropBox wholly outside the MediaBox is ignored
    return _Geometry(
        box=box,
        rotate=_rotation(_inherited(page.obj, "/Rotate")),
        user_unit=_user_unit(page.obj.get("/UserUnit")),
    )


def _inherited(obj: pikepdf.Object, key: str) -> pikepdf.Object | None:
    """`key` of a page dictionary, or inherited from its page-tree ancestors."""
    node: pikepdf.Object | None = obj
    for _ in range(_MAX_PARENT_DEPTH):
        if not isinstance(node, pikepdf.Dictionary):
            return None
        if key in node:
            return node[key]
        node = node.get("/Parent")
    return None


def _rectangle(value: pikepdf.Object | None) -> tuple[float, float, float, float] | None:
    """A PDF rectangle, normalised to (llx, lly, urx, ury); None if absent or unusable."""
    if not isinstance(value, pikepdf.Array) or len(value) != 4:
        return None
    try:
        x0, y0, x1, y1 = (float(v) for v in value)
    except (TypeError, ValueError):
        return None
    left, right = sorted((x0, x1))
    bottom, top = sorted((y0, y1))
    if not (right > left and top > bottom):
        return None
    return (left, bottom, right, top)


def _rotation(value: pikepdf.Object | None) -> int:
    """/Rotate normalised to 0/90/180/270 (-90 is 270, 450 is 90); nonsense is 0."""
    try:
        degrees = int(value) if value is not None else 0
    except (TypeError, ValueError):
        return 0
    degrees %= 360
    return degrees if degrees in _ROTATIONS else 0


def _user_unit(value: pikepdf.Object | None) -> float:
    try:
        unit = float(value) if value is not None else 1.0
    except (TypeError, ValueError):
        return 1.0
    return unit if unit > 0 else 1.0


# --------------------------------------------------------------------------- pages


def _stamped_page(
    target: pikepdf.Pdf,
    page: pikepdf.Page,
    geometry: _Geometry,
    stamp_page: pikepdf.Page,
    band: float,
) -> pikepdf.Page:
    width, height = geometry.size
    # qpdf's getFormXObjectForPage: the page's coalesced content and its /Resources (and
    # /Group) as a Form XObject. Its handle_transformations would put /Rotate and
    # /UserUnit into /Matrix, but based on the TrimBox (not the CropBox the page is
    # shown with) and ignoring where that box starts, leaving the offset to its own
    # placement code; so /BBox and /Matrix are set here, from the visible box.
    form = page.as_form_xobject(handle_transformations=False)
    form.BBox = pikepdf.Array([_real(v) for v in geometry.box])
    form.Matrix = pikepdf.Array([_real(v) for v in geometry.matrix()])
    form = target.copy_foreign(form)
    stamp = target.copy_foreign(stamp_page.as_form_xobject(handle_transformations=False))

    # After /Matrix the form covers (0, 0)-(width, height); shrink it so that its top
    # meets the band, keep its bottom edge, and centre it horizontally.
    scale = (height - band) / height
    offset_x = (width - width * scale) / 2
    placement = " ".join(_num(v) for v in (scale, 0, 0, scale, offset_x, 0))
    contents = f"q {placement} cm /Page Do Q\nq /Stamp Do Q\n".encode("ascii")
    new_page = pikepdf.Dictionary(
        Type=pikepdf.Name.Page,
        MediaBox=pikepdf.Array([0, 0, _real(width), _real(height)]),
        Resources=pikepdf.Dictionary(XObject=pikepdf.Dictionary(Page=form, Stamp=stamp)),
        Contents=target.make_stream(contents),
    )
    return pikepdf.Page(target.make_indirect(new_page))


def _real(value: float) -> float | int:
    rounded = round(value, 4)
    return int(rounded) if rounded == int(rounded) else rounded


def _num(value: float) -> str:
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


# --------------------------------------------------------------------------- stamps


def _render_stamps(
    sizes: Sequence[tuple[float, float]], stamps: Sequence[Stamp], bands: Sequence[float]
) -> bytes:
    """One PDF page per stamp, each the size of its page, with the text in the band."""
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=sizes[0], invariant=1, pageCompression=0,
                    initialFontName=FONT)
    for (width, height), stamp, band in zip(sizes, stamps, bands, strict=True):
        canvas.setPageSize((width, height))
        left, right = _one_line(stamp.left), _one_line(stamp.right)
        headline = _one_line(stamp.headline)
        font = ALERT_FONT if stamp.alert else FONT
        # Rows from the top: the headline, the details, the sign-off field.
        signoff_row = band * SIGNOFF_ROW_SHARE if stamp.signoff else 0.0
        text_rows = band - signoff_row
        headline_row = text_rows * _HEADLINE_SHARE if headline else 0.0
        row = text_rows - headline_row
        canvas.setFillGray(0)
        if stamp.alert:
            canvas.rect(0, height - text_rows, width, text_rows, stroke=0, fill=1)
            canvas.setFillGray(1)
        inset = min(_SIDE_INSET, width * 0.05)
        available = width - 2 * inset
        if headline:
            size = _headline_size(headline, available, headline_row)
            canvas.setFont(HEADLINE_FONT, size)
            canvas.drawString(inset, height - headline_row + headline_row * _BASELINE_FRACTION,
                              _fit(headline, HEADLINE_FONT, size, available))
        size = _font_size(left, right, font, available, row)
        baseline = height - text_rows + row * _BASELINE_FRACTION
        canvas.setFont(font, size)
        if left:
            canvas.drawString(inset, baseline, left)
        if right:
            canvas.drawRightString(width - inset, baseline, right)
        if stamp.signoff:
            field = _one_line(stamp.signoff)
            canvas.setFillGray(0)
            canvas.setFont(FONT, _font_size(field, "", FONT, available, signoff_row))
            canvas.drawRightString(width - inset, height - band + signoff_row * _BASELINE_FRACTION,
                                   field)
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _headline_size(text: str, available: float, row: float) -> float:
    """HEADLINE_SIZE, less for a long text but not below HEADLINE_MIN_SIZE; on a page so
    small that its row cannot hold that, what the row holds."""
    size = min(HEADLINE_SIZE, row * _HEADLINE_SIZE_FRACTION)
    ems = stringWidth(text, HEADLINE_FONT, 1)
    if ems > 0 and size * ems > available:
        size = max(min(size, HEADLINE_MIN_SIZE), available / ems * 0.999)
    return size


def _fit(text: str, font: str, size: float, available: float) -> str:
    """`text`, cut at its end with "…" if it is wider than `available` at `size`."""
    if stringWidth(text, font, size) <= available:
        return text
    words = text
    while words and stringWidth(words + _ELLIPSIS, font, size) > available:
        words = words[:-1]
    return words.rstrip(" ·") + _ELLIPSIS


def _one_line(text: str) -> str:
    """Line breaks, tabs and runs of spaces as single spaces: the stamp is one line."""
    return " ".join(text.split())


def _font_size(left: str, right: str, font: str, available: float, band: float) -> float:
    """FONT_SIZE, or smaller so that left, a gap and right fit on one line."""
    size = min(FONT_SIZE, band * _MAX_SIZE_FRACTION)
    ems = stringWidth(left, font, 1) + stringWidth(right, font, 1)
    if left and right:
        ems += _GAP_EM
    if ems > 0 and size * ems > available:
        size = available / ems * 0.999  # a hair less, against rounding in the PDF
    return size


# --------------------------------------------------------------------------- watermark

WATERMARK_FONT = fonts.BOLD
_WATERMARK_GRAY = 0.35  # outline colour: dark enough to see, light enough to read through
_WATERMARK_LINE_WIDTH = 1.5  # points
_WATERMARK_FILL_ALPHA = 0.12  # a faint fill inside the outline, the content shows through
_WATERMARK_SPAN = 0.8  # share of the page's diagonal the text runs along


def add_watermark(pdf: pikepdf.Pdf, text: str) -> None:
    """Draw `text` over every page of `pdf`, corner to corner (lower left to upper
    right), as large as the diagonal allows, outlined and not filled: unmissable on
    every page, and the content under it stays legible (a faint semi-transparent fill
    inside the outline makes the letters read as one shape). For upright pages (no /Rotate):
    the pages of a composed kit. Changes `pdf` in place."""
    sizes = [_geometry(page).size for page in pdf.pages]
    if not sizes:
        return
    with pikepdf.open(io.BytesIO(_render_watermarks(sizes, text))) as marks:
        for page, mark in zip(pdf.pages, marks.pages, strict=True):
            page.add_overlay(pdf.copy_foreign(mark.as_form_xobject()))


def _render_watermarks(sizes: Sequence[tuple[float, float]], text: str) -> bytes:
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=sizes[0], invariant=1, pageCompression=0,
                    initialFontName=WATERMARK_FONT)
    ems = stringWidth(text, WATERMARK_FONT, 1)
    for width, height in sizes:
        canvas.setPageSize((width, height))
        size = math.hypot(width, height) * _WATERMARK_SPAN / ems
        canvas.translate(width / 2, height / 2)
        canvas.rotate(math.degrees(math.atan2(height, width)))
        canvas.setStrokeGray(_WATERMARK_GRAY)
        canvas.setLineWidth(_WATERMARK_LINE_WIDTH)
        canvas.setFillGray(_WATERMARK_GRAY)
        canvas.setFillAlpha(_WATERMARK_FILL_ALPHA)
        line = canvas.beginText()
        line.setTextRenderMode(2)  # fill (faint), then stroke the outline of each letter
        line.setFont(WATERMARK_FONT, size)
        line.setTextOrigin(-size * ems / 2, -size * 0.35)  # centred on the page's middle
        line.textOut(text)
        canvas.drawText(line)
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()
