"""What the sender agent remembers between passes and restarts, as JSON under `state_dir`.

Two files, each replaced atomically: `queue.json` (deliveries, see `queue.py`) and
`agent.json` (this module): per appliance the last success, the last error and, while it
does not answer, when it is tried next; per kind the newest export seen, the slot a kind is
currently missing, webhook alerts not yet delivered (an `AlertQueue`, saved as
`pending_alerts`), recently dropped deliveries, and per planned outage what was done for it
(`outages`: its announcement per appliance, its extra delivery). None of it
holds document content; file names of exports appear only in `queue.json`, which is
private to the sender (mode 0600).
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from appliance.core.base.alert_queue import AlertQueue
from appliance.core.base.clock import isoformat_utc, parse_iso
from appliance.core.base.statefile import StateFile

log = logging.getLogger("appliance.sender")

AGENT_STATE_FILE = "agent.json"
STATE_VERSION = 1
RECENT_LIMIT = 20  # dropped deliveries and raised alerts kept for `status`
HEARTBEAT_SAVE = timedelta(seconds=30)


def state_file(path: Path) -> StateFile:
    """`agent.json` or `queue.json`: private to the sender (0600), format STATE_VERSION."""
    return StateFile(path, STATE_VERSION, mode=0o600)


def load_json(path: Path) -> dict[str, Any] | None:
    """The object stored at `path`, or None when there is none yet. A damaged file is moved
    aside (and logged) rather than trusted or fatal: starting afresh may send a file twice,
    but never loses one. A file a newer release wrote raises `StateFileError`: the agent
    does not start until it is upgraded again or the file is moved aside."""
    return state_file(path).load_or_set_aside("a file may be sent twice, none is lost")


def save_json(path: Path, data: dict[str, Any]) -> None:
    state_file(path).save(data)


def to_iso(moment: datetime | None) -> str | None:
    return isoformat_utc(moment) if moment else None


def from_iso(text: str | None) -> datetime | None:
    return parse_iso(text) if text else None


@dataclass
class ApplianceRecord:
    last_success: datetime | None = None
    last_error: dict[str, Any] | None = None  # at, status, error, message, kind
    # Set when the appliance itself did not take a delivery (no answer, 5xx, ...): nothing
    # is offered to it before then, whichever export; cleared by its next success.
    next_attempt_at: datetime | None = None


@dataclass
class KindRecord:
    produced_at: datetime  # newest export of this kind seen complete (its mtime)
    seen_at: datetime


@dataclass
class AgentState:
    path: Path
    appliances: dict[str, ApplianceRecord] = field(default_factory=dict)
    kinds: dict[str, KindRecord] = field(default_factory=dict)
    missing: dict[str, datetime] = field(default_factory=dict)  # kind -> missed slot (UTC)
    pending_alerts: AlertQueue = field(default_factory=AlertQueue)
    recent_alerts: list[dict[str, Any]] = field(default_factory=list)
    dropped: list[dict[str, Any]] = field(default_factory=list)
    last_pass: datetime | None = None
    run_heartbeat: dict[str, Any] | None = None  # {"pid", "at"} of a running `run` agent
    settling: int = 0  # matching exports not yet complete at the last pass
    unmatched: int = 0  # files in the outbox that match no rule, at the last pass
    # planned outage id -> {"announced": {appliance: {"notice": key, "outcome": ...}},
    # "extra_delivery_at": when its extra delivery was queued} (sender/outages.py)
    outages: dict[str, dict[str, Any]] = field(default_factory=dict)
    _saved: dict[str, Any] | None = field(default=None, repr=False)
    _saved_pass: datetime | None = field(default=None, repr=False)

    @classmethod
    def load(cls, state_dir: Path) -> AgentState:
        path = Path(state_dir) / AGENT_STATE_FILE
        data = load_json(path) or {}
        return cls(
            path=path,
            appliances={name: ApplianceRecord(from_iso(rec.get("last_success")),
                                              rec.get("last_error"),
                                              from_iso(rec.get("next_attempt_at")))
                        for name, rec in data.get("appliances", {}).items()},
            kinds={kind: KindRecord(parse_iso(rec["produced_at"]), parse_iso(rec["seen_at"]))
                   for kind, rec in data.get("kinds", {}).items()},
            missing={kind: parse_iso(slot) for kind, slot in data.get("missing", {}).items()},
            pending_alerts=AlertQueue.from_json(data.get("pending_alerts")),
            recent_alerts=list(data.get("recent_alerts", [])),
            dropped=list(data.get("dropped", [])),
            last_pass=from_iso(data.get("last_pass")),
            run_heartbeat=data.get("run_heartbeat"),
            settling=int(data.get("settling", 0)),
            unmatched=int(data.get("unmatched", 0)),
            outages=dict(data.get("outages", {})),
        )

    def save(self, *, force: bool = False) -> None:
        """Write the state, unless nothing but the pass time changed and that was written
        less than HEARTBEAT_SAVE ago: a pass every 2 s need not write every 2 s."""
        payload = self._payload()
        lasting = {k: v for k, v in payload.items() if k not in ("last_pass", "run_heartbeat")}
        if (not force and lasting == self._saved and self.last_pass and self._saved_pass
                and self.last_pass - self._saved_pass < HEARTBEAT_SAVE):
            return
        save_json(self.path, payload)
        self._saved, self._saved_pass = lasting, self.last_pass

    def _payload(self) -> dict[str, Any]:
        return {
            "appliances": {name: {"last_success": to_iso(rec.last_success),
                                  "last_error": rec.last_error,
                                  "next_attempt_at": to_iso(rec.next_attempt_at)}
                           for name, rec in sorted(self.appliances.items())},
            "kinds": {kind: {"produced_at": to_iso(rec.produced_at),
                             "seen_at": to_iso(rec.seen_at)}
                      for kind, rec in sorted(self.kinds.items())},
            "missing": {kind: to_iso(slot) for kind, slot in sorted(self.missing.items())},
            "pending_alerts": self.pending_alerts.to_json(),
            "recent_alerts": self.recent_alerts[-RECENT_LIMIT:],
            "dropped": self.dropped[-RECENT_LIMIT:],
            "last_pass": to_iso(self.last_pass),
            "run_heartbeat": self.run_heartbeat,
            "settling": self.settling,
            "unmatched": self.unmatched,
            "outages": copy.deepcopy(self.outages),  # compared with the last save: a copy
        }

    def outage(self, window_id: str) -> dict[str, Any]:
        return self.outages.setdefault(window_id, {"announced": {}, "extra_delivery_at": None})

    def forget_outages(self, live: set[str]) -> None:
        """Drop the progress of planned outages no longer planned (ended)."""
        for window_id in set(self.outages) - live:
            del self.outages[window_id]

    def appliance(self, name: str) -> ApplianceRecord:
        return self.appliances.setdefault(name, ApplianceRecord())

    def export_seen(self, kind: str, produced_at: datetime, now: datetime) -> None:
        record = self.kinds.get(kind)
        if record is None or produced_at > record.produced_at:
            self.kinds[kind] = KindRecord(produced_at, now)

    def newest_export(self, kind: str) -> datetime | None:
        record = self.kinds.get(kind)
        return record.produced_at if record else None

    def record_drop(self, entry: dict[str, Any]) -> None:
        self.dropped = [*self.dropped, entry][-RECENT_LIMIT:]

    def record_alert(self, event: dict[str, Any], at: datetime, webhook: str) -> None:
        """Remember a raised alert for `status`; `webhook` is "sent" or "none"."""
        self.recent_alerts = [*self.recent_alerts,
                              {**event, "at": to_iso(at), "webhook": webhook}][-RECENT_LIMIT:]
