"""Missing-export alerts: what the sender posts to `alerts.webhook_url`.

The body names the sender, the kind and the slot, never a file name or any content:
`{"event": "missing_export" | "export_recovered", "sender": ..., "kind": ...,
"slot": "2026-11-27T06:00:00Z", "message": "..."}`. They wait in the agent's
`AlertQueue` and are posted by `appliance.adapters.webhook.WebhookPoster`.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from appliance.core.base.clock import isoformat_utc, local_time

MISSING = "missing_export"
RECOVERED = "export_recovered"
WEBHOOK_TIMEOUT_SECONDS = 10


def missing_export(sender: str, kind: str, slot: datetime, tz: ZoneInfo) -> dict:
    return {
        "event": MISSING, "sender": sender, "kind": kind, "slot": isoformat_utc(slot),
        "message": f"No {kind} export was seen on sender {sender} for the "
                   f"{local_time(slot, tz)} slot ({tz.key}). The appliance may print old "
                   f"data: check the record system's export on this PC.",
    }


def export_recovered(sender: str, kind: str, slot: datetime, tz: ZoneInfo) -> dict:
    return {
        "event": RECOVERED, "sender": sender, "kind": kind, "slot": isoformat_utc(slot),
        "message": f"A fresh {kind} export has been seen on sender {sender} again, after the "
                   f"missed {local_time(slot, tz)} slot ({tz.key}).",
    }
