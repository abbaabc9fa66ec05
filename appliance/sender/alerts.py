"""Missing-export alerts: a JSON POST to `alerts.webhook_url`.

The body names the sender, the kind and the slot, never a file name or any content:
`{"event": "missing_export" | "export_recovered", "sender": ..., "kind": ...,
"slot": "2026-11-27T06:00:00Z", "message": "..."}`.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import datetime
from zoneinfo import ZoneInfo

from appliance.core.clock import isoformat_utc

MISSING = "missing_export"
RECOVERED = "export_recovered"
WEBHOOK_TIMEOUT_SECONDS = 10


class AlertError(OSError):
    """The webhook could not be reached or did not answer 2xx."""


def local_slot(slot: datetime, tz: ZoneInfo) -> str:
    return slot.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def missing_export(sender: str, kind: str, slot: datetime, tz: ZoneInfo) -> dict:
    return {
        "event": MISSING, "sender": sender, "kind": kind, "slot": isoformat_utc(slot),
        "message": f"No {kind} export was seen on sender {sender} for the "
                   f"{local_slot(slot, tz)} slot ({tz.key}). The appliance may print old "
                   f"data: check the record system's export on this PC.",
    }


def export_recovered(sender: str, kind: str, slot: datetime, tz: ZoneInfo) -> dict:
    return {
        "event": RECOVERED, "sender": sender, "kind": kind, "slot": isoformat_utc(slot),
        "message": f"A fresh {kind} export has been seen on sender {sender} again, after the "
                   f"missed {local_slot(slot, tz)} slot ({tz.key}).",
    }


def post_webhook(url: str, event: dict, timeout: float = WEBHOOK_TIMEOUT_SECONDS) -> None:
    request = urllib.request.Request(
        url, data=json.dumps(event, ensure_ascii=False).encode(), method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        raise AlertError(f"webhook answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise AlertError(f"webhook unreachable: {getattr(exc, 'reason', exc)}") from None
