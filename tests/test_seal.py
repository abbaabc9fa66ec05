"""Envelope format v2 (`appliance.core.crypto.seal`, specified in `docs/seal-format.md`).

Test vectors (checked also with an independent RFC 9180 implementation written from the
spec), round trips, every structural rule of the strict parser, a bit flip at every
position, and property tests: whatever the bytes, opening an envelope either succeeds on
the genuine envelope or raises a `SealError` subclass, never anything else.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import importlib.util
import json
import struct
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, mlkem, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.core.base.canonical import canonical_json
from appliance.core.crypto import keys, seal
from appliance.core.crypto.seal import (
    BadSignature,
    DecryptionFailed,
    MalformedSeal,
    ManifestMismatch,
    SealError,
)
from appliance.core.intake.pdf import PdfLimits, count_pages

VECTORS = Path(__file__).parent / "vectors"
VECTOR_SUITES = ["mlkem768-x25519", "x25519"]
SUITES = {suite.name: suite for suite in (keys.MLKEM768_X25519, keys.X25519)}
MAX_PAYLOAD = 1 << 20
CREATED = datetime(2026, 11, 27, 6, 55, tzinfo=UTC)
UNIT = "Hemsjukvård Sölvesborg"
ED25519_ORDER = 2**252 + 27742317777372353535851937790883648493

SENDER = ed25519.Ed25519PrivateKey.generate()
OTHER_SENDER = ed25519.Ed25519PrivateKey.generate()
APPLIANCE = {name: keys.generate_appliance_key(suite) for name, suite in SUITES.items()}
OTHER_APPLIANCE = {name: keys.generate_appliance_key(suite) for name, suite in SUITES.items()}
PROPERTY_SETTINGS = settings(max_examples=400, deadline=None,
                             suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------- helpers


def document(content: bytes, kind: str = "todo", title: str = "Att göra-lista") -> seal.Document:
    return seal.Document(seal.describe_document(kind, UNIT, title, CREATED, content), content)


def small_padding(length: int) -> int:
    """Pad to the next 256 bytes: padding is there to be flipped, the envelope stays small
    enough for the every-bit tests (the sender's buckets start at 256 KiB)."""
    return length + (-length) % 256


def make_envelope(suite: str = "x25519", contents: tuple[bytes, ...] = (b"%PDF-1.4 one",),
                  seq: int = 1, signer: ed25519.Ed25519PrivateKey = SENDER) -> bytes:
    docs = [document(content) for content in contents]
    return seal.seal(docs, signer, APPLIANCE[suite].public_key(), seq, CREATED,
                     pad=small_padding)


def open_envelope(data: bytes, suite: str = "x25519",
                  sender: ed25519.Ed25519PublicKey | None = None,
                  max_payload: int = MAX_PAYLOAD) -> list[seal.Document]:
    """What the appliance does on receipt, minus its own bookkeeping."""
    envelope = seal.parse(data, max_payload=max_payload)
    seal.verify_signature(envelope, sender or SENDER.public_key())
    return seal.decrypt(envelope, APPLIANCE[suite])


def header_obj(suite: str = "x25519") -> dict:
    """A valid clear header as a JSON object, for tests that break one thing in it."""
    return {
        "version": 2,
        "sender": keys.sender_fingerprint(SENDER.public_key()),
        "recipient": APPLIANCE[suite].public_key().fingerprint,
        "seq": 1,
        "created": "2026-11-27T06:55:00Z",
        "suite": suite,
    }


def manifest_obj(contents: tuple[bytes, ...] = (b"%PDF-1.4 one",)) -> dict:
    """A valid manifest for `contents` as a JSON object."""
    return {"documents": [document(content).entry.to_json() for content in contents]}


def plaintext_of(manifest: dict | bytes, contents: tuple[bytes, ...] = (b"%PDF-1.4 one",)
                 ) -> bytes:
    """The payload's plaintext: manifest length, manifest, documents (spec section 3.3)."""
    raw = manifest if isinstance(manifest, bytes) else canonical_json(manifest)
    return seal.MANIFEST_LENGTH.pack(len(raw)) + raw + b"".join(contents)


def open_manifest(manifest: dict | bytes, contents: tuple[bytes, ...] = (b"%PDF-1.4 one",),
                  suite: str = "x25519") -> list[seal.Document]:
    """Seal any manifest correctly otherwise, and open it as the appliance does."""
    return open_envelope(seal_by_hand(header_obj(suite), plaintext_of(manifest, contents),
                                      suite), suite)


def assemble(header: bytes, payload: bytes, *, signer: ed25519.Ed25519PrivateKey = SENDER,
             magic: bytes = seal.MAGIC, version: int = seal.VERSION,
             header_length: int | None = None, payload_length: int | None = None) -> bytes:
    """Build an envelope byte by byte from the module's layout constants, and sign it."""
    hlen = len(header) if header_length is None else header_length
    plen = len(payload) if payload_length is None else payload_length
    signed = seal.PREFIX.pack(magic, version, hlen) + header + seal.PAYLOAD_LENGTH.pack(plen)
    signed += payload
    return signed + signer.sign(signed)


def seal_by_hand(header: dict | bytes, plaintext: bytes, suite: str = "x25519", *,
                 recipient: keys.AppliancePublicKey | None = None,
                 info_header: dict | bytes | None = None,
                 signer: ed25519.Ed25519PrivateKey = SENDER) -> bytes:
    """Encrypt `plaintext` with HPKE and sign, with any header; `info_header` (if given) is
    the header whose digest goes into HPKE info instead of the one in the envelope."""

    def span(obj: dict | bytes) -> bytes:
        raw = obj if isinstance(obj, bytes) else canonical_json(obj)
        return seal.PREFIX.pack(seal.MAGIC, seal.VERSION, len(raw)) + raw

    header_bytes = header if isinstance(header, bytes) else canonical_json(header)
    recipient = recipient or APPLIANCE[suite].public_key()
    info = seal.hpke_info(span(header if info_header is None else info_header))
    payload = keys.hpke_suite(recipient.suite).encrypt(plaintext, recipient.hpke_key(), info=info)
    return assemble(header_bytes, payload, signer=signer)


def dummy_payload(suite: str = "x25519", extra: int = 10) -> bytes:
    return bytes(SUITES[suite].kem.enc_length() + seal.AEAD_TAG_LENGTH + extra)


def parse_header(header: dict | bytes, suite: str = "x25519") -> seal.Envelope:
    raw = header if isinstance(header, bytes) else canonical_json(header)
    return seal.parse(assemble(raw, dummy_payload(suite)), max_payload=MAX_PAYLOAD)


def flip(data: bytes, position: int, bit: int) -> bytes:
    mutated = bytearray(data)
    mutated[position] ^= 1 << bit
    return bytes(mutated)


# ---------------------------------------------------------------- independent RFC 9180 (spec check)


def _labeled_extract(suite_id: bytes, salt: bytes, label: bytes, ikm: bytes) -> bytes:
    return hmac.new(salt or bytes(32), b"HPKE-v1" + suite_id + label + ikm,
                    hashlib.sha256).digest()


def _labeled_expand(suite_id: bytes, prk: bytes, label: bytes, info: bytes, length: int) -> bytes:
    labeled = length.to_bytes(2, "big") + b"HPKE-v1" + suite_id + label + info
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + labeled + bytes([counter]), hashlib.sha256).digest()
        out, counter = out + block, counter + 1
    return out[:length]


def _key_schedule(kem_id: int, shared: bytes, info: bytes) -> tuple[AESGCM, bytes]:
    suite_id = b"HPKE" + struct.pack(">HHH", kem_id, 0x0001, 0x0002)
    context = (b"\x00" + _labeled_extract(suite_id, b"", b"psk_id_hash", b"")
               + _labeled_extract(suite_id, b"", b"info_hash", info))
    secret = _labeled_extract(suite_id, shared, b"secret", b"")
    key = _labeled_expand(suite_id, secret, b"key", context, 32)
    nonce = _labeled_expand(suite_id, secret, b"base_nonce", context, 12)
    return AESGCM(key), nonce


