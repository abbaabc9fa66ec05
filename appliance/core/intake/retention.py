"""Retention with its audit trail: one function for ingest and the daily `appliance jobs` run."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from appliance.core.intake.store import Deletion, StoredSnapshot
from appliance.core.records.audit import AuditError

if TYPE_CHECKING:  # the type only: services.py is above every wing
    from appliance.core.services import Services

log = logging.getLogger(__name__)


def apply_retention(services: Services) -> list[StoredSnapshot]:
    """Delete what the configured retention no longer keeps; audit each deleted snapshot.

    The store journals each deletion with the delete itself and keeps it until its audit
    entry is written, so a crash or a full audit disk delays an entry but never loses it;
    a delayed entry says `delayed: true`. Never raises for the audit log: ingest has
    already stored and acknowledged its snapshot when it runs retention.
    """
    config = services.config

    def audit(deletion: Deletion) -> None:
        services.audit.append("retention_deleted", snapshot=deletion.snapshot_id,
                              sender=deletion.sender, kinds=list(deletion.kinds),
                              units=list(deletion.units),
                              **({"delayed": True} if deletion.delayed else {}))

    try:
        return services.store.apply_retention(
            config.keep_per_unit_kind, timedelta(hours=config.max_age_hours),
            config.units, timedelta(days=config.unconfigured_unit_grace_days), audit=audit)
    except AuditError as exc:
        log.error("retention deletions not audited yet (the next run writes them): %s", exc)
        return []
