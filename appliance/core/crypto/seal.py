"""The seal: one snapshot (one or more documents) as a signed, encrypted envelope.

Layout, format version 2 (all integers big-endian; `docs/seal-format.md` is the normative
description):

    magic      8 bytes   b"APLSEAL\\n"
    version    2 bytes   2
    hlen       4 bytes   length H of the clear header, 2..65536
    header     H bytes   canonical JSON (see `Header`): routing and replay fields only
    plen       8 bytes   length P of the payload
    payload    P bytes   HPKE single-shot output: enc || ciphertext
    signature 64 bytes   Ed25519 over every byte before it

The payload's plaintext is `mlen (4 bytes) || manifest || documents`: the manifest (see
`Manifest`: kinds, units, titles, times, sizes, hashes) is canonical JSON, and the documents'
bytes follow it concatenated in manifest order. Nothing that describes the documents is in
clear: version 1 carried the manifest in the header, where anyone on the network could read
it (a hash of a templated document confirms a guess of its content). HPKE `info` is
`INFO_LABEL || SHA-256(magic..header)`, which binds the header to the ciphertext without
asking HPKE implementations for a long `info`.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric import ed25519

from appliance.core.base.canonical import canonical_json
from appliance.core.base.clock import isoformat_utc, parse_iso
from appliance.core.base.errors import ApplianceError
from appliance.core.crypto import keys

MAGIC = b"APLSEAL\n"
VERSION = 2
INFO_LABEL = b"APLSEAL v2 header\x00"
PREFIX = struct.Struct(">8sHI")  # magic, version, header length
PAYLOAD_LENGTH = struct.Struct(">Q")
MANIFEST_LENGTH = struct.Struct(">I")  # first bytes of the plaintext
SIGNATURE_LENGTH = 64
MAX_HEADER_LENGTH = 64 * 1024
MAX_MANIFEST_LENGTH = 64 * 1024
MAX_DOCUMENTS = 64
MAX_SEQUENCE = 2**63 - 1
AEAD_TAG_LENGTH = 16
PADDING_FLOOR = 256 * 1024  # section 3.4: the smallest padded plaintext
PADDING_CEILING = 32 * 1024 * 1024  # above this, plaintexts are not padded
CONTENT_TYPES = ("application/pdf",)

_KIND_PATTERN = re.compile(r"[a-z][a-z0-9_-]{0,31}")
_SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")
# One spelling of RFC 3339 only (docs/seal-format.md §2.5): `datetime.fromisoformat` alone
# accepts any separator for T, and offsets such as +05:60. Four-digit years 0001-9999, hours
# 00-23, minutes and seconds 00-59 (no leap second), 1-6 fractional digits, Z or +-HH:MM
# with HH 00-23 and MM 00-59. Month and day lengths are left to fromisoformat.
_TIMESTAMP_PATTERN = re.compile(
    r"\d{4}-\d{2}-\d{2}T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,6})?"
    r"(Z|[+-]([01]\d|2[0-3]):[0-5]\d)"
)
_TEXT_LIMITS = {"unit": 120, "title": 200}
_HEADER_FIELDS = {"version", "sender", "recipient", "seq", "created", "suite"}
_MANIFEST_FIELDS = {"documents"}
_NOTICE_MANIFEST_FIELDS = {"planned_outage"}  # section 2.7: an announcement, no documents
_NOTICE_FIELDS = {"starts_at", "ends_at", "note", "cancelled"}
MAX_NOTE_CHARS = 200  # of a planned outage's note
_DOCUMENT_FIELDS = {"kind", "unit", "title", "produced_at", "content_type", "size", "sha256"}


class SealError(ApplianceError, ValueError):
    """Base of every refusal of an envelope; the message is safe to show and log."""


class MalformedSeal(SealError):
    """The bytes are not a well-formed envelope of this format version (also: a manifest
    that decrypts but is not well-formed)."""


class BadSignature(SealError):
    """The Ed25519 signature does not verify with the claimed sender's key."""


