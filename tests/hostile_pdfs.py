"""Hostile PDFs, made on the fly (never committed as files): bombs that decode to gigabytes
from a few kilobytes, a document of tens of thousands of pages, encrypted ones.

The bombs are cheap to make: deflate restarts after a full flush, so the compressed form of
1 MiB of zeros is one block that can simply be repeated, and the zlib trailer of n zeros
(Adler-32) is known in closed form. Nothing here ever holds the decoded data.
"""

from __future__ import annotations

import io
import zlib

import pikepdf

MIB = 1 << 20
GIB = 1 << 30
A4 = (595, 842)


def zeros_deflated(size: int, prefix: bytes = b"") -> bytes:
    """A zlib stream that inflates to `prefix` followed by `size` zero bytes (size a
    multiple of 1 MiB), built in milliseconds whatever the size."""
    assert size % MIB == 0
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = deflater.compress(prefix) + deflater.flush(zlib.Z_FULL_FLUSH)
    block = deflater.compress(bytes(MIB)) + deflater.flush(zlib.Z_FULL_FLUSH)
    tail = deflater.flush(zlib.Z_FINISH)
    adler = zlib.adler32(prefix)
    low, high = adler & 0xFFFF, adler >> 16
    high = (high + size * low) % 65521  # each zero byte adds `low` to the high sum
    return (b"\x78\xda" + head + block * (size // MIB) + tail
            + ((high << 16) | low).to_bytes(4, "big"))


def double_flate(decoded: bytes | int) -> bytes:
    """`decoded` zero bytes (or the given bytes) compressed twice."""
    inner = zeros_deflated(decoded) if isinstance(decoded, int) else zlib.compress(decoded)
    return zlib.compress(inner, 9)


def _save(pdf: pikepdf.Pdf, **options) -> bytes:
    out = io.BytesIO()
    pdf.save(out, stream_decode_level=pikepdf.StreamDecodeLevel.none, **options)
    return out.getvalue()


def _text_page(pdf: pikepdf.Pdf, text: str) -> pikepdf.Page:
    font = pikepdf.Dictionary(Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1,
                              BaseFont=pikepdf.Name.Helvetica)
    page = pdf.add_blank_page(page_size=A4)
    page.obj.Resources = pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font))
    page.obj.Contents = pdf.make_stream(f"BT /F1 24 Tf 72 720 Td ({text}) Tj ET".encode())
    return page


def flate_bomb(decoded: int = 2 * GIB, text: str = "BOMB") -> bytes:
    """One page whose content stream is /Filter [/FlateDecode /FlateDecode] and decodes to
    `decoded` bytes (a few kB for 2 GiB). The page also shows `text` in a second content
    stream, so a viewer that never decodes the bomb still shows something."""
    pdf = pikepdf.new()
    page = _text_page(pdf, text)
    bomb = pdf.make_stream(b"")
    bomb.write(double_flate(decoded), filter=[pikepdf.Name.FlateDecode] * 2)
    page.obj.Contents = pikepdf.Array([page.obj.Contents, bomb])
    return _save(pdf, compress_streams=False)


def image_bomb(width: int = 100_000, height: int = 100_000, inline: bool = False) -> bytes:
    """One page with an RGB image of width x height pixels (30 GB decoded at the defaults)
    in a few bytes: an XObject whose data is a tiny "JPEG", or an inline Flate image."""
    pdf = pikepdf.new()
    page = _text_page(pdf, "IMAGE")
    if inline:
        data = zlib.compress(bytes(3 * width))  # one row; decoders want width*height*3
        page.obj.Contents = pdf.make_stream(
            b"q 100 0 0 100 72 72 cm BI /W %d /H %d /CS /RGB /BPC 8 /F /Fl ID " % (width, height)
            + data + b"\nEI Q\n")
    else:
        image = pdf.make_stream(b"\xff\xd8\xff\xd9", Type=pikepdf.Name.XObject,
                                Subtype=pikepdf.Name.Image, Width=width, Height=height,
                                ColorSpace=pikepdf.Name.DeviceRGB, BitsPerComponent=8,
                                Filter=pikepdf.Name.DCTDecode)
        page.obj.Resources.XObject = pikepdf.Dictionary(Im0=image)
        page.obj.Contents = pdf.make_stream(b"q 100 0 0 100 72 72 cm /Im0 Do Q\n")
    return _save(pdf)


def object_stream_bomb(decoded: int = 2 * GIB) -> bytes:
    """A PDF 1.5 file whose page lives in an object stream that decodes to `decoded` bytes
    (the objects, then zeros, which PDF reads as white space). Written by hand: qpdf would
    rewrite the object stream. The catalog and page tree are outside it: qpdf reads those
    when it opens a file (a bomb holding them is refused as unreadable, see test_pdf_limits)."""
    in_stream = {1: b"<< /Producer (hostile_pdfs) >>",
                 3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
                    b"/Resources << >> >>"}
    body, index = b"", []
    for number, obj in in_stream.items():
        index.append(b"%d %d" % (number, len(body)))
        body += obj + b"\n"
    head = b" ".join(index) + b"\n"
    packed = zlib.compress(zeros_deflated(decoded, head + body), 9)
    content = b"BT /F1 24 Tf 72 720 Td (OBJSTM) Tj ET"
    plain = {
        2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        4: b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
        5: b"<< /Type /ObjStm /N %d /First %d /Length %d /Filter [/FlateDecode /FlateDecode] "
           b">>\nstream\n%s\nendstream" % (len(in_stream), len(head), len(packed), packed),
        7: b"<< /Type /Catalog /Pages 2 0 R >>",
    }
    out, offsets = bytearray(b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n"), {}
    for number, obj in plain.items():
        offsets[number] = len(out)
        out += b"%d 0 obj\n%s\nendobj\n" % (number, obj)
    offsets[6] = len(out)
    rows = {0: (0, 0, 0xFFFF), 1: (2, 5, 0), 3: (2, 5, 1)}
    rows |= {number: (1, offset, 0) for number, offset in offsets.items()}
    table = b"".join(bytes([kind]) + a.to_bytes(4, "big") + b.to_bytes(2, "big")
                     for _, (kind, a, b) in sorted(rows.items()))
    out += (b"6 0 obj\n<< /Type /XRef /Size 8 /W [1 4 2] /Root 7 0 R /Length %d >>\nstream\n"
            b"%s\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n" % (len(table), table, offsets[6]))
    return bytes(out)


def many_pages(count: int = 20_000) -> bytes:
    """`count` small pages, each its own content stream ("Sida N"): about 6 MB at 20,000."""
    pdf = pikepdf.new()
    font = pdf.make_indirect(pikepdf.Dictionary(
        Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica))
    resources = pdf.make_indirect(pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font)))
    for number in range(1, count + 1):
        page = pdf.add_blank_page(page_size=A4)
        page.obj.Resources = resources
        page.obj.Contents = pdf.make_stream(
            f"BT /F1 24 Tf 72 720 Td (Sida {number}) Tj ET".encode())
    return _save(pdf, compress_streams=False)


def encrypted(content: bytes, *, user: str = "", owner: str = "ägare") -> bytes:
    """`content` encrypted with AES-256: `user=""` is permissions-only (it opens without a
    password, printing and editing restricted); a user password is needed to open it."""
    with pikepdf.open(io.BytesIO(content)) as pdf:
        out = io.BytesIO()
        pdf.save(out, encryption=pikepdf.Encryption(
            owner=owner, user=user, R=6,
            allow=pikepdf.Permissions(print_lowres=False, print_highres=False, modify_other=False,
                                      extract=False)))
        return out.getvalue()
