"""The fonts every PDF the project draws embeds: Liberation Sans Regular and Bold.

A PDF that names one of the 14 standard fonts (Helvetica, reportlab's default) without
embedding it is drawn with whatever the machine that renders it substitutes: on a print
server fontconfig picks URW Nimbus Sans, DejaVu Sans or something else, each with its own
glyph widths. The same kit would then look different on each appliance, and text that fits
here could overflow there. So the cover sheet, the forms, the page stamps and the synthetic
lists use these TrueType fonts instead, shipped in `templates/fonts/` (SIL Open Font
License, see the LICENSE there) and embedded as subsets in every PDF. Liberation Sans is
metric-compatible with Helvetica, so layouts designed for Helvetica keep their geometry.

Importing this module registers the fonts with reportlab, once per process; use the names
below with reportlab (`setFont`, `ParagraphStyle(fontName=...)`, `stringWidth`). `<b>` in
platypus paragraphs maps REGULAR to BOLD.
"""

from __future__ import annotations

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

from appliance.core.base.templating import templates_dir

__all__ = ["BOLD", "REGULAR", "unprintable"]

REGULAR = "LiberationSans"
BOLD = "LiberationSans-Bold"

_FILES = {REGULAR: "LiberationSans-Regular.ttf", BOLD: "LiberationSans-Bold.ttf"}


def _register() -> None:
    directory = templates_dir() / "fonts"
    for name, file_name in _FILES.items():
        # asciiReadable: ASCII text keeps its own byte codes in the PDF, so an ASCII string
        # drawn on a page can be found in the uncompressed PDF's bytes (the privacy tests
        # search for such markers); other characters get codes of the embedded subset.
        pdfmetrics.registerFont(TTFont(name, str(directory / file_name), asciiReadable=True))
    # No italics are shipped: <i> falls back to the upright faces rather than failing.
    pdfmetrics.registerFontFamily(REGULAR, normal=REGULAR, bold=BOLD, italic=REGULAR,
                                  boldItalic=BOLD)


def unprintable(text: str, font: str = REGULAR) -> str:
    """The characters of `text` that `font` has no glyph for (drawn as empty boxes)."""
    glyphs = pdfmetrics.getFont(font).face.charToGlyph
    return "".join(sorted({ch for ch in text if ord(ch) not in glyphs}))


_register()