def _dhkem_shared(dh: bytes, enc: bytes, recipient_public: bytes) -> bytes:
    kem_suite_id = b"KEM" + (0x0020).to_bytes(2, "big")
    prk = _labeled_extract(kem_suite_id, b"", b"eae_prk", dh)
    return _labeled_expand(kem_suite_id, prk, b"shared_secret", enc + recipient_public, 32)


XWING_LABEL = b"\\.//^\\"


def rfc9180_open(suite: str, private_raw: bytes, payload: bytes, info: bytes) -> bytes:
    """HPKE base-mode single-shot Open, written from RFC 9180 and draft-ietf-hpke-pq (X-Wing)
    with only primitives, to show that `docs/seal-format.md` names the construction exactly."""
    if suite == "x25519":
        kem_id, enc, ciphertext = 0x0020, payload[:32], payload[32:]
        sk = x25519.X25519PrivateKey.from_private_bytes(private_raw)
        dh = sk.exchange(x25519.X25519PublicKey.from_public_bytes(enc))
        shared = _dhkem_shared(dh, enc, sk.public_key().public_bytes_raw())
    else:
        kem_id, enc, ciphertext = 0x647A, payload[:1120], payload[1120:]
        sk_m = mlkem.MLKEM768PrivateKey.from_seed_bytes(private_raw[:64])
        sk_x = x25519.X25519PrivateKey.from_private_bytes(private_raw[64:])
        ct_m, ct_x = enc[:1088], enc[1088:]
        ss_m = sk_m.decapsulate(ct_m)
        ss_x = sk_x.exchange(x25519.X25519PublicKey.from_public_bytes(ct_x))
        pk_x = sk_x.public_key().public_bytes_raw()
        shared = hashlib.sha3_256(ss_m + ss_x + ct_x + pk_x + XWING_LABEL).digest()
    aead, nonce = _key_schedule(kem_id, shared, info)
    return aead.decrypt(nonce, ciphertext, b"")


def rfc9180_seal(suite: str, public_raw: bytes, plaintext: bytes, info: bytes) -> bytes:
    """HPKE base-mode single-shot Seal from primitives: what an independent sender does."""
    ephemeral = x25519.X25519PrivateKey.generate()
    ct_x = ephemeral.public_key().public_bytes_raw()
    if suite == "x25519":
        kem_id, enc = 0x0020, ct_x
        dh = ephemeral.exchange(x25519.X25519PublicKey.from_public_bytes(public_raw))
        shared = _dhkem_shared(dh, enc, public_raw)
    else:
        pk_m, pk_x = public_raw[:1184], public_raw[1184:]
        ss_m, ct_m = mlkem.MLKEM768PublicKey.from_public_bytes(pk_m).encapsulate()
        ss_x = ephemeral.exchange(x25519.X25519PublicKey.from_public_bytes(pk_x))
        kem_id, enc = 0x647A, ct_m + ct_x
        shared = hashlib.sha3_256(ss_m + ss_x + ct_x + pk_x + XWING_LABEL).digest()
    aead, nonce = _key_schedule(kem_id, shared, info)
    return enc + aead.encrypt(nonce, plaintext, b"")


# ---------------------------------------------------------------- test vectors


def load_vector(suite: str):
    directory = VECTORS / suite
    expected = json.loads((directory / "expected.json").read_text(encoding="utf-8"))
    files = expected["files"]
    return (
        directory,
        expected,
        (directory / files["envelope"]).read_bytes(),
        keys.parse_appliance_private_pem((directory / files["appliance_private_key"]).read_bytes(),
                                         files["appliance_private_key"]),
        keys.parse_sender_public_pem((directory / files["sender_public_key"]).read_bytes(),
                                     files["sender_public_key"]),
        [(directory / name).read_bytes() for name in files["documents"]],
    )


@pytest.mark.parametrize("suite", VECTOR_SUITES)
def test_vector_opens_to_the_expected_documents_and_header(suite):
    _, expected, data, private, sender_public, contents = load_vector(suite)
    envelope = seal.parse(data, max_payload=MAX_PAYLOAD)
    seal.verify_signature(envelope, sender_public)
    documents = seal.decrypt(envelope, private)

    assert [doc.content for doc in documents] == contents
    assert [doc.entry.to_json() for doc in documents] == expected["manifest"]["documents"]
    plaintext = plaintext_of(canonical_json(expected["manifest"]), tuple(contents))
    plaintext += bytes(expected["lengths"]["padding"])
    assert hashlib.sha256(plaintext).hexdigest() == expected["plaintext_sha256"]
    assert envelope.header.to_json() == expected["header"]
    assert bytes(envelope.header_span[seal.PREFIX.size:]) == canonical_json(
        expected["header"])
    assert envelope.header.suite == suite == private.suite.name
    assert envelope.header.recipient == private.public_key().fingerprint
    assert envelope.header.sender == keys.sender_fingerprint(sender_public)


@pytest.mark.parametrize("suite", VECTOR_SUITES)
def test_vector_layout_matches_the_spec_offsets(suite):
    """Read the vector by the byte offsets of docs/seal-format.md, without `seal.parse`."""
    _, expected, data, private, _, contents = load_vector(suite)
    lengths = expected["lengths"]
    assert data[0:8] == bytes.fromhex("41504c5345414c0a")
    assert int.from_bytes(data[8:10], "big") == 2
    header_length = int.from_bytes(data[10:14], "big")
    assert header_length == lengths["header"]
    header_end = 14 + header_length
    assert json.loads(data[14:header_end].decode("utf-8")) == expected["header"]
    payload_length = int.from_bytes(data[header_end:header_end + 8], "big")
    assert payload_length == lengths["payload"]
    assert payload_length == lengths["enc"] + lengths["plaintext"] + 16
    assert lengths["plaintext"] == (4 + lengths["manifest"] + sum(map(len, contents))
                                    + lengths["padding"])
    assert lengths["padding"] > 0 and lengths["plaintext"] % 1024 == 0
    payload = data[header_end + 8:header_end + 8 + payload_length]
    signature = data[header_end + 8 + payload_length:]
    assert len(signature) == 64 and signature.hex() == expected["signature_hex"]
    assert len(data) == lengths["envelope"] == header_end + 8 + payload_length + 64

    assert hashlib.sha256(data[:header_end]).hexdigest() == expected["header_span_sha256"]
    info = b"APLSEAL v2 header\x00" + hashlib.sha256(data[:header_end]).digest()
    assert info.hex() == expected["info_hex"] == seal.hpke_info(data[:header_end]).hex()
    plaintext = rfc9180_open(suite, private.raw, payload, info)  # the independent HPKE
    manifest_length = int.from_bytes(plaintext[:4], "big")
    assert manifest_length == lengths["manifest"]
    assert json.loads(plaintext[4:4 + manifest_length]) == expected["manifest"]
    assert plaintext[4 + manifest_length:] == b"".join(contents) + bytes(lengths["padding"])


@pytest.mark.parametrize("suite", VECTOR_SUITES)
def test_vector_signature_is_the_deterministic_ed25519_signature(suite):
    directory, expected, data, _, sender_public, _ = load_vector(suite)
    sender_private = keys.parse_sender_private_pem(
        (directory / expected["files"]["sender_private_key"]).read_bytes(), "sender.key.pem")
    assert sender_private.public_key() == sender_public
    assert sender_private.sign(data[:-64]) == data[-64:]
    sender_public.verify(data[-64:], data[:-64])  # raises if the scope were different


@pytest.mark.parametrize("suite", VECTOR_SUITES)
def test_vector_keys_and_fingerprints(suite):
    directory, expected, _, private, sender_public, _ = load_vector(suite)
    public = keys.parse_appliance_public_pem(
        (directory / expected["files"]["appliance_public_key"]).read_bytes(), "appliance.pub.pem")
    assert public == private.public_key()
    assert public.fingerprint == expected["recipient_fingerprint"]
    assert public.fingerprint == hashlib.sha256(bytes([public.suite.code]) + public.raw).hexdigest()
    assert keys.short_fingerprint(public.fingerprint) == expected["recipient_short_fingerprint"]
    assert keys.sender_fingerprint(sender_public) == expected["sender_fingerprint"]
    assert expected["sender_fingerprint"] == hashlib.sha256(
        sender_public.public_bytes_raw()).hexdigest()
    assert expected["hpke"]["kem_id"] == {"x25519": 0x20, "mlkem768-x25519": 0x647A}[suite]


