"""Printed sheets (cover sheet, blank forms) from a tiny line-based markup.

The wording lives in Jinja templates under `templates/print/`, so a municipality can adapt
it without touching code. A template renders to lines of the form `DIRECTIVE text`:

    PAGE landscape            orientation of the sheet (first line; default portrait)
    TITLE text                very large, bold
    HUGE text                 the data's age: the largest type on the page
    BIG text                  large
    ALERT text                white bold text on black, for warnings nobody may miss
    HEADING text              section heading
    TEXT text / SMALL text    paragraphs
    BULLET text               bulleted item
    NOTICE text               framed notice (confidentiality)
    TABLE a | b | c           table header; following ROW lines are its rows
    ROW a | b | c
    BIGTABLE a:3 | b:2        the same in larger type across the page, relative column
                              widths after the colon (the contacts sheet)
    WIDETABLE a:3 | b:2       a TABLE across the page, its columns weighted so (the report
                              after an outage)
    GRID Label:2 | Label:1    a ruled form table, relative column widths after the colon
    BLANKROWS 14              that many empty rows for the GRID above; or ROW lines after
                              the GRID: ruled rows filled in but for their empty cells (the
                              checklist of the report after an outage)
    FIELD label | 3           a labelled box with 3 ruled lines to write on
    SPACE 6                   vertical space in mm
    NEWPAGE                   what follows starts on a new page

`**bold**` works inside text. Everything else is escaped, so document titles coming from a
sender cannot inject markup. Lines that are empty or start with `#` are ignored.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import (
    KeepTogether,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from appliance.core.base.errors import ApplianceError
from appliance.core.printing import fonts
from appliance.core.printing.wording import kit_page

MARGIN = 15 * mm
FOOTER_Y = 8 * mm

_BASE = ParagraphStyle("base", fontName=fonts.REGULAR, bulletFontName=fonts.REGULAR,
                       fontSize=10.5, leading=14)
STYLES = {
    "TITLE": ParagraphStyle("title", _BASE, fontName=fonts.BOLD, fontSize=22, leading=27,
                            spaceAfter=4 * mm),
    "HUGE": ParagraphStyle("huge", _BASE, fontName=fonts.BOLD, fontSize=40, leading=46,
                           alignment=TA_CENTER, spaceBefore=3 * mm, spaceAfter=3 * mm),
    "BIG": ParagraphStyle("big", _BASE, fontName=fonts.BOLD, fontSize=15, leading=19,
                          alignment=TA_CENTER, spaceAfter=2 * mm),
    "ALERT": ParagraphStyle("alert", _BASE, fontName=fonts.BOLD, fontSize=13, leading=17,
                            textColor=colors.white, backColor=colors.black, borderPadding=6,
                            spaceBefore=3 * mm, spaceAfter=4 * mm),
    "HEADING": ParagraphStyle("heading", _BASE, fontName=fonts.BOLD, fontSize=13,
                              leading=17, spaceBefore=4 * mm, spaceAfter=1.5 * mm),
    "TEXT": ParagraphStyle("text", _BASE, spaceAfter=1.5 * mm),
    "SMALL": ParagraphStyle("small", _BASE, fontSize=8.5, leading=11),
    "BULLET": ParagraphStyle("bullet", _BASE, leftIndent=5 * mm, bulletIndent=1 * mm,
                             spaceAfter=1 * mm),
    "NOTICE": ParagraphStyle("notice", _BASE, fontName=fonts.BOLD, fontSize=11,
                             leading=15, borderColor=colors.black, borderWidth=1.2,
                             borderPadding=5, alignment=TA_CENTER, spaceBefore=5 * mm),
    "CELL": ParagraphStyle("cell", _BASE, fontSize=9.5, leading=12),
    "CELLHEAD": ParagraphStyle("cellhead", _BASE, fontName=fonts.BOLD, fontSize=9.5,
                               leading=12),
    "BIGCELL": ParagraphStyle("bigcell", _BASE, fontSize=12, leading=15),
    "BIGCELLHEAD": ParagraphStyle("bigcellhead", _BASE, fontName=fonts.BOLD, fontSize=11,
                                  leading=14),
}
_NOT_PARAGRAPHS = ("CELL", "CELLHEAD", "BIGCELL", "BIGCELLHEAD", "BULLET")


class SheetError(ApplianceError, ValueError):
    """A template produced a line the renderer does not understand; names the line."""


@dataclass(frozen=True)
class Footer:
    """What every sheet page carries at the bottom; page numbers count across the kit."""

    left: str
    first_page: int  # number of this sheet's first page within the kit
    total_pages: int


def markup_row(cells) -> str:
    """A `ROW` line of these cells: a `|` in one (a unit's name may hold it; names, notes and
    phone numbers cannot) would split it, so it becomes `/`."""
    return "ROW " + " | ".join(text.replace("|", "/") for text in cells)


def weighted_columns(columns, weights) -> str:
    """`Label:2 | Label:1`: the header of a GRID, BIGTABLE or WIDETABLE."""
    return " | ".join(f"{label}:{weight}"
                      for label, weight in zip(columns, weights, strict=True))


def render_sheet(markup: str, footer: Footer | None = None, *,
                 title: str = "Reservutskrift") -> bytes:
    """Lay out a sheet and return it as PDF bytes (in memory); `title` is its PDF title."""
    orientation, flowables = _parse(markup)
    buffer = io.BytesIO()
    pagesize = landscape(A4) if orientation == "landscape" else A4
    doc = SimpleDocTemplate(buffer, pagesize=pagesize, leftMargin=MARGIN, rightMargin=MARGIN,
                            topMargin=MARGIN, bottomMargin=MARGIN + 4 * mm, invariant=1,
                            initialFontName=fonts.REGULAR,
                            title=title, author="", subject="", creator="")
    decorate = _footer_painter(footer) if footer else (lambda canvas, doc: None)
    doc.build(flowables, onFirstPage=decorate, onLaterPages=decorate)
    return buffer.getvalue()


def _footer_painter(footer: Footer) -> Callable:
    def paint(canvas, doc) -> None:
        width = doc.pagesize[0]
        number = footer.first_page + doc.page - 1
        canvas.saveState()
        canvas.setFont(fonts.REGULAR, 8)
        canvas.drawString(MARGIN, FOOTER_Y, footer.left)
        canvas.drawRightString(width - MARGIN, FOOTER_Y,
                               kit_page(number, footer.total_pages))
        canvas.restoreState()

    return paint


def _inline(text: str) -> str:
    return re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", escape(text.strip()))


def _parse(markup: str):
    orientation = "portrait"
    flowables: list = []
    table: list[list[str]] | None = None
    widths: list[float] | None = None  # a BIGTABLE's or WIDETABLE's relative column widths
    big = False  # a BIGTABLE
    grid: tuple[list[str], list[float]] | None = None
    grid_rows: list[list[str]] | None = None  # ROW lines after a GRID

    def flush_table() -> None:
        nonlocal table, widths, grid_rows
        if table:
            flowables.append(_data_table(table, widths, orientation, big=big))
        if grid is not None and grid_rows:
            flowables.append(_form_grid(*grid, 0, orientation, grid_rows))
        table, widths, grid_rows = None, None, None

    for number, raw in enumerate(markup.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        directive, _, text = line.partition(" ")
        if directive != "ROW":
            flush_table()
        if directive == "PAGE":
            if text not in ("portrait", "landscape"):
                raise SheetError(f"line {number}: PAGE must be portrait or landscape")
            orientation = text
        elif directive in STYLES and directive not in _NOT_PARAGRAPHS:
            flowables.append(Paragraph(_inline(text), STYLES[directive]))
        elif directive == "BULLET":
            flowables.append(Paragraph(_inline(text), STYLES["BULLET"], bulletText="•"))
        elif directive == "TABLE":
            table = [_cells(text)]
        elif directive in ("BIGTABLE", "WIDETABLE"):
            labels, widths = _grid_columns(text, number)
            table, big = [labels], directive == "BIGTABLE"
        elif directive == "ROW":
            if table is not None:
                table.append(_cells(text))
            elif grid_rows is not None:
                grid_rows.append(_cells(text))
            else:
                raise SheetError(f"line {number}: ROW without a TABLE or GRID above it")
        elif directive == "GRID":
            grid, grid_rows = _grid_columns(text, number), []
        elif directive == "BLANKROWS":
            if grid is None or not text.isdigit():
                raise SheetError(f"line {number}: BLANKROWS needs a GRID above and a number")
            flowables.append(_form_grid(*grid, int(text), orientation))
        elif directive == "FIELD":
            label, _, lines = text.rpartition("|")
            if not lines.strip().isdigit():
                raise SheetError(f"line {number}: FIELD needs 'label | number of lines'")
            flowables.append(_field(label.strip(), int(lines), orientation))
        elif directive == "SPACE":
            flowables.append(Spacer(1, float(text) * mm))
        elif directive == "NEWPAGE":
            flowables.append(PageBreak())
        else:
            raise SheetError(f"line {number}: unknown directive {directive!r}")
    flush_table()
    return orientation, flowables


def _cells(text: str) -> list[str]:
    return [cell.strip() for cell in text.split("|")]


def _frame_width(orientation: str) -> float:
    page = landscape(A4) if orientation == "landscape" else A4
    return page[0] - 2 * MARGIN


def _table_style(*commands: tuple) -> TableStyle:
    """`commands`, with the cells' font set to ours: reportlab sets a cell's font before
    drawing it, even a Paragraph or an empty cell, and would otherwise pull in Helvetica
    (not embedded) just for that."""
    return TableStyle([("FONTNAME", (0, 0), (-1, -1), fonts.REGULAR), *commands])


def _data_table(rows: list[list[str]], weights: list[float] | None = None,
                orientation: str = "portrait", *, big: bool = False) -> Table:
    """A TABLE; with `weights`, a WIDETABLE: across the page, its columns as weighted; and
    `big`, a BIGTABLE: the same in larger type."""
    head_style, cell_style = ("BIGCELLHEAD", "BIGCELL") if big else ("CELLHEAD", "CELL")
    head, *body = rows
    data = [[Paragraph(_inline(c), STYLES[head_style]) for c in head]]
    data += [[Paragraph(_inline(c), STYLES[cell_style]) for c in row] for row in body]
    widths = (None if weights is None
              else [_frame_width(orientation) * w / sum(weights) for w in weights])
    table = Table(data, colWidths=widths, repeatRows=1, hAlign="LEFT")
    padding = [("TOPPADDING", (0, 1), (-1, -1), 4), ("BOTTOMPADDING", (0, 1), (-1, -1), 5)]
    table.setStyle(_table_style(
        ("LINEBELOW", (0, 0), (-1, 0), 1, colors.black),
        ("LINEBELOW", (0, 1), (-1, -1), 0.5 if big else 0.3, colors.grey),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        *(padding if big else []),
    ))
    return table


def _grid_columns(text: str, number: int) -> tuple[list[str], list[float]]:
    labels, weights = [], []
    for cell in _cells(text):
        label, _, weight = cell.rpartition(":")
        try:
            weights.append(float(weight))
        except ValueError:
            raise SheetError(f"line {number}: GRID cells are 'Label:width'") from None
        labels.append(label)
    return labels, weights


def _form_grid(labels: list[str], weights: list[float], rows: int, orientation: str,
               filled: list[list[str]] | None = None) -> Table:
    """`rows` empty ruled rows; or the `filled` ones, as tall as their text needs and at
    least a handwritten signature's height."""
    width = _frame_width(orientation)
    widths = [width * w / sum(weights) for w in weights]
    data = [[Paragraph(_inline(label), STYLES["CELLHEAD"]) for label in labels]]
    if filled:
        data += [[Paragraph(_inline(cell), STYLES["CELL"]) for cell in row] for row in filled]
        heights = None
    else:
        data += [[""] * len(labels) for _ in range(rows)]
        heights = [None] + [9.5 * mm] * rows
    table = Table(data, colWidths=widths, rowHeights=heights, repeatRows=1)
    table.setStyle(_table_style(
        ("GRID", (0, 0), (-1, -1), 0.6, colors.black),
        ("BACKGROUND", (0, 0), (-1, 0), colors.Color(0.88, 0.88, 0.88)),
        ("VALIGN", (0, 0), (-1, -1 if filled else 0), "MIDDLE"),
        *([("TOPPADDING", (0, 1), (-1, -1), 7), ("BOTTOMPADDING", (0, 1), (-1, -1), 7)]
          if filled else []),
    ))
    return table


def _field(label: str, lines: int, orientation: str) -> KeepTogether:
    width = _frame_width(orientation)
    data = [[Paragraph(_inline(label), STYLES["CELLHEAD"])]] + [[""] for _ in range(lines)]
    table = Table(data, colWidths=[width], rowHeights=[None] + [8 * mm] * lines)
    table.setStyle(_table_style(
        ("BOX", (0, 0), (-1, -1), 0.8, colors.black),
        ("LINEBELOW", (0, 1), (-1, -2), 0.3, colors.grey),
    ))
    return KeepTogether([table, Spacer(1, 3 * mm)])