class DecryptionFailed(SealError):
    """The payload cannot be decrypted with this recipient key."""


class ManifestMismatch(SealError):
    """The decrypted payload does not match the manifest's sizes or hashes."""


@dataclass(frozen=True)
class DocumentEntry:
    """One document's line in the manifest: metadata only, never content."""

    kind: str
    unit: str
    title: str
    produced_at: datetime  # aware, in UTC
    content_type: str
    size: int
    sha256: str
    produced_at_as_written: str | None = field(default=None, kw_only=True, compare=False,
                                               repr=False)
    """`produced_at` spelt exactly as in a parsed manifest (`+01:00`, a fraction...): the
    manifest must serialise back to the bytes that were sealed. None for an entry made
    here, which is written as `isoformat_utc` spells it."""

    def to_json(self) -> dict[str, object]:
        """The manifest line as the manifest carries it."""
        line = {name: getattr(self, name) for name in _DOCUMENT_FIELDS}
        line["produced_at"] = (self.produced_at_as_written
                               if self.produced_at_as_written is not None
                               else isoformat_utc(self.produced_at))
        return line


@dataclass(frozen=True)
class Header:
    """The clear header: what routing and replay protection need, nothing about the documents."""

    version: int
    sender: str  # sender key fingerprint (hex SHA-256 of the raw Ed25519 public key)
    recipient: str  # appliance key fingerprint
    seq: int
    created: str
    suite: str  # KEM name, e.g. "mlkem768-x25519"; KDF and AEAD are fixed per version

    def to_json(self) -> dict[str, object]:
        return {item.name: getattr(self, item.name) for item in fields(self)}

    def to_bytes(self) -> bytes:
        return canonical_json(self.to_json())


@dataclass(frozen=True)
class PlannedOutageNotice:
    """A planned outage announced by an enrolled sender (docs/seal-format.md §2.7): the
    window IT announced, or (`cancelled`) its withdrawal. It travels as the whole manifest of
    an envelope without documents, so an appliance that predates it refuses the envelope as
    `malformed` and nothing else: no snapshot ever carries both."""

    starts_at: datetime  # aware, in UTC, whole seconds
    ends_at: datetime
    note: str = ""  # printable text of 0..MAX_NOTE_CHARS characters, for IT and the screen
    cancelled: bool = False

    def to_json(self) -> dict[str, object]:
        return {"starts_at": isoformat_utc(self.starts_at), "ends_at": isoformat_utc(self.ends_at),
                "note": self.note, "cancelled": self.cancelled}


@dataclass(frozen=True)
class Manifest:
    """The encrypted description of the documents, first in the plaintext; or, with no
    documents, a planned outage's announcement (`notice`)."""

    documents: tuple[DocumentEntry, ...]
    notice: PlannedOutageNotice | None = None

    def to_bytes(self) -> bytes:
        if self.notice is not None:
            return canonical_json({"planned_outage": self.notice.to_json()})
        return canonical_json({"documents": [doc.to_json() for doc in self.documents]})


@dataclass(frozen=True)
class Envelope:
    """A parsed (not yet verified) envelope; views into the original bytes."""

    header: Header
    signed: memoryview  # magic .. end of payload
    header_span: memoryview  # magic .. end of header (HPKE info input)
    payload: memoryview
    signature: bytes


@dataclass(frozen=True)
class Document:
    entry: DocumentEntry
    content: bytes


@dataclass(frozen=True)
class Opened:
    """A decrypted payload: its documents, or (none) the planned outage it announces."""

    documents: list[Document]
    notice: PlannedOutageNotice | None = None


def hpke_info(header_span: bytes | memoryview) -> bytes:
    return INFO_LABEL + hashlib.sha256(header_span).digest()


