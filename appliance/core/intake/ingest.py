"""Ingest: accept a sealed snapshot only if it will print, and leave the store untouched
otherwise.

Checks run cheapest first, except that what the manifest says (kinds, units, times) is
known only once it is decrypted (seal format v2), so those checks follow the signature,
recipient and replay checks. Everything that would fail at print time (decryption, a
damaged PDF) fails here, loudly, to the sender, while the network still works. Each
refusal is audited with its reason code and nothing of the payload.

Every way in runs this one function: HTTP (adapters/web/api.py) and `appliance import`
(envelopes from a folder or a USB stick, core/intake/importing.py). `via` says which in the audit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from appliance.core.base.clock import isoformat_utc, microseconds_since_epoch, parse_iso
from appliance.core.base.errors import ApplianceError
from appliance.core.base.safe_text import bounded_text
from appliance.core.crypto import seal
from appliance.core.crypto.keys import short_fingerprint
from appliance.core.intake import refusal_counts
from appliance.core.intake.pdf import PdfLimits, UnreadablePdf, count_pages
from appliance.core.intake.registry import EnrolledSender
from appliance.core.intake.retention import apply_retention
from appliance.core.intake.store import SequenceNotNewer, StoredSnapshot
from appliance.core.records.audit import AuditError
from appliance.core.records.planned_outages import (
    AnnouncementReplayed,
    OutagePlan,
    OutagePlanError,
)

if TYPE_CHECKING:  # the type only: services.py is above every wing
    from appliance.core.services import Services

LIMIT_SETTINGS = {"too_many_pages": "ingest.max_pages_per_document",
                  "stream_too_large": "ingest.max_stream_mb"}  # PDF refusal -> its setting
ENVELOPE_OVERHEAD = seal.PREFIX.size + seal.MAX_HEADER_LENGTH + seal.PAYLOAD_LENGTH.size + 64
MAX_SEQUENCE_LEAD = timedelta(hours=24)  # of `seq` over `created` (see `sequence_problem`)
MAX_MESSAGE_CHARS = 300  # of a refusal's message, in the answer and the audit log
VIA_HTTP = "http"  # the network way in; the only one anyone can use without a key
log = logging.getLogger(__name__)


# What the network is told of a refusal found in what the envelope encrypts (seal format v2):
# the rule and the setting only. The detail (the kind, the unit, the time, the counts) goes
# to the audit log and the journal, where the operator reads it; a LAN listener, or a sender
# probing the appliance, learns nothing of the manifest from the answer (issue 26 §3).
PUBLIC_REFUSALS = {
    "undecryptable": "the payload cannot be opened with this appliance's key",
    "malformed": "the encrypted manifest breaks the seal format (docs/seal-format.md)",
    "unknown_kind": "a document's kind is not configured on this appliance ([kinds])",
    "too_many_units": "the snapshot names more units than allowed "
                      "(ingest.max_units_per_snapshot)",
    "unknown_unit": "a unit named is not configured on this appliance (units.names)",
    "unit_not_allowed": "this sender may not send for a unit named "
                        "(appliance senders units)",
    "from_the_future": "a document was produced too far ahead of the appliance's clock "
                       "(ingest.max_clock_skew_minutes); check both clocks (NTP)",
    "too_many_pages": "the snapshot has more pages than allowed (ingest.max_pages_per_snapshot)",
    "bad_outage": "the planned outage announced breaks the rules (docs/planned-outages.md)",
    "replayed": "the announcement's sequence number is not newer than the last one accepted",
}
PUBLIC_PDF_REFUSAL = "a document is outside the appliance's PDF limits"
SEE_AUDIT_LOG = "; the appliance's audit log has the detail"


def public_refusal(error: str) -> str:
    """What the network is told of a refusal found inside the envelope, coded `error`."""
    return PUBLIC_REFUSALS.get(error, PUBLIC_PDF_REFUSAL) + SEE_AUDIT_LOG


class Refusal(ApplianceError, ValueError):
    """A snapshot refused: HTTP status, a stable error code and a message safe to show."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


