"""One computed state of the appliance, shared by the API, the CLI, the LED, the metrics and
the missed-slot alerts.

Freshness is judged per configured unit and kind (`units.names`), so one unit's stale list
never hides behind another unit's fresh one. In single-unit mode (no units configured) it is
judged per kind, over the newest document of the kind whatever the unit it names.

When the clock cannot be trusted (`clock_trust`), ages and freshness are judged by the lower
bound on the true time, and the state is never `ready`: an age nobody can vouch for is
shown like stale data (docs/decisions.md, "The clock without network or RTC").
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from appliance.core.base.clock import isoformat_utc
from appliance.core.config.settings import ApplianceConfig, Slot
from appliance.core.intake.key_rotation import RotationState, rotation_state
from appliance.core.intake.store import Store, StoredDocument
from appliance.core.printing import wording
from appliance.core.printing.printer import PrinterReport
from appliance.core.records.panel_health import PanelHealth, read_panel_health
from appliance.core.records.planned_outages import OutagePlan, PlannedWindow
from appliance.core.time.clock_trust import ClockReading
from appliance.core.time.drills import DrillStatus, drill_status
from appliance.core.time.freshness import freshness
from appliance.core.watch.selftest import SelftestResult, read_selftest
from appliance.core.watch.supplies_check import SuppliesStatus, supplies_status, with_silence

EXIT_OK, EXIT_ATTENTION, EXIT_FAULT = 0, 1, 2


class State(enum.StrEnum):
    """The appliance's state, and (`exit_code`) what `appliance status` exits with."""

    # highest priority first; PRINTING and FAULT are set by the print path and panel
    FAULT = "fault"
    PRINTING = "printing"
    NO_DATA = "no-data"
    STALE = "stale"
    DEGRADED = "degraded"  # ready, but a printer of the class cannot print: tell IT
    READY = "ready"

    @property
    def exit_code(self) -> int:
        """The CLIs' one convention, that of monitoring plugins (docs/operations.md):
        0 it prints current lists, 1 it needs attention but prints (stale, degraded,
        no data yet), 2 it cannot print (fault; a broken configuration exits 2 too)."""
        if self is State.FAULT:
            return EXIT_FAULT
        if self in (State.READY, State.PRINTING):
            return EXIT_OK
        return EXIT_ATTENTION


@dataclass(frozen=True)
class KindStatus:
    kind: str
    title: str
    slots: tuple[Slot, ...]
    latest: StoredDocument | None
    stale: bool
    due_slot: datetime | None
    next_slot: datetime | None
    unit: str | None = None  # the configured unit; None: any unit (single-unit mode)

    @property
    def expected(self) -> bool:
        """Expected at fixed times: the appliance is incomplete without it."""
        return bool(self.slots)

    def age(self, now: datetime) -> timedelta | None:
        """How old the newest document is; never negative (a document stamped ahead of
        this clock counts as just produced)."""
        if self.latest is None:
            return None
        return max(timedelta(0), now - self.latest.produced_at)

    @property
    def badness(self) -> tuple:
        """Orders the statuses of one kind from best to worst: missing, then stale, then
        oldest is worst."""
        produced = self.latest.produced_at.timestamp() if self.latest else 0.0
        return (self.latest is None, self.stale, -produced)

    def to_json(self, now: datetime) -> dict:
        latest, age = self.latest, self.age(now)
        return {
            "title": self.title,
            "slots": [str(slot) for slot in self.slots],
            "produced_at": isoformat_utc(latest.produced_at) if latest else None,
            "received_at": isoformat_utc(latest.received_at) if latest else None,
            "age_seconds": int(age.total_seconds()) if age is not None else None,
            "stale": self.stale,
            "due_slot": isoformat_utc(self.due_slot) if self.due_slot else None,
            "next_slot": isoformat_utc(self.next_slot) if self.next_slot else None,
        }


