"""Key pairs of appliances (HPKE, for confidentiality) and senders (Ed25519, for authenticity).

Appliance keys use a small project PEM format because the hybrid ML-KEM-768+X25519 key has
no standard PEM encoding yet. The body of each PEM block is one byte naming the KEM,
followed by the raw key material (`docs/seal-format.md` gives the exact layout). Sender keys
are ordinary PKCS#8 / SubjectPublicKeyInfo PEM.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hpke, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, mlkem, x25519

from appliance.core.base.errors import ApplianceError
from appliance.core.base.fsutil import atomic_write, write_new_private


class KeyFileError(ApplianceError, ValueError):
    """A key file is missing, malformed or of the wrong type. The message names the file."""


@dataclass(frozen=True)
class KemSuite:
    """One KEM choice for appliance keys and its fixed HPKE suite."""

    name: str  # as written in config and in the seal header
    code: int  # first byte of the PEM body
    kem: hpke.KEM
    public_length: int
    private_length: int


MLKEM768_X25519 = KemSuite("mlkem768-x25519", 1, hpke.KEM.MLKEM768_X25519, 1184 + 32, 64 + 32)
X25519 = KemSuite("x25519", 2, hpke.KEM.X25519, 32, 32)
KEM_SUITES = {suite.name: suite for suite in (MLKEM768_X25519, X25519)}
KDF = hpke.KDF.HKDF_SHA256
AEAD = hpke.AEAD.AES_256_GCM

PUBLIC_LABEL = "APPLIANCE HPKE PUBLIC KEY"
PRIVATE_LABEL = "APPLIANCE HPKE PRIVATE KEY"
SHORT_FINGERPRINT_HEX = 16


def hpke_suite(kem: KemSuite) -> hpke.Suite:
    return hpke.Suite(kem.kem, KDF, AEAD)


def fingerprint(public_bytes: bytes) -> str:
    """Full fingerprint: hex SHA-256 of the public key's canonical bytes (as in seal headers)."""
    return hashlib.sha256(public_bytes).hexdigest()


def short_fingerprint(full: str) -> str:
    """The first 16 hex digits, in groups of four, for people comparing keys by eye."""
    head = full[:SHORT_FINGERPRINT_HEX]
    return ":".join(head[i : i + 4] for i in range(0, len(head), 4))


# ---------------------------------------------------------------- appliance (HPKE) keys


@dataclass(frozen=True)
class AppliancePublicKey:
    suite: KemSuite
    raw: bytes  # KEM public key bytes, hybrid: ML-KEM-768 (1184) || X25519 (32)

    @property
    def canonical(self) -> bytes:
        return bytes([self.suite.code]) + self.raw

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.canonical)

    def hpke_key(self) -> mlkem.MLKEM768PublicKey | x25519.X25519PublicKey:
        if self.suite is X25519:
            return x25519.X25519PublicKey.from_public_bytes(self.raw)
        return hpke.MLKEM768X25519PublicKey(
            mlkem.MLKEM768PublicKey.from_public_bytes(self.raw[:1184]),
            x25519.X25519PublicKey.from_public_bytes(self.raw[1184:]),
        )

    def to_pem(self) -> bytes:
        return _pem(PUBLIC_LABEL, self.canonical)


@dataclass(frozen=True)
class AppliancePrivateKey:
    suite: KemSuite
    raw: bytes  # hybrid: ML-KEM-768 seed (64) || X25519 private (32)

    def hpke_key(self):
        if self.suite is X25519:
            return x25519.X25519PrivateKey.from_private_bytes(self.raw)
        return hpke.MLKEM768X25519PrivateKey(
            mlkem.MLKEM768PrivateKey.from_seed_bytes(self.raw[:64]),
            x25519.X25519PrivateKey.from_private_bytes(self.raw[64:]),
        )

    def public_key(self) -> AppliancePublicKey:
        if self.suite is X25519:
            raw = x25519.X25519PrivateKey.from_private_bytes(self.raw).public_key()
            return AppliancePublicKey(self.suite, raw.public_bytes_raw())
        ml = mlkem.MLKEM768PrivateKey.from_seed_bytes(self.raw[:64]).public_key()
        xk = x25519.X25519PrivateKey.from_private_bytes(self.raw[64:]).public_key()
        return AppliancePublicKey(self.suite, ml.public_bytes_raw() + xk.public_bytes_raw())

    def to_pem(self) -> bytes:
        return _pem(PRIVATE_LABEL, bytes([self.suite.code]) + self.raw)


def generate_appliance_key(suite: KemSuite) -> AppliancePrivateKey:
    xk = x25519.X25519PrivateKey.generate().private_bytes_raw()
    if suite is X25519:
        return AppliancePrivateKey(suite, xk)
    return AppliancePrivateKey(suite, mlkem.MLKEM768PrivateKey.generate().private_bytes_raw() + xk)


def parse_appliance_public_pem(data: bytes, source: str) -> AppliancePublicKey:
    suite, raw = _parse_kem_pem(data, PUBLIC_LABEL, "public_length", source)
    key = AppliancePublicKey(suite, raw)
    try:
        key.hpke_key()
    except ValueError as exc:
        raise KeyFileError(f"{source}: not a valid {suite.name} public key ({exc})") from exc
    return key