@dataclass(frozen=True)
class AcceptedNotice:
    """A planned outage's announcement accepted (seal format §2.7): answered like a snapshot,
    with the window's id in place of a snapshot's."""

    id: str
    sender: str
    received_at: datetime


def max_envelope_bytes(services: Services) -> int:
    return services.config.max_snapshot_bytes + ENVELOPE_OVERHEAD


def refuse(services: Services, status: int, error: str, message: str, *, remote: str,
           size: int | None, sender: str | None = None, via: str = VIA_HTTP,
           inside: bool = False) -> Refusal:
    """Audit a refusal and return the exception to raise.

    Over HTTP, a reason anyone can cause without a key (`refusal_counts.UNVERIFIED`) is
    counted, one audit entry per reason a minute, not one each. An import is audited one
    entry per file: its files are few (importing.MAX_FILES a run) and were brought by
    someone standing at the appliance, so each one is worth a line. The message may quote
    what the client sent, so it is escaped and capped. A refusal is answered even when the
    audit log cannot take it (a full disk): that is logged, never turned into a 500.
    `inside`: the refusal was found in what a verified envelope encrypts, so the message
    quotes it; an HTTP answer then says only `public_refusal(error)`, and the message goes
    to the audit log and the journal. Such a refusal is an enrolled sender's, audited one by
    one even when its code (malformed) is also one anyone can cause. A USB import is
    answered in full: whoever runs it stands at the appliance.
    """
    message = bounded_text(message, MAX_MESSAGE_CHARS)
    remote = bounded_text(remote, refusal_counts.MAX_REMOTE_CHARS)
    if via == VIA_HTTP and error in refusal_counts.UNVERIFIED and not inside:
        refusal_counts.RefusalCounts.of(services).add(error, message, remote)
        return Refusal(status, error, message)
    answer = message
    if inside and via == VIA_HTTP:
        answer = public_refusal(error)
        log.warning("refused %s from sender %s: %s", error, sender, message)
    try:
        services.audit.append("refused", reason=error, message=message, remote=remote,
                              bytes=size, sender=sender, via=via)
    except AuditError as exc:
        log.error("a %s refusal could not be audited: %s", error, exc)
    return Refusal(status, error, answer)