def describe_document(
    kind: str, unit: str, title: str, produced_at: datetime, content: bytes,
    content_type: str = "application/pdf",
) -> DocumentEntry:
    return DocumentEntry(
        kind=kind, unit=unit, title=title,
        produced_at=produced_at.astimezone(UTC).replace(microsecond=0),  # as it is written
        content_type=content_type, size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
    )


# ---------------------------------------------------------------- sealing


def seal(
    documents: list[Document],
    sender_key: ed25519.Ed25519PrivateKey,
    recipient: keys.AppliancePublicKey,
    seq: int,
    created: datetime,
    pad: Callable[[int], int] | None = None,
) -> bytes:
    """Build an envelope for `recipient`. Validates what it writes with the parser's rules.
    `pad` gives the padded plaintext length for a length (default `padded_length`; the test
    vectors use a smaller step to stay small)."""
    for doc in documents:
        _check_content(doc.entry, doc.content)
    return _seal_manifest(Manifest(tuple(doc.entry for doc in documents)),
                          [doc.content for doc in documents], sender_key, recipient, seq,
                          created, pad)


def seal_notice(
    notice: PlannedOutageNotice,
    sender_key: ed25519.Ed25519PrivateKey,
    recipient: keys.AppliancePublicKey,
    seq: int,
    created: datetime,
) -> bytes:
    """An envelope announcing (or cancelling) a planned outage: section 2.7."""
    return _seal_manifest(Manifest((), notice), [], sender_key, recipient, seq, created, None)


def _seal_manifest(manifest: Manifest, contents: list[bytes],
                   sender_key: ed25519.Ed25519PrivateKey, recipient: keys.AppliancePublicKey,
                   seq: int, created: datetime, pad: Callable[[int], int] | None) -> bytes:
    header = Header(
        version=VERSION,
        sender=keys.sender_fingerprint(sender_key.public_key()),
        recipient=recipient.fingerprint,
        seq=seq,
        created=isoformat_utc(created),
        suite=recipient.suite.name,
    )
    header_bytes = header.to_bytes()
    manifest_bytes = manifest.to_bytes()
    # The sender must not emit what the appliance refuses.
    _check_header(_decode_json(header_bytes, "header"))
    _check_manifest(_decode_json(manifest_bytes, "manifest"))
    if len(manifest_bytes) > MAX_MANIFEST_LENGTH:
        raise MalformedSeal(f"manifest of {len(manifest_bytes)} bytes exceeds "
                            f"{MAX_MANIFEST_LENGTH}")
    header_span = PREFIX.pack(MAGIC, VERSION, len(header_bytes)) + header_bytes
    parts = [MANIFEST_LENGTH.pack(len(manifest_bytes)), manifest_bytes, *contents]
    length = sum(map(len, parts))
    plaintext = b"".join([*parts, bytes((pad or padded_length)(length) - length)])
    payload = keys.hpke_suite(recipient.suite).encrypt(
        plaintext, recipient.hpke_key(), info=hpke_info(header_span),
    )
    signed = header_span + PAYLOAD_LENGTH.pack(len(payload)) + payload
    return signed + sender_key.sign(signed)


# ---------------------------------------------------------------- opening


def padded_length(length: int) -> int:
    """The length a plaintext of `length` bytes is padded to (docs/seal-format.md §3.4): the
    next power of two from 256 KiB, so an envelope's size tells only its bucket, not which
    lists it holds; above 32 MiB no padding, so padding never pushes an envelope over the
    appliance's 64 MiB default limit."""
    if length > PADDING_CEILING:
        return length
    bucket = PADDING_FLOOR
    while bucket < length:
        bucket *= 2
    return bucket