@pytest.mark.parametrize("suite", VECTOR_SUITES)
def test_vector_files_are_small_and_documents_are_printable_pdfs(suite):
    directory, expected, *_, contents = load_vector(suite)
    for path in [*directory.iterdir(), VECTORS / "sender.pub.pem", VECTORS / "sender.key.pem"]:
        assert path.stat().st_size < 4096, path
    assert all(count_pages(content, PdfLimits(1, 1 << 20)) == 1 for content in contents)
    assert len(contents) == len(expected["manifest"]["documents"])


def test_spec_example_is_the_x25519_vector():
    """docs/seal-format.md section 2.6 quotes the vector's first 22 + H bytes; keep them equal."""
    spec = (Path(__file__).parents[1] / "docs" / "seal-format.md").read_text(encoding="utf-8")
    example = spec.split("### 2.6 Example", 1)[1]
    quoted_header = example.split("```\n", 2)[1].rstrip("\n").encode("utf-8")
    _, _, data, *_ = load_vector("x25519")
    header_end = 14 + len(quoted_header)
    assert data[14:header_end] == quoted_header
    assert data[:14].hex(" ") in example
    assert data[header_end:header_end + 8].hex(" ") in example


def test_vectors_regenerate_to_the_committed_files(tmp_path):
    """generate.py is deterministic except for HPKE's randomness: a fresh run matches the
    committed vectors byte for byte up to the ciphertext, and its envelopes open to the
    same plaintext."""
    spec = importlib.util.spec_from_file_location("generate_vectors", VECTORS / "generate.py")
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    generator.generate(tmp_path)
    randomised = {"envelope.seal", "expected.json"}
    committed = sorted(path.relative_to(VECTORS) for path in VECTORS.rglob("*")
                       if path.is_file() and path.suffix not in (".py", ".pyc")
                       and path.name[0] != "." and "__pycache__" not in path.parts)
    assert sorted(path.relative_to(tmp_path) for path in tmp_path.rglob("*")
                  if path.is_file()) == committed
    for name in committed:
        if name.name not in randomised:
            assert (tmp_path / name).read_bytes() == (VECTORS / name).read_bytes(), name
    for suite in VECTOR_SUITES:
        old = json.loads((VECTORS / suite / "expected.json").read_text(encoding="utf-8"))
        new = json.loads((tmp_path / suite / "expected.json").read_text(encoding="utf-8"))
        assert {**new, "signature_hex": None} == {**old, "signature_hex": None}
        old_data = (VECTORS / suite / "envelope.seal").read_bytes()
        new_data = (tmp_path / suite / "envelope.seal").read_bytes()
        clear_end = 22 + old["lengths"]["header"]
        assert new_data[:clear_end] == old_data[:clear_end] and len(new_data) == len(old_data)
        private = keys.parse_appliance_private_pem(
            (VECTORS / suite / "appliance.key.pem").read_bytes(), "appliance.key.pem")
        opened = [seal.decrypt(seal.parse(data, max_payload=MAX_PAYLOAD), private)
                  for data in (old_data, new_data)]
        assert opened[0] == opened[1]


def test_one_vector_holds_two_documents():
    _, expected, *_ = load_vector("mlkem768-x25519")
    assert len(expected["files"]["documents"]) == 2


@pytest.mark.parametrize("suite", VECTOR_SUITES)
def test_vector_is_refused_by_another_appliance_and_another_sender(suite):
    _, _, data, _, _, _ = load_vector(suite)
    envelope = seal.parse(data, max_payload=MAX_PAYLOAD)
    with pytest.raises(BadSignature, match="does not match the sender"):
        seal.verify_signature(envelope, OTHER_SENDER.public_key())
    with pytest.raises(DecryptionFailed, match="cannot be decrypted"):
        seal.decrypt(envelope, OTHER_APPLIANCE[suite])


@pytest.mark.parametrize("suite", VECTOR_SUITES)
def test_independent_sender_following_the_spec_is_accepted(suite):
    """Section 6 of the spec, step by step, with json, struct, primitives and Ed25519."""
    directory, expected, _, private, _, contents = load_vector(suite)
    sender = keys.parse_sender_private_pem(
        (directory / expected["files"]["sender_private_key"]).read_bytes(), "sender.key.pem")
    public_body = base64.b64decode("".join(
        (directory / "appliance.pub.pem").read_text().strip().splitlines()[1:-1]))
    code, public_raw = public_body[0], public_body[1:]
    assert code == {"mlkem768-x25519": 1, "x25519": 2}[suite]
    documents = [{"kind": f"kind-{n}", "unit": "Enhet Ö", "title": 'Lista "A"',
                  "produced_at": "2026-11-27T07:30:00+01:00", "content_type": "application/pdf",
                  "size": len(content), "sha256": hashlib.sha256(content).hexdigest()}
                 for n, content in enumerate(contents)]
    def canonical(value: dict) -> bytes:
        return json.dumps(value, sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False).encode("utf-8")

    header = canonical({
        "version": 2, "seq": 1_795_766_400_123_456, "created": "2026-11-27T07:00:00Z",
        "sender": hashlib.sha256(sender.public_key().public_bytes_raw()).hexdigest(),
        "recipient": hashlib.sha256(public_body).hexdigest(), "suite": suite,
    })
    manifest = canonical({"documents": documents})
    header_span = b"APLSEAL\n" + struct.pack(">HI", 2, len(header)) + header
    info = b"APLSEAL v2 header\x00" + hashlib.sha256(header_span).digest()
    plaintext = struct.pack(">I", len(manifest)) + manifest + b"".join(contents)
    payload = rfc9180_seal(suite, public_raw, plaintext, info)
    signed = header_span + struct.pack(">Q", len(payload)) + payload
    envelope_bytes = signed + sender.sign(signed)

    envelope = seal.parse(envelope_bytes, max_payload=MAX_PAYLOAD)
    seal.verify_signature(envelope, sender.public_key())
    opened = seal.decrypt(envelope, private)
    assert [doc.content for doc in opened] == contents
    assert [doc.entry.kind for doc in opened] == [f"kind-{n}" for n in range(len(contents))]
    assert rfc9180_open(suite, private.raw, payload, info) == plaintext


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("suite", sorted(SUITES))
@pytest.mark.parametrize("contents", [
    (b"%PDF-1.4 a single document",),
    (b"%PDF first", b"x", b"%PDF third \x00\xff with binary bytes" * 50),
    tuple(f"%PDF document {n}".encode() for n in range(seal.MAX_DOCUMENTS)),
], ids=["one", "three", "sixty-four"])
def test_round_trip(suite, contents):
    docs = [document(content, kind=f"kind{n}") for n, content in enumerate(contents)]
    recipient = APPLIANCE[suite].public_key()
    data = seal.seal(docs, SENDER, recipient, 1_795_762_500_000_000, CREATED)

    opened = open_envelope(data, suite)

    assert [doc.content for doc in opened] == list(contents)
    assert [doc.entry for doc in opened] == [doc.entry for doc in docs]
    header = seal.parse(data, max_payload=MAX_PAYLOAD).header
    assert header.version == 2
    assert header.seq == 1_795_762_500_000_000
    assert header.created == "2026-11-27T06:55:00Z"
    assert header.suite == suite
    assert header.sender == keys.sender_fingerprint(SENDER.public_key())
    assert header.recipient == recipient.fingerprint
    payload_length = len(seal.parse(data, max_payload=MAX_PAYLOAD).payload)
    manifest = seal.Manifest(tuple(doc.entry for doc in docs)).to_bytes()
    unpadded = 4 + len(manifest) + sum(map(len, contents))
    assert payload_length == SUITES[suite].kem.enc_length() + seal.padded_length(unpadded) + 16


def test_seal_is_randomised_but_both_open():
    first, second = make_envelope(), make_envelope()
    assert first != second
    assert open_envelope(first)[0].content == open_envelope(second)[0].content


def test_hpke_info_is_label_and_digest_and_fits_in_64_bytes():
    span = b"anything"
    info = seal.hpke_info(span)
    assert info == b"APLSEAL v2 header\x00" + hashlib.sha256(span).digest()
    assert len(info) == 50 <= 64