def ingest(services: Services, body: bytes, remote: str, *,
           via: str = VIA_HTTP) -> StoredSnapshot | AcceptedNotice:
    """Verify, store and audit one envelope, then apply retention; raise Refusal if not. An
    announcement of a planned outage is verified the same way and goes to the outage plan
    (`announce`), not the store."""
    config = services.config

    def fail(status: int, error: str, message: str, sender: str | None = None, *,
             inside: bool = False) -> Refusal:
        return refuse(services, status, error, message, remote=remote, size=len(body),
                      sender=sender, via=via, inside=inside)

    def fail_inside(status: int, error: str, message: str, sender: str) -> Refusal:
        """A refusal found in the decrypted part: the answer names only the rule."""
        return fail(status, error, message, sender, inside=True)

    try:
        envelope = seal.parse(body, max_payload=config.max_snapshot_bytes)
    except seal.MalformedSeal as exc:
        raise fail(400, "malformed", str(exc)) from None
    header = envelope.header
    sender = services.enrolled_senders().get(header.sender)
    if sender is None:
        raise retired_or_unknown(services, envelope, fail)
    try:
        seal.verify_signature(envelope, sender.key)
    except seal.BadSignature as exc:
        raise fail(403, "bad_signature", str(exc), sender.name) from None
    problem = services.key_ring.recipient_problem(header.recipient, services.clock.now())
    if problem is not None:  # another appliance's key, or one of ours past its grace
        raise fail(*problem, sender.name)
    # Only now, for an authenticated sender: garbage on a full disk is still told it is garbage.
    if services.store.free_bytes() - len(body) < config.free_space_reserve_bytes:
        raise fail(507, "insufficient_storage", "the appliance's disk is below its "
                   "free-space reserve (storage.free_space_reserve_mb); snapshot not stored",
                   sender.name)
    last_seq = max(services.store.last_seq(header.sender, sender.name),
                   OutagePlan(config).last_announcement_seq(sender.name))
    if header.seq <= last_seq:
        raise fail(409, "replayed", f"sequence {header.seq} is not newer than {last_seq}, "
                   "the last accepted from this sender", sender.name)
    problem = sequence_problem(header)
    if problem is not None:
        raise fail(*problem, sender.name)
    # The manifest travels encrypted (seal format v2): what it says is checked only now.
    try:
        opened = seal.open_payload(envelope, services.key_ring.key_for(header.recipient)
                                   or services.private_key)
    except (seal.DecryptionFailed, seal.ManifestMismatch) as exc:
        raise fail_inside(422, "undecryptable", str(exc), sender.name) from None
    except seal.MalformedSeal as exc:
        raise fail_inside(400, "malformed", str(exc), sender.name) from None
    if opened.notice is not None:
        return announce(services, sender, header, opened.notice, fail_inside, remote, via)
    documents = opened.documents
    entries = tuple(document.entry for document in documents)
    unknown = sorted({entry.kind for entry in entries} - config.kinds.keys())
    if unknown:
        raise fail_inside(422, "unknown_kind",
                          f"unknown document kind(s): {', '.join(unknown)}", sender.name)
    units = len({entry.unit for entry in entries})
    if units > config.max_units_per_snapshot:
        raise fail_inside(422, "too_many_units", f"the snapshot names {units} units, more "
                          f"than the {config.max_units_per_snapshot} allowed "
                          "(ingest.max_units_per_snapshot)", sender.name)
    problem = manifest_problem(services, sender, entries)
    if problem is not None:
        raise fail_inside(*problem, sender.name)
    pages = []
    for number, document in enumerate(documents, start=1):
        try:
            pages.append(count_pages(document.content, PdfLimits.of(config)))
        except UnreadablePdf as exc:
            setting = LIMIT_SETTINGS.get(exc.reason)
            raise fail_inside(422, exc.reason, f"document {number} ({document.entry.kind}) "
                              f"{exc}" + (f" ({setting})" if setting else ""),
                              sender.name) from None
    del documents  # plaintext lives only as long as the checks need it
    if sum(pages) > config.max_pages_per_snapshot:
        raise fail_inside(422, "too_many_pages", f"the snapshot has {sum(pages)} pages, more "
                          f"than the {config.max_pages_per_snapshot} allowed "
                          "(ingest.max_pages_per_snapshot)", sender.name)
    try:
        snapshot = services.store.add(body, header, entries, sender.name, pages)
    except SequenceNotNewer as exc:  # a concurrent ingest of the same sender won the race
        raise fail(409, "replayed", str(exc), sender.name) from None
    services.audit.append(
        "ingested", snapshot=snapshot.id, sender=sender.name, seq=header.seq, remote=remote,
        bytes=len(body), via=via,
        documents=[{"kind": d.kind, "unit": d.unit, "pages": d.pages} for d in snapshot.documents],
    )
    apply_retention(services)
    return snapshot


def announce(services: Services, sender: EnrolledSender, header: seal.Header,
             notice: seal.PlannedOutageNotice, fail_inside, remote: str,
             via: str) -> AcceptedNotice:
    """Plan (or cancel) the window a verified announcement carries, and audit it as
    `outage_planned` / `outage_cancelled` with `source: sender:NAME`."""
    now = services.clock.now()
    try:
        outcome, window = OutagePlan(services.config).announce(sender.name, header.seq,
                                                               notice, now)
    except AnnouncementReplayed as exc:
        raise fail_inside(409, "replayed", str(exc), sender.name) from None
    except OutagePlanError as exc:
        raise fail_inside(422, "bad_outage", str(exc), sender.name) from None
    services.audit.append(f"outage_{outcome}", window=window.id,
                          starts_at=isoformat_utc(window.starts_at),
                          ends_at=isoformat_utc(window.ends_at), note=window.note,
                          source=window.source, seq=header.seq, remote=remote, via=via)
    log.info("planned outage %s %s by sender %s", window.id, outcome, sender.name)
    return AcceptedNotice(f"outage-{window.id}", sender.name, now)


