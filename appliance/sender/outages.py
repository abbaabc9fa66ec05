"""Planned outages on the sender: the windows IT announced here, and what the agent did for
each (docs/planned-outages.md).

`appliance-sender outage plan` writes `planned-outages.json` in `state_dir` (only the CLI
writes it; a cancelled window stays, marked, until it has ended, so that the cancellation
reaches every appliance). The agent reads it on every pass and keeps its own progress in
`agent.json` (`AgentState.outages`), so the CLI and a running agent never write the same
file (the sender runs on Windows too, without file locks):

- each appliance is sent the window's announcement (a sealed, signed envelope without
  documents, docs/seal-format.md §2.7) once per version of it (`notice_key`), in its delivery
  round, before the exports: never beside another delivery to the same appliance, so the
  sequence numbers it sees still rise;
- windows set in the sender's config (`[[outage.planned]]`, from Ansible for a fleet) are
  not announced: the appliances have them in their own config, from the same variable;
- once, from `EXTRA_DELIVERY_LEAD` before the start until the end, the newest export of
  every rule's kind and unit in the outbox is queued again for every appliance (the "fresh
  set" the appliance prints from as the outage begins), even if already delivered.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from appliance.core.base.canonical import canonical_json
from appliance.core.base.clock import isoformat_utc, parse_iso
from appliance.core.crypto.seal import PlannedOutageNotice
from appliance.core.records.planned_outages import (
    OutagePlanError,
    check_window,
    local_to_utc,
    window_id,
)
from appliance.sender.state import state_file

OUTAGES_FILE = "planned-outages.json"
EXTRA_DELIVERY_LEAD = timedelta(minutes=30)


@dataclass(frozen=True)
class SenderWindow:
    id: str
    notice: PlannedOutageNotice
    planned_at: datetime
    from_config: bool = False  # `[[outage.planned]]`: delivered for, never announced

    @property
    def notice_key(self) -> str:
        """Which version of the announcement (planned, changed, cancelled) an appliance has."""
        return hashlib.sha256(canonical_json(self.notice.to_json())).hexdigest()[:16]

    def extra_delivery_due(self, now: datetime) -> bool:
        notice = self.notice
        return (not notice.cancelled
                and notice.starts_at - EXTRA_DELIVERY_LEAD <= now < notice.ends_at)

    def to_json(self) -> dict[str, Any]:
        return {**self.notice.to_json(), "planned_at": isoformat_utc(self.planned_at)}


class SenderOutages:
    """`planned-outages.json`: the windows this sender announces, by id."""

    def __init__(self, state_dir: Path, windows: dict[str, SenderWindow]) -> None:
        self.path = Path(state_dir) / OUTAGES_FILE
        self.windows = windows

    @classmethod
    def load(cls, state_dir: Path) -> SenderOutages:
        data = state_file(Path(state_dir) / OUTAGES_FILE).load_or_set_aside(
            "planned outages must be announced again") or {}
        windows = {}
        for wid, item in data.get("windows", {}).items():
            notice = PlannedOutageNotice(parse_iso(item["starts_at"]), parse_iso(item["ends_at"]),
                                         item.get("note", ""), bool(item.get("cancelled")))
            windows[wid] = SenderWindow(wid, notice, parse_iso(item["planned_at"]))
        return cls(state_dir, windows)

    def save(self) -> None:
        state_file(self.path).save({"windows": {wid: w.to_json()
                                                for wid, w in sorted(self.windows.items())}})

    def plan(self, starts_at: datetime, ends_at: datetime, note: str, now: datetime,
             tz: ZoneInfo) -> SenderWindow:
        """Add (or, with the same start, replace) a window; raises `OutagePlanError`."""
        check_window(starts_at, ends_at, note, now)
        wid = window_id(starts_at, tz)
        window = SenderWindow(wid, PlannedOutageNotice(starts_at, ends_at, note), now)
        self.windows[wid] = window
        self._forget_ended(now)
        self.save()
        return window

    def cancel(self, wid: str, now: datetime) -> SenderWindow:
        window = self.windows.get(wid)
        if window is None or window.notice.cancelled:
            known = ", ".join(w for w, item in self.windows.items()
                              if not item.notice.cancelled) or "none"
            raise OutagePlanError(f"no planned outage {wid!r} (planned: {known})")
        notice = window.notice
        cancelled = SenderWindow(wid, PlannedOutageNotice(notice.starts_at, notice.ends_at,
                                                          notice.note, True), now)
        self.windows[wid] = cancelled
        self.save()
        return cancelled

    def live(self, now: datetime, configured: tuple = (), tz: ZoneInfo | None = None
             ) -> list[SenderWindow]:
        """Windows not yet ended (cancelled ones too: their cancellation is still news),
        with the `configured` ones (`config.outage.planned`, local times of `tz`) that the
        CLI has not planned with the same start."""
        windows = dict(self.windows)
        for planned in configured:
            starts, ends = local_to_utc(planned.starts, tz), local_to_utc(planned.ends, tz)
            wid = window_id(starts, tz)
            windows.setdefault(wid, SenderWindow(wid, PlannedOutageNotice(
                starts, ends, planned.note), starts, from_config=True))
        return sorted((w for w in windows.values() if w.notice.ends_at > now),
                      key=lambda w: w.notice.starts_at)

    def _forget_ended(self, now: datetime) -> None:
        for wid in [wid for wid, w in self.windows.items() if w.notice.ends_at <= now]:
            del self.windows[wid]
