"""Who to call, on paper (issue 24 §1): `[contacts]` from the configuration, printed as the
contacts sheet right after the cover of every kit.

The kits are the real ones, composed by the print service and read back with pdftotext:
every profile, a drill, a kit of one unit. The manager whose hours it is comes first,
marked "Ring nu:", by an injected clock (day, night, a weekend, a public holiday, and the
mornings after both daylight-saving changes). Old numbers are printed under the black
warning; no contacts at all still prints the sheet, saying so; `appliance config check`
warns of both. Bad phone numbers and unknown keys are refused naming the key.
"""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from appliance.cli.appliance_cli import main as appliance_main
from appliance.core.base.clock import FixedClock
from appliance.core.config.schema import settings_in_force
from appliance.core.config.settings import ApplianceConfig, Slot, load_appliance_config
from appliance.core.printing.contacts import contact_warnings, contacts_sheet
from appliance.core.printing.print_service import PrintService
from appliance.core.printing.wording import DRILL_MARK, NO_CONTACTS, contacts_stale
from appliance.core.time.day_hours import easter_sunday, is_day_hours, swedish_days_off
from tests.conftest import make_installation, run_cli
from tests.memory_printer import MemoryPrinter
from tests.test_config import appliance_problems, write
from tests.test_drills import along_the_diagonal
from tests.test_printing import CONTACTS_PAGE, FRONT, page_count, text_of

SYD, NORR = "Hemsjukvård Syd", "Hemsjukvård Norr"
CONTACTS = """
[contacts]
updated = 2026-11-03

[contacts.cosafe]
phone = "0456-816 10"
note = "Larma via Cosafe-appen"

[contacts.unit_manager]
name = "Anna Andersson"
phone = "0456-123 45"

[contacts.manager_on_call]
name = "Chef i beredskap"
phone = "+46 70 123 45 67"

[contacts.it_support]
name = "IT-servicedesk"
phone = "(0456) 816 00"

[[contacts.pas]]
unit = "Hemsjukvård Syd"
name = "PAS-telefon Syd"
phone = "070-111 22 33"

[[contacts.pas]]
unit = "Hemsjukvård Norr"
phone = "070-444 55 66"
"""
UNITS = f'\n[units]\nnames = ["{SYD}", "{NORR}"]\n'
NUMBERS = ("0456-816 10", "0456-123 45", "+46 70 123 45 67", "(0456) 816 00",
           "070-111 22 33", "070-444 55 66")
# Tuesday 3 November 2026: 03:10 and 10:00 in Stockholm (CET, UTC+1)
NIGHT = datetime(2026, 11, 3, 2, 10, tzinfo=UTC)
DAY = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
EC, CIB = "EC – enhetschef", "CIB – chef i beredskap"
STOCKHOLM = ZoneInfo("Europe/Stockholm")


def installation(root: Path, contacts: str = CONTACTS, units: str = UNITS):
    """An appliance printing to memory, with `units` and `contacts` configured once its
    sender is enrolled (which is then given every unit)."""
    inst = make_installation(root, '[printing]\nqueue = "memory"\n')
    inst.memory_printer = MemoryPrinter()
    with open(inst.appliance_toml, "a", encoding="utf-8") as handle:
        handle.write(units + contacts)
    if units:
        inst.appliance("senders", "units", "kontor-norr", "--unit", SYD, "--unit", NORR)
    return inst


@pytest.fixture
def two_units(tmp_path):
    """Two units, every contact set, no list yet (a list received later than a moment a
    test prints at would make the clock unsure then)."""
    return installation(tmp_path / "installation")


def with_todo_of_syd(inst, now: datetime):
    """A to-do list of Syd, produced and received 5 h before `now`."""
    clock = FixedClock(now - timedelta(hours=5))
    inst.ingest(inst.envelope(unit=SYD, pages=2, clock=clock), clock)
    return inst


