"""The contacts sheet: who to call, on paper, right after the cover of every kit.

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
from datetime import date, datetime

from appliance.core.config.settings import CONTACT_ROLES, ApplianceConfig, ContactConfig
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


def contacts_sheet(config: ApplianceConfig, now: datetime, *, unit: str | None = None,
                   clock_unsure: bool = False) -> str:
    """The sheet's markup (core/printing/sheets.py) at `now`; with `unit` (a kit of one
    configured unit), only that unit's PAS. `clock_unsure`: the clock cannot say whose
    hours it is, so no manager is marked and the sheet says how to choose."""
    return "\n".join(_lines(config, now, unit, clock_unsure)) + "\n"


def _lines(config: ApplianceConfig, now: datetime, unit: str | None,
           clock_unsure: bool) -> Iterator[str]:
    contacts = config.contacts
    yield f"TITLE {CONTACTS_TITLE}"
    if not contacts.configured:
        yield f"ALERT {NO_CONTACTS}"
        return
    if contacts.updated is not None:
        yield f"TEXT **{contacts_updated(contacts.updated.isoformat())}**"
    if contacts_are_stale(config, now.astimezone(config.timezone).date()):
        yield f"ALERT {contacts_stale(contacts.stale_after_days)}"

    starts, ends = str(contacts.day_starts), str(contacts.day_ends)
    managers = [_row(ROLES["unit_manager"], contacts.unit_manager, day_hours(starts, ends)),
                _row(ROLES["manager_on_call"], contacts.manager_on_call, ON_CALL_HOURS)]
    yield f"HEADING {MANAGERS_HEADING}"
    if clock_unsure:
        yield f"TEXT {contacts_clock_unsure(starts, ends)}"
    else:
        by_day = is_day_hours(now, config.timezone, contacts.day_starts, contacts.day_ends)
        first, second = managers if by_day else reversed(managers)
        managers = [[f"**{CALL_NOW} {first[0]}**", *first[1:]], second]
    yield from _table(managers)

    yield f"HEADING {PAS_HEADING}"
    yield from _table(_pas_rows(config, unit))

    yield f"HEADING {SUPPORT_HEADING}"
    yield from _table([_row(ROLES[role], contacts.roles[role])
                       for role in ("it_support", "cosafe")])


def _pas_rows(config: ApplianceConfig, unit: str | None) -> list[list[str]]:
    """One row per configured unit (or the one unit of the kit), "inte inställt" where no
    PAS is set; in single-unit mode the one PAS, labelled with its unit when it has one."""
    pas = config.contacts.pas
    if not config.units:
        entry = pas[0] if pas else None
        label = " ".join([ROLES["pas"], *([entry.unit] if entry and entry.unit else [])])
        return [_row(label, entry)]
    by_unit = {entry.unit: entry for entry in pas}
    units = (unit,) if unit is not None else config.units
    return [_row(f"{ROLES['pas']} {name}", by_unit.get(name)) for name in units]


def _row(label: str, contact: ContactConfig | None, hours: str = "") -> list[str]:
    """Who, the number (bold), the name, and hours and note together."""
    if contact is None:
        return [label, NOT_SET, "", hours]
    details = " · ".join(part for part in (hours, contact.note) if part)
    return [label, f"**{contact.phone}**", contact.name or "", details]


def _table(rows: list[list[str]]) -> Iterator[str]:
    yield "BIGTABLE " + " | ".join(f"{column}:{weight}" for column, weight
                                   in zip(CONTACT_COLUMNS, COLUMN_WEIGHTS, strict=True))
    for row in rows:
        yield "ROW " + " | ".join(_cell(cell) for cell in row)


def _cell(text: str) -> str:
    """A unit's name may hold a `|`, which would split the cell; names and notes cannot
    (`settings`), and a phone number is digits."""
    return text.replace("|", "/")


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
