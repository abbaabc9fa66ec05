"""POST JSON alerts to a webhook (chat bridge, monitoring system, on-call pager): the
poster of both the appliance's and the sender's alert queue (`core.base.alert_queue`).

Plain urllib, no dependency, no POSIX-only call (the sender runs on Windows). Redirects are
not followed: an alert answered with a redirect counts as not delivered, so it is retried
rather than silently lost.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request

from appliance.core.base.alert_queue import Alert, AlertNotDelivered


class WebhookError(AlertNotDelivered):
    """The alert was not delivered; the message names the host, never the full URL (which
    may carry a token)."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


class WebhookPoster:
    """Posts each alert as one JSON object to `url`; any 2xx answer is delivery."""

    def __init__(self, url: str, timeout: float) -> None:
        self._url = url  # never logged or shown: it may carry a token
        self.timeout = timeout
        host = urllib.parse.urlsplit(url).netloc.rpartition("@")[2] or "?"
        self.target = f"webhook at {host}"

    def post(self, alert: Alert) -> None:
        """Deliver `alert`, or raise WebhookError."""
        request = urllib.request.Request(
            self._url, data=json.dumps(alert, ensure_ascii=False).encode("utf-8"),
            method="POST", headers={"Content-Type": "application/json; charset=utf-8",
                                    "User-Agent": "appliance-alerts/1"},
        )
        try:
            with _OPENER.open(request, timeout=self.timeout) as response:
                response.read()
                status = response.status
        except urllib.error.HTTPError as exc:
            raise WebhookError(f"{self.target} answered HTTP {exc.code}") from None
        except urllib.error.URLError as exc:
            raise WebhookError(f"{self.target} unreachable: {exc.reason}") from None
        except (OSError, http.client.HTTPException, ValueError) as exc:
            # the type only: some of these messages quote the URL
            raise WebhookError(f"{self.target} failed ({type(exc).__name__})") from None
        if not 200 <= status < 300:
            raise WebhookError(f"{self.target} answered HTTP {status}")


def webhook_poster(url: str | None, timeout: float) -> WebhookPoster | None:
    """The poster for a configured `webhook_url`; None when none is set."""
    return WebhookPoster(url, timeout) if url else None