def test_header_is_canonical_json_with_sorted_keys():
    data = make_envelope()
    header = bytes(seal.parse(data, max_payload=MAX_PAYLOAD).header_span[seal.PREFIX.size:])
    assert header.startswith(b'{"created":"2026-11-27T06:55:00Z","recipient":"')
    assert b" " not in header
    assert list(json.loads(header)) == sorted(json.loads(header))


def test_manifest_is_canonical_json_with_sorted_keys_and_raw_utf8():
    manifest = seal.Manifest((document(b"%PDF-1.4 one").entry,)).to_bytes()
    assert manifest.startswith(b'{"documents":[{"content_type":"application/pdf","kind":')
    assert b" " not in manifest.replace(UNIT.encode(), b"").replace(
        "Att göra-lista".encode(), b"")
    assert UNIT.encode("utf-8") in manifest and b"\\u" not in manifest
    assert list(json.loads(manifest)["documents"][0]) == sorted(
        json.loads(manifest)["documents"][0])


@pytest.mark.parametrize("suite", sorted(SUITES))
def test_clear_part_holds_nothing_about_the_documents(suite):
    """Everything but the ciphertext is readable by the network: it names no unit, title,
    kind, time of production, hash or size (issue 8, section 7)."""
    marker_unit, marker_title = "Enhet MARKÖR-7Q", "Titel MARKÖR-9Z"
    content = b"%PDF-1.4 marker content"
    entry = seal.describe_document("todo", marker_unit, marker_title,
                                   datetime(2026, 11, 27, 5, 43, 21, tzinfo=UTC), content)
    data = seal.seal([seal.Document(entry, content)], SENDER, APPLIANCE[suite].public_key(),
                     7, CREATED)
    envelope = seal.parse(data, max_payload=MAX_PAYLOAD)
    clear_header = json.loads(bytes(envelope.header_span[seal.PREFIX.size:]))
    assert set(clear_header) == {"version", "suite", "recipient", "sender", "seq", "created"}
    for needle in (marker_unit, marker_title, "todo", entry.sha256, "2026-11-27T05:43:21",
                   "produced", "documents", "title", "unit", "kind", "sha256", "size"):
        assert needle.encode("utf-8") not in data, needle
    assert bytes.fromhex(entry.sha256) not in data
    assert [doc.entry for doc in open_envelope(data, suite)] == [entry]


def test_a_version_1_envelope_is_refused_with_a_clear_message():
    v1_header = {**header_obj(), "version": 1, "documents": manifest_obj()["documents"]}
    data = assemble(canonical_json(v1_header), dummy_payload(), version=1)
    with pytest.raises(MalformedSeal, match=r"^seal format version 1 is no longer accepted "
                                            r".*reads version 2 only: update the sender"):
        seal.parse(data, max_payload=MAX_PAYLOAD)


def test_seal_refuses_to_write_what_the_parser_refuses():
    recipient = APPLIANCE["x25519"].public_key()
    with pytest.raises(MalformedSeal, match="kind must match"):
        seal.seal([document(b"x", kind="Todo")], SENDER, recipient, 1, CREATED)
    with pytest.raises(MalformedSeal, match=r"manifest\.documents must list 1\.\.64 documents"):
        seal.seal([], SENDER, recipient, 1, CREATED)
    with pytest.raises(MalformedSeal, match="seq must be an integer"):
        seal.seal([document(b"x")], SENDER, recipient, 0, CREATED)
    tampered = seal.Document(document(b"x").entry, b"y")
    with pytest.raises(ValueError, match="does not match its manifest entry"):
        seal.seal([tampered], SENDER, recipient, 1, CREATED)


# ---------------------------------------------------------------- prefix and lengths


def test_wrong_magic():
    data = make_envelope()
    for magic in (b"APLSEAL\r", b"aplseal\n", b"%PDF-1.4"):
        with pytest.raises(MalformedSeal, match=r"wrong magic bytes"):
            seal.parse(magic + data[8:], max_payload=MAX_PAYLOAD)


@pytest.mark.parametrize("version", [0, 3, 0xFFFF])
def test_unsupported_version(version):
    data = assemble(canonical_json(header_obj()), dummy_payload(), version=version)
    with pytest.raises(MalformedSeal, match=rf"unsupported format version {version} "):
        seal.parse(data, max_payload=MAX_PAYLOAD)


@pytest.mark.parametrize("header_length", [0, 1, seal.MAX_HEADER_LENGTH + 1, 2**32 - 1])
def test_header_length_out_of_bounds(header_length):
    data = assemble(canonical_json(header_obj()), dummy_payload(),
                    header_length=header_length)
    with pytest.raises(MalformedSeal, match=rf"header length {header_length} outside 2\.\.65536"):
        seal.parse(data, max_payload=MAX_PAYLOAD)


def test_header_length_at_the_limit_passes_the_bound_check():
    data = assemble(b"{}", dummy_payload(), header_length=seal.MAX_HEADER_LENGTH)
    with pytest.raises(MalformedSeal, match="ends inside its header"):
        seal.parse(data, max_payload=MAX_PAYLOAD)


def test_truncated_at_every_length():
    data = make_envelope()
    header_end = seal.parse(data, max_payload=MAX_PAYLOAD).header_span.nbytes
    for cut in range(len(data)):
        with pytest.raises(MalformedSeal) as caught:
            seal.parse(data[:cut], max_payload=MAX_PAYLOAD)
        message = str(caught.value)
        if cut < seal.PREFIX.size:
            assert message == f"envelope is {cut} bytes, shorter than its fixed prefix"
        elif cut < header_end + seal.PAYLOAD_LENGTH.size:
            assert message == "envelope ends inside its header"
        else:
            assert message == f"envelope is {cut} bytes; its lengths say {len(data)}"


@pytest.mark.parametrize("trailing", [b"\x00", b"\n", b"x" * 64])
def test_trailing_bytes(trailing):
    data = make_envelope()
    with pytest.raises(MalformedSeal, match=rf"envelope is {len(data) + len(trailing)} bytes; "
                                            rf"its lengths say {len(data)}"):
        seal.parse(data + trailing, max_payload=MAX_PAYLOAD)


def test_payload_length_field_disagreeing_with_the_data():
    payload = dummy_payload()
    for declared in (len(payload) - 1, len(payload) + 1):
        data = assemble(canonical_json(header_obj()), payload, payload_length=declared)
        with pytest.raises(MalformedSeal, match="its lengths say"):
            seal.parse(data, max_payload=MAX_PAYLOAD)


@pytest.mark.parametrize("suite", sorted(SUITES))
def test_payload_too_short_for_the_suite(suite):
    minimum = SUITES[suite].kem.enc_length() + seal.AEAD_TAG_LENGTH
    header = canonical_json(header_obj(suite))
    with pytest.raises(MalformedSeal, match="too short to hold an HPKE ciphertext"):
        seal.parse(assemble(header, bytes(minimum - 1)), max_payload=MAX_PAYLOAD)
    with pytest.raises(MalformedSeal, match="too short to hold an HPKE ciphertext"):
        seal.parse(assemble(header, b""), max_payload=MAX_PAYLOAD)
    envelope = seal.parse(assemble(header, bytes(minimum)), max_payload=MAX_PAYLOAD)
    assert len(envelope.payload) == minimum


def test_payload_over_max_payload():
    data = make_envelope()
    payload_length = len(seal.parse(data, max_payload=MAX_PAYLOAD).payload)
    seal.parse(data, max_payload=payload_length)  # exactly at the limit: fine
    with pytest.raises(MalformedSeal, match=rf"payload of {payload_length} bytes exceeds the "
                                            rf"limit {payload_length - 1}"):
        seal.parse(data, max_payload=payload_length - 1)
    huge = assemble(canonical_json(header_obj()), b"", payload_length=2**64 - 1)
    with pytest.raises(MalformedSeal, match=r"payload of 18446744073709551615 bytes exceeds"):
        seal.parse(huge, max_payload=MAX_PAYLOAD)


# ---------------------------------------------------------------- header JSON


def test_a_valid_hand_built_header_and_manifest_open():
    envelope = parse_header(header_obj())
    assert envelope.header.seq == 1
    assert open_manifest(manifest_obj())[0].entry.kind == "todo"


def _canonical() -> bytes:
    return canonical_json(header_obj())