@dataclass(frozen=True)
class ApplianceStatus:
    state: State
    now: datetime
    checks: tuple[KindStatus, ...]  # one per configured unit and kind, in config order
    printer: PrinterReport | None = None
    drill: DrillStatus | None = None  # the last outage drill; never part of `state`
    clock: ClockReading | None = None  # None: computed for a bare moment (tests)
    panel: PanelHealth | None = None  # the button's GPIO, for IT; never part of `state`
    planned_outages: tuple[PlannedWindow, ...] = ()  # under way or shown ahead; not `state`
    timezone: Any = None  # of `planned_outage_text`; None: UTC (a bare status in tests)
    selftest: SelftestResult | None = None  # the last self-check; None: never run here
    supplies: SuppliesStatus | None = None  # the daily supplies check; None before the first
    key_rotation: RotationState | None = None  # old appliance keys held; never part of `state`

    def planned_outage_text(self, window: PlannedWindow) -> str:
        """"Planerat avbrott 12 dec 18:00–22:00", or "… pågår till 22:00" once under way:
        the words of the kiosk and `status` alike."""
        tz = self.timezone or UTC
        if window.ongoing(self.now):
            return wording.planned_outage_ongoing(window.ends_at.astimezone(tz),
                                                  self.now.astimezone(tz))
        return wording.planned_outage(window.starts_at.astimezone(tz),
                                      window.ends_at.astimezone(tz))

    @property
    def selftest_failed(self) -> bool:
        """The last self-check failed: the state is `fault` whatever the printer says."""
        return self.selftest is not None and not self.selftest.ok

    @property
    def kinds(self) -> dict[str, KindStatus]:
        """Per kind, its worst unit: missing beats stale beats oldest."""
        worst: dict[str, KindStatus] = {}
        for check in self.checks:
            if check.kind not in worst or check.badness > worst[check.kind].badness:
                worst[check.kind] = check
        return worst

    @property
    def units(self) -> dict[str, dict[str, KindStatus]]:
        """Configured unit -> kind -> status; empty in single-unit mode."""
        units: dict[str, dict[str, KindStatus]] = {}
        for check in self.checks:
            if check.unit is not None:
                units.setdefault(check.unit, {})[check.kind] = check
        return units

    def to_json(self) -> dict:
        result = {
            "state": str(self.state),
            "now": isoformat_utc(self.now),
            "kinds": {name: kind.to_json(self.now) for name, kind in self.kinds.items()},
            "units": {unit: {name: kind.to_json(self.now) for name, kind in kinds.items()}
                      for unit, kinds in self.units.items()},
        }
        if self.printer is not None:
            result["printer"] = self.printer.to_json()
            if self.supplies is not None:
                result["printer"]["supplies"] = self.supplies.to_json()
        if self.clock is not None:
            result["clock"] = self.clock.to_json()
        if self.drill is not None:
            result["drill"] = self.drill.to_json()
        if self.panel is not None:
            result["panel"] = self.panel.to_json()
        result["planned_outages"] = [
            window.to_json() | {"ongoing": window.ongoing(self.now),
                                "text": self.planned_outage_text(window)}
            for window in self.planned_outages]
        if self.selftest is not None:
            result["selftest"] = self.selftest.to_json()
        if self.key_rotation is not None and (self.key_rotation.previous_keys
                                              or self.key_rotation.problem):
            result["key_rotation"] = self.key_rotation.to_json()
        return result


def compute_status(config: ApplianceConfig, store: Store, now: datetime | ClockReading,
                   printer: PrinterReport | None = None) -> ApplianceStatus:
    """The one state of the appliance. With a printer report, a printer that cannot print
    makes it `fault`, a job in CUPS makes it `printing`, and a class with a member down
    makes ready data `degraded` (stale or missing data is the nurse's first concern). A
    failed self-check (`selftest`, recorded by whichever process ran it) is a fault too, and a
    printer silent to the daily supplies check for a day counts as `not-answering`
    (`supplies_check.with_silence`). The processes pass a `ClockReading`
    (`Services.clock_reading()`); a bare moment is taken as is (tests)."""
    clock = now if isinstance(now, ClockReading) else None
    now = clock.now if clock is not None else now
    latest = latest_documents(config, store)
    grace = timedelta(minutes=config.grace_minutes)
    checks = []
    for unit in config.units or (None,):
        for name, kind in config.kinds.items():
            doc = latest.get((unit, name))
            fresh = freshness(kind.slots, doc.produced_at if doc else None, now,
                              config.timezone, grace)
            checks.append(KindStatus(name, kind.title, kind.slots, doc, fresh.stale,
                                     fresh.due_slot, fresh.next_slot, unit))
    state = overall_state(checks)
    supplies = supplies_status(config, now)
    if printer is not None:
        printer = with_silence(printer, supplies)
    if state is State.READY and clock is not None and not clock.trusted:
        state = State.STALE
    selftest = read_selftest(config.state_dir)
    if (printer is not None and printer.blocking) or (selftest is not None
                                                       and not selftest.ok):
        state = State.FAULT
    elif printer is not None and printer.active_jobs:
        state = State.PRINTING
    elif printer is not None and printer.degraded and state is State.READY:
        state = State.DEGRADED
    return ApplianceStatus(state, now, tuple(checks), printer, drill_status(config, now),
                           clock=clock, panel=read_panel_health(config.state_dir),
                           planned_outages=tuple(OutagePlan(config).shown(now)),
                           timezone=config.timezone,
                           selftest=selftest,
                           supplies=supplies,
                           key_rotation=rotation_state(config.keys_dir, now))


def shown_state(status: ApplianceStatus, kit_on_its_way: bool) -> State:
    """The state the LED and the kiosk show: a kit on its way (being composed, or its job
    not yet final, whoever started it) shows as printing, unless the printer has a fault.
    One function, so the screen never contradicts the light."""
    if status.state is not State.FAULT and kit_on_its_way:
        return State.PRINTING
    return status.state


def latest_documents(config: ApplianceConfig, store: Store
                     ) -> dict[tuple[str | None, str], StoredDocument]:
    """The document that counts for each (configured unit, kind); the unit is None in
    single-unit mode, where the newest of the kind counts whatever its unit. Documents of
    units not configured count for nothing."""
    if not config.units:
        return {(None, kind): doc for kind, doc in store.latest_by_kind().items()}
    return {(doc.unit, doc.kind): doc for doc in store.latest_per_unit_and_kind()
            if doc.unit in config.units}


def overall_state(checks: Iterable[KindStatus]) -> State:
    checks = list(checks)
    expected = [k for k in checks if k.expected]
    if any(k.latest is None for k in expected) or not any(k.latest for k in checks):
        return State.NO_DATA
    if any(k.stale for k in checks if k.latest is not None):
        return State.STALE
    return State.READY
