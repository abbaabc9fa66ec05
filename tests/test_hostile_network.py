"""A hostile LAN against the real web service (nginx in front of gunicorn on 127.0.0.1):
slow clients never silence the ingest and are cut off in bounded time; every error
produced below Flask, by the proxy, is JSON like the app's own."""

from __future__ import annotations

import json
import signal
import socket
import time
import urllib.request

import pytest

from appliance.core.base.clock import SystemClock
from appliance.core.records.audit import AuditLog
from appliance.devtools.slow_clients import BODY, HEADERS, SlowClients
from appliance.devtools.webstack import signal_group
from tests.conftest import Installation, Server, get_json, make_installation, post

HEADER_TIMEOUT = 4  # web.header_timeout_seconds in these tests
BODY_TIMEOUT = 1  # web.body_timeout_seconds: below the attackers' 2 s between bytes
PER_CLIENT = 4  # web.max_connections_per_client
ATTACK_SECONDS = 20.0
HEALTH_BOUND = 1.0  # the bounds for each probe, in seconds
PUSH_BOUND = 2.0
CUT_SLACK = 1.5  # our polling and the machine's load, on top of nginx's timeout


def hostile_installation(root, body_timeout: int = BODY_TIMEOUT) -> Installation:
    inst = make_installation(root)
    text = inst.appliance_toml.read_text()
    assert "[web]\n" in text
    inst.appliance_toml.write_text(text.replace("[web]\n", (
        f"[web]\nheader_timeout_seconds = {HEADER_TIMEOUT}\n"
        f"body_timeout_seconds = {body_timeout}\n"
        f"max_connections_per_client = {PER_CLIENT}\n"), 1).replace(
        "max_snapshot_mb = 64", "max_snapshot_mb = 1"))
    return inst


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    inst = hostile_installation(tmp_path_factory.mktemp("hostile"))
    server = Server(inst).start()
    yield inst, server
    server.stop()


def timed(call):
    start = time.monotonic()
    result = call()
    return result, time.monotonic() - start


def test_fifty_slow_clients_never_silence_the_ingest(stack):
    inst, server = stack
    envelopes = [inst.envelope(pages=1) for _ in range(int(ATTACK_SECONDS))]
    health, pushes, open_counts = [], [], []
    attack = SlowClients(server.port, headers=25, body=25, interval=2.0).start()
    try:
        end = time.monotonic() + ATTACK_SECONDS
        while time.monotonic() < end:
            open_counts.append(attack.open_count())
            health.append(timed(lambda: get_json(server.url + "/healthz")))
            if envelopes and len(health) % 4 == 0:
                envelope = envelopes.pop(0)
                pushes.append(timed(lambda envelope=envelope: post(
                    server.url + "/api/v1/snapshots", envelope, timeout=10)))
            time.sleep(0.25)  # pacing of the probes, not waiting for anything
    finally:
        connections = attack.stop()
    stopped = time.monotonic()

    assert max(open_counts) == 50 and min(open_counts) >= 45, open_counts
    assert len(health) >= 40 and len(pushes) >= 10
    assert all(status == 200 for (status, _), _ in health)
    assert max(seconds for _, seconds in health) < HEALTH_BOUND, sorted(s for _, s in health)
    assert all(status == 201 for (status, _), _ in pushes), [r for r, _ in pushes]
    assert max(seconds for _, seconds in pushes) < PUSH_BOUND, sorted(s for _, s in pushes)

    # Every slow connection was cut by the server after its timeout, not before, not later;
    # none of those still open at the end had outlived its timeout.
    bounds = {HEADERS: HEADER_TIMEOUT, BODY: BODY_TIMEOUT}
    for kind, timeout in bounds.items():
        cut = [c.lifetime(stopped) for c in connections if c.kind == kind and c.closed]
        still_open = [c.lifetime(stopped) for c in connections
                      if c.kind == kind and c.closed is None]
        assert len(cut) >= 25 * int(ATTACK_SECONDS / (timeout + 2)), (kind, len(cut))
        assert min(cut) > timeout - 0.5 and max(cut) < timeout + CUT_SLACK, (kind, sorted(cut))
        assert max(still_open) < timeout + CUT_SLACK, (kind, sorted(still_open))
    # ...and none of them ever reached gunicorn (its access log names the client).
    attackers = {c.address for c in connections}
    assert not [line for line in server.log().splitlines()
                if line.split(" ", 1)[0] in attackers]


def raw_exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read until the server closes: (status, headers, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in
               (line.partition(":") for line in header_lines)}
    return int(status_line.split(" ")[1]), headers, body


POST = (b"POST /api/v1/snapshots HTTP/1.1\r\nHost: appliance\r\n"
        b"Content-Type: application/octet-stream\r\n")


