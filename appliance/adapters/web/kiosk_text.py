"""Every word the kiosk screen shows, Swedish (for nurses, the default) and English (for IT,
`?lang=en`), in one catalogue: templates and code name a message, never write one.

The printer's condition texts are not here: they come from the one condition table in
`appliance.core.printing.printer` (`PrinterReport.swedish` / `.english`), shared with the LED, the
cover sheet and the CLI.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from appliance.core.printing import wording

LANGUAGES = ("sv", "en")
DEFAULT_LANGUAGE = "sv"

CATALOGUE: dict[str, dict[str, str]] = {
    "sv": {
        "page_title": "Reservutskrift",
        "state.ready": "Redo",
        "state.stale": "EJ AKTUELL",
        "state.fault": "Skrivarfel",
        "state.printing": "Skriver ut",
        "state.no-data": "Inga uppgifter",
        "state.degraded": "Redo – en skrivare fungerar inte",
        "hint.ready": "Listorna är aktuella.",
        "hint.stale": "En lista är EJ AKTUELL – kontrollera tiden på papperet.",
        "hint.printing": "En utskrift är på väg.",
        "hint.no-data": "Listor saknas – ring IT-support om det inte ändras.",
        "hint.no-data.units": "Listor saknas för {units} – ring IT-support om det inte ändras.",
        "hint.stale.units": "EJ AKTUELL för {units} – kontrollera tiden på papperet.",
        "hint.fault": "Skrivaren kan inte skriva ut. Gör så här:",
        # A failed self-check with a printer that reports no fault: printing may still work
        "state.fault.selftest": "Fel i apparaten",
        "hint.fault.selftest": "Försök skriva ut ändå – ring IT-support om det inte går.",
        "selftest.fault": "Fel i: {checks}. Meddela IT-support.",
        # No hint: the state ("Redo – en skrivare fungerar inte") and the printer line under it
        # ("… utskrifterna kommer ut på en annan. Meddela IT-support. …") say it all, and
        # without the line six lists fit at 800x480 beside a class's three-line printer text.
        "hint.degraded": "",
        "hint.clock_unsure": "Klockan är osäker – åldrarna är minsta möjliga.",
        "printer": "Skrivare",
        # One line at 800x480 (two pushed the last list out of view), "IT-support" as elsewhere
        "panel.fault": "Knappen fungerar inte – skriv ut på skärmen. Meddela IT-support.",
        "missing": "Saknas",
        "stale": "EJ AKTUELL",
        "age": "Ålder {age}",
        "age.at_least": "Ålder minst {age}",
        "age.days_word": "dygn",
        "time.today": "kl. {time}",
        "time.other_day": "{day}/{month} kl. {time}",
        "profile.button": "Skriv ut att göra-listan",
        "profile.full": "Skriv ut allt",
        "profile.forms": "Bara blanketter",
        "unit_button": "Skriv ut {unit}",
        "step.queued": "I kö",
        "step.printing": "Skrivs ut",
        "step.done": "Utskriven",
        "pages": "{n} sidor",
        "page": "1 sida",
        "destination": "Utskriften kommer ut på: {printer}",
        "job.canceled": "Utskriften avbröts. Tryck igen eller ring IT-support.",
        "job.unknown": "Utskriftens läge är okänt – titta på skrivaren.",
        "busy": "En utskrift är redan på väg. Vänta tills den är klar.",
        "failed": "Utskriften kunde inte startas.",
        "back": "Tillbaka",
        "read_only": "Statussida. Utskrift går bara från skärmen vid apparaten.",
        "offline": "Ingen kontakt med apparaten – ansluter igen …",
        "profile.drill": "Övning",
        "drill.today": "senast i dag",
        "drill.days": "{d} dygn sedan",
        "drill.due": "Dags att öva!",
        "contacts": wording.WHO_TO_CALL,
        "contacts.label": "Kontakter",
        "profile.after-outage": wording.AFTER_OUTAGE,
    },
    "en": {
        "page_title": "Downtime print",
        "state.ready": "Ready",
        "state.stale": "Out-of-date data",
        "state.fault": "Printer fault",
        "state.printing": "Printing",
        "state.no-data": "No data",
        "state.degraded": "Ready – a printer is out of order",
        "hint.ready": "The lists are up to date.",
        "hint.stale": "A list is out of date: check the time printed on it.",
        "hint.printing": "A kit is on its way.",
        "hint.no-data": "Lists are missing: call IT support if this persists.",
        "hint.no-data.units": "Lists are missing for {units}: call IT support if this persists.",
        "hint.stale.units": "Out of date for {units}: check the time printed on it.",
        "hint.fault": "The printer cannot print. What to do:",
        "state.fault.selftest": "Appliance fault",
        "hint.fault.selftest": "Try printing anyway; call IT support if it does not work.",
        "selftest.fault": "Self-check failed: {checks}. Tell IT support.",
        "hint.degraded": "",
        "hint.clock_unsure": "The clock is unsure: the ages are the least they can be.",
        "printer": "Printer",
        "panel.fault": "The button does not work: print on the screen. Tell IT support.",
        "missing": "Missing",
        "stale": "Out of date",
        "age": "Age {age}",
        "age.at_least": "Age at least {age}",
        "age.days_word": "days",
        "time.today": "at {time}",
        "time.other_day": "{day}/{month} {time}",
        "profile.button": "Print the to-do list",
        "profile.full": "Print everything",
        "profile.forms": "Forms only",
        "unit_button": "Print {unit}",
        "step.queued": "Queued",
        "step.printing": "Printing",
        "step.done": "Done",
        "pages": "{n} pages",
        "page": "1 page",
        "destination": "The kit comes out of: {printer}",
        "job.canceled": "The job was canceled. Press again or call IT support.",
        "job.unknown": "The job's state is unknown: look at the printer.",
        "busy": "A kit is already on its way. Wait until it is done.",
        "failed": "The kit could not be started.",
        "back": "Back",
        "read_only": "Status page. Printing only from the appliance's own screen.",
        "offline": "No contact with the appliance: reconnecting …",
        "profile.drill": "Drill",
        "drill.today": "last today",
        "drill.days": "{d} days ago",
        "drill.due": "Time to drill!",
        "contacts": "Who do I call?",
        "contacts.label": "Contacts",
        "profile.after-outage": "After the outage",
    },
}


def language(requested: str | None) -> str:
    return requested if requested in LANGUAGES else DEFAULT_LANGUAGE


class Texts:
    """The catalogue in one language: `texts("pages", n=3)`."""

    def __init__(self, lang: str) -> None:
        self.lang = language(lang)
        self._messages = CATALOGUE[self.lang]

    def __call__(self, key: str, **values) -> str:
        return self._messages[key].format(**values)

    def age(self, age: timedelta, *, at_least: bool = False) -> str:
        """"Ålder 4 h 10 min", "Ålder 2 dygn (71 h 59 min)": the paper's words
        (appliance.core.printing.wording), so screen and page agree to the minute."""
        return " ".join(self.age_parts(age, at_least=at_least))

    def age_parts(self, age: timedelta, *, at_least: bool = False) -> tuple[str, ...]:
        """`age()` in the pieces a line may break between, never inside one: "Ålder",
        "2 dygn", "(71 h 59 min)". A narrow column wraps "Ålder 2 dygn" / "(71 h 59 min)",
        never "Ålder 2 dygn (71" / "h 59 min)"."""
        days, _, hours = wording.age(age, days=self("age.days_word")).partition(" (")
        before, _, after = self._messages["age.at_least" if at_least else "age"].partition(
            "{age}")
        return tuple(part.strip() for part in (before, days, f"({hours}" if hours else "", after)
                     if part.strip())

    def time_of(self, moment: datetime, now: datetime | None) -> str:
        """When the data is from, local time: "kl. 07:45" today, "29/11 kl. 07:45" before,
        and always with the date when `now` is None (a clock nobody can vouch for)."""
        clock = f"{moment:%H:%M}"
        if now is not None and moment.date() == now.date():
            return self("time.today", time=clock)
        return self("time.other_day", day=moment.day, month=moment.month, time=clock)

    def pages(self, count: int) -> str:
        return self("page") if count == 1 else self("pages", n=count)