def exported(inst, profile: str, now: datetime, tmp_path: Path, **kwargs) -> bytes:
    """The kit of `profile` at `now` (a FixedClock), written by the print service and read
    back."""
    out = tmp_path / f"{profile}.pdf"
    PrintService(inst.services(FixedClock(now))).export(profile, out, "test", **kwargs)
    return out.read_bytes()


def sheet_of(pdf: bytes) -> str:
    """The contacts sheet's words in reading order, cell by cell (pdftotext without
    -layout: a wrapped cell stays whole), white space folded."""
    text = subprocess.run(["pdftotext", "-f", str(CONTACTS_PAGE), "-l", str(CONTACTS_PAGE),
                           "-", "-"], input=pdf, capture_output=True, check=True).stdout
    return " ".join(text.decode().split())


# ---------------------------------------------------------------- on every kit


@pytest.mark.parametrize("profile", ["button", "full", "forms"])
def test_every_profile_prints_the_contacts_right_after_the_cover(two_units, tmp_path,
                                                                 profile):
    pdf = exported(with_todo_of_syd(two_units, NIGHT), profile, NIGHT, tmp_path)
    cover, sheet = text_of(pdf, 1), sheet_of(pdf)

    assert cover.startswith("RESERVUTSKRIFT – DRIFTAVBROTT JOURNALSYSTEM")
    assert "Vem ringer jag? Se kontaktlistan, utskrift sida 2." in cover
    assert sheet.startswith("VEM RINGER JAG? – KONTAKTER VID DRIFTAVBROTT")
    for number in NUMBERS:
        assert number in sheet, number
    for words in ("Anna Andersson", "PAS Hemsjukvård Syd", "PAS-telefon Syd",
                  "PAS Hemsjukvård Norr", "IT-support", "IT-servicedesk", "Cosafe – larm",
                  "Larma via Cosafe-appen", "Uppgifterna ändrades 2026-11-03"):
        assert words in sheet, words
    assert f"Utskrift sida 2 av {page_count(pdf)}" in sheet
    assert "KONTROLLERA" not in sheet  # checked the same day
    if profile != "forms":  # the list follows the contacts sheet, its pages numbered on
        assert text_of(pdf, FRONT + 1).startswith("Ålder 5 h · Att göra-lista · "
                                                  "Hemsjukvård Syd")
        assert f"Utskrift sida {FRONT + 1} av" in text_of(pdf, FRONT + 1)


def test_a_drill_prints_the_contacts_sheet_marked_as_a_drill(two_units):
    services = with_todo_of_syd(two_units, NIGHT).services(FixedClock(NIGHT))
    PrintService(services).request("button", "cli", drill=True)
    pdf = two_units.memory_printer.pdfs[-1]
    sheet = sheet_of(pdf)
    assert "Ring nu: CIB – chef i beredskap" in sheet and "+46 70 123 45 67" in sheet
    assert DRILL_MARK in along_the_diagonal(pdf, CONTACTS_PAGE)


def test_a_kit_of_one_unit_lists_that_units_pas_only(two_units, tmp_path):
    sheet = sheet_of(exported(with_todo_of_syd(two_units, NIGHT), "button", NIGHT, tmp_path,
                              unit=NORR))
    assert "PAS Hemsjukvård Norr" in sheet and "070-444 55 66" in sheet
    assert "Hemsjukvård Syd" not in sheet and "070-111 22 33" not in sheet
    assert "+46 70 123 45 67" in sheet and "(0456) 816 00" in sheet  # the rest as ever


# ---------------------------------------------------------------- Ring nu


def first_manager(sheet: str) -> str:
    """The manager listed first on the sheet, and whether it is marked "Ring nu"."""
    found = re.search(rf"(Ring nu: )?({EC}|{CIB})", sheet)
    return f"{found[1] or ''}{found[2]}"


