"""Ingest over HTTP against the real server (gunicorn on 127.0.0.1): every refusal status,
with the store proven unchanged afterwards, and the last good snapshot still readable."""

from __future__ import annotations

import http.client
import json
import os
import socket
import struct
from datetime import UTC, datetime, timedelta

import pytest

from appliance.core.base.clock import SystemClock
from appliance.core.crypto import keys, seal
from appliance.core.intake.store import Store
from appliance.devtools.synthetic import make_document
from tests.conftest import Installation, Server, get_json, make_installation, post


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One installation and server for the refusal tests (they must not change the store),
    with a 1 MiB limit so 413 is cheap to provoke."""
    inst = make_installation(tmp_path_factory.mktemp("ingest"))
    text = inst.appliance_toml.read_text().replace("max_snapshot_mb = 64", "max_snapshot_mb = 1")
    inst.appliance_toml.write_text(text)
    srv = Server(inst).start()
    status, body = post(srv.url + "/api/v1/snapshots", inst.envelope(pages=3))
    assert status == 201, body
    yield inst, srv
    srv.stop()


def snapshots_url(srv: Server) -> str:
    return srv.url + "/api/v1/snapshots"


def assert_refused(inst: Installation, srv: Server, body: bytes, status: int, error: str,
                   content_type: str = "application/octet-stream") -> dict:
    before = inst.store_state()
    got_status, reply = post(snapshots_url(srv), body, content_type)
    assert (got_status, reply.get("error")) == (status, error), reply
    assert reply["message"]
    assert inst.store_state() == before
    return reply


def test_accepted_snapshot_is_described(installation: Installation, server: Server):
    produced = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
    status, reply = post(snapshots_url(server), installation.envelope(produced_at=produced,
                                                                      pages=4))
    assert status == 201
    assert reply["sender"] == "kontor-norr"
    # Nothing of the encrypted manifest is echoed in clear, not even the page count.
    assert set(reply) == {"id", "sender", "received_at"}
    stored = installation.store_state()
    assert f"{reply['id']}.seal" in stored["files"]
    listed = json.loads(installation.appliance("snapshots", "--json").output)
    assert [(row["id"], row["documents"][0]["pages"]) for row in listed] == [(reply["id"], 4)]


def test_wrong_content_type_is_415(shared):
    inst, srv = shared
    assert_refused(inst, srv, inst.envelope(), 415, "unsupported_media_type",
                   content_type="application/pdf")


def test_malformed_body_is_400(shared):
    inst, srv = shared
    reply = assert_refused(inst, srv, os.urandom(500), 400, "malformed")
    assert "magic" in reply["message"]


def test_unknown_sender_is_403(shared, tmp_path):
    inst, srv = shared
    stranger = make_installation(tmp_path)  # a sender enrolled somewhere else only
    body = stranger.sender.seal_for(
        [seal.Document(seal.describe_document("todo", "U", "T", datetime.now(UTC), b"%PDF-x"),
                       b"%PDF-x")], inst.public_key())
    assert_refused(inst, srv, body, 403, "unknown_sender")


def test_bad_signature_is_403(shared):
    inst, srv = shared
    body = bytearray(inst.envelope())
    body[-1] ^= 0x01
    assert_refused(inst, srv, bytes(body), 403, "bad_signature")


def test_sealed_for_another_appliance_is_403(shared):
    inst, srv = shared
    other = keys.generate_appliance_key(keys.MLKEM768_X25519).public_key()
    assert_refused(inst, srv, inst.envelope(recipient=other), 403, "wrong_recipient")


def test_replayed_envelope_is_409(shared):
    inst, srv = shared
    body = inst.envelope()
    assert post(snapshots_url(srv), body)[0] == 201
    reply = assert_refused(inst, srv, body, 409, "replayed")
    assert "not newer" in reply["message"]


def test_older_sequence_is_409(shared):
    inst, srv = shared
    older = inst.envelope()
    assert post(snapshots_url(srv), inst.envelope())[0] == 201
    assert_refused(inst, srv, older, 409, "replayed")


def test_text_file_sent_as_pdf_is_422(shared):
    inst, srv = shared
    text = b"Patient Anna Andersson, insulin 8 E\n" * 20
    reply = assert_refused(inst, srv, inst.envelope(content=text), 422, "unreadable_pdf")
    assert "Anna" not in reply["message"]


def test_truncated_pdf_is_422(shared):
    inst, srv = shared
    content = make_document("todo", produced_at=datetime.now(UTC), pages=2)
    assert_refused(inst, srv, inst.envelope(content=content[: len(content) // 3]), 422,
                   "unreadable_pdf")


def test_unknown_kind_is_422(shared):
    inst, srv = shared
    assert_refused(inst, srv, inst.envelope(kind="recipes"), 422, "unknown_kind")


def test_undecryptable_payload_is_422(shared):
    """Correctly signed and addressed, but the ciphertext is junk: only decryption fails."""
    inst, srv = shared
    genuine = seal.parse(inst.envelope(), max_payload=10**9)
    signed = bytearray(genuine.signed)
    start = len(genuine.signed) - len(genuine.payload)
    signed[start:] = os.urandom(len(genuine.payload))
    body = bytes(signed) + inst.sender.key.sign(bytes(signed))
    assert_refused(inst, srv, body, 422, "undecryptable")


def test_declared_oversize_is_413_before_the_body_is_sent(shared):
    """Headers announce 200 MB; the answer must come without us sending the body."""
    inst, srv = shared
    before = inst.store_state()
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
        sock.sendall(b"POST /api/v1/snapshots HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/octet-stream\r\n"
                     b"Content-Length: 200000000\r\n\r\n" + b"A" * 1000)
        received = b""
        while chunk := sock.recv(65536):  # the server closes the connection after answering
            received += chunk
        reply = received.decode(errors="replace")
    assert reply.startswith("HTTP/1.1 413"), reply
    assert '"error":"too_large"' in reply.replace(" ", "")
    assert inst.store_state() == before


def test_chunked_oversize_is_413(shared):
    inst, srv = shared
    before = inst.store_state()
    connection = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    chunks = (b"\0" * 65536 for _ in range(40))  # 2.5 MiB, limit is 1 MiB + overhead
    try:
        connection.request("POST", "/api/v1/snapshots", body=chunks, encode_chunked=True,
                           headers={"Content-Type": "application/octet-stream"})
        response = connection.getresponse()
        assert response.status == 413
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server may close the connection as soon as it has answered
    finally:
        connection.close()
    assert inst.store_state() == before


def test_flipped_byte_anywhere_is_refused(shared):
    inst, srv = shared
    body = inst.envelope(pages=1)
    positions = sorted({0, 9, 12, 20, len(body) - 1, len(body) - 64, len(body) // 2}
                       | set(range(30, len(body), max(1, len(body) // 25))))
    before = inst.store_state()
    for position in positions:
        flipped = bytearray(body)
        flipped[position] ^= 0x40
        status, reply = post(snapshots_url(srv), bytes(flipped))
        assert status in (400, 403, 422), (position, status, reply)
    assert inst.store_state() == before
    assert post(snapshots_url(srv), body)[0] == 201  # the unaltered original is fine


def test_last_good_snapshot_still_opens_after_refusals(shared):
    inst, srv = shared
    for body in (os.urandom(100), b"APLSEAL\n" + struct.pack(">HI", 1, 5) + b"{}"):
        assert post(snapshots_url(srv), body)[0] == 400
    store = Store(inst.state_dir, SystemClock())
    newest = store.snapshots()[0]
    envelope = seal.parse(store.read_envelope(newest.id), max_payload=10**9)
    documents = seal.decrypt(envelope, keys.parse_appliance_private_pem(
        (inst.state_dir / "keys" / "appliance.key").read_bytes(), "key"))
    assert documents[0].content.startswith(b"%PDF-")


def test_full_disk_reserve_is_507(tmp_path):
    inst = make_installation(tmp_path, "[storage]\nfree_space_reserve_mb = 1000000\n")
    srv = Server(inst).start()
    try:
        assert_refused(inst, srv, inst.envelope(), 507, "insufficient_storage")
    finally:
        srv.stop()


def test_status_and_health(installation: Installation, server: Server):
    status, body = get_json(server.url + "/api/v1/status")
    assert status == 200 and body["state"] == "no-data"
    assert body["kinds"]["todo"]["produced_at"] is None
    produced = datetime.now(UTC) - timedelta(minutes=5)
    assert post(snapshots_url(server), installation.envelope(produced_at=produced))[0] == 201
    status, body = get_json(server.url + "/api/v1/status")
    todo = body["kinds"]["todo"]
    assert body["state"] == "ready"
    assert todo["stale"] is False and todo["slots"] == ["07:00", "14:30"]
    assert todo["produced_at"] == produced.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert todo["received_at"] is not None
    assert get_json(server.url + "/healthz") == (200, {"status": "ok"})


def test_health_is_503_when_the_store_cannot_be_written(installation, server):
    snapshots = installation.state_dir / "snapshots"
    snapshots.rename(snapshots.with_name("moved"))
    snapshots.write_text("not a folder")
    try:
        status, body = get_json(server.url + "/healthz")
        assert status == 503 and body["status"] == "unhealthy"
    finally:
        snapshots.unlink()
        snapshots.with_name("moved").rename(snapshots)
    assert get_json(server.url + "/healthz")[0] == 200


def test_unknown_route_is_json_404(server):
    status, body = get_json(server.url + "/nope")
    assert status == 404 and body["error"] == "not_found"
