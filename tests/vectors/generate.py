"""Regenerate the seal test vectors in this directory. Run by hand, never by the test suite:

    .venv/bin/python tests/vectors/generate.py [OUTPUT_DIRECTORY]

The committed files are the vectors. The keys are derived from fixed labels, so they come
out the same on every run, and so do the documents, the header, the manifest, the
plaintext and every length; HPKE encryption is randomised, so each run produces a
different (equally valid) ciphertext, hence `envelope.seal` from byte 22 + H on and
`signature_hex`. tests/test_seal.py regenerates into a temporary directory and checks
that everything else is byte-for-byte the committed vectors. After a run, check the diff
and commit all of it together. `docs/seal-format.md` describes the files.
"""

from __future__ import annotations

import hashlib
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ed25519, mlkem, x25519

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # run from anywhere, with or without an install

from appliance.core.crypto import keys, seal  # noqa: E402

CREATED = datetime(2026, 11, 27, 6, 55, 0, tzinfo=UTC)
SEQ = 1_795_762_500_000_000  # microseconds since the epoch at CREATED, as the sender uses
UNIT = "Hemsjukvård Sölvesborg"
PADDING_STEP = 1024  # the vectors pad to the next KiB (section 9); the sender pads to buckets


def vector_padding(length: int) -> int:
    return -(-length // PADDING_STEP) * PADDING_STEP


HPKE_IDS = {  # RFC 9180 / draft-ietf-hpke-pq registry values
    "mlkem768-x25519": {"kem": "MLKEM768-X25519 (X-Wing)", "kem_id": 0x647A},
    "x25519": {"kem": "DHKEM(X25519, HKDF-SHA256)", "kem_id": 0x0020},
}


def seed(label: str, length: int = 32) -> bytes:
    """Fixed key material for test keys (never for real keys)."""
    return hashlib.shake_256(f"APLSEAL test vector: {label}".encode()).digest(length)


def tiny_pdf(text: str) -> bytes:
    """A minimal, valid one-page PDF showing one ASCII line (xref offsets computed)."""
    stream = f"BT /F1 12 Tf 72 770 Td ({text}) Tj ET".encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    return bytes(out)


def appliance_key(suite: keys.KemSuite) -> keys.AppliancePrivateKey:
    xk = x25519.X25519PrivateKey.from_private_bytes(seed(f"{suite.name} x25519"))
    raw = xk.private_bytes_raw()
    if suite is keys.MLKEM768_X25519:
        ml = mlkem.MLKEM768PrivateKey.from_seed_bytes(seed(f"{suite.name} ml-kem-768", 64))
        raw = ml.private_bytes_raw() + raw
    return keys.AppliancePrivateKey(suite, raw)


def write_vector(out: Path, suite: keys.KemSuite, sender: ed25519.Ed25519PrivateKey,
                 documents: list[tuple[str, str, bytes]]) -> None:
    directory = out / suite.name
    directory.mkdir(exist_ok=True)
    private = appliance_key(suite)
    public = private.public_key()
    (directory / "appliance.key.pem").write_bytes(private.to_pem())
    (directory / "appliance.pub.pem").write_bytes(public.to_pem())
    sealed_documents, names = [], []
    for number, (kind, title, content) in enumerate(documents, start=1):
        entry = seal.describe_document(kind, UNIT, title, CREATED.replace(minute=30), content)
        sealed_documents.append(seal.Document(entry, content))
        names.append(f"document-{number}.pdf")
        (directory / names[-1]).write_bytes(content)
    envelope_bytes = seal.seal(sealed_documents, sender, public, SEQ, CREATED,
                               pad=vector_padding)
    (directory / "envelope.seal").write_bytes(envelope_bytes)

    envelope = seal.parse(envelope_bytes, max_payload=1 << 20)
    seal.verify_signature(envelope, sender.public_key())
    opened = seal.decrypt(envelope, private)
    assert [doc.content for doc in opened] == [content for _, _, content in documents]
    manifest = seal.Manifest(tuple(doc.entry for doc in sealed_documents)).to_bytes()
    unpadded = (seal.MANIFEST_LENGTH.pack(len(manifest)) + manifest
                + b"".join(content for _, _, content in documents))
    plaintext = unpadded + bytes(vector_padding(len(unpadded)) - len(unpadded))
    expected = {
        "description": f"Envelope format v2, suite {suite.name}, {len(documents)} document(s); "
                       "see docs/seal-format.md, section Test vectors",
        "suite": suite.name,
        "hpke": {"mode": "base (0x00), single-shot, empty aad", **HPKE_IDS[suite.name],
                 "kdf": "HKDF-SHA256", "kdf_id": 0x0001,
                 "aead": "AES-256-GCM", "aead_id": 0x0002},
        "files": {
            "envelope": "envelope.seal",
            "appliance_private_key": "appliance.key.pem",
            "appliance_public_key": "appliance.pub.pem",
            "sender_private_key": "../sender.key.pem",
            "sender_public_key": "../sender.pub.pem",
            "documents": names,
        },
        "recipient_fingerprint": public.fingerprint,
        "recipient_short_fingerprint": keys.short_fingerprint(public.fingerprint),
        "sender_fingerprint": keys.sender_fingerprint(sender.public_key()),
        "lengths": {
            "envelope": len(envelope_bytes),
            "header": len(envelope.header_span) - seal.PREFIX.size,
            "payload": len(envelope.payload),
            "enc": suite.kem.enc_length(),
            "manifest": len(manifest),
            "plaintext": len(plaintext),
            "padding": len(plaintext) - len(unpadded),
        },
        "header_span_sha256": hashlib.sha256(envelope.header_span).hexdigest(),
        "info_hex": seal.hpke_info(envelope.header_span).hex(),
        "plaintext_sha256": hashlib.sha256(plaintext).hexdigest(),
        "signature_hex": envelope.signature.hex(),
        "header": json.loads(bytes(envelope.header_span[seal.PREFIX.size:])),
        "manifest": json.loads(manifest),
    }
    (directory / "expected.json").write_text(
        json.dumps(expected, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def generate(out: Path) -> None:
    """Write every vector file under `out`."""
    sender = ed25519.Ed25519PrivateKey.from_private_bytes(seed("sender ed25519"))
    (out / "sender.key.pem").write_bytes(keys.sender_private_pem(sender))
    (out / "sender.pub.pem").write_bytes(keys.sender_public_pem(sender.public_key()))
    write_vector(out, keys.MLKEM768_X25519, sender, [
        ("todo", "Att göra-lista", tiny_pdf("Testvektor 1: Att gora-lista")),
        ("medications", "Läkemedelslista", tiny_pdf("Testvektor 2: Lakemedelslista")),
    ])
    write_vector(out, keys.X25519, sender, [
        ("todo", "Att göra-lista", tiny_pdf("Testvektor: Att gora-lista")),
    ])


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE
    generate(target)
    print(f"wrote vectors under {target}")
