"""Checks that a document is a PDF this appliance can print, without writing it anywhere."""

from __future__ import annotations

import io

import pikepdf

from appliance.core.errors import ApplianceError

PDF_HEADER = b"%PDF-"
HEADER_SEARCH_BYTES = 1024  # PDF readers accept junk before the header; so do we, this far


class UnreadablePdf(ApplianceError, ValueError):
    """The bytes are not a PDF that can be printed; the message says why (no content)."""


def count_pages(content: bytes) -> int:
    """Open the PDF in memory, decode every page's content, and return the page count.

    Decoding the content streams catches corrupt data that would otherwise open fine and
    only fail at print time, in the middle of an outage. A file that qpdf has to repair
    (a truncated export opens "fine" with its pages blank) is refused too: the sender hears
    about it now, while the record system can still make a good one.
    """
    if PDF_HEADER not in content[:HEADER_SEARCH_BYTES]:
        raise UnreadablePdf("does not start like a PDF (no %PDF- header)")
    try:
        with pikepdf.open(io.BytesIO(content)) as pdf:
            if pdf.is_encrypted:
                raise UnreadablePdf("is password-protected or encrypted")
            pages = len(pdf.pages)
            if pages == 0:
                raise UnreadablePdf("has no pages")
            for page in pdf.pages:
                x0, y0, x1, y1 = (float(v) for v in page.mediabox)
                if x1 - x0 <= 0 or y1 - y0 <= 0:
                    raise UnreadablePdf("has a page without a size (empty MediaBox)")
                _decode_contents(page.obj.get("/Contents"))
            if pdf.get_warnings():
                raise UnreadablePdf("is damaged (truncated or corrupt; it had to be repaired)")
            return pages
    except pikepdf.PasswordError as exc:
        raise UnreadablePdf("is password-protected") from exc
    except (pikepdf.PdfError, pikepdf.DataDecodingError, ValueError, KeyError) as exc:
        if isinstance(exc, UnreadablePdf):
            raise
        raise UnreadablePdf("cannot be read as PDF (damaged or not a PDF)") from exc


def _decode_contents(contents: object) -> None:
    if isinstance(contents, pikepdf.Array):
        for stream in contents:
            stream.read_bytes()
    elif isinstance(contents, pikepdf.Stream):
        contents.read_bytes()
