"""What the nurse reads, written one way: an age, a time, "not current", a page counter,
who to call.

The cover, the page stamps, the kiosk and the CLI all say these things; each used to say
them its own way ("0 h 30 min" on paper, "30 min" on screen, "Data" here and "Data från"
there, "EJ AKTUELL", "inte aktuell", "Gammal"). Every place that shows one of them takes it
from here, so a nurse comparing the screen with a page separated from the cover reads the
same words and the same numbers. Swedish, for nurses; docs/wording.md lists every phrase
and the choices behind it.

Agreement: a list's title is configurable ("Att göra-lista", "Vårdplaner") and an adjective
after it would have to agree with a noun the code does not know. So an age stands alone
("Ålder 4 h 10 min"), or with the fixed plural subject "uppgifterna" ("uppgifterna är
4 h 10 min gamla"), never as "Att göra-lista … gamla".
"""

from __future__ import annotations

from datetime import datetime, timedelta

AGE = "Ålder"
"""Label before an age that stands alone: "Ålder 4 h 10 min"."""

AT_LEAST = "minst"
"""Before every age that is only a lower bound (the clock cannot be trusted)."""

CLOCK_UNSURE = "klockan är osäker"
"""Said after "minst" ages, on every page and screen that shows one."""

NOT_CURRENT = "EJ AKTUELL"
"""A list older than its next expected delivery: in capitals, on black, wherever it shows."""

DATA_FROM = "Data från"
"""Before the time the data was taken from the record system."""

PRINTED = "Utskrivet"
"""Before the time the kit was printed."""

DRILL_MARK = "ÖVNING – INTE FÖR VÅRD"
"""Across every page of a drill kit."""

DAYS_FROM_HOURS = 48
"""From this many hours an age is also given in days, so weeks-old data stands out."""


