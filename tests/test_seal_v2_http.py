"""Seal format v2 against the real server (issue 8, section 7): the network sees nothing of
the manifest, a version 1 envelope is refused with a clear message, and a sequence number
far ahead is refused instead of locking its sender out."""

from __future__ import annotations

import hashlib
import json
import struct
from datetime import UTC, datetime, timedelta

import pytest

from appliance.core.base.canonical import canonical_json
from appliance.core.base.clock import SystemClock
from appliance.core.crypto import keys, seal
from appliance.core.records.audit import AuditLog
from appliance.devtools.synthetic import make_document
from tests.conftest import Installation, Server, make_installation, post

MARKER_UNIT = "Hemsjukvård Markörby"
MARKER_TITLE = "Titel MARKÖR-4711"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    inst = make_installation(tmp_path_factory.mktemp("seal-v2"))  # single-unit: any unit
    srv = Server(inst).start()
    yield inst, srv
    srv.stop()


def url(srv: Server) -> str:
    return srv.url + "/api/v1/snapshots"


def marked_document(produced: datetime) -> seal.Document:
    content = make_document("todo", produced_at=produced, pages=1)
    return seal.Document(seal.describe_document("todo", MARKER_UNIT, MARKER_TITLE, produced,
                                                content), content)


def seal_with_seq(inst: Installation, seq: int, created: datetime) -> bytes:
    document = marked_document(datetime.now(UTC))
    return seal.seal([document], inst.sender.key, inst.public_key(), seq, created)


def version_1_envelope(inst: Installation) -> bytes:
    """A well-formed, validly signed envelope of the retired format 1, built from its spec:
    the manifest in the clear header, the documents alone in the plaintext."""
    document = marked_document(datetime.now(UTC))
    recipient = inst.public_key()
    header = canonical_json({
        "version": 1, "sender": keys.sender_fingerprint(inst.sender.key.public_key()),
        "recipient": recipient.fingerprint, "seq": 1, "created": "2026-11-27T06:55:00Z",
        "suite": recipient.suite.name, "documents": [document.entry.to_json()],
    })
    span = seal.MAGIC + struct.pack(">HI", 1, len(header)) + header
    info = b"APLSEAL v1 header\x00" + hashlib.sha256(span).digest()
    payload = keys.hpke_suite(recipient.suite).encrypt(document.content, recipient.hpke_key(),
                                                      info=info)
    signed = span + struct.pack(">Q", len(payload)) + payload
    return signed + inst.sender.key.sign(signed)


def test_clear_part_of_an_accepted_envelope_names_nothing_of_the_manifest(site):
    inst, srv = site
    produced = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
    document = marked_document(produced)
    body = inst.sender.seal_for([document], inst.public_key())

    header_length = struct.unpack_from(">I", body, 10)[0]
    clear_header = json.loads(body[14:14 + header_length])
    assert set(clear_header) == {"version", "suite", "recipient", "sender", "seq", "created"}
    entry = document.entry
    for needle in (MARKER_UNIT, MARKER_TITLE, '"todo"', entry.sha256,
                   produced.strftime("%Y-%m-%dT%H:%M:%S"), str(entry.size)):
        assert needle.encode("utf-8") not in body, needle
    assert bytes.fromhex(entry.sha256) not in body

    status, reply = post(url(srv), body)
    assert status == 201, reply
    answer = json.dumps(reply, ensure_ascii=False)
    assert MARKER_UNIT not in answer and MARKER_TITLE not in answer  # not echoed either
    snapshot = json.loads(inst.appliance("snapshots", "--json").output)[0]
    assert snapshot["documents"][0]["unit"] == MARKER_UNIT  # read from the decrypted manifest
    index = (inst.state_dir / "index.sqlite3").read_bytes()
    wal = inst.state_dir / "index.sqlite3-wal"
    index += wal.read_bytes() if wal.exists() else b""
    assert MARKER_TITLE.encode("utf-8") not in index and entry.sha256.encode() not in index


def test_version_1_envelope_is_refused_400_with_a_clear_message(site):
    inst, srv = site
    before = inst.store_state()
    status, reply = post(url(srv), version_1_envelope(inst))
    assert (status, reply["error"]) == (400, "malformed")
    assert "version 1 is no longer accepted" in reply["message"]
    assert "update the sender" in reply["message"]
    assert inst.store_state() == before


def test_sequence_far_ahead_is_refused_and_the_sender_is_not_locked_out(installation,
                                                                          server):
    inst, srv = installation, server
    before = inst.store_state()
    created = datetime.now(UTC).replace(microsecond=0)
    created_us = int(created.timestamp()) * 1_000_000
    day_us = 24 * 3600 * 1_000_000
    for seq, when in ((seal.MAX_SEQUENCE, created), (created_us + day_us + 1, created),
                      (seal.MAX_SEQUENCE, datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC))):
        status, reply = post(url(srv), seal_with_seq(inst, seq, when))
        assert (status, reply["error"]) == (422, "sequence_ahead"), reply
        assert "check the sender's clock" in reply["message"]
    assert inst.store_state() == before
    audit = AuditLog(inst.state_dir / "audit.log", SystemClock())
    refused = [entry for entry in audit.entries() if entry.get("reason") == "sequence_ahead"]
    assert [entry["sender"] for entry in refused] == ["kontor-norr"] * 3  # one entry each
    status, reply = post(url(srv), seal_with_seq(inst, created_us + day_us, created))
    assert status == 201, reply  # the bound itself is allowed...
    status, reply = post(url(srv), inst.sender.seal_for([marked_document(datetime.now(UTC))],
                                                        inst.public_key()))
    assert (status, reply["error"]) == (409, "replayed")  # ...and kept: now one day ahead
    a_day_later = created + timedelta(days=1, minutes=1)
    status, reply = post(url(srv), seal_with_seq(inst, created_us + day_us + 60_000_000,
                                                 a_day_later))
    assert status == 201, reply  # a day later, the sender's own count has caught up


def test_tampering_with_the_clear_header_or_the_encrypted_manifest_fails_the_signature(site):
    inst, srv = site
    body = inst.sender.seal_for([marked_document(datetime.now(UTC))], inst.public_key())
    header_length = struct.unpack_from(">I", body, 10)[0]
    payload_start = 22 + header_length
    enc = keys.KEM_SUITES[inst.public_key().suite.name].kem.enc_length()
    # the seconds' last digit of `created`: flipping its lowest bit keeps it a digit, so
    # the header still parses on every date (a year's digit could make 2028-02-29 into
    # 2029-02-29, which does not exist: a 400, not the signature's 403)
    created = body.index(b'"created":"') + len(b'"created":"') + len("2026-12-06T07:00:0")
    for position in (created, payload_start + enc + 2):  # header; manifest's ciphertext
        mutated = bytearray(body)
        mutated[position] ^= 0x01
        status, reply = post(url(srv), bytes(mutated))
        assert (status, reply["error"]) == (403, "bad_signature"), (position, reply)
    status, reply = post(url(srv), body)
    assert status == 201, reply
