"""Push one envelope to one appliance over HTTP (standard library only).

The request asks `Expect: 100-continue` and sends the body only once the appliance (its
nginx) says "100 Continue". A refusal that needs no body (413: larger than the limit) comes
back at once, before a single byte of a 65 MiB export crosses the network; without it the
appliance answers 413 and, after its lingering timeout, drops the connection while the
sender is still writing, and all the sender sees is "Broken pipe". An appliance that does
not answer the expectation within `CONTINUE_WAIT_SECONDS` gets the body anyway (RFC 9110
§10.1.1), and a connection dropped while the body is being sent is still asked for the
answer the appliance may have written before it stopped reading.
"""

from __future__ import annotations

import http.client
import json
import select
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

ENVELOPE_TYPE = "application/octet-stream"
CONTINUE_WAIT_SECONDS = 1.0  # what curl waits, too
MAX_ANSWER_BYTES = 64 * 1024  # an appliance's answer is a small JSON object
MAX_LINE_BYTES = 64 * 1024


@dataclass(frozen=True)
class PushResult:
    accepted: bool
    status: int | None  # HTTP status, None when the appliance could not be reached
    error: str  # the appliance's error code, or "unreachable"
    message: str
    body: dict


@dataclass(frozen=True)
class _Answer:
    status: int
    reason: str
    body: bytes


def push(url: str, envelope: bytes, timeout: float) -> PushResult:
    """POST `envelope` to `url`; every outcome is a result, network errors included. A
    garbled answer raises http.client.HTTPException."""
    parts = urlsplit(url)
    connection_class = (http.client.HTTPSConnection if parts.scheme == "https"
                        else http.client.HTTPConnection)
    connection = connection_class(parts.hostname, parts.port, timeout=timeout)
    try:
        answer = _exchange(connection, parts.path or "/", envelope)
    except OSError as exc:
        return PushResult(False, None, "unreachable", f"cannot reach {url}: {exc}", {})
    finally:
        connection.close()
    body = _json(answer.body)
    if 200 <= answer.status < 300:
        return PushResult(True, answer.status, "", "accepted", body)
    return PushResult(False, answer.status, str(body.get("error", "http_error")),
                      str(body.get("message", answer.reason)), body)


def _exchange(connection: http.client.HTTPConnection, path: str, envelope: bytes) -> _Answer:
    connection.putrequest("POST", path)
    connection.putheader("Content-Type", ENVELOPE_TYPE)
    connection.putheader("Content-Length", str(len(envelope)))
    connection.putheader("Expect", "100-continue")
    connection.endheaders()
    early = _early_answer(connection.sock)
    if early is not None:
        return early
    try:
        connection.send(envelope)
    except (BrokenPipeError, ConnectionResetError) as exc:
        try:  # the appliance stopped reading: its answer may be there all the same
            return _read(connection.getresponse())
        except (OSError, http.client.HTTPException):
            raise exc from None
    return _read(connection.getresponse())


def _early_answer(sock: socket.socket) -> _Answer | None:
    """The appliance's final answer if it gave one instead of "100 Continue"; None when
    the body is to be sent (it said 100 Continue, or nothing in time)."""
    readable, _, _ = select.select([sock], [], [], CONTINUE_WAIT_SECONDS)
    if not readable:
        return None
    with sock.makefile("rb") as reader:  # nothing more arrives until the body is sent
        status, reason = _parse_status(reader.readline(MAX_LINE_BYTES))
        headers = http.client.parse_headers(reader)
        if status == http.client.CONTINUE:
            return None
        length = headers.get("Content-Length", "")
        size = min(int(length), MAX_ANSWER_BYTES) if length.isdigit() else MAX_ANSWER_BYTES
        return _Answer(status, reason, reader.read(size))


def _parse_status(line: bytes) -> tuple[int, str]:
    """Status and reason of `HTTP/1.1 413 Request Entity Too Large`."""
    if not line:
        raise http.client.RemoteDisconnected("closed the connection without an answer")
    version, _, rest = line.decode("iso-8859-1").strip().partition(" ")
    code, _, reason = rest.partition(" ")
    if not version.startswith("HTTP/") or len(code) != 3 or not code.isdigit():
        raise http.client.BadStatusLine(line.decode("iso-8859-1")[:80])
    return int(code), reason


def _read(response: http.client.HTTPResponse) -> _Answer:
    return _Answer(response.status, response.reason, response.read(MAX_ANSWER_BYTES))


def _json(raw: bytes) -> dict:
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
