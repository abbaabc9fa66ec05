"""Webhook alerts waiting for delivery: the one queue behind the appliance's missed-slot
alerts and the sender's missing-export alerts.

- Ordered: sent oldest first, and a failure ends the round (head of line), so a recovery
  never reaches the receiver before the alert it ends.
- Bounded: at most `MAX_WAITING` alerts wait; beyond that the oldest are dropped with a
  warning, so a webhook that is down for weeks cannot grow the state file without limit.
- Persisted: the queue is saved inside its owner's state file (`slot-alerts.json` on the
  appliance, `agent.json` on the sender), next to the state that decided to alert, so one
  atomic write covers both. `deliver` calls the owner's `persist` after every attempt, so
  a crash never sends a delivered alert again. An alert leaves the queue only once
  delivered (or dropped by the bound, or because no webhook is configured any more).
- Retried: after the n-th failed attempt the oldest alert waits `retry_delay(n)` seconds;
  each owner chooses its policy.

The poster is injected (in production and in the tests it is
`appliance.adapters.webhook.WebhookPoster`), so core imports no adapter. A poster reports
failure with `AlertNotDelivered`, whose message is safe to log: it names the host, never
the URL, which may carry a token. Alerts themselves carry no patient data and no file
names; that is their builders' duty.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from appliance.core.base.clock import isoformat_utc, parse_iso
from appliance.core.base.errors import ApplianceError

log = logging.getLogger(__name__)

MAX_WAITING = 100

Alert = dict[str, Any]  # the JSON object posted as is; its "event" and "kind" are logged


class AlertNotDelivered(ApplianceError, OSError):
    """The poster could not deliver an alert. The message names no secret (no URL)."""


class AlertPoster(Protocol):
    target: str  # where alerts go, as logs may show it: "webhook at host:port"

    def post(self, alert: Alert) -> None:
        """Deliver `alert` or raise AlertNotDelivered."""


@dataclass
class WaitingAlert:
    alert: Alert
    attempts: int  # failed attempts so far
    next_attempt_at: datetime


@dataclass
class AlertQueue:
    waiting: list[WaitingAlert] = field(default_factory=list)  # oldest first

    @classmethod
    def from_json(cls, value: object) -> AlertQueue:
        """The queue as `to_json` wrote it. Entries of another shape (a damaged or older
        file) are dropped with a warning rather than trusted."""
        entries = value if isinstance(value, list) else []
        waiting = []
        for entry in entries:
            try:
                if not isinstance(entry["alert"], dict):
                    raise TypeError
                waiting.append(WaitingAlert(entry["alert"], int(entry["attempts"]),
                                            parse_iso(entry["next_attempt_at"])))
            except (TypeError, KeyError, ValueError):
                continue
        if len(waiting) < len(entries):
            log.warning("%d saved alert(s) unreadable and dropped",
                        len(entries) - len(waiting))
        return cls(waiting)

    def to_json(self) -> list[dict[str, Any]]:
        return [{"alert": item.alert, "attempts": item.attempts,
                 "next_attempt_at": isoformat_utc(item.next_attempt_at)}
                for item in self.waiting]

    def alerts(self) -> list[Alert]:
        return [item.alert for item in self.waiting]

    def __len__(self) -> int:
        return len(self.waiting)

    def add(self, alert: Alert, now: datetime) -> None:
        """Queue `alert` behind the others, to be tried at the next `deliver`."""
        self.waiting.append(WaitingAlert(alert, 0, now))
        excess = len(self.waiting) - MAX_WAITING
        if excess > 0:
            del self.waiting[:excess]
            log.warning("more than %d alerts wait for the webhook: the %d oldest dropped",
                        MAX_WAITING, excess)

    def settle(self, poster: AlertPoster | None, now: datetime, *, changed: bool,
               save: Callable[[], None], retry_seconds: float) -> list[Alert]:
        """The end of every alerting check (slots, drills, self-check, supplies): save its
        state file if the check changed it (no write, for the SD card, when nothing
        happened), then `deliver` what waits, saving after each attempt."""
        if changed:
            save()
        return self.deliver(poster, now, retry_delay=lambda attempts: retry_seconds,
                            persist=save)

    def deliver(self, poster: AlertPoster | None, now: datetime, *,
                retry_delay: Callable[[int], float], persist: Callable[[], None]
                ) -> list[Alert]:
        """Post the alerts that are due, oldest first, stopping at the first failure;
        return those delivered. Without a poster (the webhook was unconfigured) the queue
        is emptied: nothing could ever send it."""
        if poster is None:
            if self.waiting:
                log.info("no webhook configured any more: %d waiting alert(s) dropped",
                         len(self.waiting))
                self.waiting.clear()
                persist()
            return []
        delivered = []
        while self.waiting and self.waiting[0].next_attempt_at <= now:
            head = self.waiting[0]
            try:
                poster.post(head.alert)
            except AlertNotDelivered as exc:
                head.attempts += 1
                head.next_attempt_at = now + timedelta(seconds=retry_delay(head.attempts))
                persist()
                log.warning("%s; %d alert(s) waiting, attempt %d, next try after %s", exc,
                            len(self.waiting), head.attempts,
                            isoformat_utc(head.next_attempt_at))
                break
            del self.waiting[0]
            persist()  # before anything else can fail: a delivered alert is never re-sent
            delivered.append(head.alert)
            log.info("%s: %s alert for %s delivered", poster.target,
                     head.alert.get("event"), head.alert.get("kind"))
        return delivered
