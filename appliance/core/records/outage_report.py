"""The report after an outage, worked out from the audit log alone: what the unit manager
needs for the deviation report ("avvikelserapport") and to check that every printed page
came back entered in the record.

`outage_report(entries, now, window=None)` is a pure function of the audit entries: no
store, no printer, no clock of its own, so the figures it gives are the log's and nothing
else (tests compare them entry by entry). Without a `window` it finds the last outage
(`detect`, docs/decisions.md, "The report after an outage"):

- the outage's anchor is the last kit printed for care (`printed`; drills and the report's
  own prints are other events and never count), or, with none, the last missed slot;
- it lies between the last delivery before the anchor (`ingested`) and the first delivery
  after it: no list arrives while the record system is down, and the first one to arrive
  is the system back;
- it began at its first sign: the earliest print, failed print or missed slot (the slot's
  own time, not when it was noticed) after that last delivery; it ended with the first
  delivery after the anchor, or is still going on.

With a `window` (`--from`/`--to`) the same rule runs on that window's entries only.

Entries without a field a later release added (a kit's `first_page` per list, from before
this report existed) still give a report: the missing figure is None, printed "okänt".
No patient data can be in it: the audit log holds kinds, units, counts, page numbers and
times only, and this module copies nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from appliance.core.base.clock import isoformat_utc, parse_iso

KIT_EVENTS = ("printed", "drill_printed")
DELIVERY = "ingested"
MISSED = "slot_missed"
FAILED = "print_failed"
JOB_ENDED = "print_job_ended"
READY = "ready"
# A job that ended so never reached paper: its pages are not on the checklist.
NOT_PRINTED_STATES = frozenset({"canceled", "aborted"})
RELEVANT = frozenset({*KIT_EVENTS, DELIVERY, MISSED, FAILED, JOB_ENDED})


@dataclass(frozen=True)
class Window:
    """The stretch of the log a report covers; `until` None: up to the report's making."""

    since: datetime | None = None
    until: datetime | None = None

    def holds(self, moment: datetime) -> bool:
        return ((self.since is None or moment >= self.since)
                and (self.until is None or moment <= self.until))


@dataclass(frozen=True)
class KitList:
    """One list in a kit: its kind, unit and pages, how old it was when printed, and where
    in the kit it starts (None: an entry from before `first_page` was recorded)."""

    kind: str
    unit: str | None
    pages: int | None
    produced_at: datetime | None
    age: timedelta | None
    first_page: int | None
    stale: bool = False


@dataclass(frozen=True)
class ReportedKit:
    number: int  # 1, 2, … in this report: how the checklist names it
    audit_n: int
    time: datetime
    trigger: str
    drill: bool
    profile: str
    unit: str | None  # a kit of one unit; None: every unit
    job: int | None
    pages: int | None
    lists: tuple[KitList, ...]
    missing: tuple[str, ...]
    forms: tuple[str, ...]
    printer: str | None  # the printer's condition when the kit was ordered
    clock_unsure: bool  # its ages are lower bounds
    ended: str | None = None  # the job's final state (print_job_ended), None: not seen
    ended_at: datetime | None = None

    @property
    def reached_paper(self) -> bool:
        return self.ended not in NOT_PRINTED_STATES


@dataclass(frozen=True)
class FailedPrint:
    time: datetime
    trigger: str
    profile: str
    reason: str
    drill: bool


@dataclass(frozen=True)
class PrinterFault:
    """A fault as the prints saw it: from the first print that met it to the first sign the
    printer worked again (a kit ordered while it was ready, or a job that completed)."""

    condition: str
    began: datetime
    ended: datetime | None  # None: not seen to end

    @property
    def duration(self) -> timedelta | None:
        return None if self.ended is None else self.ended - self.began


@dataclass(frozen=True)
class MissedDelivery:
    kind: str
    unit: str | None
    slot: datetime | None
    noticed: datetime