# (moment, who is to be called): local time in Stockholm in the comments
MOMENTS = {
    "Tuesday 03:10": (NIGHT, CIB),
    "Tuesday 10:00": (DAY, EC),
    "Tuesday 07:00, the day starts": (datetime(2026, 11, 3, 6, 0, tzinfo=UTC), EC),
    "Tuesday 06:59": (datetime(2026, 11, 3, 5, 59, tzinfo=UTC), CIB),
    "Tuesday 16:29": (datetime(2026, 11, 3, 15, 29, tzinfo=UTC), EC),
    "Tuesday 16:30, the on-call hours start": (datetime(2026, 11, 3, 15, 30, tzinfo=UTC), CIB),
    "Saturday 10:00": (datetime(2026, 11, 7, 9, 0, tzinfo=UTC), CIB),
    "Christmas Day, a Friday, 10:00": (datetime(2026, 12, 25, 9, 0, tzinfo=UTC), CIB),
    "Midsummer Eve, a Friday, 10:00 CEST": (datetime(2026, 6, 19, 8, 0, tzinfo=UTC), CIB),
    # The Monday after the spring change (29 March): 07:30 CEST, which is 06:30 in CET
    "Monday after spring-forward, 07:30 CEST": (datetime(2026, 3, 30, 5, 30, tzinfo=UTC), EC),
    "Monday after spring-forward, 06:30 CEST": (datetime(2026, 3, 30, 4, 30, tzinfo=UTC), CIB),
    # The Monday after the autumn change (25 October): 07:30 CET, which is 08:30 in CEST
    "Monday after fall-back, 07:30 CET": (datetime(2026, 10, 26, 6, 30, tzinfo=UTC), EC),
    "Monday after fall-back, 06:30 CET": (datetime(2026, 10, 26, 5, 30, tzinfo=UTC), CIB),
    "Monday after fall-back, 16:15 CET": (datetime(2026, 10, 26, 15, 15, tzinfo=UTC), EC),
}


@pytest.mark.parametrize("moment", list(MOMENTS))
def test_the_manager_whose_hours_it_is_comes_first_marked_ring_nu(two_units, tmp_path,
                                                                  moment):
    now, first = MOMENTS[moment]
    other = CIB if first == EC else EC
    sheet = sheet_of(exported(two_units, "forms", now, tmp_path))
    assert first_manager(sheet) == f"Ring nu: {first}"
    assert sheet.count("Ring nu") == 1
    assert sheet.index(first) < sheet.index(other)  # the other one right after it
    assert "Dagtid: måndag–fredag 07:00–16:30, inte helgdagar" in sheet
    assert "Jourtid: kvällar, nätter, helger och helgdagar" in sheet


def test_day_hours_are_settings_read_in_local_time(tmp_path):
    inst = installation(tmp_path, CONTACTS.replace(
        "[contacts]\n", '[contacts]\nday_starts = "08:00"\nday_ends = "17:00"\n'))
    eight_ten = datetime(2026, 11, 3, 7, 10, tzinfo=UTC)  # 08:10 CET
    seven_thirty = datetime(2026, 11, 3, 6, 30, tzinfo=UTC)  # 07:30 CET
    sheet = sheet_of(exported(inst, "forms", seven_thirty, tmp_path))
    assert first_manager(sheet) == f"Ring nu: {CIB}"
    assert "Dagtid: måndag–fredag 08:00–17:00, inte helgdagar" in sheet
    assert first_manager(sheet_of(exported(inst, "forms", eight_ten, tmp_path))) == \
        f"Ring nu: {EC}"


def test_an_unsure_clock_marks_no_manager_and_says_how_to_choose(two_units):
    service = PrintService(two_units.services(FixedClock(DAY)))
    kit = service.compose(two_units.config.printing.profiles["forms"], DAY,
                          clock_unsure=True)
    sheet = sheet_of(kit.pdf)
    assert "Ring nu" not in sheet
    assert ("Klockan är osäker: ring EC dagtid (måndag–fredag 07:00–16:30, inte helgdagar), "
            "annars CIB.") in sheet
    assert "0456-123 45" in sheet and "+46 70 123 45 67" in sheet


