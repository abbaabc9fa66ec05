"""The kiosk's endpoints against the real server (nginx + gunicorn) and the private cupsd:
who may print, the per-boot token, one kit shared with the button, no patient data.

A LAN client is simulated from 127.0.1.x, as the hostile-network tests do: loopback to the
kernel, but not the kiosk's loopback (exactly 127.0.0.1 or ::1)."""

from __future__ import annotations

import html
import http.client
import json
import re
import subprocess
import threading
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest

from appliance.adapters.web import create_app
from appliance.adapters.web.kiosk_text import CATALOGUE, Texts
from appliance.adapters.web.kiosk_token import SECRET_NAME, kiosk_token
from appliance.core.base.clock import FixedClock
from appliance.core.watch.status import ApplianceStatus, State, shown_state
from tests.conftest import Server
from tests.print_helpers import (
    audit_events,
    first_kit_then_quit,
    send,
    simulated_panel,
    with_guard_config,
)

LAN_CLIENT = "127.0.1.7"
TOKEN = re.compile(r'<meta name="kiosk-token" content="([0-9a-f]{64})">')


def fetch(url: str, method: str = "GET", *, headers: dict | None = None,
          source: str = "127.0.0.1") -> tuple[int, str]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60,
                                            source_address=(source, 0))
    try:
        connection.request(method, parts.path + (f"?{parts.query}" if parts.query else ""),
                           headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def screen_text(page: str) -> str:
    """What a page or view says, without its markup (an age is in pieces a line may
    break between: `<span>Ålder</span> <span>4 h 10 min</span>`)."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", page)).split())


def page_token(server) -> str:
    status, page = fetch(server.url + "/kiosk")
    assert status == 200
    return TOKEN.search(page).group(1)


def press(server, profile: str = "button", *, token: str | None,
          source: str = "127.0.0.1") -> tuple[int, dict]:
    headers = {} if token is None else {"X-Kiosk-Token": token}
    status, body = fetch(f"{server.url}/kiosk/print?profile={profile}", "POST",
                         headers=headers, source=source)
    return status, json.loads(body)


def test_the_appliances_own_browser_gets_buttons_and_the_token_a_lan_client_neither(server):
    status, own = fetch(server.url + "/kiosk")
    assert status == 200
    assert TOKEN.search(own)
    assert "Skriv ut att göra-listan" in own and "Inga uppgifter" in own
    status, lan = fetch(server.url + "/kiosk", source=LAN_CLIENT)
    assert status == 200
    assert "Inga uppgifter" in lan
    assert "kiosk-token" not in lan and "data-profile" not in lan
    assert "Utskrift går bara från skärmen vid apparaten" in lan
    assert "data-profile" not in fetch(server.url + "/kiosk/view", source=LAN_CLIENT)[1]


def test_a_lan_client_and_a_press_without_the_token_cannot_print(server):
    inst = server.installation
    inst.ingest(inst.envelope(pages=1))
    token = page_token(server)  # even a LAN client that somehow learnt the token
    assert press(server, token=token, source=LAN_CLIENT)[0] == 403
    assert press(server, token=None)[0] == 403
    assert press(server, token="0" * 64)[0] == 403
    assert press(server, "nonsense", token=token)[0] == 400
    assert press(server, "button&unit=Nowhere", token=token)[0] == 400  # no such unit
    assert audit_events(inst, "printed") == []
    assert inst.queue.captured() == []


def test_press_prints_one_kit_with_every_page_and_reports_its_progress(server):
    inst = server.installation
    inst.ingest(inst.envelope(pages=3))
    status, answer = press(server, token=page_token(server))
    assert status == 200 and answer["outcome"] == "started", answer
    kit = inst.cups.wait_for(lambda: inst.queue.captured_job(answer["job"]), timeout=30,
                             what="the kit")
    pdfinfo = subprocess.run(["pdfinfo", str(kit.path)], capture_output=True, text=True,
                             check=True).stdout
    assert int(re.search(r"Pages:\s+(\d+)", pdfinfo).group(1)) == answer["pages"]
    assert answer["pages"] > 3  # cover, the list's three pages, the blank forms
    assert [e["trigger"] for e in audit_events(inst, "printed")] == ["kiosk"]
    view = "&".join(f"{key}={value}" for key, value in answer["view"].items())

    def progress_done():
        return "aria-current=\"step\">Utskriven<" in fetch(f"{server.url}/kiosk/view?{view}")[1]

    inst.cups.wait_for(progress_done, timeout=30, what="the progress view says Utskriven")
    assert f"{answer['pages']} sidor" in fetch(f"{server.url}/kiosk/view?{view}")[1]


def test_two_quick_presses_and_the_panels_button_at_once_give_one_kit(installation):
    inst = with_guard_config(installation)
    inst.ingest(inst.envelope(pages=1))
    server = Server(inst).start()
    panel = simulated_panel(inst)
    try:
        token = page_token(server)
        answers = []
        presses = [threading.Thread(target=lambda: answers.append(press(server, token=token)))
                   for _ in range(2)]
        send(panel, "press")
        for thread in presses:
            thread.start()
        for thread in presses:
            thread.join(timeout=60)
        first_kit_then_quit(inst, panel)
    finally:
        panel.kill()
        server.stop()
    assert len(answers) == 2 and all(status == 200 for status, _ in answers), answers
    assert [a["outcome"] for _, a in answers].count("busy") >= 1, answers
    assert len(audit_events(inst, "printed")) == 1
    assert len(inst.queue.captured()) == 1


def test_a_busy_press_says_a_kit_is_on_its_way(server):
    inst = server.installation
    inst.ingest(inst.envelope(pages=1))
    inst.queue.set_fault("media-empty")  # the first kit waits in the queue
    token = page_token(server)
    assert press(server, token=token)[1]["outcome"] == "started"
    status, answer = press(server, token=token)
    assert (status, answer["outcome"]) == (200, "busy")
    view = fetch(f"{server.url}/kiosk/view?profile=button&busy=1")[1]
    assert "En utskrift är redan på väg" in view
    inst.cups.wait_for(  # CUPS learns of the fault when it tries the job
        lambda: "media-empty-error" in inst.cups.printer_state_reasons(inst.queue.name),
        timeout=20)
    page = fetch(server.url + "/kiosk")[1]
    assert "Skrivarfel" in page and "fyll på papper" in page  # the LED's fault, and the remedy


def test_the_token_is_the_same_in_every_worker_and_after_a_restart(installation):
    server = Server(installation).start()
    try:
        tokens = {page_token(server) for _ in range(6)}  # two workers answer in turn
    finally:
        server.stop()
    server = Server(installation).start()
    try:
        tokens.add(page_token(server))
    finally:
        server.stop()
    assert len(tokens) == 1
    secret = installation.state_dir / SECRET_NAME
    assert secret.stat().st_mode & 0o777 == 0o600
    assert tokens == {kiosk_token(installation.state_dir)}


def test_the_token_changes_with_the_boot(tmp_path):
    boots = []
    for boot in ("1f0e-first", "2a9c-second"):
        boot_id = tmp_path / boot
        boot_id.write_text(boot + "\n")
        boots.append(kiosk_token(tmp_path / "state", boot_id))
    assert boots[0] != boots[1]
    assert kiosk_token(tmp_path / "state", tmp_path / "1f0e-first") == boots[0]


def test_the_screen_shows_no_patient_data(server):
    inst = server.installation
    inst.ingest(inst.envelope(pages=2, marker="Patientnamn Testsson 19121212-1212"))
    for source in ("127.0.0.1", LAN_CLIENT):
        status, page = fetch(server.url + "/kiosk", source=source)
        assert status == 200
        assert "Redo" in page and "Ålder " in screen_text(page)
        assert "Testsson" not in page and "19121212" not in page


@pytest.mark.parametrize("lang, words", [("en", ("No data", "Print the to-do list")),
                                         ("sv", ("Inga uppgifter", "Bara blanketter"))])
def test_english_for_it_swedish_by_default(server, lang, words):
    page = fetch(f"{server.url}/kiosk?lang={lang}")[1]
    assert all(word in page for word in words)
    assert f'<html lang="{lang}">' in page


def test_every_asset_is_local(server):
    page = fetch(server.url + "/kiosk")[1]
    assets = re.findall(r'(?:href|src)="([^"]+)"', page)
    assert assets and all(asset.startswith("/kiosk/static/") for asset in assets)
    for asset in assets:
        status, body = fetch(server.url + asset)
        assert status == 200 and "http://" not in body and "https://" not in body


@pytest.mark.parametrize("lang, minutes, text", [
    ("sv", 0, "Ålder 0 min"), ("sv", 59, "Ålder 59 min"), ("sv", 4 * 60 + 10, "Ålder 4 h 10 min"),
    ("sv", 60, "Ålder 1 h"), ("sv", 30 * 60, "Ålder 30 h"),
    ("sv", 71 * 60 + 59, "Ålder 2 dygn (71 h 59 min)"), ("sv", 72 * 60, "Ålder 3 dygn (72 h)"),
    ("en", 4 * 60 + 10, "Age 4 h 10 min"), ("en", 3 * 24 * 60, "Age 3 days (72 h)"),
])
def test_ages_in_plain_words(lang, minutes, text):
    assert Texts(lang).age(timedelta(minutes=minutes, seconds=59)) == text


def test_an_unknown_language_is_swedish_and_every_message_exists_in_both():
    assert Texts("xx").lang == "sv" and Texts(None)("state.ready") == "Redo"
    assert CATALOGUE["sv"].keys() == CATALOGUE["en"].keys()


@pytest.mark.parametrize("computed, on_its_way, shown", [
    (State.READY, True, State.PRINTING), (State.STALE, True, State.PRINTING),
    (State.FAULT, True, State.FAULT), (State.NO_DATA, False, State.NO_DATA),
])
def test_the_screen_and_the_led_show_one_state(computed, on_its_way, shown):
    status = ApplianceStatus(computed, datetime.now(UTC), ())
    assert shown_state(status, on_its_way) is shown


# ---------------------------------------------------------------- Vem ringer jag?
#
# The view in-process (the real app and templates, the printer in memory), at the same
# fixed moments as the paper's tests: what the screen says against what the kit's
# contacts sheet says, from the config of tests/test_contacts.py.


def contacts_view(inst, now: datetime, source: str = "127.0.0.1") -> str:
    """What "Vem ringer jag?" says at `now` (a FixedClock), as text."""
    app = create_app(inst.config, printer=inst.memory_printer, clock=FixedClock(now))
    response = app.test_client().get("/kiosk/view?contacts=1",
                                      environ_base={"REMOTE_ADDR": source})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def phones_on(page: str) -> list[str]:
    return [html.unescape(number) for number in
            re.findall(r'<td class="phone">([^<]+)</td>', page)]


@pytest.mark.parametrize("moment", ["day", "night"])
def test_the_contacts_on_screen_are_the_configs_and_ring_nu_is_the_papers(tmp_path, moment):
    from tests.test_contacts import (
        CIB,
        DAY,
        EC,
        NIGHT,
        NUMBERS,
        exported,
        first_manager,
        installation,
        sheet_of,
    )

    inst = installation(tmp_path / "installation")
    now, expected = {"day": (DAY, EC), "night": (NIGHT, CIB)}[moment]
    page = contacts_view(inst, now)
    text = screen_text(page)
    sheet = sheet_of(exported(inst, "forms", now, tmp_path))
    # every number of the config, once, and nothing else in the phone column
    assert sorted(phones_on(page)) == sorted(NUMBERS)
    assert first_manager(text) == first_manager(sheet) == f"Ring nu: {expected}"
    assert text.count("Ring nu") == sheet.count("Ring nu") == 1
    assert re.search(r'<tr class="now">\s*<th scope="row">Ring nu: ' + re.escape(expected),
                     page)
    for words in ("Anna Andersson", "PAS Hemsjukvård Syd", "PAS-telefon Syd",
                  "PAS Hemsjukvård Norr", "IT-servicedesk", "Cosafe – larm",
                  "Larma via Cosafe-appen", "Uppgifterna ändrades 2026-11-03",
                  "Dagtid: måndag–fredag 07:00–16:30, inte helgdagar",
                  "Jourtid: kvällar, nätter, helger och helgdagar"):
        assert words in text and words in sheet, words
    assert "KONTROLLERA" not in text
    # the same on the LAN's read-only view: staff numbers, no patient data
    assert phones_on(contacts_view(inst, now, LAN_CLIENT)) == phones_on(page)


def test_the_contacts_with_an_unsure_clock_old_numbers_and_none(tmp_path):
    from tests.test_contacts import CONTACTS, DAY, SYD, installation

    inst = installation(tmp_path / "unsure")
    later = FixedClock(DAY + timedelta(hours=5))  # a list received after "now"
    inst.ingest(inst.envelope(unit=SYD, pages=1, clock=later), later)
    text = screen_text(contacts_view(inst, DAY))
    assert "Ring nu" not in text
    assert ("Klockan är osäker: ring EC dagtid (måndag–fredag 07:00–16:30, inte helgdagar), "
            "annars CIB.") in text

    old = installation(tmp_path / "old", CONTACTS.replace("updated = 2026-11-03",
                                                          "updated = 2025-01-01"))
    text = screen_text(contacts_view(old, DAY))
    assert "Uppgifterna ändrades 2025-01-01" in text
    assert ("KONTROLLERA – uppgifterna är äldre än 6 månader. Stämmer ett nummer inte: "
            "meddela enhetschefen.") in text

    none = installation(tmp_path / "none", "", units="")
    page = contacts_view(none, DAY)
    assert "Inga kontakter är inställda – ring IT-support." in screen_text(page)
    assert phones_on(page) == [] and "Tillbaka" in page