NON_CANONICAL = {
    "space_after_colon": lambda: _canonical().replace(b'"seq":', b'"seq": ', 1),
    "space_after_comma": lambda: _canonical().replace(b',"suite"', b', "suite"', 1),
    "trailing_newline": lambda: _canonical() + b"\n",
    "leading_space": lambda: b" " + _canonical(),
    "indented": lambda: json.dumps(header_obj(), sort_keys=True, indent=1,
                                   ensure_ascii=False).encode(),
    "unsorted_keys": lambda: json.dumps(header_obj(), separators=(",", ":"),
                                        ensure_ascii=False).encode(),
    "escaped_digit": lambda: _canonical().replace(b'"x25519"', b'"x2551\\u0039"'),
}


@pytest.mark.parametrize("name", sorted(NON_CANONICAL))
def test_non_canonical_json(name):
    raw = NON_CANONICAL[name]()
    assert json.loads(raw) == header_obj()  # same content, other bytes
    with pytest.raises(MalformedSeal, match=r"header is not canonical JSON \(sorted keys, no "
                                            r"spaces, UTF-8\)"):
        parse_header(raw)


@pytest.mark.parametrize("name", ["space", "escaped_slash", "unsorted", "ascii_escaped"])
def test_non_canonical_manifest(name):
    canonical = canonical_json(manifest_obj())
    raw = {
        "space": canonical.replace(b'"documents":', b'"documents": '),
        "escaped_slash": canonical.replace(b'"application/pdf"', b'"application\\/pdf"'),
        "unsorted": json.dumps(manifest_obj()["documents"][0], ensure_ascii=False,
                               separators=(",", ":")).join([b'{"documents":['.decode(), "]}"]
                                                           ).encode("utf-8"),
        "ascii_escaped": json.dumps(manifest_obj(), sort_keys=True, separators=(",", ":"),
                                    ensure_ascii=True).encode(),
    }[name]
    assert json.loads(raw) == manifest_obj()
    with pytest.raises(MalformedSeal, match=r"^manifest is not canonical JSON"):
        open_manifest(raw)


def test_duplicate_key():
    raw = _canonical().replace(b'{"created"', b'{"seq":1,"created"', 1)
    with pytest.raises(MalformedSeal, match=r"header repeats the key 'seq'"):
        parse_header(raw)
    raw = canonical_json(manifest_obj()).replace(b'{"content_type"',
                                                 b'{"kind":"todo","content_type"', 1)
    with pytest.raises(MalformedSeal, match=r"manifest repeats the key 'kind'"):
        open_manifest(raw)


@pytest.mark.parametrize(("raw", "message"), [
    (b'{"created":"\xff"}', "header is not UTF-8"),
    (b"\xef\xbb\xbf" + b"{}", "header is not valid JSON"),  # UTF-8 BOM
    (b"{]", "header is not valid JSON"),
    (b"{}" + b"x", "header is not valid JSON"),
    (b"[" * 50_000 + b"]" * 10_000, "header is not valid JSON"),  # too deep to decode
    (b"[]", "header must be a JSON object"),
    (b'"x"', "header must be a JSON object"),
    (b"{}", "header lacks created, recipient, sender, seq, suite, version"),
], ids=["not-utf8", "bom", "bad-json", "trailing-garbage", "deep", "array", "string", "empty"])
def test_header_is_not_a_json_object(raw, message):
    with pytest.raises(MalformedSeal, match=rf"^{message}$"):
        parse_header(raw)


@pytest.mark.parametrize(("raw", "message"), [
    (b'{"documents":"\xff"}', "manifest is not UTF-8"),
    (b"{]", "manifest is not valid JSON"),
    (b"[" * 50_000 + b"]" * 10_000, "manifest is not valid JSON"),
    (b"[]", "manifest must be a JSON object"),
    (b"{}", "manifest lacks documents"),
    (b'{"documents":[],"x":1}', "manifest has unknown fields x"),
], ids=["not-utf8", "bad-json", "deep", "array", "empty", "unknown-field"])
def test_manifest_is_not_a_json_object(raw, message):
    with pytest.raises(MalformedSeal, match=rf"^{message}$"):
        open_manifest(raw)


@pytest.mark.parametrize(("plaintext", "message"), [
    (b"", r"^decrypted payload is too short to hold a manifest$"),
    (b"\x00\x00\x01", r"^decrypted payload is too short to hold a manifest$"),
    (b"\x00\x00\x00\x01{", r"^manifest length 1 outside 2\.\.65536"),
    (b"\x00\x01\x00\x01" + b" " * 70_000, r"^manifest length 65537 outside 2\.\.65536"),
    (b"\x00\x00\x00\x09{}", r"^manifest length 9 .* beyond the decrypted payload$"),
], ids=["empty", "three-bytes", "length-1", "length-over", "length-beyond"])
def test_manifest_length_bounds(plaintext, message):
    with pytest.raises(MalformedSeal, match=message):
        open_envelope(seal_by_hand(header_obj(), plaintext))


def _set(path: str, value):
    """A mutator setting `header[path]` (path like "seq" or "documents.0.kind")."""

    def mutate(obj: dict) -> dict:
        obj = copy.deepcopy(obj)
        *parents, last = path.split(".")
        target = obj
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value
        return obj

    return mutate


def _delete(path: str):
    def mutate(obj: dict) -> dict:
        obj = copy.deepcopy(obj)
        *parents, last = path.split(".")
        target = obj
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        del target[last]
        return obj

    return mutate


