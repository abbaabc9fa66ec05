"""Checks that a document is a PDF this appliance can print within its limits, without
writing it anywhere.

The limits (`PdfLimits`) bound what printing can cost: pages, and the decoded size of
every stream. A stream's size is measured by decoding it with a cap, never from its
/Length (which counts the compressed bytes: a 4 kB double-FlateDecode stream can decode
to gigabytes). Images are measured by what decoding them needs: width x height x colour
components x bits per component, whether they are XObjects or inline in a content stream.
Object streams are measured first, because qpdf decodes them to reach the objects inside.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import pikepdf

from appliance.core.base.errors import ApplianceError

PDF_HEADER = b"%PDF-"
HEADER_SEARCH_BYTES = 1024  # PDF readers accept junk before the header; so do we, this far
CHUNK = 1 << 20  # decoded bytes produced per step while measuring a stream
_QPDF_CAP = "memory limit exceeded"  # how qpdf says one of `decode_limits` was reached


class UnreadablePdf(ApplianceError, ValueError):
    """The bytes are not a PDF that can be printed; the message says why (no content).

    `reason` is the refusal code the ingest answers with."""

    reason = "unreadable_pdf"


class TooManyPages(UnreadablePdf):
    reason = "too_many_pages"


class StreamTooLarge(UnreadablePdf):
    reason = "stream_too_large"


@dataclass(frozen=True)
class PdfLimits:
    max_pages: int
    max_stream_bytes: int  # decoded

    @classmethod
    def of(cls, config) -> PdfLimits:
        """The limits an `ApplianceConfig` sets (`ingest.max_pages_per_document`,
        `ingest.max_stream_mb`)."""
        return cls(config.max_pages_per_document, config.max_stream_bytes)


def count_pages(content: bytes, limits: PdfLimits) -> int:
    """Open the PDF in memory, check it against `limits`, decode every stream, and return
    the page count; raise UnreadablePdf (or a subclass naming the limit) if it cannot be
    printed.

    Decoding every stream catches corrupt data that would otherwise open fine and only fail
    at print time, in the middle of an outage. A file that qpdf has to repair (a truncated
    export opens "fine" with its pages blank) is refused too: the sender hears about it now,
    while the record system can still make a good one. A PDF encrypted with an owner
    password only (it opens without a password; the restrictions are advisory) is accepted;
    one that needs a password to open is not.
    """
    if PDF_HEADER not in content[:HEADER_SEARCH_BYTES]:
        raise UnreadablePdf("does not start like a PDF (no %PDF- header)")
    try:
        with decode_limits(limits.max_stream_bytes), pikepdf.open(
                io.BytesIO(content), inherit_page_attributes=False) as pdf:
            checked = set()
            for stream in _object_streams(pdf):
                _check_stream(stream, limits.max_stream_bytes)
                checked.add(stream.objgen)
            pages = len(pdf.pages)
            if pages == 0:
                raise UnreadablePdf("has no pages")
            if pages > limits.max_pages:
                raise TooManyPages(f"has {pages} pages, more than the {limits.max_pages} "
                                   "allowed")
            contents = set()
            for page in pdf.pages:
                x0, y0, x1, y1 = (float(v) for v in page.mediabox)
                if x1 - x0 <= 0 or y1 - y0 <= 0:
                    raise UnreadablePdf("has a page without a size (empty MediaBox)")
                contents.update(s.objgen for s in _content_streams(page.obj.get("/Contents")))
            for obj in pdf.objects:
                if isinstance(obj, pikepdf.Stream) and obj.objgen not in checked:
                    _check_stream(obj, limits.max_stream_bytes, obj.objgen in contents)
            warnings = pdf.get_warnings()
            if any(_QPDF_CAP in warning for warning in warnings):
                raise _too_large(limits.max_stream_bytes)
            if warnings:
                raise UnreadablePdf("is damaged (truncated or corrupt; it had to be repaired)")
            return pages
    except pikepdf.PasswordError as exc:
        raise UnreadablePdf("is password-protected (it needs a password to open)") from exc
    except MemoryError as exc:
        raise StreamTooLarge("needs more memory to decode than the appliance has") from exc
    except (pikepdf.PdfError, ValueError, KeyError, TypeError) as exc:
        if isinstance(exc, UnreadablePdf):
            raise
        if _QPDF_CAP in str(exc):
            raise _too_large(limits.max_stream_bytes) from exc
        # qpdf reports a cap reached while opening (an object stream holding the document
        # catalog) only as a catalog it cannot find.
        raise UnreadablePdf("cannot be read as PDF (damaged, not a PDF, or an object stream "
                            "that decodes beyond the stream limit)") from exc


@contextlib.contextmanager
def decode_limits(max_bytes: int) -> Iterator[None]:
    """Cap what qpdf itself may decode (object streams it opens, streams it re-encodes when
    saving) at about `max_bytes` per stream, for the duration. The caps are process-wide
    in qpdf: fine in this single-threaded use, and they are restored afterwards."""
    cap = min(max_bytes, 2**32 - 1)
    previous = pikepdf.settings.set_qpdf_limits(
        flate_max_memory=cap, run_length_max_memory=cap, png_max_memory=cap,
        tiff_max_memory=cap, dct_max_memory=cap)
    try:
        yield
    finally:
        pikepdf.settings.set_qpdf_limits(**previous)


# ---------------------------------------------------------------- streams


def _object_streams(pdf: pikepdf.Pdf) -> list[pikepdf.Object]:
    """The object streams, found through the cross-reference table, so that none of the
    objects inside them is touched (and its object stream decoded) before it is measured."""
    numbers = {entry.obj_stream_number for entry in pdf.get_xref_table().values()
               if entry.type == 2}
    return [pdf.get_object((number, 0)) for number in sorted(numbers)]


def _content_streams(contents: object) -> list[pikepdf.Object]:
    if isinstance(contents, pikepdf.Array):
        return [stream for stream in contents if isinstance(stream, pikepdf.Stream)]
    return [contents] if isinstance(contents, pikepdf.Stream) else []


def _check_stream(stream: pikepdf.Object, cap: int, is_page_content: bool = False) -> None:
    if stream.get("/Subtype") == pikepdf.Name.Image:
        _check_image(stream, cap)
    data = _decode_capped(stream, cap)
    is_form = stream.get("/Subtype") == pikepdf.Name.Form
    if (is_page_content or is_form) and data is not None and _may_hold_inline_image(data):
        for instruction in pikepdf.parse_content_stream(stream):
            if isinstance(instruction, pikepdf.ContentStreamInlineImage):
                _check_image(instruction.iimage.obj, cap, inline=True)


def _may_hold_inline_image(data: bytes) -> bool:
    """A cheap look for the BI and ID operators; only then is the content parsed."""
    if b"ID" not in data:
        return False
    return any(match.start() == 0 or data[match.start() - 1] in _BEFORE_OPERATOR
               for match in _BEGIN_INLINE_IMAGE.finditer(data))


_BEGIN_INLINE_IMAGE = re.compile(rb"BI\s")  # a literal first: searched at memchr speed
_BEFORE_OPERATOR = frozenset(b" \t\r\n\f\0])>")


# Generalised filters, decoded here with a cap on every step. Image codecs (DCT, JPX,
# JBIG2, CCITTFax) end the chain: what they decode to is measured from the image's size.
_IMAGE_CODECS = {"/DCTDecode", "/DCT", "/JPXDecode", "/JBIG2Decode", "/CCITTFaxDecode", "/CCF"}


def _decode_capped(stream: pikepdf.Object, cap: int) -> bytes | None:
    """The stream's data decoded through its generalised filters, or None when an image
    codec ends the chain; StreamTooLarge as soon as any step would exceed `cap` bytes."""
    data = stream.read_raw_bytes()  # decrypted, still encoded
    filters, parms = _filter_chain(stream)
    for name, parm in zip(filters, parms, strict=True):
        if name in _IMAGE_CODECS:
            return None
        decoder = _DECODERS.get(name)
        if decoder is None:
            raise UnreadablePdf(f"uses an unknown stream filter ({name[:40]})")
        data = decoder(data, cap, parm)
        if len(data) > cap:
            raise _too_large(cap)
    if len(data) > cap:
        raise _too_large(cap)
    return data


def _filter_chain(stream: pikepdf.Object) -> tuple[list[str], list[object]]:
    filters = stream.get("/Filter")
    parms = stream.get("/DecodeParms")
    if filters is None:
        return [], []
    if isinstance(filters, pikepdf.Name):
        return [str(filters)], [parms]
    names = [str(f) for f in filters]
    if not isinstance(parms, pikepdf.Array):
        parms = [parms] * len(names) if parms is None else [parms] + [None] * (len(names) - 1)
    parms = list(parms)[:len(names)] + [None] * (len(names) - len(parms))
    return names, parms


def _too_large(cap: int) -> StreamTooLarge:
    return StreamTooLarge(f"has a stream that decodes to more than {cap // (1 << 20)} MiB")


def _flate(data: bytes, cap: int, _parm: object) -> bytes:
    # A predictor (/DecodeParms) never makes the data larger, so it is left out here.
    inflater, out = zlib.decompressobj(), bytearray()
    try:
        while data and not inflater.eof:
            out += inflater.decompress(data, CHUNK)
            if len(out) > cap:
                raise _too_large(cap)
            data = inflater.unconsumed_tail
    except zlib.error as exc:
        raise UnreadablePdf("has a stream that does not decode (damaged)") from exc
    return bytes(out)


def _lzw(data: bytes, cap: int, parm: object) -> bytes:
    early = 1
    if isinstance(parm, pikepdf.Dictionary):
        early = int(parm.get("/EarlyChange", 1))
    out = bytearray()
    table = [bytes([i]) for i in range(256)] + [b"", b""]  # 256 clear, 257 end
    width, bits, nbits, previous = 9, 0, 0, None
    for byte in data:
        bits, nbits = (bits << 8) | byte, nbits + 8
        while nbits >= width:
            nbits -= width
            code = (bits >> nbits) & ((1 << width) - 1)
            if code == 256:
                table, width, previous = table[:258], 9, None
                continue
            if code == 257:
                return bytes(out)
            if previous is None:
                entry = table[code] if code < len(table) else b""
            else:
                if code < len(table):
                    entry = table[code]
                elif code == len(table):
                    entry = previous + previous[:1]
                else:
                    raise UnreadablePdf("has a stream that does not decode (damaged LZW)")
                table.append(previous + entry[:1])
            out += entry
            if len(out) > cap:
                raise _too_large(cap)
            previous = entry
            if len(table) + early >= (1 << width) and width < 12:
                width += 1
    return bytes(out)


def _ascii_hex(data: bytes, _cap: int, _parm: object) -> bytes:
    digits = bytes(data.split(b">", 1)[0].translate(None, b" \t\r\n\f\0"))
    if len(digits) % 2:
        digits += b"0"
    try:
        return binascii.unhexlify(digits)
    except binascii.Error as exc:
        raise UnreadablePdf("has a stream that does not decode (damaged ASCIIHex)") from exc


def _ascii85(data: bytes, _cap: int, _parm: object) -> bytes:
    text = data.split(b"~>", 1)[0].translate(None, b" \t\r\n\f\0")
    try:
        return base64.a85decode(text)
    except ValueError as exc:
        raise UnreadablePdf("has a stream that does not decode (damaged ASCII85)") from exc


def _run_length(data: bytes, cap: int, _parm: object) -> bytes:
    out, position = bytearray(), 0
    while position < len(data):
        length = data[position]
        if length == 128:
            break
        if length < 128:
            out += data[position + 1:position + 2 + length]
            position += 2 + length
        else:
            out += data[position + 1:position + 2] * (257 - length)
            position += 2
        if len(out) > cap:
            raise _too_large(cap)
    return bytes(out)


_DECODERS = {
    "/FlateDecode": _flate, "/Fl": _flate, "/LZWDecode": _lzw, "/LZW": _lzw,
    "/ASCIIHexDecode": _ascii_hex, "/AHx": _ascii_hex, "/ASCII85Decode": _ascii85,
    "/A85": _ascii85, "/RunLengthDecode": _run_length, "/RL": _run_length,
    "/Crypt": lambda data, _cap, _parm: data,  # decrypted already by qpdf
}


# ---------------------------------------------------------------- images


_COMPONENTS = {"/DeviceGray": 1, "/G": 1, "/CalGray": 1, "/Indexed": 1, "/I": 1,
               "/Separation": 1, "/DeviceRGB": 3, "/RGB": 3, "/CalRGB": 3, "/Lab": 3,
               "/DeviceCMYK": 4, "/CMYK": 4}
_UNKNOWN_COMPONENTS = 4  # the most any colour space needs per pixel but DeviceN's


def _check_image(image: pikepdf.Object, cap: int, *, inline: bool = False) -> None:
    """What decoding the image needs, width x height x components x bits, against `cap`."""
    def get(full: str, short: str) -> object:
        return image.get(full, image.get(short)) if inline else image.get(full)

    try:
        width, height = int(get("/Width", "/W")), int(get("/Height", "/H"))
        bits = int(get("/BitsPerComponent", "/BPC") or 8)
    except (TypeError, ValueError) as exc:
        raise UnreadablePdf("has an image without a usable size") from exc
    components = 1 if get("/ImageMask", "/IM") else _components(get("/ColorSpace", "/CS"))
    if width <= 0 or height <= 0 or not 1 <= bits <= 16:
        raise UnreadablePdf("has an image without a usable size")
    if width * height * components * bits > 8 * cap:
        raise _too_large(cap)


def _components(space: object) -> int:
    if isinstance(space, pikepdf.Name):
        return _COMPONENTS.get(str(space), _UNKNOWN_COMPONENTS)
    if isinstance(space, pikepdf.Array) and len(space) > 0:
        family = str(space[0])
        if family in ("/ICCBased",) and len(space) > 1 and isinstance(space[1], pikepdf.Stream):
            return int(space[1].get("/N", _UNKNOWN_COMPONENTS))
        if family == "/DeviceN" and len(space) > 1 and isinstance(space[1], pikepdf.Array):
            return max(1, len(space[1]))
        return _COMPONENTS.get(family, _UNKNOWN_COMPONENTS)
    return _UNKNOWN_COMPONENTS
