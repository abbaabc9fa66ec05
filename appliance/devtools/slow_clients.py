"""Slow HTTP clients ("slowloris"), for the hostile-network test and bench.

Each connection sends one byte every `interval` seconds: half of them dribble the request
line and headers, half send complete headers and then dribble the body. Each comes from
its own loopback address (127.0.1.x), as many machines on a LAN would, so a per-address
limit does not hide them. When the server closes a connection, the moment is recorded and
a new one of the same kind takes its place at once: the attack goes on until `stop()`.
"""

from __future__ import annotations

import ipaddress
import selectors
import socket
import threading
import time
from dataclasses import dataclass

FIRST_ADDRESS = ipaddress.IPv4Address("127.0.1.1")
HEADERS = "headers"
BODY = "body"
BODY_LENGTH = 100_000  # declared, never sent: under any snapshot limit


def request_head(port: int) -> bytes:
    return (f"POST /api/v1/snapshots HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {BODY_LENGTH}\r\n"
            f"\r\n").encode()


@dataclass
class SlowConnection:
    kind: str  # HEADERS or BODY
    address: str
    opened: float  # time.monotonic()
    closed: float | None = None  # when the server closed it; None: still open, or we did
    bytes_sent: int = 0
    answer: bytes = b""  # what the server sent before closing, if anything

    def lifetime(self, now: float) -> float:
        return (self.closed if self.closed is not None else now) - self.opened


class SlowClients:
    """`headers` + `body` slow connections to 127.0.0.1:`port`, kept up by a thread."""

    def __init__(self, port: int, *, headers: int = 25, body: int = 25,
                 interval: float = 2.0) -> None:
        self.port = port
        self.interval = interval
        self.kinds = [HEADERS] * headers + [BODY] * body
        self.connections: list[SlowConnection] = []  # every one ever opened
        self._open: dict[socket.socket, tuple[int, SlowConnection, float]] = {}
        self._head = request_head(port)
        self._selector = selectors.DefaultSelector()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slow-clients", daemon=True)
        self.error: BaseException | None = None

    def start(self) -> SlowClients:
        for slot in range(len(self.kinds)):
            self._connect(slot)
        self._thread.start()
        return self

    def open_count(self) -> int:
        return len(self._open)

    def stop(self) -> list[SlowConnection]:
        """End the attack; return every connection, those still open last (closed=None)."""
        self._stop.set()
        self._thread.join(timeout=30)
        for sock in list(self._open):
            sock.close()
        self._open.clear()
        self._selector.close()
        if self.error:
            raise RuntimeError("the slow-client thread failed") from self.error
        return self.connections

    def _connect(self, slot: int) -> None:
        kind = self.kinds[slot]
        address = str(FIRST_ADDRESS + slot)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((address, 0))
        sock.connect(("127.0.0.1", self.port))
        sock.setblocking(False)
        connection = SlowConnection(kind, address, time.monotonic())
        self.connections.append(connection)
        if kind == BODY:  # complete headers at once, then the body byte by byte
            sock.sendall(self._head)
            connection.bytes_sent = len(self._head)
        self._open[sock] = (slot, connection, time.monotonic())
        self._selector.register(sock, selectors.EVENT_READ)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._send_due_bytes()
                for key, _ in self._selector.select(timeout=0.05):
                    self._read(key.fileobj)
        except BaseException as exc:  # reported by stop()
            self.error = exc

    def _send_due_bytes(self) -> None:
        now = time.monotonic()
        for sock, (slot, connection, due) in list(self._open.items()):
            if due > now:
                continue
            byte = (self._head[connection.bytes_sent:connection.bytes_sent + 1]
                    if connection.kind == HEADERS else b"x")
            try:
                sock.send(byte)
            except OSError:  # reset or closed: the read side records when
                self._closed_by_server(sock)
                continue
            connection.bytes_sent += 1
            self._open[sock] = (slot, connection, due + self.interval)

    def _read(self, sock: socket.socket) -> None:
        try:
            data = sock.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            self._open[sock][1].answer += data
            return
        self._closed_by_server(sock)

    def _closed_by_server(self, sock: socket.socket) -> None:
        if sock not in self._open:
            return
        slot, connection, _ = self._open.pop(sock)
        connection.closed = time.monotonic()
        self._selector.unregister(sock)
        sock.close()
        self._connect(slot)  # the attacker comes straight back
