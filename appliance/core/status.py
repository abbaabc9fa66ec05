"""One computed state of the appliance, shared by the API, the CLI and (later) the LED."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from appliance.core.clock import isoformat_utc
from appliance.core.config import ApplianceConfig, Slot
from appliance.core.freshness import freshness
from appliance.core.printer import PrinterReport
from appliance.core.store import Store, StoredDocument


class State(enum.StrEnum):
    # highest priority first; PRINTING and FAULT are set by the print path and panel
    FAULT = "fault"
    PRINTING = "printing"
    NO_DATA = "no-data"
    STALE = "stale"
    READY = "ready"


@dataclass(frozen=True)
class KindStatus:
    kind: str
    title: str
    slots: tuple[Slot, ...]
    latest: StoredDocument | None
    stale: bool
    due_slot: datetime | None
    next_slot: datetime | None

    @property
    def expected(self) -> bool:
        """Expected at fixed times: the appliance is incomplete without it."""
        return bool(self.slots)

    def to_json(self, now: datetime) -> dict:
        latest = self.latest
        return {
            "title": self.title,
            "slots": [str(slot) for slot in self.slots],
            "produced_at": isoformat_utc(latest.produced_at) if latest else None,
            "received_at": isoformat_utc(latest.received_at) if latest else None,
            "age_seconds": int((now - latest.produced_at).total_seconds()) if latest else None,
            "stale": self.stale,
            "due_slot": isoformat_utc(self.due_slot) if self.due_slot else None,
            "next_slot": isoformat_utc(self.next_slot) if self.next_slot else None,
        }


@dataclass(frozen=True)
class ApplianceStatus:
    state: State
    now: datetime
    kinds: dict[str, KindStatus]
    printer: PrinterReport | None = None

    def to_json(self) -> dict:
        result = {
            "state": str(self.state),
            "now": isoformat_utc(self.now),
            "kinds": {name: kind.to_json(self.now) for name, kind in self.kinds.items()},
        }
        if self.printer is not None:
            result["printer"] = self.printer.to_json()
        return result


def compute_status(config: ApplianceConfig, store: Store, now: datetime,
                   printer: PrinterReport | None = None) -> ApplianceStatus:
    """The one state of the appliance. With a printer report, a printer that cannot print
    makes it `fault` and a job in CUPS makes it `printing`."""
    latest = store.latest_by_kind()
    grace = timedelta(minutes=config.grace_minutes)
    kinds = {}
    for name, kind in config.kinds.items():
        doc = latest.get(name)
        fresh = freshness(kind.slots, doc.produced_at if doc else None, now, config.timezone,
                          grace)
        kinds[name] = KindStatus(name, kind.title, kind.slots, doc, fresh.stale,
                                 fresh.due_slot, fresh.next_slot)
    state = overall_state(kinds)
    if printer is not None and printer.blocking:
        state = State.FAULT
    elif printer is not None and printer.active_jobs:
        state = State.PRINTING
    return ApplianceStatus(state, now, kinds, printer)


def overall_state(kinds: dict[str, KindStatus]) -> State:
    expected = [k for k in kinds.values() if k.expected]
    if any(k.latest is None for k in expected) or not any(k.latest for k in kinds.values()):
        return State.NO_DATA
    if any(k.stale for k in kinds.values() if k.latest is not None):
        return State.STALE
    return State.READY