FP = "0" * 64
SEQ_RULE = r"^header\.seq must be an integer from 1 to 9223372036854775807$"
DOC1 = r"^manifest\.documents\[1\]"
DOC2 = r"^manifest\.documents\[2\]"
KIND_RULE = r"\.kind must match \[a-z\]\[a-z0-9_-\]\{0,31\}$"
UNIT_RULE = r"\.unit must be printable text of 1\.\.120 characters$"
TITLE_RULE = r"\.title must be printable text of 1\.\.200 characters$"
TIME_RULE = r" must be an RFC 3339 time, .*docs/seal-format.md §2.5$"
HEADER_CASES = {
    # fields present, absent, unknown
    "missing_field": (_delete("seq"), r"^header lacks seq$"),
    "unknown_field": (_set("priority", 1), r"^header has unknown fields priority$"),
    "manifest_in_the_header": (_set("documents", []), r"^header has unknown fields documents$"),
    # version
    "version_1": (_set("version", 1), r"^header\.version must be 2$"),
    "version_string": (_set("version", "2"), r"^header\.version must be 2$"),
    "version_true": (_set("version", True), r"^header\.version must be 2$"),
    # fingerprints
    "sender_uppercase": (_set("sender", "A" * 64),
                         r"^header\.sender must be a 64-digit lowercase hex fingerprint$"),
    "sender_short": (_set("sender", "a" * 63), r"^header\.sender must be a 64-digit"),
    "sender_long": (_set("sender", "a" * 65), r"^header\.sender must be a 64-digit"),
    "recipient_not_hex": (_set("recipient", "g" * 64), r"^header\.recipient must be a 64-digit"),
    "recipient_number": (_set("recipient", 5), r"^header\.recipient must be a 64-digit"),
    # sequence
    "seq_bool": (_set("seq", True), SEQ_RULE),
    "seq_zero": (_set("seq", 0), SEQ_RULE),
    "seq_negative": (_set("seq", -1), SEQ_RULE),
    "seq_too_big": (_set("seq", 2**63), SEQ_RULE),
    "seq_float": (_set("seq", 1.0), SEQ_RULE),
    "seq_string": (_set("seq", "1"), SEQ_RULE),
    "seq_null": (_set("seq", None), SEQ_RULE),
    # created
    "created_naive": (_set("created", "2026-11-27T06:55:00"), r"^header\.created" + TIME_RULE),
    "created_date_only": (_set("created", "2026-11-27"), r"^header\.created" + TIME_RULE),
    "created_words": (_set("created", "yesterday"), r"^header\.created" + TIME_RULE),
    "created_number": (_set("created", 1795762500), r"^header\.created" + TIME_RULE),
    "created_over_40_chars": (_set("created", "2026-11-27T06:55:00.123456+01:00:00.123456"),
                              r"^header\.created" + TIME_RULE),
    # suite
    "suite_unknown": (_set("suite", "rsa"),
                      r"^header\.suite must be one of mlkem768-x25519, x25519$"),
    "suite_case": (_set("suite", "X25519"), r"^header\.suite must be one of"),
}
MANIFEST_CASES = {
    "doc_missing_field": (_delete("documents.0.sha256"), DOC1 + r" lacks sha256$"),
    "doc_unknown_field": (_set("documents.0.pages", 2), DOC1 + r" has unknown fields pages$"),
    "doc_not_object": (_set("documents.0", "todo"), DOC1 + r" must be a JSON object$"),
    # document list
    "documents_empty": (_set("documents", []),
                        r"^manifest\.documents must list 1\.\.64 documents$"),
    "documents_object": (_set("documents", {}), r"^manifest\.documents must list 1\.\.64"),
    "documents_65": (lambda h: _set("documents", h["documents"] * 65)(h),
                     r"^manifest\.documents must list 1\.\.64 documents$"),
    # kind
    "kind_uppercase": (_set("documents.0.kind", "Todo"), DOC1 + KIND_RULE),
    "kind_leading_digit": (_set("documents.0.kind", "1todo"), DOC1 + KIND_RULE),
    "kind_33_chars": (_set("documents.0.kind", "a" * 33), DOC1 + KIND_RULE),
    "kind_empty": (_set("documents.0.kind", ""), DOC1 + KIND_RULE),
    "kind_space": (_set("documents.0.kind", "to do"), DOC1 + KIND_RULE),
    "kind_non_ascii": (_set("documents.0.kind", "läkemedel"), DOC1 + KIND_RULE),
    "kind_trailing_newline": (_set("documents.0.kind", "todo\n"), DOC1 + KIND_RULE),
    "kind_number": (_set("documents.0.kind", 1), DOC1 + KIND_RULE),
    # unit and title
    "unit_121_chars": (_set("documents.0.unit", "x" * 121), DOC1 + UNIT_RULE),
    "unit_empty": (_set("documents.0.unit", ""), DOC1 + UNIT_RULE),
    "unit_control_char": (_set("documents.0.unit", "Hemsjukvård\x07"), DOC1 + UNIT_RULE),
    "unit_newline": (_set("documents.0.unit", "Hem\nsjukvård"), DOC1 + UNIT_RULE),
    "unit_tab": (_set("documents.0.unit", "Hem\tsjukvård"), DOC1 + UNIT_RULE),
    "unit_del": (_set("documents.0.unit", "Hem\x7f"), DOC1 + UNIT_RULE),
    "unit_no_break_space": (_set("documents.0.unit", "Hem\u00a0sjukvård"), DOC1 + UNIT_RULE),
    "unit_zero_width_space": (_set("documents.0.unit", "Hem\u200bsjukvård"), DOC1 + UNIT_RULE),
    "unit_number": (_set("documents.0.unit", 7), DOC1 + UNIT_RULE),
    "title_201_chars": (_set("documents.0.title", "x" * 201), DOC1 + TITLE_RULE),
    "title_line_separator": (_set("documents.0.title", "a\u2028b"), DOC1 + TITLE_RULE),
    "title_null": (_set("documents.0.title", None), DOC1 + TITLE_RULE),
    # produced_at
    "produced_naive": (_set("documents.0.produced_at", "2026-11-27T06:30:00"),
                       DOC1 + r"\.produced_at" + TIME_RULE),
    "produced_bad_month": (_set("documents.0.produced_at", "2026-13-27T06:30:00Z"),
                           DOC1 + r"\.produced_at" + TIME_RULE),
    # content type
    "content_type_text_plain": (_set("documents.0.content_type", "text/plain"),
                                DOC1 + r"\.content_type must be one of application/pdf$"),
    "content_type_case": (_set("documents.0.content_type", "application/PDF"),
                          DOC1 + r"\.content_type must be one of application/pdf$"),
    "content_type_list": (_set("documents.0.content_type", ["application/pdf"]),
                          DOC1 + r"\.content_type must be one of application/pdf$"),
    # size
    "size_zero": (_set("documents.0.size", 0), DOC1 + r"\.size must be a positive integer$"),
    "size_negative": (_set("documents.0.size", -3), DOC1 + r"\.size must be a positive integer$"),
    "size_bool": (_set("documents.0.size", True), DOC1 + r"\.size must be a positive integer$"),
    "size_float": (_set("documents.0.size", 12.0), DOC1 + r"\.size must be a positive integer$"),
    "size_string": (_set("documents.0.size", "12"), DOC1 + r"\.size must be a positive integer$"),
    # sha256
    "sha256_uppercase": (lambda h: _set("documents.0.sha256",
                                        h["documents"][0]["sha256"].upper())(h),
                         DOC1 + r"\.sha256 must be 64 lowercase hex digits$"),
    "sha256_short": (_set("documents.0.sha256", "0" * 63),
                     DOC1 + r"\.sha256 must be 64 lowercase hex digits$"),
    "sha256_not_hex": (_set("documents.0.sha256", "z" * 64),
                       DOC1 + r"\.sha256 must be 64 lowercase hex digits$"),
}


@pytest.mark.parametrize("name", sorted(HEADER_CASES))
def test_header_rule(name):
    mutate, message = HEADER_CASES[name]
    with pytest.raises(MalformedSeal, match=message):
        parse_header(mutate(header_obj()))


@pytest.mark.parametrize("name", sorted(MANIFEST_CASES))
def test_manifest_rule(name):
    """The same strictness as the header, applied once the manifest is decrypted."""
    mutate, message = MANIFEST_CASES[name]
    with pytest.raises(MalformedSeal, match=message):
        open_manifest(mutate(manifest_obj()))


@pytest.mark.parametrize(("mutate", "message"), [
    (_set("documents.1.kind", "BAD"), DOC2 + KIND_RULE),
    (_set("documents.1.size", 0), DOC2 + r"\.size must be a positive integer$"),
], ids=["kind", "size"])
def test_document_errors_name_the_document_by_its_number(mutate, message):
    with pytest.raises(MalformedSeal, match=message):
        open_manifest(mutate(manifest_obj((b"one", b"two"))), (b"one", b"two"))


@pytest.mark.parametrize(("mutate", "check"), [
    (_set("seq", seal.MAX_SEQUENCE), lambda h: h.seq == 2**63 - 1),
    (_set("created", "2026-11-27T07:55:00+01:00"), lambda h: h.created.endswith("+01:00")),
    (_set("created", "2026-11-27T06:55:00.5Z"), lambda h: h.created.endswith(".5Z")),
    (_set("created", "2026-11-27T06:55:00.123456Z"), lambda h: h.created.endswith("456Z")),
], ids=["max-seq", "offset", "fraction", "six-digit-fraction"])
def test_header_limits_are_inclusive(mutate, check):
    assert check(parse_header(mutate(header_obj())).header)


@pytest.mark.parametrize(("mutate", "check"), [
    (_set("documents.0.kind", "a" + "b" * 31), lambda d: len(d[0].kind) == 32),
    (_set("documents.0.kind", "care_plan-2"), lambda d: d[0].kind == "care_plan-2"),
    (_set("documents.0.unit", "å" * 120), lambda d: d[0].unit == "å" * 120),
    (_set("documents.0.title", "T" * 200), lambda d: len(d[0].title) == 200),
    (_set("documents.0.title", 'Citat "x" \\ y'), lambda d: d[0].title.endswith("y")),
    (_set("documents.0.produced_at", "2026-11-27T07:30:00.25+01:00"),
     lambda d: d[0].produced_at == datetime(2026, 11, 27, 6, 30, 0, 250000, tzinfo=UTC)),
], ids=["kind-32", "kind-chars", "unit-120", "title-200", "title-escapes",
        "produced-at-datetime"])
def test_manifest_limits_are_inclusive(mutate, check):
    assert check([doc.entry for doc in open_manifest(mutate(manifest_obj()))])


def test_manifest_of_64_documents_opens():
    contents = tuple(f"%PDF {n}".encode() for n in range(seal.MAX_DOCUMENTS))
    assert len(open_manifest(manifest_obj(contents), contents)) == 64


def test_a_huge_size_is_well_formed_but_does_not_match_the_payload():
    with pytest.raises(ManifestMismatch, match="shorter than the manifest's sizes"):
        open_manifest(_set("documents.0.size", 2**70)(manifest_obj()))