def test_swedish_days_off_and_easter():
    assert [easter_sunday(year) for year in (2024, 2025, 2026, 2027)] == [
        date(2024, 3, 31), date(2025, 4, 20), date(2026, 4, 5), date(2027, 3, 28)]
    days_off = swedish_days_off(2026)
    assert {day.isoformat() for day in days_off} >= {
        "2026-01-01", "2026-01-06", "2026-04-03", "2026-04-06", "2026-05-01", "2026-05-14",
        "2026-06-06", "2026-06-19", "2026-12-24", "2026-12-25", "2026-12-26", "2026-12-31"}
    assert date(2026, 6, 18) not in days_off  # the Thursday before Midsummer Eve
    assert not is_day_hours(datetime(2026, 5, 14, 9, 0, tzinfo=UTC), STOCKHOLM, Slot(7, 0),
                            Slot(16, 30))  # Ascension Day, a Thursday
    assert is_day_hours(datetime(2026, 5, 13, 9, 0, tzinfo=UTC), STOCKHOLM, Slot(7, 0),
                        Slot(16, 30))


# ---------------------------------------------------------------- old numbers, none, some


@pytest.mark.parametrize(("updated", "stale"), [
    ("2026-05-07", False),  # 180 days before 2026-11-03: not more than 180
    ("2026-05-06", True),  # 181 days
    ("2025-01-01", True),
])
def test_old_contacts_are_printed_under_the_black_warning(tmp_path, updated, stale):
    inst = installation(tmp_path, CONTACTS.replace("updated = 2026-11-03",
                                                   f"updated = {updated}"))
    pdf = exported(inst, "forms", NIGHT, tmp_path)
    sheet = sheet_of(pdf)
    assert f"Uppgifterna ändrades {updated}" in sheet
    warning = "KONTROLLERA – uppgifterna är äldre än 6 månader."
    assert (warning in sheet) is stale
    markup = contacts_sheet(inst.config, NIGHT)
    assert (f"ALERT {contacts_stale(180)}" in markup.splitlines()) is stale  # black bar
    assert "+46 70 123 45 67" in sheet  # the numbers are printed all the same
    warnings = contact_warnings(inst.config, NIGHT.date())
    assert any(line.startswith(f"contacts.updated: {updated} is more than 180 days ago")
               for line in warnings) is stale, warnings
    if updated < "2026":  # stale by any date this test runs on: `config check` says so
        assert any("contacts.updated" in line for line in check_warnings(inst))


def test_the_stale_limit_is_a_setting_and_its_warning_says_it_in_words(tmp_path):
    inst = installation(tmp_path, CONTACTS.replace(
        "[contacts]\n", "[contacts]\nstale_after_days = 365\n").replace(
        "updated = 2026-11-03", "updated = 2025-06-01"))
    assert "KONTROLLERA – uppgifterna är äldre än 1 år." in sheet_of(
        exported(inst, "forms", NIGHT, tmp_path))
    assert [contacts_stale(days).split(".")[0] for days in (30, 90, 45, 1, 730)] == [
        f"KONTROLLERA – uppgifterna är äldre än {period}"
        for period in ("1 månad", "3 månader", "45 dagar", "1 dag", "2 år")]


def test_no_contacts_still_prints_the_sheet_saying_so_and_config_check_warns(tmp_path):
    inst = installation(tmp_path, "", units="")
    for profile in ("button", "forms"):
        pdf = exported(inst, profile, NIGHT, tmp_path)
        sheet = sheet_of(pdf)
        assert sheet.startswith("VEM RINGER JAG?")
        assert NO_CONTACTS in sheet and "Inga kontakter är inställda – ring IT-support." in sheet
        assert "Ring nu" not in sheet
        assert "Vem ringer jag? Se kontaktlistan, utskrift sida 2." in text_of(pdf, 1)
    warnings = check_warnings(inst)
    assert any(line.startswith("warning: contacts: none configured") for line in warnings)