def parse_appliance_private_pem(data: bytes, source: str) -> AppliancePrivateKey:
    """The first private key in `data`: in a key ring (below), the current one."""
    suite, raw = _parse_kem_pem(data, PRIVATE_LABEL, "private_length", source)
    return AppliancePrivateKey(suite, raw)


def parse_appliance_private_ring(data: bytes, source: str) -> tuple[AppliancePrivateKey, ...]:
    """Every private key in `data`, in order: a key ring is one PEM block per key, the
    current key first and the keys kept from earlier rotations after it (docs/
    key-protection.md, "Rotating the appliance's key"). A file or credential made before
    rotation existed holds one block, and is a ring of one."""
    text = data.decode("ascii", errors="replace")
    blocks = re.findall(rf"-----BEGIN {PRIVATE_LABEL}-----.*?-----END {PRIVATE_LABEL}-----",
                        text, flags=re.DOTALL)
    if not blocks:
        raise KeyFileError(f"{source}: no '{PRIVATE_LABEL}' PEM block")
    ring = []
    for number, block in enumerate(blocks, start=1):
        where = source if len(blocks) == 1 else f"{source}, key {number}"
        ring.append(parse_appliance_private_pem(block.encode("ascii"), where))
    return tuple(ring)


def appliance_ring_pem(ring: tuple[AppliancePrivateKey, ...]) -> bytes:
    """A key ring as the file or credential holds it: the current key first."""
    return b"".join(key.to_pem() for key in ring)


def _parse_kem_pem(data: bytes, label: str, length_attr: str, source: str):
    body = _unpem(data, label, source)
    suites = {suite.code: suite for suite in KEM_SUITES.values()}
    suite = suites.get(body[0]) if body else None
    if suite is None:
        raise KeyFileError(f"{source}: unknown KEM code in key file")
    raw = body[1:]
    if len(raw) != getattr(suite, length_attr):
        raise KeyFileError(f"{source}: {suite.name} key has {len(raw)} bytes, expected "
                        f"{getattr(suite, length_attr)}")
    return suite, raw


# ---------------------------------------------------------------- sender (Ed25519) keys


def generate_sender_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


def sender_private_pem(key: ed25519.Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def sender_public_pem(key: ed25519.Ed25519PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def sender_fingerprint(key: ed25519.Ed25519PublicKey) -> str:
    return fingerprint(key.public_bytes_raw())


def parse_sender_public_pem(data: bytes, source: str) -> ed25519.Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyFileError(f"{source}: not a PEM public key") from exc
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise KeyFileError(f"{source}: sender keys must be Ed25519")
    return key


def parse_sender_public_pems(data: bytes, source: str) -> list[ed25519.Ed25519PublicKey]:
    """Every public key in `data`, one PEM block each, in order: an enrolled sender's file
    holds two while its key is being rotated (docs/sender.md)."""
    text = data.decode("ascii", errors="replace")
    blocks = re.findall(r"-----BEGIN PUBLIC KEY-----.*?-----END PUBLIC KEY-----", text,
                        flags=re.DOTALL)
    if not blocks:
        raise KeyFileError(f"{source}: not a PEM public key")
    return [parse_sender_public_pem(block.encode("ascii") + b"\n", source) for block in blocks]


def parse_sender_private_pem(data: bytes, source: str) -> ed25519.Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise KeyFileError(f"{source}: not an unencrypted PEM private key") from exc
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise KeyFileError(f"{source}: sender keys must be Ed25519")
    return key


# ---------------------------------------------------------------- files


def read_key_file(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError as exc:
        raise KeyFileError(f"{path}: key file not found (run `init` first)") from exc
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read key file ({exc.strerror})") from exc


def write_key_pair(private_path: Path, private_pem: bytes, public_pem: bytes) -> None:
    """Write a new key pair. The private key is 0600 and never overwritten."""
    private_path = Path(private_path)
    private_path.parent.mkdir(parents=True, exist_ok=True)
    write_new_private(private_path, private_pem)
    atomic_write(private_path.with_suffix(".pub"), public_pem)


def _pem(label: str, body: bytes) -> bytes:
    encoded = base64.encodebytes(body).decode("ascii").replace("\n", "")
    lines = [encoded[i : i + 64] for i in range(0, len(encoded), 64)]
    return ("\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----"]) + "\n"
            ).encode("ascii")


def _unpem(data: bytes, label: str, source: str) -> bytes:
    match = re.search(
        rf"-----BEGIN {label}-----\s*([A-Za-z0-9+/=\s]+?)\s*-----END {label}-----",
        data.decode("ascii", errors="replace"),
    )
    if match is None:
        raise KeyFileError(f"{source}: no '{label}' PEM block")
    try:
        return base64.b64decode("".join(match.group(1).split()), validate=True)
    except binascii.Error as exc:
        raise KeyFileError(f"{source}: PEM block is not valid base64") from exc