@dataclass(frozen=True)
class CheckRow:
    """One line of the reconciliation checklist: a page that went out, by kit, unit, kind
    and page number; `kind` None is the kit's filled-in forms (one row per kit)."""

    kit: int
    kit_time: datetime
    unit: str | None
    kind: str | None
    list_page: int | None
    list_pages: int | None
    kit_page: int | None
    kit_pages: int | None


@dataclass(frozen=True)
class OutageReport:
    made_at: datetime
    window: Window
    detected: bool  # the window was found (`detect`), not given
    began: datetime | None
    ended: datetime | None  # None: no delivery since (still going on, or unknown)
    last_delivery_before: datetime | None
    kits: tuple[ReportedKit, ...] = ()
    failed: tuple[FailedPrint, ...] = ()
    faults: tuple[PrinterFault, ...] = ()
    missed: tuple[MissedDelivery, ...] = ()
    checklist: tuple[CheckRow, ...] = ()

    @property
    def found(self) -> bool:
        return self.began is not None

    @property
    def duration(self) -> timedelta | None:
        """From the first sign to the delivery back, or to the report's making."""
        if self.began is None:
            return None
        return (self.ended or self.made_at) - self.began

    @property
    def care_kits(self) -> tuple[ReportedKit, ...]:
        return tuple(kit for kit in self.kits if not kit.drill)

    def to_json(self) -> dict[str, Any]:
        """For IT (`appliance outage report --json`): times in UTC, codes not words."""
        return {
            "made_at": isoformat_utc(self.made_at),
            "window": {"from": _iso(self.window.since), "to": _iso(self.window.until),
                       "detected": self.detected},
            "outage": {"found": self.found, "began": _iso(self.began),
                       "ended": _iso(self.ended), "ongoing": self.found and self.ended is None,
                       "last_delivery_before": _iso(self.last_delivery_before),
                       "duration_minutes": _minutes(self.duration)},
            "totals": {"kits": len(self.care_kits),
                       "drills": len(self.kits) - len(self.care_kits),
                       "kit_pages": sum(kit.pages or 0 for kit in self.care_kits),
                       "list_pages": sum(1 for row in self.checklist if row.kind),
                       "failed_prints": len(self.failed),
                       "printer_faults": len(self.faults),
                       "missed_deliveries": len(self.missed)},
            "kits": [_kit_json(kit) for kit in self.kits],
            "failed_prints": [{"time": _iso(f.time), "trigger": f.trigger,
                               "profile": f.profile, "reason": f.reason, "drill": f.drill}
                              for f in self.failed],
            "printer_faults": [{"condition": f.condition, "began": _iso(f.began),
                                "ended": _iso(f.ended), "duration_minutes": _minutes(f.duration)}
                               for f in self.faults],
            "missed_deliveries": [{"kind": m.kind, "unit": m.unit, "slot": _iso(m.slot),
                                   "noticed": _iso(m.noticed)} for m in self.missed],
            "checklist": [{"kit": r.kit, "unit": r.unit, "kind": r.kind,
                           "list_page": r.list_page, "list_pages": r.list_pages,
                           "kit_page": r.kit_page, "kit_pages": r.kit_pages}
                          for r in self.checklist],
        }