def test_a_role_left_out_is_printed_as_not_set_and_config_check_warns(tmp_path):
    contacts = re.sub(r"\[contacts\.cosafe\]\n.*?\n.*?\n\n", "", CONTACTS, flags=re.DOTALL)
    contacts = contacts.replace('[[contacts.pas]]\nunit = "Hemsjukvård Norr"\n'
                                'phone = "070-444 55 66"\n', "")
    inst = installation(tmp_path, contacts)
    sheet = sheet_of(exported(inst, "forms", NIGHT, tmp_path))
    assert "Cosafe – larm inte inställt" in sheet
    assert "PAS Hemsjukvård Norr inte inställt" in sheet
    assert "PAS Hemsjukvård Syd 070-111 22 33" in sheet
    warnings = check_warnings(inst)
    assert any("contacts.cosafe: not set" in line for line in warnings), warnings
    assert any("no PAS contact for unit 'Hemsjukvård Norr'" in line
               for line in warnings), warnings
    assert not any("Hemsjukvård Syd" in line for line in warnings)


def test_single_unit_mode_has_one_pas(tmp_path):
    contacts = CONTACTS.split("[[contacts.pas]]")[0] + '[[contacts.pas]]\nphone = "0456-123 50"\n'
    inst = installation(tmp_path, contacts, units="")
    sheet = sheet_of(exported(inst, "forms", NIGHT, tmp_path))
    assert "PAS 0456-123 50" in sheet
    assert check_warnings(inst) == []


def check_warnings(inst) -> list[str]:
    """`appliance config check --file-only`: it passes, and its warning lines."""
    result = run_cli(appliance_main, inst.appliance_toml, "config", "check", "--file-only")
    return [line for line in result.output.splitlines() if line.startswith("warning:")]


def test_the_full_config_check_warns_too_and_its_exit_code_is_the_checks(tmp_path,
                                                                         monkeypatch):
    monkeypatch.setenv("CUPS_SERVER", str(tmp_path / "no-cupsd-here.sock"))
    inst = installation(tmp_path, "", units="")
    result = run_cli(appliance_main, inst.appliance_toml, "config", "check", expect=None)
    assert "warning: contacts: none configured" in result.output
    assert result.exit_code == 1  # for the printer it cannot reach here, not the contacts
    assert "problem: printing: CUPS is not reachable" in result.output


def test_config_check_warnings_are_english_lines_naming_the_key(two_units):
    assert contact_warnings(two_units.config, date(2026, 11, 3)) == []
    [line] = contact_warnings(two_units.config, date(2027, 6, 1))
    assert line.startswith("contacts.updated: 2026-11-03 is more than 180 days ago")


# ---------------------------------------------------------------- the configuration


def test_contacts_are_read_from_the_file(tmp_path):
    config = load_appliance_config(write(tmp_path, UNITS + CONTACTS))
    contacts = config.contacts
    assert contacts.updated == date(2026, 11, 3)
    assert (contacts.day_starts, contacts.day_ends, contacts.stale_after_days) == (
        Slot(7, 0), Slot(16, 30), 180)
    assert contacts.unit_manager.phone == "0456-123 45"
    assert contacts.unit_manager.name == "Anna Andersson" and contacts.unit_manager.note is None
    assert contacts.cosafe.note == "Larma via Cosafe-appen"
    assert [(pas.unit, pas.phone) for pas in contacts.pas] == [
        (SYD, "070-111 22 33"), (NORR, "070-444 55 66")]


def test_no_contacts_by_default(tmp_path):
    contacts = load_appliance_config(write(tmp_path, "")).contacts
    assert not contacts.configured and contacts.updated is None and contacts.pas == ()
    assert all(role is None for role in contacts.roles.values())


