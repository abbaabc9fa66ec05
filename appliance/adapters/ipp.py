"""IPP Get-Printer-Attributes sent straight to a printer (RFC 8010/8011), standard library only.

The supplies check asks the printer itself (docs/printing.md, "The daily supplies check"),
and pycups cannot do that well: it has no timeout (a printer that accepts a connection and
never answers blocks it for good), posts every request to the resource `/` whatever the
printer's URI says, and returns an octetString such as `printer-supply`, where IPP
Everywhere printers report their levels, as a placeholder (observed with ippeveprinter
in deploy check 91). One request, one answer, read within `timeout` and `MAX_ANSWER_BYTES`.

Only reading is done: no job, no credentials, nothing about patient data goes out. For
`ipps` the printer's certificate is not verified: printers carry self-signed ones, and
what is at stake is a status reading, never a document.
"""

from __future__ import annotations

import http.client
import ssl
import struct
import urllib.parse

from appliance.core.base.errors import ApplianceError

GET_PRINTER_ATTRIBUTES = 0x000B
IPP_VERSION = (1, 1)
MAX_ANSWER_BYTES = 1 << 20  # a printer's whole attribute set is tens of kB
DEFAULT_PORT = 631

# delimiter and value tags (RFC 8010 3.5)
OPERATION_ATTRIBUTES, END_OF_ATTRIBUTES, PRINTER_ATTRIBUTES = 0x01, 0x03, 0x04
INTEGER, BOOLEAN, ENUM, OCTET_STRING = 0x21, 0x22, 0x23, 0x30
TEXT_WITH_LANGUAGE, NAME_WITH_LANGUAGE = 0x35, 0x36
STRING_TAGS = {0x41, 0x42, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49}  # text, name, keyword, uri, …
CHARSET, NATURAL_LANGUAGE, URI, KEYWORD = 0x47, 0x48, 0x45, 0x44


class IppError(ApplianceError, OSError):
    """The printer did not answer the request, or not in IPP; the message says how."""


def get_printer_attributes(uri: str, names: list[str], *, timeout: float) -> dict[str, object]:
    """The printer attributes `names` of the printer at `uri` (`ipp://` or `ipps://`), each
    a value or, with several, a list (as pycups gives them). Raises `IppError`."""
    parts = urllib.parse.urlsplit(uri)
    if parts.scheme not in ("ipp", "ipps") or not parts.hostname:
        raise IppError(f"not an IPP printer URI: {parts.scheme}://…")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError as exc:
        raise IppError("the URI's port is not a number") from exc
    if parts.scheme == "ipps":
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            parts.hostname, port, timeout=timeout, context=context)
    else:
        conn = http.client.HTTPConnection(parts.hostname, port, timeout=timeout)
    try:
        conn.request("POST", parts.path or "/", _request(uri, names),
                     {"Content-Type": "application/ipp"})
        answer = conn.getresponse()
        body = answer.read(MAX_ANSWER_BYTES + 1)
    except (OSError, http.client.HTTPException) as exc:
        raise IppError(f"no answer: {exc or type(exc).__name__}") from exc
    finally:
        conn.close()
    if answer.status != 200:
        raise IppError(f"HTTP {answer.status} {answer.reason}")
    if len(body) > MAX_ANSWER_BYTES:
        raise IppError(f"an answer over {MAX_ANSWER_BYTES} bytes")
    return parse_answer(body)


def _request(uri: str, names: list[str]) -> bytes:
    out = bytearray(struct.pack(">BBHI", *IPP_VERSION, GET_PRINTER_ATTRIBUTES, 1))
    out.append(OPERATION_ATTRIBUTES)
    for tag, name, value in ((CHARSET, "attributes-charset", "utf-8"),
                             (NATURAL_LANGUAGE, "attributes-natural-language", "en"),
                             (URI, "printer-uri", uri)):
        out += _attribute(tag, name, value.encode("utf-8"))
    for i, requested in enumerate(names):  # one 1setOf: later values have no name
        out += _attribute(KEYWORD, "requested-attributes" if i == 0 else "",
                          requested.encode("ascii"))
    out.append(END_OF_ATTRIBUTES)
    return bytes(out)


def _attribute(tag: int, name: str, value: bytes) -> bytes:
    encoded = name.encode("ascii")
    return (bytes([tag]) + struct.pack(">H", len(encoded)) + encoded
            + struct.pack(">H", len(value)) + value)


def parse_answer(body: bytes) -> dict[str, object]:
    """The printer-attributes group of an IPP answer; raises `IppError` for an error status
    or a truncated or malformed answer."""
    if len(body) < 8:
        raise IppError("an answer too short for IPP")
    status = struct.unpack(">H", body[2:4])[0]
    if status >= 0x0400:
        raise IppError(f"IPP status 0x{status:04x}")
    values: dict[str, list] = {}
    group, last, i = None, None, 8
    try:
        while True:
            tag = body[i]
            i += 1
            if tag == END_OF_ATTRIBUTES:
                break
            if tag < 0x10:
                group, last = tag, None
                continue
            name_length = struct.unpack(">H", body[i:i + 2])[0]
            name = body[i + 2:i + 2 + name_length].decode("utf-8")
            i += 2 + name_length
            value_length = struct.unpack(">H", body[i:i + 2])[0]
            raw = body[i + 2:i + 2 + value_length]
            if len(raw) != value_length:
                raise IppError("a truncated IPP answer")
            i += 2 + value_length
            if name:
                last = name
            if group == PRINTER_ATTRIBUTES and last is not None:
                values.setdefault(last, []).append(_value(tag, raw))
    except (IndexError, struct.error, UnicodeDecodeError) as exc:
        raise IppError("a malformed IPP answer") from exc
    return {name: found[0] if len(found) == 1 else found for name, found in values.items()}


def _value(tag: int, raw: bytes) -> object:
    if tag in (INTEGER, ENUM) and len(raw) == 4:
        return struct.unpack(">i", raw)[0]
    if tag == BOOLEAN and len(raw) == 1:
        return raw != b"\x00"
    if tag in STRING_TAGS:
        return raw.decode("utf-8", "replace")
    if tag in (TEXT_WITH_LANGUAGE, NAME_WITH_LANGUAGE) and len(raw) >= 2:
        language = struct.unpack(">H", raw[:2])[0]
        text = raw[4 + language:]
        return text.decode("utf-8", "replace")
    return bytes(raw)  # octetString (printer-supply), dates, resolutions: as sent