def parse(data: bytes | memoryview, max_payload: int) -> Envelope:
    """Split and check the structure of an envelope. Raises MalformedSeal, never anything else."""
    view = memoryview(data)
    if len(view) < PREFIX.size:
        raise MalformedSeal(f"envelope is {len(view)} bytes, shorter than its fixed prefix")
    magic, version, header_length = PREFIX.unpack_from(view, 0)
    if magic != MAGIC:
        raise MalformedSeal("not a sealed snapshot (wrong magic bytes)")
    if version == 1:
        raise MalformedSeal("seal format version 1 is no longer accepted (its clear header "
                            "showed the documents' manifest); this appliance reads version 2 "
                            "only: update the sender to this release")
    if version != VERSION:
        raise MalformedSeal(f"unsupported format version {version} (this appliance reads 2)")
    if not 2 <= header_length <= MAX_HEADER_LENGTH:
        raise MalformedSeal(f"header length {header_length} outside 2..{MAX_HEADER_LENGTH}")
    header_end = PREFIX.size + header_length
    if len(view) < header_end + PAYLOAD_LENGTH.size:
        raise MalformedSeal("envelope ends inside its header")
    header_bytes = bytes(view[PREFIX.size:header_end])
    (payload_length,) = PAYLOAD_LENGTH.unpack_from(view, header_end)
    if payload_length > max_payload:
        raise MalformedSeal(f"payload of {payload_length} bytes exceeds the limit {max_payload}")
    payload_start = header_end + PAYLOAD_LENGTH.size
    payload_end = payload_start + payload_length
    if len(view) != payload_end + SIGNATURE_LENGTH:
        raise MalformedSeal(
            f"envelope is {len(view)} bytes; its lengths say {payload_end + SIGNATURE_LENGTH}"
        )
    header = _check_header(_decode_json(header_bytes, "header"))
    if header.to_bytes() != header_bytes:
        raise MalformedSeal("header is not canonical JSON (sorted keys, no spaces, UTF-8)")
    kem = keys.KEM_SUITES[header.suite].kem
    if payload_length < kem.enc_length() + AEAD_TAG_LENGTH:
        raise MalformedSeal("payload is too short to hold an HPKE ciphertext")
    return Envelope(
        header=header,
        signed=view[:payload_end],
        header_span=view[:header_end],
        payload=view[payload_start:payload_end],
        signature=bytes(view[payload_end:]),
    )


def verify_signature(envelope: Envelope, sender_public: ed25519.Ed25519PublicKey) -> None:
    if keys.sender_fingerprint(sender_public) != envelope.header.sender:
        raise BadSignature("signature key does not match the sender named in the header")
    try:
        sender_public.verify(envelope.signature, envelope.signed)
    except InvalidSignature as exc:
        raise BadSignature("signature does not verify (altered in transit or forged)") from exc


def decrypt(envelope: Envelope, recipient: keys.AppliancePrivateKey) -> list[Document]:
    """The documents of `open_payload` (none for a planned outage's announcement)."""
    return open_payload(envelope, recipient).documents


def open_payload(envelope: Envelope, recipient: keys.AppliancePrivateKey) -> Opened:
    """Decrypt the payload in memory, read its manifest and split the rest into documents,
    checking sizes and hashes. Raises DecryptionFailed, MalformedSeal (the manifest) or
    ManifestMismatch (the documents)."""
    if envelope.header.suite != recipient.suite.name:
        raise DecryptionFailed(
            f"sealed with {envelope.header.suite}, this appliance's key is {recipient.suite.name}"
        )
    try:
        plaintext = keys.hpke_suite(recipient.suite).decrypt(  # the view: no copy of P bytes
            envelope.payload, recipient.hpke_key(), info=hpke_info(envelope.header_span)
        )
    except (InvalidTag, ValueError) as exc:
        raise DecryptionFailed("payload cannot be decrypted with this appliance's key") from exc
    manifest, offset = _read_whole_manifest(plaintext)
    entries = manifest.documents
    documents_end = offset + sum(entry.size for entry in entries)
    if documents_end > len(plaintext):
        raise ManifestMismatch("decrypted payload is shorter than the manifest's sizes")
    if plaintext.count(0, documents_end) != len(plaintext) - documents_end:
        raise ManifestMismatch("decrypted payload has bytes after the documents that are not "
                               "zero padding (section 3.4)")
    documents = []
    for number, entry in enumerate(entries, start=1):
        content = plaintext[offset : offset + entry.size]
        offset += entry.size
        if hashlib.sha256(content).hexdigest() != entry.sha256:
            raise ManifestMismatch(f"document {number}: SHA-256 differs from the manifest")
        documents.append(Document(entry, content))
    return Opened(documents, manifest.notice)