def age(elapsed: timedelta, *, days: str = "dygn") -> str:
    """"30 min", "1 h", "4 h 10 min", "2 dygn (71 h 59 min)", "3 dygn (72 h)" (`days`:
    the word for days, "days" for the kiosk's English).

    Never rounded up and never shortened: the days are whole days, and the hours in
    brackets keep the rest, so an age of 71 h 59 min is not read as 2 days."""
    minutes = max(0, int(elapsed.total_seconds()) // 60)
    hours, minutes = divmod(minutes, 60)
    if hours == 0:
        text = f"{minutes} min"
    elif minutes == 0:
        text = f"{hours} h"
    else:
        text = f"{hours} h {minutes} min"
    if hours >= DAYS_FROM_HOURS:
        text = f"{hours // 24} {days} ({text})"
    return text


def age_bound(elapsed: timedelta, *, at_least: bool) -> str:
    """`age()`, with "minst" in front when it is only a lower bound."""
    text = age(elapsed)
    return f"{AT_LEAST} {text}" if at_least else text


def labelled_age(elapsed: timedelta, *, at_least: bool) -> str:
    """"Ålder 4 h 10 min" / "Ålder minst 4 h 10 min": an age that stands alone."""
    return f"{AGE} {age_bound(elapsed, at_least=at_least)}"


def data_from(local_time: str) -> str:
    return f"{DATA_FROM} {local_time}"


def kit_page(number: int, total: int) -> str:
    """The kit's own page counter, told apart from a document's own "Sida 1 av 3"."""
    return f"Utskrift sida {number} av {total}"


def kit_title(profile_title: str, *, drill: bool) -> str:
    """The kit's PDF and CUPS job title: Swedish, and no patient data (CUPS keeps titles
    in its job history)."""
    return f"{'Övning' if drill else 'Reservutskrift'} – {profile_title}"


# ---------------------------------------------------------------- who to call
# The contacts sheet of every kit and the kiosk's "Vem ringer jag?" view, both from
# core/printing/contacts.py (`who_to_call`): the same role names, hours and warnings on
# paper and screen.

WHO_TO_CALL = "Vem ringer jag?"
"""The kiosk's button to its contacts view and that view's heading; the sheet's title and
the cover's pointer begin with it."""

CONTACTS_TITLE = f"{WHO_TO_CALL.upper()} – KONTAKTER VID DRIFTAVBROTT"
CALL_NOW = "Ring nu:"
"""Before the manager whose hours it is when the kit is printed (listed first)."""

NO_CONTACTS = "Inga kontakter är inställda – ring IT-support."
NOT_SET = "inte inställt"
"""In the phone column of a role or unit the configuration leaves out."""

ROLES = {
    "unit_manager": "EC – enhetschef (eller den som ersätter)",
    "manager_on_call": "CIB – chef i beredskap",
    "pas": "PAS",
    "it_support": "IT-support",
    "cosafe": "Cosafe – larm",
}
CONTACT_COLUMNS = ("Vem", "Telefon", "Namn", "När och övrigt")
MANAGERS_HEADING = "Chef – meddelar sjuksköterskorna och återkommer med information"
PAS_HEADING = "PAS, patientansvarig sjuksköterska – ring för patientinformation"
SUPPORT_HEADING = "Larm och IT"
ON_CALL_HOURS = "Jourtid: kvällar, nätter, helger och helgdagar"


def day_hours(starts: str, ends: str) -> str:
    """"Dagtid: måndag–fredag 07:00–16:30, inte helgdagar": the unit manager's hours."""
    return f"Dagtid: måndag–fredag {starts}–{ends}, inte helgdagar"


def contacts_clock_unsure(starts: str, ends: str) -> str:
    """Instead of "Ring nu" when the clock cannot be trusted to say whose hours it is."""
    return (f"Klockan är osäker: ring EC dagtid (måndag–fredag {starts}–{ends}, inte "
            "helgdagar), annars CIB.")


def contacts_updated(day: str) -> str:
    """"Uppgifterna ändrades 2026-11-03": how old the numbers are, on every sheet."""
    return f"Uppgifterna ändrades {day}"


def contacts_stale(days: int) -> str:
    """The black line of a contacts sheet not checked for `days` (contacts.stale_after_days):
    "KONTROLLERA – uppgifterna är äldre än 6 månader. …"."""
    return (f"KONTROLLERA – uppgifterna är äldre än {_period(days)}. Stämmer ett nummer "
            "inte: meddela enhetschefen.")


def contacts_pointer(page: int) -> str:
    """On the cover: where the contacts sheet is, by the kit's own page counter."""
    return f"{WHO_TO_CALL} Se kontaktlistan, utskrift sida {page}."


def _period(days: int) -> str:
    """180 → "6 månader", 365 → "1 år", 45 → "45 dagar"."""
    if days % 365 == 0:
        return f"{days // 365} år"
    if days % 30 == 0:
        months = days // 30
        return f"{months} {'månad' if months == 1 else 'månader'}"
    return f"{days} {'dag' if days == 1 else 'dagar'}"


PLANNED_OUTAGE = "Planerat avbrott"
"""Before a planned outage's times (kiosk, `status`)."""

MONTHS = ("jan", "feb", "mars", "apr", "maj", "juni", "juli", "aug", "sep", "okt", "nov",
          "dec")
"""Swedish month abbreviations as Språkrådet writes them (a day and a short month: "12 dec")."""


def day_and_month(moment: datetime) -> str:
    """"12 dec": a local date as nurses write it (no year: a planned outage is weeks away)."""
    return f"{moment.day} {MONTHS[moment.month - 1]}"


def planned_outage(starts: datetime, ends: datetime) -> str:
    """"Planerat avbrott 12 dec 18:00–22:00" (local times); an outage across midnight names
    both days: "Planerat avbrott 12 dec 22:00–13 dec 02:00"."""
    end = f"{ends:%H:%M}" if ends.date() == starts.date() else f"{day_and_month(ends)} {ends:%H:%M}"
    return f"{PLANNED_OUTAGE} {day_and_month(starts)} {starts:%H:%M}–{end}"


def planned_outage_ongoing(ends: datetime, now: datetime) -> str:
    """"Planerat avbrott pågår till 22:00" (local times); "… till 13 dec 02:00" when it
    ends on another day."""
    end = f"{ends:%H:%M}" if ends.date() == now.date() else f"{day_and_month(ends)} {ends:%H:%M}"
    return f"{PLANNED_OUTAGE} pågår till {end}"


# ---------------------------------------------------------------- after the outage
# The report after an outage (core/printing/outage_sheet.py), for the unit manager: the
# deviation report's facts and the checklist of every page that went out.

AFTER_OUTAGE = "Efter avbrottet"
"""The kiosk's button that prints the report, and the progress view's title."""

REPORT_TITLE = "Rapport efter driftavbrott"
REPORT_INTRO = ("Underlag för avvikelserapporten och för avstämningen mot journalen, ur "
                "apparatens logg. Inga patientuppgifter: sidorna anges med utskrift, enhet, "
                "lista och sidnummer.")
UNKNOWN = "okänt"
"""Where the log does not say (an entry from an older release, or a time it lacks)."""

NO_OUTAGE = ("Inget avbrott hittades i loggen: ingen reservutskrift och ingen utebliven "
             "leverans. IT kan ta fram rapporten för en vald period.")
OUTAGE_HEADING = "Avbrottet, så som apparaten såg det"
OUTAGE_COLUMNS = ("Vad", "När")
LAST_DELIVERY_BEFORE = "Senaste leverans av listor före avbrottet"
FIRST_SIGN = "Första tecken på avbrottet"
FIRST_DELIVERY_AFTER = "Första leverans efter avbrottet (journalsystemet åter)"
NONE_YET = "ingen ännu – avbrottet kan pågå"
DURATION = "Längd"
CHOSEN_PERIOD = "Vald period"
KITS_HEADING = "Reservutskrifter"
KIT_COLUMNS = ("Nr", "Tid", "Hur", "Vad", "Sidor", "Listornas ålder vid utskrift",
               "Skrivaren")
NO_KITS = "Inga reservutskrifter under perioden."
FAILED_HEADING = "Utskrifter som inte gick iväg till skrivaren"
FAILED_COLUMNS = ("Tid", "Hur", "Vad", "Orsak")
FAULTS_HEADING = "Skrivarfel"
FAULT_COLUMNS = ("Fel", "Från", "Till", "Längd")
FAULTS_NOTE = ("Så som utskrifterna mötte skrivaren: från den första utskrift som mötte "
               "felet till det första tecknet på att skrivaren fungerade igen.")
NO_FAULTS = "Inga skrivarfel sågs vid utskrifterna."
NOT_SEEN_TO_END = "inte åtgärdat vid senaste utskrift"
MISSED_HEADING = "Uteblivna leveranser"
MISSED_COLUMNS = ("Lista", "Enhet", "Väntad")
NO_MISSED = "Inga uteblivna leveranser under perioden."
CHECKLIST_HEADING = "Avstämning: infört i journalen"
CHECKLIST_INTRO = ("En rad för varje utskriven sida med listor. Signera när det som "
                   "antecknats på sidan är infört i journalen. Jämför med sidans stämpel: "
                   "tid för utskrift, lista, enhet och utskriftens sidnummer.")
CHECKLIST_COLUMNS = ("Utskrift", "Enhet", "Lista", "Utskriftens sida", "Listans sida",
                     "Införd i journal, sign.")
FORMS_ROW = "Ifyllda blanketter"
NO_CHECKLIST = "Inga sidor med listor gick ut under perioden."
NOT_PRINTED_NOTE = "Utskrift {numbers} kom inte ut ur skrivaren: dess sidor finns inte med."
COMPILED_BY = "Sammanställd av (namn, datum, sign.)"
ALL_UNITS = "alla enheter"
DRILL = "Övning"

TRIGGERS = {"button": "Knappen", "button-hold": "Knappen, lång tryckning",
            "kiosk": "Skärmen", "cli": "Kommandorad (IT)"}
JOB_ENDINGS = {"completed": "Utskriven", "canceled": "Avbruten",
               "aborted": "Avbruten av skrivaren", "unknown": UNKNOWN}
PRINTER_FAULTS = {
    "out-of-paper": "Slut på papper", "paper-jam": "Pappersstopp",
    "toner-empty": "Slut på toner", "door-open": "Lucka öppen",
    "unreachable": "Skrivaren svarar inte", "paused": "Skrivaren pausad",
    "not-accepting": "Tar inte emot utskrifter", "printer-error": "Skrivarfel",
    "no-printer": "Ingen skrivare inställd", "cups-unreachable": "Utskriftssystemet svarar inte",
    "degraded": "En skrivare i gruppen fungerar inte",
}


def trigger_label(trigger: str, *, drill: bool) -> str:
    """"Knappen", "Skärmen", "Övning, Kommandorad (IT)": how a kit was asked for."""
    label = TRIGGERS.get(trigger, trigger or UNKNOWN)
    return f"{DRILL}, {label}" if drill else label


def kit_pages_of(number: int | None, total: int | None) -> str:
    """"3 av 12" on the checklist (the stamp says "Utskrift sida 3 av 12")."""
    if number is None:
        return UNKNOWN
    return f"{number} av {total}" if total else str(number)


def report_job_title(local_hm: str) -> str:
    """The report's CUPS job title: no patient data, as a kit's."""
    return f"{REPORT_TITLE} {local_hm}"
