"""Key files (`core.crypto.keys`): PEM formats, fingerprints, writing, and refusals that name
the file they are about. `docs/seal-format.md` ("Key files") specifies the formats."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import stat

import pytest
from cryptography.hazmat.primitives import hpke, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mlkem, rsa, x25519

from appliance.core.crypto import keys
from appliance.core.crypto.keys import KeyFileError

SUITES = [keys.MLKEM768_X25519, keys.X25519]
SUITE_IDS = [suite.name for suite in SUITES]
SHORT_FORMAT = re.compile(r"[0-9a-f]{4}:[0-9a-f]{4}:[0-9a-f]{4}:[0-9a-f]{4}")


def pem(label: str, body: bytes) -> bytes:
    encoded = base64.b64encode(body).decode()
    lines = [encoded[i:i + 64] for i in range(0, len(encoded), 64)]
    return "\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----", ""]).encode()


def pem_body(data: bytes, label: str) -> bytes:
    text = data.decode("ascii")
    lines = text.strip().split("\n")
    assert lines[0] == f"-----BEGIN {label}-----"
    assert lines[-1] == f"-----END {label}-----"
    assert all(len(line) == 64 for line in lines[1:-2]) and 0 < len(lines[-2]) <= 64
    assert text.endswith("\n") and "\r" not in text
    return base64.b64decode("".join(lines[1:-1]), validate=True)


# ---------------------------------------------------------------- appliance keys


@pytest.mark.parametrize("suite", SUITES, ids=SUITE_IDS)
def test_appliance_private_key_pem_round_trip(suite):
    private = keys.generate_appliance_key(suite)
    data = private.to_pem()
    body = pem_body(data, keys.PRIVATE_LABEL)
    assert body == bytes([suite.code]) + private.raw
    assert len(private.raw) == suite.private_length == {"mlkem768-x25519": 96,
                                                        "x25519": 32}[suite.name]
    parsed = keys.parse_appliance_private_pem(data, "appliance.key")
    assert parsed == private
    assert parsed.public_key() == private.public_key()


@pytest.mark.parametrize("suite", SUITES, ids=SUITE_IDS)
def test_appliance_public_key_pem_round_trip(suite):
    public = keys.generate_appliance_key(suite).public_key()
    data = public.to_pem()
    assert pem_body(data, keys.PUBLIC_LABEL) == bytes([suite.code]) + public.raw
    assert len(public.raw) == suite.public_length == {"mlkem768-x25519": 1216,
                                                      "x25519": 32}[suite.name]
    assert keys.parse_appliance_public_pem(data, "appliance.pub") == public


def test_kem_codes_are_fixed():
    assert (keys.MLKEM768_X25519.code, keys.X25519.code) == (1, 2)
    assert sorted(keys.KEM_SUITES) == ["mlkem768-x25519", "x25519"]


def test_hybrid_raw_layouts():
    """Public: ML-KEM-768 encapsulation key (1184) || X25519 (32); private: ML-KEM-768 seed
    (64) || X25519 private (32)."""
    private = keys.generate_appliance_key(keys.MLKEM768_X25519)
    public = private.public_key()
    x_private = x25519.X25519PrivateKey.from_private_bytes(private.raw[64:])
    assert public.raw[1184:] == x_private.public_key().public_bytes_raw()
    assert isinstance(public.hpke_key(), hpke.MLKEM768X25519PublicKey)
    assert isinstance(private.hpke_key(), hpke.MLKEM768X25519PrivateKey)
    ml = mlkem.MLKEM768PrivateKey.from_seed_bytes(private.raw[:64])
    assert public.raw[:1184] == ml.public_key().public_bytes_raw()


def test_pem_parsing_tolerates_crlf_and_surrounding_text():
    private = keys.generate_appliance_key(keys.X25519)
    data = b"comment before\r\n" + private.to_pem().replace(b"\n", b"\r\n") + b"after\n"
    assert keys.parse_appliance_private_pem(data, "appliance.key") == private


# ---------------------------------------------------------------- fingerprints


@pytest.mark.parametrize("suite", SUITES, ids=SUITE_IDS)
def test_appliance_fingerprint_is_sha256_of_code_and_raw(suite):
    public = keys.generate_appliance_key(suite).public_key()
    expected = hashlib.sha256(bytes([suite.code]) + public.raw).hexdigest()
    assert public.fingerprint == expected
    assert public.fingerprint != hashlib.sha256(public.raw).hexdigest()  # the code counts
    reparsed = keys.parse_appliance_public_pem(public.to_pem(), "appliance.pub")
    assert reparsed.fingerprint == public.fingerprint  # stable across encodings


def test_fingerprints_differ_between_keys_and_suites():
    fingerprints = {keys.generate_appliance_key(suite).public_key().fingerprint
                    for suite in SUITES for _ in range(3)}
    assert len(fingerprints) == 6
    assert all(re.fullmatch(r"[0-9a-f]{64}", fp) for fp in fingerprints)


def test_same_x25519_bytes_under_another_code_would_fingerprint_differently():
    raw = keys.generate_appliance_key(keys.X25519).public_key().raw
    other_suite = keys.KemSuite("test", 9, keys.X25519.kem, 32, 32)
    assert (keys.AppliancePublicKey(keys.X25519, raw).fingerprint
            != keys.AppliancePublicKey(other_suite, raw).fingerprint)


def test_sender_fingerprint_is_sha256_of_raw_ed25519_public_key():
    private = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    public = private.public_key()
    fp = keys.sender_fingerprint(public)
    assert fp == hashlib.sha256(public.public_bytes_raw()).hexdigest()
    assert fp == keys.sender_fingerprint(  # stable through PEM
        keys.parse_sender_public_pem(keys.sender_public_pem(public), "sender.pub"))
    assert fp != keys.sender_fingerprint(keys.generate_sender_key().public_key())


def test_short_fingerprint_format():
    full = "0123456789abcdef" + "f" * 48
    assert keys.short_fingerprint(full) == "0123:4567:89ab:cdef"
    for suite in SUITES:
        public = keys.generate_appliance_key(suite).public_key()
        short = keys.short_fingerprint(public.fingerprint)
        assert SHORT_FORMAT.fullmatch(short)
        assert short.replace(":", "") == public.fingerprint[:16]


# ---------------------------------------------------------------- sender keys


def test_sender_key_pem_round_trip():
    private = keys.generate_sender_key()
    private_pem = keys.sender_private_pem(private)
    public_pem = keys.sender_public_pem(private.public_key())
    assert private_pem.startswith(b"-----BEGIN PRIVATE KEY-----\n")
    assert public_pem.startswith(b"-----BEGIN PUBLIC KEY-----\n")
    parsed_private = keys.parse_sender_private_pem(private_pem, "sender.key")
    parsed_public = keys.parse_sender_public_pem(public_pem, "sender.pub")
    assert parsed_private.private_bytes_raw() == private.private_bytes_raw()
    assert parsed_public.public_bytes_raw() == private.public_key().public_bytes_raw()
    signature = parsed_private.sign(b"message")
    parsed_public.verify(signature, b"message")


def _other_public_pems() -> dict[str, bytes]:
    spki = (serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return {
        "rsa": rsa.generate_private_key(65537, 1024).public_key().public_bytes(*spki),
        "ec": ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(*spki),
        "x25519": x25519.X25519PrivateKey.generate().public_key().public_bytes(*spki),
    }


@pytest.mark.parametrize("algorithm", ["rsa", "ec", "x25519"])
def test_non_ed25519_public_key_as_sender_key(algorithm):
    data = _other_public_pems()[algorithm]
    with pytest.raises(KeyFileError, match=r"^/etc/senders/kontoret\.pub: sender keys must be "
                                           r"Ed25519$"):
        keys.parse_sender_public_pem(data, "/etc/senders/kontoret.pub")


@pytest.mark.parametrize("algorithm", ["rsa", "ec"])
def test_non_ed25519_private_key_as_sender_key(algorithm):
    key = (rsa.generate_private_key(65537, 1024) if algorithm == "rsa"
           else ec.generate_private_key(ec.SECP256R1()))
    data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    with pytest.raises(KeyFileError, match=r"^sender\.key: sender keys must be Ed25519$"):
        keys.parse_sender_private_pem(data, "sender.key")


@pytest.mark.parametrize("data", [
    b"",
    b"not a key",
    b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
], ids=["empty", "text", "bad-der"])
def test_garbage_as_sender_public_key(data):
    with pytest.raises(KeyFileError, match=r"^kontoret\.pub: not a PEM public key$"):
        keys.parse_sender_public_pem(data, "kontoret.pub")


def test_sender_private_key_garbage_and_encrypted():
    with pytest.raises(KeyFileError, match=r"^sender\.key: not an unencrypted PEM private key$"):
        keys.parse_sender_private_pem(b"garbage", "sender.key")
    encrypted = keys.generate_sender_key().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"))
    with pytest.raises(KeyFileError, match=r"^sender\.key: not an unencrypted PEM private key$"):
        keys.parse_sender_private_pem(encrypted, "sender.key")


def test_appliance_key_is_not_a_sender_key():
    data = keys.generate_appliance_key(keys.X25519).public_key().to_pem()
    with pytest.raises(KeyFileError, match=r"^appliance\.pub: not a PEM public key$"):
        keys.parse_sender_public_pem(data, "appliance.pub")


# ---------------------------------------------------------------- appliance key refusals


def test_wrong_label():
    private = keys.generate_appliance_key(keys.X25519)
    with pytest.raises(KeyFileError,
                       match=r"^appliance\.key: no 'APPLIANCE HPKE PUBLIC KEY' PEM block$"):
        keys.parse_appliance_public_pem(private.to_pem(), "appliance.key")
    with pytest.raises(KeyFileError,
                       match=r"^appliance\.pub: no 'APPLIANCE HPKE PRIVATE KEY' PEM block$"):
        keys.parse_appliance_private_pem(private.public_key().to_pem(), "appliance.pub")
    sender_pem = keys.sender_public_pem(keys.generate_sender_key().public_key())
    with pytest.raises(KeyFileError, match=r"^sender\.pub: no 'APPLIANCE HPKE PUBLIC KEY'"):
        keys.parse_appliance_public_pem(sender_pem, "sender.pub")
    mismatched = private.to_pem().replace(b"END APPLIANCE HPKE PRIVATE", b"END APPLIANCE HPKE X")
    with pytest.raises(KeyFileError, match=r"^k: no 'APPLIANCE HPKE PRIVATE KEY' PEM block$"):
        keys.parse_appliance_private_pem(mismatched, "k")


@pytest.mark.parametrize("body", ["A", "QQ=", "QQ==QQ==", "QUJD=A"],
                         ids=["one-char", "bad-padding", "data-after-padding", "short-tail"])
def test_bad_base64(body):
    data = f"-----BEGIN {keys.PUBLIC_LABEL}-----\n{body}\n-----END {keys.PUBLIC_LABEL}-----\n"
    with pytest.raises(KeyFileError, match=r"^appliance\.pub: PEM block is not valid base64$"):
        keys.parse_appliance_public_pem(data.encode(), "appliance.pub")


@pytest.mark.parametrize(("suite", "length"), [
    (keys.X25519, 31), (keys.X25519, 33), (keys.MLKEM768_X25519, 1215),
    (keys.MLKEM768_X25519, 32),
], ids=["x25519-31", "x25519-33", "hybrid-1215", "hybrid-as-x25519"])
def test_wrong_length_public(suite, length):
    data = pem(keys.PUBLIC_LABEL, bytes([suite.code]) + bytes(length))
    with pytest.raises(KeyFileError, match=rf"^a\.pub: {suite.name} key has {length} bytes, "
                                           rf"expected {suite.public_length}$"):
        keys.parse_appliance_public_pem(data, "a.pub")


@pytest.mark.parametrize(("suite", "length"), [
    (keys.X25519, 0), (keys.X25519, 64), (keys.MLKEM768_X25519, 95), (keys.MLKEM768_X25519, 2432),
], ids=["x25519-0", "x25519-64", "hybrid-95", "hybrid-expanded"])
def test_wrong_length_private(suite, length):
    data = pem(keys.PRIVATE_LABEL, bytes([suite.code]) + bytes(length))
    with pytest.raises(KeyFileError, match=rf"^a\.key: {suite.name} key has {length} bytes, "
                                           rf"expected {suite.private_length}$"):
        keys.parse_appliance_private_pem(data, "a.key")


@pytest.mark.parametrize("code", [0, 3, 255])
def test_unknown_kem_code(code):
    for label, parse in ((keys.PUBLIC_LABEL, keys.parse_appliance_public_pem),
                         (keys.PRIVATE_LABEL, keys.parse_appliance_private_pem)):
        data = pem(label, bytes([code]) + bytes(32))
        with pytest.raises(KeyFileError, match=r"^keyfile: unknown KEM code in key file$"):
            parse(data, "keyfile")


def test_empty_pem_body():
    data = f"-----BEGIN {keys.PUBLIC_LABEL}-----\n\n-----END {keys.PUBLIC_LABEL}-----\n".encode()
    with pytest.raises(KeyFileError, match=r"^keyfile: unknown KEM code in key file$"):
        keys.parse_appliance_public_pem(data, "keyfile")


def test_invalid_ml_kem_public_key_of_the_right_length():
    """Coefficients of 4095 are not below q = 3329: FIPS 203's modulus check refuses it."""
    x_public = x25519.X25519PrivateKey.generate().public_key().public_bytes_raw()
    data = pem(keys.PUBLIC_LABEL, bytes([1]) + b"\xff" * 1184 + x_public)
    with pytest.raises(KeyFileError, match=r"^a\.pub: not a valid mlkem768-x25519 public key"):
        keys.parse_appliance_public_pem(data, "a.pub")