def _read_manifest(plaintext: bytes) -> tuple[tuple[DocumentEntry, ...], int]:
    """The manifest's entries and the offset of the first document's bytes."""
    manifest, end = _read_whole_manifest(plaintext)
    return manifest.documents, end


def _read_whole_manifest(plaintext: bytes) -> tuple[Manifest, int]:
    """The manifest (documents, or a planned outage's notice) and where it ends."""
    if len(plaintext) < MANIFEST_LENGTH.size:
        raise MalformedSeal("decrypted payload is too short to hold a manifest")
    (length,) = MANIFEST_LENGTH.unpack_from(plaintext, 0)
    end = MANIFEST_LENGTH.size + length
    if not 2 <= length <= MAX_MANIFEST_LENGTH or end > len(plaintext):
        raise MalformedSeal(f"manifest length {length} outside 2..{MAX_MANIFEST_LENGTH} or "
                            "beyond the decrypted payload")
    manifest_bytes = plaintext[MANIFEST_LENGTH.size:end]
    manifest = _check_manifest(_decode_json(manifest_bytes, "manifest"))
    if manifest.to_bytes() != manifest_bytes:
        raise MalformedSeal("manifest is not canonical JSON (sorted keys, no spaces, UTF-8)")
    return manifest, end


# ---------------------------------------------------------------- header and manifest validation


def _decode_json(raw: bytes, where: str) -> object:
    def no_duplicates(pairs):
        obj = {}
        for key, value in pairs:
            if key in obj:
                raise MalformedSeal(f"{where} repeats the key {key!r}")
            obj[key] = value
        return obj

    try:
        return json.loads(raw.decode("utf-8"), object_pairs_hook=no_duplicates)
    except UnicodeDecodeError as exc:
        raise MalformedSeal(f"{where} is not UTF-8") from exc
    except (ValueError, RecursionError) as exc:
        if isinstance(exc, MalformedSeal):
            raise
        raise MalformedSeal(f"{where} is not valid JSON") from exc


def _check_header(obj: object) -> Header:
    _require_fields(obj, _HEADER_FIELDS, "header")
    if _int(obj["version"]) != VERSION:
        raise MalformedSeal(f"header.version must be {VERSION}")
    for name in ("sender", "recipient"):
        if not _is_hex256(obj[name]):
            raise MalformedSeal(f"header.{name} must be a 64-digit lowercase hex fingerprint")
    seq = _int(obj["seq"])
    if seq is None or not 1 <= seq <= MAX_SEQUENCE:
        raise MalformedSeal(f"header.seq must be an integer from 1 to {MAX_SEQUENCE}")
    _timestamp(obj["created"], "header.created")
    if not isinstance(obj["suite"], str) or obj["suite"] not in keys.KEM_SUITES:
        raise MalformedSeal(f"header.suite must be one of {', '.join(sorted(keys.KEM_SUITES))}")
    return Header(version=VERSION, sender=obj["sender"], recipient=obj["recipient"], seq=seq,
                  created=obj["created"], suite=obj["suite"])


def _check_manifest(obj: object) -> Manifest:
    if isinstance(obj, dict) and "planned_outage" in obj:
        _require_fields(obj, _NOTICE_MANIFEST_FIELDS, "manifest")
        return Manifest((), _check_notice(obj["planned_outage"]))
    _require_fields(obj, _MANIFEST_FIELDS, "manifest")
    documents = obj["documents"]
    if not isinstance(documents, list) or not 1 <= len(documents) <= MAX_DOCUMENTS:
        raise MalformedSeal(f"manifest.documents must list 1..{MAX_DOCUMENTS} documents")
    return Manifest(tuple(_check_document(doc, n) for n, doc in enumerate(documents, start=1)))