def test_the_date_may_be_written_in_quotes(tmp_path):
    config = load_appliance_config(write(tmp_path, CONTACTS.replace(
        "updated = 2026-11-03", 'updated = "2026-11-03"') + UNITS))
    assert config.contacts.updated == date(2026, 11, 3)


@pytest.mark.parametrize("phone", ["0456-123 45", "+46 70 123 45 67", "(0456) 123 45",
                                   "123456", "08-123 456 78"])
def test_phone_numbers_as_people_write_them_are_accepted(tmp_path, phone):
    config = load_appliance_config(write(
        tmp_path, f'[contacts]\nupdated = 2026-11-03\n[contacts.it_support]\nphone = "{phone}"\n'))
    assert config.contacts.it_support.phone == phone


@pytest.mark.parametrize(("value", "why"), [
    ('"abc"', "only digits, spaces, +, - and parentheses, not 'a' 'b' 'c'"),
    ('"12345"', "at least 6 digits"),
    ('"0456–123 45"', "not '–' (write - for a dash)"),  # a word processor's dash
    ('"0456/123 45"', "not '/'"),
    ('"070 123 45 67 ankn. 2"', "not 'a' 'n' 'k' '.'"),
    ('"0456-123 45 67 89 00 11 22 33 44"', "at most 30 characters"),
    ('""', "expected a phone number in quotes"),
    ("4561234567", "expected a phone number in quotes"),  # TOML's integer: the 0 is lost
])
def test_a_bad_phone_number_is_refused_naming_the_key(tmp_path, value, why):
    problems = appliance_problems(tmp_path, "[contacts]\nupdated = 2026-11-03\n"
                                            f"[contacts.unit_manager]\nphone = {value}\n")
    [line] = problems
    assert line.startswith("contacts.unit_manager.phone: must be the phone number to call, "
                           "got "), line
    assert why in line, line


def test_a_bad_pas_phone_names_its_entry(tmp_path):
    [line] = appliance_problems(tmp_path, "[contacts]\nupdated = 2026-11-03\n"
                                          '[[contacts.pas]]\nphone = "x"\n')
    assert line.startswith("contacts.pas[1].phone: must be the phone number to call, got 'x'")


def test_a_listed_role_needs_its_phone(tmp_path):
    [line] = appliance_problems(tmp_path, '[contacts]\nupdated = 2026-11-03\n'
                                          '[contacts.it_support]\nname = "IT"\n')
    assert line == "contacts.it_support.phone: must be the phone number to call, but it is missing"


@pytest.mark.parametrize(("text", "expected"), [
    ('[contacts.unit_manager]\ntelefon = "0456-123 45"\n',
     ["contacts.unit_manager.telefon: unknown key",
      "contacts.unit_manager.phone: must be the phone number to call, but it is missing"]),
    ('[contacts.unit_manager]\nphone = "0456-123 45"\nnmae = "Anna"\n',
     ["contacts.unit_manager.nmae: unknown key (did you mean 'name'?)"]),
    ('[contacts.ec]\nphone = "0456-123 45"\n',
     ["contacts.ec: unknown key: write [contacts.unit_manager] (The unit manager (EC, "
      "enhetschef), by day)"]),
    ('[contacts.cib]\nphone = "0456-123 45"\n',
     ["contacts.cib: unknown key: write [contacts.manager_on_call] (The manager on call "
      "(CIB, chef i beredskap), in on-call hours)"]),
    ('[contacts.it_suport]\nphone = "0456-123 45"\n',
     ["contacts.it_suport: unknown key (did you mean 'it_support'?)"]),
    ('[[contacts.pas]]\nphone = "0456-123 45"\nenhet = "Syd"\n',
     ["contacts.pas[1].enhet: unknown key"]),
    ('[contacts]\nstale_days = 90\n', ["contacts.stale_days: unknown key (did you mean "
                                        "'stale_after_days'?)"]),
    ('[contacts]\nunit_manager = "0456-123 45"\n',
     ["contacts.unit_manager: must be a table ([contacts.unit_manager]) with phone, name "
      "and note, got '0456-123 45'"]),
])
def test_unknown_keys_are_refused_naming_the_key(tmp_path, text, expected):
    problems = appliance_problems(tmp_path, "[contacts]\nupdated = 2026-11-03\n"
                                  + text.replace("[contacts]\n", ""))
    assert sorted(problems) == sorted(expected)


