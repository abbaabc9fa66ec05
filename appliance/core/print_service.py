"""The one way to print: the button, the kiosk and `appliance print` all call `print_kit`.

Chooses the newest document per unit and kind for the profile, decrypts them in memory,
composes the kit, hands it to CUPS as one job and writes the audit entry. A document that
cannot be read at print time does not stop the kit: the cover says it is missing, and the
rest (always including the blank forms) is printed.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from appliance.adapters.cups import CupsPrinter, JobState, PrinterReport, PrinterUnavailable
from appliance.core import seal
from appliance.core.config import ApplianceConfig, ProfileConfig
from appliance.core.freshness import freshness
from appliance.core.kit import Kit, KitContext, KitDocument, KitSummary, compose
from appliance.core.services import Services
from appliance.core.store import StoredDocument, StoreError

log = logging.getLogger(__name__)


class UnknownProfile(ValueError):
    pass


@dataclass(frozen=True)
class PrintOutcome:
    job_id: int
    title: str
    summary: KitSummary
    printer: PrinterReport


def profile_named(config: ApplianceConfig, name: str) -> ProfileConfig:
    try:
        return config.printing.profiles[name]
    except KeyError:
        known = ", ".join(config.printing.profiles)
        raise UnknownProfile(f"no print profile {name!r} (configured: {known})") from None


def compose_kit(services: Services, profile: ProfileConfig, now: datetime) -> Kit:
    config = services.config
    documents, missing = gather(services, profile, now)
    return compose(profile, documents, missing, KitContext(
        appliance=config.name, printed_at=now, timezone=config.timezone,
        forms=config.printing.forms))


def gather(services: Services, profile: ProfileConfig, now: datetime
           ) -> tuple[list[KitDocument], dict[str, str]]:
    """The newest document per (unit, kind) the profile wants, decrypted, in config order;
    and the wanted kinds that have none (kind -> Swedish title)."""
    config = services.config
    order = {kind: position for position, kind in enumerate(config.kinds)}
    chosen = sorted((doc for doc in services.store.latest_per_unit_and_kind()
                     if profile.includes(doc.kind) and doc.kind in config.kinds),
                    key=lambda doc: (order[doc.kind], doc.unit))
    contents = _decrypt(services, chosen)
    grace = timedelta(minutes=config.grace_minutes)
    documents = []
    for doc in chosen:
        content = contents.get((doc.snapshot_id, doc.position))
        if content is None:
            continue
        kind = config.kinds[doc.kind]
        stale = freshness(kind.slots, doc.produced_at, now, config.timezone, grace).stale
        documents.append(KitDocument(doc.kind, kind.title, doc.unit, doc.produced_at,
                                     doc.pages, stale, content))
    wanted = ([k for k, kind in config.kinds.items() if kind.slots] if "*" in profile.kinds
              else list(profile.kinds))
    present = {doc.kind for doc in documents}
    missing = {kind: config.kinds[kind].title for kind in wanted if kind not in present}
    return documents, missing


def _decrypt(services: Services, documents: list[StoredDocument]
             ) -> dict[tuple[str, int], bytes]:
    """Decrypt each needed snapshot once. Unreadable ones are logged and left out."""
    by_snapshot: dict[str, list[StoredDocument]] = defaultdict(list)
    for doc in documents:
        by_snapshot[doc.snapshot_id].append(doc)
    contents = {}
    for snapshot_id in by_snapshot:
        try:
            envelope = seal.parse(services.store.read_envelope(snapshot_id),
                                  max_payload=2**63)
            opened = seal.decrypt(envelope, services.private_key)
        except (seal.SealError, StoreError) as exc:
            log.error("snapshot %s cannot be opened for printing: %s", snapshot_id, exc)
            continue
        for position, document in enumerate(opened):
            contents[(snapshot_id, position)] = document.content
    return contents


def job_title(profile: ProfileConfig, now: datetime, config: ApplianceConfig) -> str:
    """`Reservutskrift button 23:10`: no patient data reaches CUPS job history."""
    return f"Reservutskrift {profile.name} {now.astimezone(config.timezone):%H:%M}"


def print_kit(services: Services, printer: CupsPrinter, profile_name: str,
              trigger: str) -> PrintOutcome:
    """Compose and submit one kit. Raises PrinterUnavailable if CUPS did not take it."""
    config = services.config
    profile = profile_named(config, profile_name)
    now = services.clock.now()
    kit = compose_kit(services, profile, now)
    title = job_title(profile, now, config)
    try:
        job_id = printer.submit(kit.pdf, title)
    except PrinterUnavailable as exc:
        _audit(services, "print_failed", profile=profile.name, trigger=trigger,
               reason=str(exc.condition), pages=kit.summary.pages)
        log.error("print %s (%s) failed: %s", profile.name, trigger, exc)
        raise
    report = printer.report()
    _audit(services, "printed", profile=profile.name, trigger=trigger, job=job_id,
           queue=report.queue, pages=kit.summary.pages, documents=list(kit.summary.documents),
           missing=list(kit.summary.missing), forms=list(kit.summary.forms),
           printer=str(report.condition))
    log.info("print %s (%s): job %s, %d pages, printer %s", profile.name, trigger, job_id,
             kit.summary.pages, report.english)
    return PrintOutcome(job_id, title, kit.summary, report)


def record_job_end(services: Services, job_id: int, state: JobState) -> None:
    _audit(services, "print_job_ended", job=job_id, state=str(state))


def _audit(services: Services, event: str, **fields) -> None:
    """Audit without ever stopping a print: paper in an outage matters more than the log."""
    try:
        services.audit.append(event, **fields)
    except Exception:  # the log's own failure is logged; the print goes on
        log.exception("audit log could not record %s", event)
