"""The supplies check's IPP client (`appliance.adapters.ipp`) against real sockets on
127.0.0.1: a real IPP server (a private cupsd) answers, a printer that accepts a connection
and never answers costs the timeout and no more, and what is not IPP is an error."""

from __future__ import annotations

import socket
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from appliance.adapters import ipp
from appliance.devtools.cups_harness.harness import PrivateCups
from tests.conftest import free_port


def test_a_real_ipp_server_answers_with_the_attributes_asked_for() -> None:
    with PrivateCups(ipp_port=free_port()) as box:
        box.add_capture_queue("laser")
        answer = ipp.get_printer_attributes(
            box.ipp_uri("laser"), ["printer-state", "printer-state-reasons", "printer-name"],
            timeout=10)
    assert answer["printer-state"] == 3  # idle
    assert answer["printer-name"] == "laser"
    assert answer["printer-state-reasons"] == "none"
    assert "printer-info" not in answer  # only what was asked


def test_a_printer_that_never_answers_is_an_error_after_the_timeout() -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, then says nothing
        port = silent.getsockname()[1]
        with pytest.raises(ipp.IppError, match="no answer"):
            ipp.get_printer_attributes(f"ipp://127.0.0.1:{port}/ipp/print", ["printer-state"],
                                       timeout=0.5)


def test_nothing_listening_is_an_error() -> None:
    with pytest.raises(ipp.IppError, match="no answer"):
        ipp.get_printer_attributes(f"ipp://127.0.0.1:{free_port()}/ipp/print",
                                   ["printer-state"], timeout=2)


def answering(status: int, body: bytes):
    """An HTTP server on 127.0.0.1 answering every POST with `status` and `body`."""
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(status)
            self.send_header("Content-Type", "application/ipp")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def attribute(tag: int, name: str, value: bytes) -> bytes:
    return (bytes([tag]) + struct.pack(">H", len(name)) + name.encode()
            + struct.pack(">H", len(value)) + value)


SUPPLY = b"index=1;class=supplyThatIsConsumed;type=toner;maxcapacity=100;level=42;"


@pytest.mark.parametrize(("status", "body", "error"), [
    (404, b"", "HTTP 404"),
    (200, b"<html>not IPP</html>", "IPP status|malformed|too short"),
    (200, struct.pack(">BBHI", 1, 1, 0x0406, 1) + b"\x03", "IPP status 0x0406"),
    (200, struct.pack(">BBHI", 1, 1, 0, 1) + b"\x04" + attribute(0x30, "printer-supply",
                                                                  SUPPLY)[:-5], "truncated"),
])
def test_what_is_not_an_ipp_answer_is_an_error(status, body, error) -> None:
    server = answering(status, body)
    try:
        with pytest.raises(ipp.IppError, match=error):
            ipp.get_printer_attributes(f"ipp://127.0.0.1:{server.server_port}/ipp/print",
                                       ["printer-supply"], timeout=5)
    finally:
        server.shutdown()
        server.server_close()


def test_octet_strings_and_sets_come_back_as_sent() -> None:
    body = (struct.pack(">BBHI", 1, 1, 0, 1) + b"\x01" + attribute(0x47, "attributes-charset",
                                                                    b"utf-8")
            + b"\x04" + attribute(0x30, "printer-supply", SUPPLY)
            + attribute(0x30, "", SUPPLY.replace(b"42", b"7"))
            + attribute(0x44, "printer-state-reasons", b"toner-low-warning")
            + attribute(0x23, "printer-state", struct.pack(">i", 4)) + b"\x03")
    answer = ipp.parse_answer(body)
    assert answer == {"printer-supply": [SUPPLY, SUPPLY.replace(b"42", b"7")],
                      "printer-state-reasons": "toner-low-warning", "printer-state": 4}