@pytest.mark.parametrize(("text", "expected"), [
    ('updated = "3 november"', "contacts.updated: must be the date the contacts were last "
                               "checked, got '3 november' (expected a date, e.g. 2026-11-03, "
                               "or empty)"),
    ('updated = "2026-13-01"', "not a date in the calendar"),
    ("updated = 2026-11-03T10:00:00", "expected a date without a time"),
    ('day_starts = "7:00"', "contacts.day_starts: must be the time the day starts, \"HH:MM\", "
                            "got '7:00'"),
    ('day_ends = "06:00"', "contacts.day_ends: must be the time the day ends, after "
                           "contacts.day_starts (07:00), got '06:00'"),
    ("stale_after_days = 0", "contacts.stale_after_days: must be days after which the "
                             "contacts need checking, got 0 (expected 1..3650)"),
])
def test_bad_contacts_settings_are_refused_naming_the_key(tmp_path, text, expected):
    body = "[contacts]\n" + ("" if text.startswith("updated") else "updated = 2026-11-03\n")
    problems = appliance_problems(tmp_path, body + text + "\n")
    assert any(expected in line for line in problems), problems


def test_contacts_need_their_date(tmp_path):
    [line] = appliance_problems(tmp_path, '[contacts.it_support]\nphone = "0456-816 00"\n')
    assert line.startswith("contacts.updated: must be the date the contacts were last checked")


def test_pas_units_must_be_configured_units_each_once(tmp_path):
    pas = "".join(f'[[contacts.pas]]\n{unit}phone = "070-111 22 33"\n'
                  for unit in ('unit = "Hemsjukvård Väst"\n', "", f'unit = "{SYD}"\n',
                               f'unit = "{SYD}"\n'))
    problems = appliance_problems(tmp_path, UNITS + "[contacts]\nupdated = 2026-11-03\n" + pas)
    assert problems == [
        "contacts.pas[1].unit: must be one of units.names, got 'Hemsjukvård Väst' "
        "(configured: Hemsjukvård Syd, Hemsjukvård Norr)",
        "contacts.pas[2].unit: must be one of units.names, but it is missing (configured: "
        "Hemsjukvård Syd, Hemsjukvård Norr)",
        "contacts.pas[4].unit: must be one of units.names, got 'Hemsjukvård Syd' more than "
        "once"]


def test_single_unit_mode_takes_one_pas_only(tmp_path):
    problems = appliance_problems(tmp_path, "[contacts]\nupdated = 2026-11-03\n"
                                  + '[[contacts.pas]]\nphone = "070-111 22 33"\n' * 2)
    assert problems == ["contacts.pas: must be one PAS contact in single-unit mode, got 2 "
                        "(list the units in units.names to give each its own)"]


def test_config_show_of_contacts_loads_back_to_the_same_settings(tmp_path):
    config = load_appliance_config(write(tmp_path / "a", UNITS + CONTACTS))
    shown = "\n".join(settings_in_force(config))
    again = load_appliance_config(write(tmp_path / "b", shown))
    assert again == ApplianceConfig(**{**vars(config), "source": again.source})
    assert 'contacts.unit_manager.phone = "0456-123 45"' in shown.splitlines()
    assert 'contacts.updated = "2026-11-03"' in shown.splitlines()
