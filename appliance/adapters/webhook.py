"""POST one JSON alert to a webhook (chat bridge, monitoring system, on-call pager).

Plain urllib, no dependency. Redirects are not followed: an alert that is answered with a
redirect counts as not delivered, so it is retried rather than silently lost.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request


class WebhookError(Exception):
    """The alert was not delivered; the message names the host, never the full URL (which
    may carry a token)."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def url_host(url: str) -> str:
    """`host:port` of a URL: what logs may show of a webhook address."""
    parts = urllib.parse.urlsplit(url)
    return parts.netloc.rpartition("@")[2] or "?"


def post_json(url: str, payload: dict, timeout: float) -> None:
    """Deliver `payload`; any 2xx answer is success. Raises WebhookError otherwise."""
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(
        url, data=body, method="POST",
        headers={"Content-Type": "application/json; charset=utf-8",
                 "User-Agent": "appliance-alerts/1"},
    )
    host = url_host(url)
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        raise WebhookError(f"webhook at {host} answered HTTP {exc.code}") from None
    except urllib.error.URLError as exc:
        raise WebhookError(f"webhook at {host} unreachable: {exc.reason}") from None
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise WebhookError(f"webhook at {host} failed: {exc or type(exc).__name__}") from None
    if not 200 <= status < 300:
        raise WebhookError(f"webhook at {host} answered HTTP {status}")