def retired_or_unknown(services: Services, envelope: seal.Envelope, fail) -> Refusal:
    """The refusal for a key that is not enrolled: precise, and audited with the sender's
    name, when the envelope verifies with a key the sender had and IT retired (the sender
    still signs with its old key); otherwise the counted `unknown_sender`."""
    fingerprint = envelope.header.sender
    retired = services.retired_sender_keys().get(fingerprint)
    if retired is not None:
        try:
            seal.verify_signature(envelope, retired.key)
        except seal.BadSignature:
            pass
        else:
            return fail(403, "retired_key", f"sender key {short_fingerprint(fingerprint)} of "
                        f"{retired.name} was retired at {isoformat_utc(retired.retired_at)} "
                        f"(appliance senders retire-key): sign with the sender's current key "
                        "(appliance-sender key activate, docs/sender.md)", retired.name)
    return fail(403, "unknown_sender", f"sender key {fingerprint[:16]} is not enrolled")


def sequence_problem(header: seal.Header) -> tuple[int, str, str] | None:
    """Whether a sequence number is too far ahead to accept: (status, code, message) if so.

    Accepting a number near 2**63 - 1 would lock its sender out for good (every later
    number must be higher). Senders count in microseconds since the epoch, so an honest
    number is about the envelope's own `created` (more only after the sender's clock
    stepped back); a plain counter stays far below it (docs/seal-format.md, section 8).
    """
    lead = MAX_SEQUENCE_LEAD // timedelta(microseconds=1)
    bound = microseconds_since_epoch(parse_iso(header.created)) + lead
    if header.seq > bound:
        return (422, "sequence_ahead", f"sequence {header.seq} is more than "
                f"{MAX_SEQUENCE_LEAD // timedelta(hours=1)} h ahead of the envelope's "
                f"created time ({header.created}) in microseconds since 1970; check the "
                "sender's clock and its sequence file")
    return None


def manifest_problem(services: Services, sender: EnrolledSender,
                     entries: tuple[seal.DocumentEntry, ...]) -> tuple[int, str, str] | None:
    """Whether the sender may send these documents now: (status, code, message) if not.

    Units (docs/configuration.md, the unit rule): a unit the appliance does not print for
    is unknown; one it does, but not for this sender, is not allowed. Time: a document
    produced further ahead of the appliance's clock than the allowed skew would look fresh,
    and newest, for as long as it likes.
    """
    configured = services.config.units
    units = sorted({entry.unit for entry in entries})
    unknown = [unit for unit in units if configured and unit not in configured]
    if unknown:
        return (422, "unknown_unit", f"unit(s) {_quoted(unknown)} not configured on this "
                "appliance (units.names)")
    refused = [unit for unit in units if not sender.may_send_for(unit, configured)]
    if refused:
        return (403, "unit_not_allowed", f"sender {sender.name} may not send for unit(s) "
                f"{_quoted(refused)} (appliance senders units {sender.name} --unit ...)")
    now = services.clock.now()
    skew = timedelta(minutes=services.config.max_clock_skew_minutes)
    for number, entry in enumerate(entries, start=1):
        if entry.produced_at > now + skew:
            return (422, "from_the_future", f"document {number} ({entry.kind}) was produced "
                    f"at {isoformat_utc(entry.produced_at)}, more than "
                    f"{services.config.max_clock_skew_minutes} min ahead of the appliance's "
                    f"clock ({isoformat_utc(now)}); check both clocks (NTP)")
    return None


def _quoted(units: list[str], shown: int = 3) -> str:
    """The first few units, so a manifest of 64 invented ones does not make a long message."""
    text = ", ".join(repr(unit) for unit in units[:shown])
    return text + (f" and {len(units) - shown} more" if len(units) > shown else "")