# ---------------------------------------------------------------- files


@pytest.fixture
def umask_zero():
    old = os.umask(0)
    yield
    os.umask(old)


@pytest.mark.usefixtures("umask_zero")
def test_write_key_pair_creates_0600_private_key_and_public_key(tmp_path):
    private = keys.generate_appliance_key(keys.X25519)
    path = tmp_path / "state" / "keys" / "appliance.key"
    keys.write_key_pair(path, private.to_pem(), private.public_key().to_pem())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes() == private.to_pem()
    public_path = tmp_path / "state" / "keys" / "appliance.pub"
    assert public_path.read_bytes() == private.public_key().to_pem()
    assert stat.S_IMODE(public_path.stat().st_mode) == 0o644
    assert sorted(p.name for p in path.parent.iterdir()) == ["appliance.key", "appliance.pub"]


def test_write_key_pair_refuses_to_overwrite(tmp_path):
    first = keys.generate_appliance_key(keys.X25519)
    second = keys.generate_appliance_key(keys.X25519)
    path = tmp_path / "appliance.key"
    keys.write_key_pair(path, first.to_pem(), first.public_key().to_pem())
    before = (path.read_bytes(), path.stat().st_mode, path.with_suffix(".pub").read_bytes())

    with pytest.raises(FileExistsError):
        keys.write_key_pair(path, second.to_pem(), second.public_key().to_pem())

    after = (path.read_bytes(), path.stat().st_mode, path.with_suffix(".pub").read_bytes())
    assert after == before
    assert keys.parse_appliance_private_pem(path.read_bytes(), str(path)) == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["appliance.key", "appliance.pub"]


