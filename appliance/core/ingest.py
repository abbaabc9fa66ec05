"""Ingest: accept a sealed snapshot only if it will print, and leave the store untouched
otherwise.

Checks run cheapest first, and everything that would fail at print time (decryption, a
damaged PDF) fails here, loudly, to the sender, while the network still works. Each
refusal is audited with its reason code and nothing of the payload.
"""

from __future__ import annotations

from appliance.core import seal
from appliance.core.errors import ApplianceError
from appliance.core.pdf import UnreadablePdf, count_pages
from appliance.core.retention import apply_retention
from appliance.core.services import Services
from appliance.core.store import SequenceNotNewer, StoredSnapshot

ENVELOPE_OVERHEAD = seal.PREFIX.size + seal.MAX_HEADER_LENGTH + seal.PAYLOAD_LENGTH.size + 64


class Refusal(ApplianceError, ValueError):
    """A snapshot refused: HTTP status, a stable error code and a message safe to show."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


def max_envelope_bytes(services: Services) -> int:
    return services.config.max_snapshot_bytes + ENVELOPE_OVERHEAD


def refuse(services: Services, status: int, error: str, message: str, *, remote: str,
           size: int | None, sender: str | None = None) -> Refusal:
    """Audit a refusal and return the exception to raise."""
    services.audit.append("refused", reason=error, message=message, remote=remote, bytes=size,
                          sender=sender)
    return Refusal(status, error, message)


def ingest(services: Services, body: bytes, remote: str) -> StoredSnapshot:
    """Verify, store and audit one envelope, then apply retention; raise Refusal if not."""
    config = services.config

    def fail(status: int, error: str, message: str, sender: str | None = None) -> Refusal:
        return refuse(services, status, error, message, remote=remote, size=len(body),
                      sender=sender)

    if services.store.free_bytes() - len(body) < config.free_space_reserve_bytes:
        raise fail(507, "insufficient_storage",
                   "the appliance's disk is below its free-space reserve; snapshot not stored")
    try:
        envelope = seal.parse(body, max_payload=config.max_snapshot_bytes)
    except seal.MalformedSeal as exc:
        raise fail(400, "malformed", str(exc)) from None
    header = envelope.header
    sender = services.enrolled_senders().get(header.sender)
    if sender is None:
        raise fail(403, "unknown_sender", f"sender key {header.sender[:16]} is not enrolled")
    try:
        seal.verify_signature(envelope, sender.key)
    except seal.BadSignature as exc:
        raise fail(403, "bad_signature", str(exc), sender.name) from None
    if header.recipient != services.public_key.fingerprint:
        raise fail(403, "wrong_recipient",
                   "sealed for another appliance (recipient fingerprint differs)", sender.name)
    last_seq = services.store.last_seq(header.sender)
    if header.seq <= last_seq:
        raise fail(409, "replayed", f"sequence {header.seq} is not newer than {last_seq}, "
                   "the last accepted from this sender", sender.name)
    unknown = sorted({doc.kind for doc in header.documents} - config.kinds.keys())
    if unknown:
        raise fail(422, "unknown_kind", f"unknown document kind(s): {', '.join(unknown)}",
                   sender.name)
    try:
        documents = seal.decrypt(envelope, services.private_key)
    except (seal.DecryptionFailed, seal.ManifestMismatch) as exc:
        raise fail(422, "undecryptable", str(exc), sender.name) from None
    pages = []
    for number, document in enumerate(documents, start=1):
        try:
            pages.append(count_pages(document.content))
        except UnreadablePdf as exc:
            raise fail(422, "unreadable_pdf", f"document {number} ({document.entry.kind}) {exc}",
                       sender.name) from None
    del documents  # plaintext lives only as long as the checks need it
    try:
        snapshot = services.store.add(body, header, sender.name, pages)
    except SequenceNotNewer as exc:  # a concurrent ingest of the same sender won the race
        raise fail(409, "replayed", str(exc), sender.name) from None
    services.audit.append(
        "ingested", snapshot=snapshot.id, sender=sender.name, seq=header.seq, remote=remote,
        bytes=len(body),
        documents=[{"kind": d.kind, "unit": d.unit, "pages": d.pages} for d in snapshot.documents],
    )
    apply_retention(services)
    return snapshot
