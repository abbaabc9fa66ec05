"""Push one envelope to one appliance over HTTP (standard library only)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass


@dataclass(frozen=True)
class PushResult:
    accepted: bool
    status: int | None  # HTTP status, None when the appliance could not be reached
    error: str  # the appliance's error code, or "unreachable"
    message: str
    body: dict


def push(url: str, envelope: bytes, timeout: float) -> PushResult:
    request = urllib.request.Request(
        url, data=envelope, method="POST",
        headers={"Content-Type": "application/octet-stream"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = _json(response.read())
            return PushResult(True, response.status, "", "accepted", body)
    except urllib.error.HTTPError as exc:
        body = _json(exc.read())
        return PushResult(False, exc.code, str(body.get("error", "http_error")),
                          str(body.get("message", exc.reason)), body)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return PushResult(False, None, "unreachable", f"cannot reach {url}: {reason}", {})


def _json(raw: bytes) -> dict:
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