def outage_report(entries: Iterable[dict[str, Any]], now: datetime,
                  window: Window | None = None) -> OutageReport:
    """The report of the last outage in `entries` (the audit log, in order), or of
    `window`'s entries when given. `now`: when it is made (an ongoing outage lasts until
    then)."""
    timeline = [entry for entry in (_timed(e) for e in entries if e.get("event") in RELEVANT)
                if entry is not None]
    given = window is not None
    inside = timeline if window is None else [e for e in timeline if window.holds(e["at"])]
    began, ended, before = detect(inside)
    if window is None:
        window = Window(began, ended)
        inside = [e for e in timeline if began is not None and window.holds(e["at"])]
    endings = _job_endings(timeline)
    kits = tuple(_kit(number, entry, endings.get(entry.get("n")))
                 for number, entry in enumerate(
                     (e for e in inside if e["event"] in KIT_EVENTS), start=1))
    return OutageReport(
        made_at=now, window=window, detected=not given, began=began, ended=ended,
        last_delivery_before=before, kits=kits,
        failed=tuple(FailedPrint(e["at"], str(e.get("trigger", "")), str(e.get("profile", "")),
                                 str(e.get("reason", "")), bool(e.get("drill")))
                     for e in inside if e["event"] == FAILED),
        faults=_overlapping(_printer_faults(timeline), window, now) if given or began
        else (),
        missed=tuple(MissedDelivery(str(e.get("kind", "")), e.get("unit"),
                                    _time(e.get("slot")), e["at"])
                     for e in inside if e["event"] == MISSED),
        checklist=tuple(row for kit in kits if not kit.drill and kit.reached_paper
                        for row in _check_rows(kit)))


def _overlapping(faults: list[PrinterFault], window: Window, now: datetime
                 ) -> tuple[PrinterFault, ...]:
    """The faults that were on at some moment of `window` (an open one: until `now`), with
    their own beginning and end, which may lie outside it."""
    until = window.until or now
    return tuple(fault for fault in faults
                 if (window.since is None or (fault.ended or now) >= window.since)
                 and fault.began <= until)


def detect(timeline: list[dict[str, Any]]
           ) -> tuple[datetime | None, datetime | None, datetime | None]:
    """(began, ended, last delivery before) of the last outage in `timeline` (relevant
    entries in order, each with its parsed `at`); all None when there is none: no kit
    printed for care and no slot missed. See the module's docstring for the rule."""
    anchors = ([i for i, e in enumerate(timeline) if e["event"] == "printed"]
               or [i for i, e in enumerate(timeline) if e["event"] == MISSED])
    if not anchors:
        return None, None, None
    anchor = anchors[-1]
    deliveries = [i for i, e in enumerate(timeline) if e["event"] == DELIVERY]
    before = max((i for i in deliveries if i < anchor), default=None)
    after = min((i for i in deliveries if i > anchor), default=None)
    span = timeline[(0 if before is None else before + 1):(after or len(timeline))]
    signs = [_sign_time(e) for e in span if e["event"] in ("printed", FAILED, MISSED)]
    began = min(moment for moment in signs if moment is not None)
    return (began, None if after is None else timeline[after]["at"],
            None if before is None else timeline[before]["at"])


def _sign_time(entry: dict[str, Any]) -> datetime | None:
    """When an entry shows the outage: a missed slot at its slot's time, else its own."""
    if entry["event"] == MISSED:
        return _time(entry.get("slot")) or entry["at"]
    return entry["at"]