@pytest.mark.parametrize("fraction", [".1234567", ".", ".123456789012"])
def test_more_than_six_fraction_digits_are_malformed(fraction):
    """The spec allows 1 to 6 digits after the point (section 2.5), as the parser does."""
    with pytest.raises(MalformedSeal, match=TIME_RULE):
        parse_header(_set("created", f"2026-11-27T06:55:00{fraction}Z")(header_obj()))


@pytest.mark.parametrize("value", [[], {}, ["x25519"]], ids=["list", "object", "list-of-name"])
def test_unhashable_suite_is_malformed(value):
    """Regression: `value in dict` raised TypeError for an array or object suite."""
    with pytest.raises(MalformedSeal, match=r"^header\.suite must be one of"):
        parse_header(_set("suite", value)(header_obj()))


def test_time_out_of_range_in_utc_is_malformed():
    """Regression: moving such a time to UTC raised OverflowError, not MalformedSeal."""
    with pytest.raises(MalformedSeal, match=TIME_RULE):
        parse_header(_set("created", "0001-01-01T00:00:00+01:00")(header_obj()))
    with pytest.raises(MalformedSeal, match=TIME_RULE):
        open_manifest(_set("documents.0.produced_at", "9999-12-31T23:59:59-01:00")(
            manifest_obj()))


@pytest.mark.parametrize("value", ["2026-11-27\x0006:55:00Z", '2026-11-27"06:55:00Z',
                                   "2026-11-27å06:55:00Z", "20261127T070000Z",
                                   "2026-11-27T07Z"],
                         ids=["nul", "quote", "letter", "basic-format", "hour-only"])
def test_time_with_a_separator_other_than_t_is_malformed(value):
    """Regression: datetime.fromisoformat alone takes any separator and short forms."""
    with pytest.raises(MalformedSeal, match=TIME_RULE):
        parse_header(_set("created", value)(header_obj()))


# ---------------------------------------------------------------- signature


def test_signature_by_another_key_for_the_named_sender():
    data = make_envelope()
    forged = data[:-64] + OTHER_SENDER.sign(data[:-64])
    envelope = seal.parse(forged, max_payload=MAX_PAYLOAD)
    with pytest.raises(BadSignature, match=r"^signature does not verify \(altered in transit"):
        seal.verify_signature(envelope, SENDER.public_key())


def test_envelope_of_another_sender_checked_against_the_enrolled_key():
    data = make_envelope(signer=OTHER_SENDER)
    envelope = seal.parse(data, max_payload=MAX_PAYLOAD)
    seal.verify_signature(envelope, OTHER_SENDER.public_key())
    with pytest.raises(BadSignature, match=r"^signature key does not match the sender named"):
        seal.verify_signature(envelope, SENDER.public_key())


@pytest.mark.parametrize("signature", ["zeros", "ones", "s-plus-order", "swapped-halves"])
def test_altered_signatures(signature):
    data = make_envelope()
    signed, original = data[:-64], data[-64:]
    s_value = int.from_bytes(original[32:], "little")
    replacement = {
        "zeros": bytes(64),
        "ones": b"\xff" * 64,
        "s-plus-order": original[:32] + (s_value + ED25519_ORDER).to_bytes(32, "little"),
        "swapped-halves": original[32:] + original[:32],
    }[signature]
    envelope = seal.parse(signed + replacement, max_payload=MAX_PAYLOAD)
    with pytest.raises(BadSignature, match="does not verify"):
        seal.verify_signature(envelope, SENDER.public_key())


def test_signature_covers_the_payload_length_and_payload():
    data = make_envelope()
    header_end = seal.parse(data, max_payload=MAX_PAYLOAD).header_span.nbytes
    last_payload_byte = len(data) - 65
    for position in (header_end + 7, header_end + 8, last_payload_byte):
        mutated = flip(data, position, 0)
        try:
            envelope = seal.parse(mutated, max_payload=MAX_PAYLOAD)
        except MalformedSeal:
            assert position == header_end + 7  # the length field itself
            continue
        with pytest.raises(BadSignature):
            seal.verify_signature(envelope, SENDER.public_key())


# ---------------------------------------------------------------- decryption and manifest


@pytest.mark.parametrize("suite", sorted(SUITES))
def test_sealed_for_another_appliance(suite):
    envelope = seal.parse(make_envelope(suite), max_payload=MAX_PAYLOAD)
    with pytest.raises(DecryptionFailed,
                       match=r"^payload cannot be decrypted with this appliance's key$"):
        seal.decrypt(envelope, OTHER_APPLIANCE[suite])


@pytest.mark.parametrize(("sealed_with", "key"), [("x25519", "mlkem768-x25519"),
                                                  ("mlkem768-x25519", "x25519")])
def test_suite_mismatch(sealed_with, key):
    envelope = seal.parse(make_envelope(sealed_with), max_payload=MAX_PAYLOAD)
    with pytest.raises(DecryptionFailed,
                       match=rf"^sealed with {sealed_with}, this appliance's key is {key}$"):
        seal.decrypt(envelope, APPLIANCE[key])


@pytest.mark.parametrize("suite", sorted(SUITES))
def test_info_binds_the_header_to_the_ciphertext(suite):
    content = b"%PDF-1.4 bound"
    header = header_obj(suite)
    other = _set("seq", 2)(header)
    plaintext = plaintext_of(manifest_obj((content,)), (content,))
    data = seal_by_hand(header, plaintext, suite, info_header=other)  # validly signed
    envelope = seal.parse(data, max_payload=MAX_PAYLOAD)
    seal.verify_signature(envelope, SENDER.public_key())
    with pytest.raises(DecryptionFailed, match="cannot be decrypted"):
        seal.decrypt(envelope, APPLIANCE[suite])
    # the hand-built path is right: with the matching info it opens
    assert open_envelope(seal_by_hand(header, plaintext, suite), suite)[0].content == content


def test_info_without_the_label_does_not_decrypt():
    content = b"%PDF-1.4 label"
    header = canonical_json(header_obj())
    span = seal.PREFIX.pack(seal.MAGIC, seal.VERSION, len(header)) + header
    recipient = APPLIANCE["x25519"].public_key()
    payload = keys.hpke_suite(recipient.suite).encrypt(
        plaintext_of(manifest_obj((content,)), (content,)), recipient.hpke_key(),
        info=hashlib.sha256(span).digest())
    envelope = seal.parse(assemble(header, payload), max_payload=MAX_PAYLOAD)
    with pytest.raises(DecryptionFailed):
        seal.decrypt(envelope, APPLIANCE["x25519"])


@pytest.mark.parametrize("suite", sorted(SUITES))
def test_manifest_sha256_mismatch(suite):
    content = b"%PDF-1.4 the real document"
    manifest = _set("documents.0.sha256", hashlib.sha256(b"another").hexdigest())(
        manifest_obj((content,)))
    with pytest.raises(ManifestMismatch, match=r"^document 1: SHA-256 differs from the manifest$"):
        open_manifest(manifest, (content,), suite)


def test_manifest_mismatch_names_the_second_document():
    first, second = b"%PDF first", b"%PDF second"
    manifest = _set("documents.1.sha256", "f" * 64)(manifest_obj((first, second)))
    with pytest.raises(ManifestMismatch, match=r"^document 2: SHA-256 differs"):
        open_manifest(manifest, (first, second))


def test_manifest_sizes_split_the_plaintext_in_order():
    first, second = b"%PDF first", b"%PDF second!"
    manifest = manifest_obj((first, second))
    swapped = _set("documents.0.size", len(second))(_set("documents.1.size", len(first))(
        manifest))
    with pytest.raises(ManifestMismatch, match=r"^document 1: SHA-256 differs"):
        open_manifest(swapped, (first, second))
    with pytest.raises(ManifestMismatch, match=r"^document 1: SHA-256 differs"):
        open_manifest(manifest, (second, first))  # plaintext not in manifest order


def test_manifest_sizes_beyond_the_payload():
    content = b"%PDF-1.4 sized"
    manifest = _set("documents.0.size", len(content) + 1)(manifest_obj((content,)))
    with pytest.raises(ManifestMismatch,
                       match=r"^decrypted payload is shorter than the manifest's sizes$"):
        open_manifest(manifest, (content,))


