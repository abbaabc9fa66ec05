"""A real webhook endpoint on 127.0.0.1 for the alert tests (appliance and sender side)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class WebhookReceiver:
    """An HTTP server in a thread that answers every POST with `status`. It keeps the JSON
    bodies it accepted (2xx) in order and counts every attempt. Give a `port` to know the
    URL before it listens (a webhook that is down, then comes up)."""

    def __init__(self, port: int = 0, status: int = 204) -> None:
        self.port, self.status = port, status
        self.received: list[dict] = []
        self.attempts = 0
        self.arrived = threading.Event()
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.attempts += 1
                if receiver.status < 300:
                    receiver.received.append(json.loads(body))
                    receiver.arrived.set()
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def events(self, *fields: str) -> list[tuple]:
        """`fields` (default event and slot) of each accepted alert, in arrival order."""
        fields = fields or ("event", "slot")
        return [tuple(alert[name] for name in fields) for alert in self.received]