def _check_document(obj: object, number: int) -> DocumentEntry:
    where = f"manifest.documents[{number}]"
    _require_fields(obj, _DOCUMENT_FIELDS, where)
    if not isinstance(obj["kind"], str) or not _KIND_PATTERN.fullmatch(obj["kind"]):
        raise MalformedSeal(f"{where}.kind must match [a-z][a-z0-9_-]{{0,31}}")
    for name, limit in _TEXT_LIMITS.items():
        value = obj[name]
        if not isinstance(value, str) or not 1 <= len(value) <= limit or not value.isprintable():
            raise MalformedSeal(f"{where}.{name} must be printable text of 1..{limit} characters")
    produced_at = _timestamp(obj["produced_at"], f"{where}.produced_at")
    if obj["content_type"] not in CONTENT_TYPES:
        raise MalformedSeal(f"{where}.content_type must be one of {', '.join(CONTENT_TYPES)}")
    size = _int(obj["size"])
    if size is None or size < 1:
        raise MalformedSeal(f"{where}.size must be a positive integer")
    if not _is_hex256(obj["sha256"]):
        raise MalformedSeal(f"{where}.sha256 must be 64 lowercase hex digits")
    return DocumentEntry(**{name: obj[name] for name in _DOCUMENT_FIELDS - {"produced_at"}},
                         produced_at=produced_at, produced_at_as_written=obj["produced_at"])


def _check_notice(obj: object) -> PlannedOutageNotice:
    where = "manifest.planned_outage"
    _require_fields(obj, _NOTICE_FIELDS, where)
    starts = _timestamp(obj["starts_at"], f"{where}.starts_at")
    ends = _timestamp(obj["ends_at"], f"{where}.ends_at")
    if ends <= starts:
        raise MalformedSeal(f"{where}.ends_at must be after starts_at")
    note = obj["note"]
    if not isinstance(note, str) or len(note) > MAX_NOTE_CHARS or not (note.isprintable()):
        raise MalformedSeal(f"{where}.note must be printable text of 0..{MAX_NOTE_CHARS} "
                            "characters")
    if not isinstance(obj["cancelled"], bool):
        raise MalformedSeal(f"{where}.cancelled must be true or false")
    return PlannedOutageNotice(starts, ends, note, obj["cancelled"])


def _check_content(entry: DocumentEntry, content: bytes) -> None:
    if len(content) != entry.size or hashlib.sha256(content).hexdigest() != entry.sha256:
        raise ValueError(f"content of {entry.kind} document does not match its manifest entry")


def _require_fields(obj: object, fields: set[str], where: str) -> None:
    if not isinstance(obj, dict):
        raise MalformedSeal(f"{where} must be a JSON object")
    missing, extra = fields - obj.keys(), obj.keys() - fields
    if missing:
        raise MalformedSeal(f"{where} lacks {', '.join(sorted(missing))}")
    if extra:
        raise MalformedSeal(f"{where} has unknown fields {', '.join(sorted(extra))}")


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _is_hex256(value: object) -> bool:
    return isinstance(value, str) and _SHA256_PATTERN.fullmatch(value) is not None


def _timestamp(value: object, where: str) -> datetime:
    try:
        if not isinstance(value, str) or not _TIMESTAMP_PATTERN.fullmatch(value):
            raise ValueError
        return parse_iso(value)
    except ValueError as exc:
        raise MalformedSeal(
            f"{where} must be an RFC 3339 time, YYYY-MM-DDTHH:MM:SS[.ffffff] then Z or +HH:MM "
            "(year 0001-9999, hours 00-23, minutes and seconds 00-59, offset within -23:59 "
            "and +23:59, in range once in UTC): docs/seal-format.md §2.5") from exc