@pytest.mark.parametrize("tail", [b"d", b"\x00" * 99 + b"\x01", b"\x00\xff\x00"])
def test_bytes_after_the_documents_must_be_zero_padding(tail):
    content = b"%PDF-1.4 sized"
    with pytest.raises(ManifestMismatch, match=r"not zero padding \(section 3.4\)$"):
        open_manifest(manifest_obj((content,)), (content + tail,))


@pytest.mark.parametrize("padding", [0, 1, 4096])
def test_zero_padding_after_the_documents_is_accepted(padding):
    content = b"%PDF-1.4 padded"
    opened = open_manifest(manifest_obj((content,)), (content + bytes(padding),))
    assert [doc.content for doc in opened] == [content]


@pytest.mark.parametrize("length, padded", [
    (1, 256 * 1024), (256 * 1024, 256 * 1024), (256 * 1024 + 1, 512 * 1024),
    (5_000_000, 8 * 1024 * 1024), (32 * 1024 * 1024, 32 * 1024 * 1024),
    (32 * 1024 * 1024 + 1, 32 * 1024 * 1024 + 1)])
def test_padding_buckets(length, padded):
    assert seal.padded_length(length) == padded


def test_envelopes_of_different_lists_have_one_size():
    """A to-do list and a medication list of different sizes, sealed by the reference
    sender, are the same size on the wire: the bucket, not the lists, shows (section 3.4)."""
    recipient = APPLIANCE["x25519"]
    sizes = set()
    for kind, content in (("todo", b"%PDF-1.4 " + b"t" * 3_000),
                          ("medications", b"%PDF-1.4 " + b"m" * 90_000)):
        entry = seal.describe_document(kind, UNIT, "Lista", CREATED, content)
        envelope = seal.seal([seal.Document(entry, content)], SENDER,
                             recipient.public_key(), 1, CREATED)
        opened = seal.decrypt(seal.parse(envelope, max_payload=MAX_PAYLOAD), recipient)
        assert [doc.content for doc in opened] == [content]
        sizes.add(len(envelope))
    assert len(sizes) == 1 and sizes.pop() > seal.PADDING_FLOOR


# ---------------------------------------------------------------- every bit


def _open_all(data: bytes, suite: str) -> None:
    envelope = seal.parse(data, max_payload=MAX_PAYLOAD)
    seal.verify_signature(envelope, SENDER.public_key())
    seal.decrypt(envelope, APPLIANCE[suite])


def test_every_bit_flip_is_refused_x25519():
    """All 8 bits of every byte; decryption is also tried without the signature check: it
    must fail too unless only the signature itself was changed."""
    data = make_envelope("x25519", (b"%PDF-1.4 flip",))
    original_signed = data[:-64]
    problems = []
    for position in range(len(data)):
        for bit in range(8):
            mutated = flip(data, position, bit)
            try:
                _open_all(mutated, "x25519")
                problems.append((position, bit, "accepted"))
            except SealError:
                pass
            except Exception as exc:  # exactly what this test looks for
                problems.append((position, bit, repr(exc)))
            try:
                envelope = seal.parse(mutated, max_payload=MAX_PAYLOAD)
            except MalformedSeal:
                continue
            if bytes(envelope.signed) == original_signed:
                continue
            try:
                seal.decrypt(envelope, APPLIANCE["x25519"])
                problems.append((position, bit, "decrypted unsigned alteration"))
            except SealError:
                pass
    assert problems == []


def test_every_byte_flip_is_refused_hybrid():
    """One bit per byte (rotating which bit) over a whole hybrid-suite envelope."""
    data = make_envelope("mlkem768-x25519", (b"%PDF-1.4 flip",))
    problems = []
    for position in range(len(data)):
        try:
            _open_all(flip(data, position, position % 8), "mlkem768-x25519")
            problems.append((position, "accepted"))
        except SealError:
            pass
        except Exception as exc:  # exactly what this test looks for
            problems.append((position, repr(exc)))
    assert problems == []


# ---------------------------------------------------------------- properties


@PROPERTY_SETTINGS
@given(st.binary(max_size=4096))
def test_arbitrary_bytes_are_malformed(data):
    with pytest.raises(MalformedSeal):
        seal.parse(data, max_payload=MAX_PAYLOAD)


@PROPERTY_SETTINGS
@given(header_length=st.integers(0, 2**32 - 1), rest=st.binary(max_size=2048))
def test_arbitrary_bytes_after_a_valid_prefix_are_malformed(header_length, rest):
    data = seal.PREFIX.pack(seal.MAGIC, seal.VERSION, header_length) + rest
    with pytest.raises(MalformedSeal):
        seal.parse(data, max_payload=MAX_PAYLOAD)


VALID = {suite: make_envelope(suite, (b"%PDF-1.4 prop one", b"%PDF-1.4 prop two"))
         for suite in SUITES}


@st.composite
def mutated_envelopes(draw):
    suite = draw(st.sampled_from(sorted(SUITES)))
    data = bytearray(VALID[suite])
    for _ in range(draw(st.integers(1, 3))):
        operation = draw(st.sampled_from(["insert", "delete", "replace", "truncate"]))
        position = draw(st.integers(0, len(data)))
        if operation == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=16))
        elif operation == "delete":
            del data[position:position + draw(st.integers(1, 16))]
        elif operation == "replace":
            chunk = draw(st.binary(min_size=1, max_size=16))
            data[position:position + len(chunk)] = chunk
        else:
            del data[position:]
    return suite, bytes(data)


@PROPERTY_SETTINGS
@given(mutated_envelopes())
def test_mutated_envelopes_are_refused_with_seal_errors_only(case):
    suite, data = case
    original = VALID[suite]
    if data == original:  # a replacement by the same bytes
        assert len(open_envelope(data, suite)) == 2
        return
    with pytest.raises(SealError):
        open_envelope(data, suite)
    try:
        envelope = seal.parse(data, max_payload=MAX_PAYLOAD)
    except MalformedSeal:
        return
    with pytest.raises(BadSignature):
        seal.verify_signature(envelope, SENDER.public_key())
    if bytes(envelope.signed) == original[:-64]:
        assert len(seal.decrypt(envelope, APPLIANCE[suite])) == 2  # only the signature changed
    else:
        with pytest.raises(DecryptionFailed):
            seal.decrypt(envelope, APPLIANCE[suite])


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=50) | st.sampled_from(["x25519", "todo", "application/pdf", FP]),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=10,
)
MOMENTS = (st.datetimes() | st.datetimes(max_value=datetime(1, 1, 1, 12))  # near the ends
           | st.datetimes(min_value=datetime(9999, 12, 31, 12)))  # where an offset tips over
TIMESTAMPS = st.builds(
    lambda moment, offset: moment.replace(tzinfo=timezone(offset)).isoformat(),
    MOMENTS,
    st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda minutes: timedelta(minutes=minutes)),
) | st.datetimes().map(datetime.isoformat)
FIELDS = sorted(seal._HEADER_FIELDS) + [f"documents.0.{name}"
                                        for name in sorted(seal._DOCUMENT_FIELDS)]


def _check_any_value(field: str, value: object) -> None:
    in_manifest = field.startswith("documents.")
    # canonical_json's form, but NaN and Infinity written too, as a sender might
    raw = json.dumps(_set(field, value)(manifest_obj() if in_manifest else header_obj()),
                     sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    try:
        if in_manifest:  # the manifest's parser alone: a changed size or hash cannot match
            entries, _ = seal._read_manifest(plaintext_of(raw))
            again = seal.Manifest(entries).to_bytes()
        else:
            again = parse_header(raw).header.to_bytes()
    except MalformedSeal:
        return
    assert again == raw
    assert json.loads(raw) == json.loads(again)


@PROPERTY_SETTINGS
@given(field=st.sampled_from(FIELDS), value=JSON_VALUES | TIMESTAMPS)
def test_any_value_in_any_header_field_is_accepted_canonically_or_malformed(field, value):
    _check_any_value(field, value)


@PROPERTY_SETTINGS
@given(field=st.sampled_from(["created", "documents.0.produced_at"]), value=TIMESTAMPS)
def test_any_timestamp_is_accepted_canonically_or_malformed(field, value):
    _check_any_value(field, value)