@pytest.mark.parametrize(("request_bytes", "status", "error"), [
    pytest.param(POST + b"Content-Length: 12abc\r\n\r\n", 400, "bad_request",
                 id="bad Content-Length"),
    pytest.param(POST + b"Content-Length: -5\r\n\r\n", 400, "bad_request",
                 id="negative Content-Length"),
    pytest.param(POST + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                 400, "bad_request", id="Content-Length and chunked"),
    pytest.param(POST + b"Transfer-Encoding: gzip\r\n\r\n", 501, "not_implemented",
                 id="unknown Transfer-Encoding"),
    pytest.param(b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n",
                 431, "header_too_large", id="9000-byte header"),
    pytest.param(b"GET /healthz HTTP/1.1\r\nHost: a\r\n"
                 + b"".join(b"X-%d: %s\r\n" % (n, b"a" * 7000) for n in range(5)) + b"\r\n",
                 431, "header_too_large", id="35 KB of headers"),
    pytest.param(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: a\r\n\r\n", 414,
                 "uri_too_long", id="9000-byte URI"),
    pytest.param(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n", 400,
                 "bad_request", id="TLS hello on the HTTP port"),
    pytest.param(b"HELLO appliance\r\n\r\n", 400, "bad_request", id="garbage request line"),
    pytest.param(b"GET / HTTP/3.0\r\nHost: a\r\n\r\n", 505, "http_version_not_supported",
                 id="HTTP/3.0"),
    pytest.param(POST + b"Content-Length: 200000000\r\n\r\n" + b"A" * 1000, 413,
                 "too_large", id="declared oversize body"),
])
def test_errors_below_flask_are_json(stack, request_bytes, status, error):
    inst, server = stack
    before = inst.store_state()
    got_status, headers, body = raw_exchange(server.port, request_bytes)
    assert got_status == status, body
    assert headers["content-type"].startswith("application/json")
    reply = json.loads(body)
    assert reply["error"] == error and reply["message"]
    assert "nginx" not in body.decode() and "html" not in body.decode().lower()
    assert inst.store_state() == before


def test_chunked_oversize_body_is_json_413(stack):
    _, server = stack
    chunk = b"A" * 65536
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(20)) + b"0\r\n\r\n"
    status, _, reply = raw_exchange(
        server.port, POST + b"Transfer-Encoding: chunked\r\n\r\n" + body)
    assert (status, json.loads(reply)["error"]) == (413, "too_large")


def test_proxy_answers_json_502_while_the_web_service_is_down(tmp_path):
    inst = hostile_installation(tmp_path)
    server = Server(inst).start()
    try:
        signal_group(server.web, signal.SIGKILL)
        server.web.wait(timeout=30)
        status, reply = get_json(server.url + "/healthz")
        assert (status, reply["error"]) == (502, "bad_gateway") and reply["message"]
    finally:
        server.stop()


def test_one_address_gets_a_bounded_share_of_connections(tmp_path):
    """PER_CLIENT bodies in progress from one address: its next request is a JSON 429,
    while another address is served as usual."""
    inst = hostile_installation(tmp_path, body_timeout=30)
    server = Server(inst).start()
    holders = []
    try:
        for _ in range(PER_CLIENT):
            sock = socket.socket()
            sock.bind(("127.0.2.1", 0))
            sock.connect(("127.0.0.1", server.port))
            sock.sendall(POST + b"Content-Length: 1000\r\n\r\nA")
            holders.append(sock)
        extra = socket.socket()
        extra.bind(("127.0.2.1", 0))
        extra.connect(("127.0.0.1", server.port))
        extra.settimeout(10)
        with extra:
            extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            received = b""
            while chunk := extra.recv(65536):
                received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 429"), received
        assert json.loads(body)["error"] == "too_many_connections"
        assert get_json(server.url + "/healthz")[0] == 200  # from 127.0.0.1
    finally:
        for sock in holders:
            sock.close()
        server.stop()


def test_the_app_sees_the_client_address_not_a_forged_one(stack):
    inst, server = stack
    envelope = inst.envelope(pages=1)
    sock = socket.socket()
    sock.bind(("127.0.3.7", 0))
    sock.connect(("127.0.0.1", server.port))
    sock.settimeout(10)
    with sock:
        sock.sendall(POST + b"X-Forwarded-For: 10.9.9.9\r\nX-Real-IP: 10.9.9.9\r\n"
                     + b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(envelope)
                     + envelope)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    assert received.startswith(b"HTTP/1.1 201"), received[:200]
    snapshot = json.loads(received.partition(b"\r\n\r\n")[2])["id"]
    entries = AuditLog(inst.state_dir / "audit.log", SystemClock()).entries()
    ingested = [e for e in entries if e.get("snapshot") == snapshot]
    assert [e["remote"] for e in ingested] == ["127.0.3.7"]


def test_healthz_through_the_proxy_is_the_apps_answer(stack):
    _, server = stack
    with urllib.request.urlopen(server.url + "/healthz", timeout=10) as response:
        assert response.headers["Content-Type"] == "application/json"
        assert "nginx/" not in response.headers.get("Server", "")  # server_tokens off
        assert json.loads(response.read()) == {"status": "ok"}
