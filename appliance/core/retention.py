"""Retention with its audit trail: one function for ingest and the daily `appliance jobs` run."""

from __future__ import annotations

from datetime import timedelta

from appliance.core.services import Services
from appliance.core.store import StoredSnapshot


def apply_retention(services: Services) -> list[StoredSnapshot]:
    """Delete what the configured retention no longer keeps; audit each deleted snapshot."""
    config = services.config
    gone = services.store.apply_retention(
        config.keep_per_sender_unit_kind, timedelta(days=config.max_age_days), config.units,
        timedelta(days=config.unconfigured_unit_grace_days))
    for snapshot in gone:
        services.audit.append("retention_deleted", snapshot=snapshot.id, sender=snapshot.sender,
                              kinds=sorted({d.kind for d in snapshot.documents}),
                              units=sorted({d.unit for d in snapshot.documents}))
    return gone