def _job_endings(timeline: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Each kit's job end, by the kit entry's `n`: the first `print_job_ended` of its job
    after it (a CUPS reset reuses job ids; the next kit with the id has its own end)."""
    endings: dict[int, dict[str, Any]] = {}
    open_jobs: dict[Any, int] = {}
    for entry in timeline:
        job = entry.get("job")
        if entry["event"] in KIT_EVENTS:
            open_jobs[job] = entry.get("n")
        elif entry["event"] == JOB_ENDED and job in open_jobs:
            endings[open_jobs.pop(job)] = entry
    return endings


def _printer_faults(timeline: list[dict[str, Any]]) -> list[PrinterFault]:
    """Fault periods as the prints saw the printer: each kit's `printer` condition, each
    failed print's `reason`, and each completed job (the printer worked). A fault lasts
    from its first sighting to the next sign of a working printer or of another fault."""
    faults: list[PrinterFault] = []
    current: tuple[str, datetime] | None = None
    for entry in timeline:
        seen = _printer_seen(entry)
        if seen is None or (current is not None and seen == current[0]):
            continue
        if current is not None:
            faults.append(PrinterFault(current[0], current[1], entry["at"]))
        current = None if seen == READY else (seen, entry["at"])
    if current is not None:
        faults.append(PrinterFault(current[0], current[1], None))
    return faults


def _printer_seen(entry: dict[str, Any]) -> str | None:
    event = entry["event"]
    if event in KIT_EVENTS:
        condition = entry.get("printer")
        return condition if isinstance(condition, str) and condition else None
    if event == FAILED:
        return str(entry.get("reason") or "unknown")
    if event == JOB_ENDED and entry.get("state") == "completed":
        return READY
    return None


def _kit(number: int, entry: dict[str, Any], ending: dict[str, Any] | None) -> ReportedKit:
    documents = entry.get("documents")
    documents = documents if isinstance(documents, list) else []
    return ReportedKit(
        number=number, audit_n=int(entry.get("n", 0)), time=entry["at"],
        trigger=str(entry.get("trigger", "")), drill=entry["event"] == "drill_printed",
        profile=str(entry.get("profile", "")), unit=entry.get("unit"),
        job=entry.get("job") if isinstance(entry.get("job"), int) else None,
        pages=_int(entry.get("pages")),
        lists=tuple(_list(doc, entry["at"]) for doc in documents if isinstance(doc, dict)),
        missing=tuple(str(m) for m in entry.get("missing") or ()),
        forms=tuple(str(f) for f in entry.get("forms") or ()),
        printer=entry.get("printer") if isinstance(entry.get("printer"), str) else None,
        clock_unsure="clock" in entry,
        ended=None if ending is None else str(ending.get("state")),
        ended_at=None if ending is None else ending["at"])


def _list(doc: dict[str, Any], printed_at: datetime) -> KitList:
    produced = _time(doc.get("produced_at"))
    return KitList(kind=str(doc.get("kind", "")), unit=doc.get("unit"),
                   pages=_int(doc.get("pages")), produced_at=produced,
                   age=None if produced is None else printed_at - produced,
                   first_page=_int(doc.get("first_page")), stale=bool(doc.get("stale")))


def _check_rows(kit: ReportedKit) -> list[CheckRow]:
    """A row per page of each list in the kit, then one for its filled-in forms."""
    rows = []
    for listed in kit.lists:
        pages = listed.pages or 1  # unknown: one row for the list, its pages "okänt"
        for index in range(pages):
            rows.append(CheckRow(
                kit.number, kit.time, listed.unit, listed.kind,
                index + 1 if listed.pages else None, listed.pages,
                listed.first_page + index if listed.first_page and listed.pages else None,
                kit.pages))
    if kit.forms:
        rows.append(CheckRow(kit.number, kit.time, kit.unit, None, None, None, None,
                             kit.pages))
    return rows


def _timed(entry: dict[str, Any]) -> dict[str, Any] | None:
    moment = _time(entry.get("time"))
    return None if moment is None else {**entry, "at": moment}


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_iso(value)
    except ValueError:
        return None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else isoformat_utc(moment)


def _minutes(delta: timedelta | None) -> int | None:
    return None if delta is None else int(delta.total_seconds()) // 60


def _kit_json(kit: ReportedKit) -> dict[str, Any]:
    return {"number": kit.number, "audit_n": kit.audit_n, "time": _iso(kit.time),
            "trigger": kit.trigger, "drill": kit.drill, "profile": kit.profile,
            "unit": kit.unit, "job": kit.job, "pages": kit.pages,
            "printer": kit.printer, "clock_unsure": kit.clock_unsure,
            "ended": kit.ended, "ended_at": _iso(kit.ended_at),
            "missing": list(kit.missing), "forms": list(kit.forms),
            "lists": [{"kind": doc.kind, "unit": doc.unit, "pages": doc.pages,
                       "produced_at": _iso(doc.produced_at),
                       "age_minutes": _minutes(doc.age), "first_page": doc.first_page,
                       "stale": doc.stale} for doc in kit.lists]}