def test_write_key_pair_refuses_even_a_stray_empty_private_file(tmp_path):
    path = tmp_path / "sender.key"
    path.write_bytes(b"")
    with pytest.raises(FileExistsError):
        keys.write_key_pair(path, b"new", b"new public")
    assert path.read_bytes() == b""
    assert not path.with_suffix(".pub").exists()


def test_sender_key_pair_files_round_trip(tmp_path):
    private = keys.generate_sender_key()
    path = tmp_path / "sender.key"
    keys.write_key_pair(path, keys.sender_private_pem(private),
                        keys.sender_public_pem(private.public_key()))
    loaded = keys.parse_sender_private_pem(keys.read_key_file(path), str(path))
    assert loaded.private_bytes_raw() == private.private_bytes_raw()
    public = keys.parse_sender_public_pem(keys.read_key_file(path.with_suffix(".pub")), "x")
    assert keys.sender_fingerprint(public) == keys.sender_fingerprint(private.public_key())


def test_read_key_file_missing_names_the_file(tmp_path):
    path = tmp_path / "nowhere.key"
    with pytest.raises(KeyFileError, match=rf"^{re.escape(str(path))}: key file not found"):
        keys.read_key_file(path)


def test_read_key_file_unreadable_names_the_file(tmp_path):
    with pytest.raises(KeyFileError, match=rf"^{re.escape(str(tmp_path))}: cannot read key file"):
        keys.read_key_file(tmp_path)  # a directory
