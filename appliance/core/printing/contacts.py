"""The contacts sheet: who to call, on paper, right after the cover of every kit, and on
the kiosk's "Vem ringer jag?" view (`who_to_call`: one selection for both).

From `[contacts]`: the managers first, the one whose hours it is at printing marked "Ring
nu:" (the unit manager, EC, by day; the manager on call, CIB, in on-call hours:
`time.day_hours`), then each unit's PAS, then IT support and Cosafe. The day the numbers
were last changed is printed on it, under a black warning once that is longer ago than
`contacts.stale_after_days`. With no contacts configured the sheet is still printed and
says so: a nurse is never left to guess whether the numbers were left out. A role the
configuration leaves out is listed as "inte inställt" for the same reason.

Every word comes from `wording`; `contact_warnings` says in English what `appliance config
check` should tell IT.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime

from appliance.core.config.settings import CONTACT_ROLES, ApplianceConfig, ContactConfig
from appliance.core.printing.sheets import markup_row, weighted_columns
from appliance.core.printing.wording import (
    CALL_NOW,
    CONTACT_COLUMNS,
    CONTACTS_TITLE,
    MANAGERS_HEADING,
    NO_CONTACTS,
    NOT_SET,
    ON_CALL_HOURS,
    PAS_HEADING,
    ROLES,
    SUPPORT_HEADING,
    contacts_clock_unsure,
    contacts_stale,
    contacts_updated,
    day_hours,
)
from appliance.core.time.day_hours import is_day_hours

COLUMN_WEIGHTS = (3.4, 2.4, 2.4, 3.2)


def contacts_are_stale(config: ApplianceConfig, today: date) -> bool:
    """Whether the contacts were last changed longer ago than `contacts.stale_after_days`."""
    contacts = config.contacts
    return (contacts.updated is not None
            and (today - contacts.updated).days > contacts.stale_after_days)


@dataclass(frozen=True)
class ContactRow:
    """One line of who to call: the role (or a unit's PAS), its number, who answers, and
    hours and note together."""

    label: str
    phone: str | None  # None: the configuration leaves it out ("inte inställt")
    name: str = ""
    details: str = ""
    call_now: bool = False  # the manager whose hours it is: "Ring nu:" before the role

    @property
    def who(self) -> str:
        return f"{CALL_NOW} {self.label}" if self.call_now else self.label

    @property
    def phone_text(self) -> str:
        return self.phone if self.phone is not None else NOT_SET


@dataclass(frozen=True)
class ContactGroup:
    heading: str
    rows: tuple[ContactRow, ...]
    note: str | None = None  # an unsure clock: how to choose between EC and CIB


@dataclass(frozen=True)
class WhoToCall:
    """What the contacts sheet says, and the kiosk's "Vem ringer jag?" view with it: one
    selection, one order, one set of words for paper and screen."""

    title: str
    groups: tuple[ContactGroup, ...]  # empty: none configured (`missing` says so)
    updated: str | None = None  # "Uppgifterna ändrades 2026-11-03"
    stale: str | None = None  # the KONTROLLERA warning, once the numbers are old
    missing: str | None = None  # "Inga kontakter är inställda – ring IT-support."


def who_to_call(config: ApplianceConfig, now: datetime, *, unit: str | None = None,
                clock_unsure: bool = False) -> WhoToCall:
    """Who to call at `now`: the managers first, the one whose hours it is first and marked
    "Ring nu" (neither with `clock_unsure`: the clock cannot say whose hours it is, and the
    group's note says how to choose), then the PAS of each unit (with `unit`, a kit of one
    configured unit, only that one's), then IT support and Cosafe."""
    contacts = config.contacts
    if not contacts.configured:
        return WhoToCall(CONTACTS_TITLE, (), missing=NO_CONTACTS)
    starts, ends = str(contacts.day_starts), str(contacts.day_ends)
    managers = [_row(ROLES["unit_manager"], contacts.unit_manager, day_hours(starts, ends)),
                _row(ROLES["manager_on_call"], contacts.manager_on_call, ON_CALL_HOURS)]
    note = None
    if clock_unsure:
        note = contacts_clock_unsure(starts, ends)
    else:
        by_day = is_day_hours(now, config.timezone, contacts.day_starts, contacts.day_ends)
        first, second = managers if by_day else reversed(managers)
        managers = [replace(first, call_now=True), second]
    stale = contacts_are_stale(config, now.astimezone(config.timezone).date())
    return WhoToCall(
        CONTACTS_TITLE,
        (ContactGroup(MANAGERS_HEADING, tuple(managers), note),
         ContactGroup(PAS_HEADING, _pas_rows(config, unit)),
         ContactGroup(SUPPORT_HEADING, tuple(_row(ROLES[role], contacts.roles[role])
                                             for role in ("it_support", "cosafe")))),
        updated=contacts_updated(contacts.updated.isoformat())
        if contacts.updated is not None else None,
        stale=contacts_stale(contacts.stale_after_days) if stale else None)


def contacts_sheet(config: ApplianceConfig, now: datetime, *, unit: str | None = None,
                   clock_unsure: bool = False) -> str:
    """The sheet's markup (core/printing/sheets.py) at `now` (`who_to_call`)."""
    return "\n".join(_lines(who_to_call(config, now, unit=unit,
                                         clock_unsure=clock_unsure))) + "\n"


def _lines(sheet: WhoToCall) -> Iterator[str]:
    yield f"TITLE {sheet.title}"
    if sheet.missing:
        yield f"ALERT {sheet.missing}"
    if sheet.updated:
        yield f"TEXT **{sheet.updated}**"
    if sheet.stale:
        yield f"ALERT {sheet.stale}"
    for group in sheet.groups:
        yield f"HEADING {group.heading}"
        if group.note:
            yield f"TEXT {group.note}"
        yield from _table(group.rows)


def _pas_rows(config: ApplianceConfig, unit: str | None) -> tuple[ContactRow, ...]:
    """One row per configured unit (or the one unit of the kit), "inte inställt" where no
    PAS is set; in single-unit mode the one PAS, labelled with its unit when it has one."""
    pas = config.contacts.pas
    if not config.units:
        entry = pas[0] if pas else None
        label = " ".join([ROLES["pas"], *([entry.unit] if entry and entry.unit else [])])
        return (_row(label, entry),)
    by_unit = {entry.unit: entry for entry in pas}
    units = (unit,) if unit is not None else config.units
    return tuple(_row(f"{ROLES['pas']} {name}", by_unit.get(name)) for name in units)


def _row(label: str, contact: ContactConfig | None, hours: str = "") -> ContactRow:
    """Who, the number, the name, and hours and note together."""
    if contact is None:
        return ContactRow(label, None, "", hours)
    details = " · ".join(part for part in (hours, contact.note) if part)
    return ContactRow(label, contact.phone, contact.name or "", details)


def _table(rows: tuple[ContactRow, ...]) -> Iterator[str]:
    """The who in bold when it is to be called now, the number in bold."""
    yield "BIGTABLE " + weighted_columns(CONTACT_COLUMNS, COLUMN_WEIGHTS)
    for row in rows:
        cells = (f"**{row.who}**" if row.call_now else row.who,
                 NOT_SET if row.phone is None else f"**{row.phone}**", row.name, row.details)
        yield markup_row(cells)


def contact_warnings(config: ApplianceConfig, today: date) -> list[str]:
    """What `appliance config check` warns of (English, one line each): no contacts at all,
    a role or a unit's PAS left out, and contacts older than `contacts.stale_after_days`."""
    contacts = config.contacts
    if not contacts.configured:
        return ["contacts: none configured: every kit's contacts sheet says "
                f"{NO_CONTACTS!r} ([contacts], docs/printing.md)"]
    warnings = [f"contacts.{role}: not set: the contacts sheet says {NOT_SET!r} there"
                for role in CONTACT_ROLES if contacts.roles[role] is None]
    listed = {entry.unit for entry in contacts.pas}
    if config.units:
        warnings += [f"contacts.pas: no PAS contact for unit {name!r}" for name in config.units
                     if name not in listed]
    elif not contacts.pas:
        warnings.append("contacts.pas: no PAS contact")
    if contacts_are_stale(config, today):
        warnings.append(f"contacts.updated: {contacts.updated.isoformat()} is more than "
                        f"{contacts.stale_after_days} days ago (contacts.stale_after_days): "
                        "the sheet tells nurses to check the numbers; check them and change "
                        "the date")
    return warnings
