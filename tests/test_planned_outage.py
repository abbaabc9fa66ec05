"""Issue 24 §2: planned outages, end to end and piece by piece.

Real parts: the appliance's real web stack (nginx + gunicorn, tests.conftest.Server) takes
the sender's announcement and its deliveries; the real sender agent pushes them, driven by
a FixedClock; the kit goes to a capture queue on the session's private cupsd; the kiosk is
the real Flask app and templates, in-process with a FixedClock. The appliance's server runs
on the machine's clock, so the window is placed relative to it (never a fixed date): it
begins a little after the test starts, and the sender's clock is set to T−30 min, which is
then just in the past, so no export looks produced in the future to the appliance.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from appliance.adapters.web import create_app
from appliance.core.base.clock import FixedClock, isoformat_utc
from appliance.core.crypto import seal
from appliance.core.printing.outage_kit import OutageKit
from appliance.core.records.planned_outages import OutagePlan, window_id
from tests.conftest import BIN, make_installation
from tests.test_printing import text_of
from tests.test_sender_agent import STABLE, export, make_site  # noqa: F401

TZ = ZoneInfo("Europe/Stockholm")
MONTHS = ("jan", "feb", "mars", "apr", "maj", "juni", "juli", "aug", "sep", "okt", "nov", "dec")
OUTAGE_CONFIG = "\n[outage]\nprint_kit_at_start = true\n"
CAREPLAN_RULE = '\n[[outbox.rules]]\nglob = "vardplan*.pdf"\nkind = "careplan"\n'


def minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def local_arg(moment: datetime) -> str:
    return f"{moment.astimezone(TZ):%Y-%m-%dT%H:%M}"


def expected_text(starts: datetime, ends: datetime) -> str:
    """What the nurses must read, spelt out here rather than by the code under test."""
    s, e = starts.astimezone(TZ), ends.astimezone(TZ)
    end = f"{e:%H:%M}" if e.date() == s.date() else f"{e.day} {MONTHS[e.month - 1]} {e:%H:%M}"
    return f"Planerat avbrott {s.day} {MONTHS[s.month - 1]} {s:%H:%M}–{end}"


def kiosk_view(inst, now: datetime) -> str:
    app = create_app(inst.config, printer=inst.printer(), clock=FixedClock(now))
    response = app.test_client().get("/kiosk/view", environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def audit(inst) -> list[dict]:
    return [json.loads(line) for line in (inst.state_dir / "audit.log").read_text().splitlines()]


def kits(inst) -> list[dict]:
    return [e for e in audit(inst) if e["event"] == "printed"]


# ---------------------------------------------------------------- the whole chain


def test_planned_window_end_to_end(make_site, private_cups, capture_queue, monkeypatch):  # noqa: F811
    """Announcement (sender CLI → agent → real server) → kiosk and status text → one extra
    delivery of every kind at T−30 min, once across an agent restart → one kit by itself at
    the start, none after a restart of `jobs` inside the window, none after it."""
    monkeypatch.setenv("CUPS_SERVER", private_cups.server)
    site = make_site(start=False)
    inst = site.appliances["jourrum"]
    with open(inst.appliance_toml, "a", encoding="utf-8") as handle:
        handle.write(f'\n[printing]\nqueue = "{capture_queue.name}"\n' + OUTAGE_CONFIG)
    inst.queue, inst.cups = capture_queue, private_cups
    site.servers["jourrum"].start()
    with open(site.sender.sender_toml, "a", encoding="utf-8") as handle:
        handle.write(CAREPLAN_RULE)

    real_now = datetime.now(UTC)
    starts = minute(real_now) + timedelta(minutes=20)
    ends = starts + timedelta(hours=4)
    made = real_now - timedelta(hours=2)
    for name, kind in (("todo-1.pdf", "todo"), ("lakemedel-1.pdf", "medications"),
                       ("vardplan-1.pdf", "relatives")):  # synthetic has no care plan: any PDF
        export(site, name, made, kind=kind)

    clock = FixedClock(starts - timedelta(hours=1))
    agent = site.agent(clock)
    agent.tick()
    clock.advance(timedelta(seconds=STABLE))
    assert agent.tick().delivered == 3

    site.sender.sender_cli("outage", "plan", "--from", local_arg(starts), "--to",
                           local_arg(ends), "--note", "LifeCare uppgraderas")
    report = agent.tick()
    assert report.queued == 0 and report.delivered == 0  # only the announcement went
    wid = window_id(starts, TZ)
    assert [w.id for w in OutagePlan(inst.config).windows()] == [wid]
    planned = [e for e in audit(inst) if e["event"] == "outage_planned"]
    assert [(e["window"], e["source"], e["note"]) for e in planned] == [
        (wid, "sender:kontor-norr", "LifeCare uppgraderas")]
    assert "announced to: jourrum" in site.sender.sender_cli("outage", "list").output

    # the kiosk and `status` say it, in Swedish, before and during the window
    # the kiosk and `status` say it, in Swedish, before the window (the appliance's own
    # readings below go forward in time, as its clock does: clock_trust remembers them)
    before = expected_text(starts, ends)
    status = json.loads(inst.appliance("status", "--json", expect=None).output)
    assert [(w["id"], w["text"], w["ongoing"]) for w in status["planned_outages"]] == [
        (wid, before, False)]
    assert before in kiosk_view(inst, starts - timedelta(minutes=10))

    # T−31 min: nothing extra yet; T−30 min: every kind once more, care plans included
    clock.set(starts - timedelta(minutes=31))
    assert agent.tick().queued == 0
    clock.set(starts - timedelta(minutes=30))
    report = agent.tick()
    assert (report.queued, report.delivered) == (3, 3)
    kinds = sorted(d["kind"] for s in site.snapshots("jourrum")[3:] for d in s["documents"])
    assert kinds == ["careplan", "medications", "todo"]
    clock.advance(timedelta(minutes=1))
    restarted = site.agent(clock)  # a restart inside the lead does not deliver them again
    assert restarted.tick().queued == 0 and agent.tick().queued == 0
    assert len(site.snapshots("jourrum")) == 6

    # the appliance's jobs: nothing before the start, one kit at it, none after a restart
    def jobs_turn(moment: datetime):
        return OutageKit(inst.services(FixedClock(moment))).evaluate()

    assert jobs_turn(starts - timedelta(minutes=1)) is None and kits(inst) == []
    assert jobs_turn(starts + timedelta(seconds=30)).id == wid
    printed = kits(inst)
    assert [(k["trigger"], k["profile"]) for k in printed] == [("planned-outage", "full")]
    captured = private_cups.wait_for(capture_queue.captured, what="the outage kit")
    assert [c.job_id for c in captured] == [printed[0]["job"]]
    cover = text_of(captured[0].path.read_bytes(), 1)
    assert before in cover  # the paper says which planned outage it is for
    for title in ("Att göra-lista", "Läkemedelslista", "Vårdplan"):
        assert title in cover
    e = ends.astimezone(TZ)
    during = (f"Planerat avbrott pågår till {e:%H:%M}"
              if e.date() == (starts + timedelta(minutes=5)).astimezone(TZ).date() else
              f"Planerat avbrott pågår till {e.day} {MONTHS[e.month - 1]} {e:%H:%M}")
    assert during in kiosk_view(inst, starts + timedelta(minutes=5))
    for moment in (starts + timedelta(minutes=6), starts + timedelta(hours=1),
                   ends + timedelta(minutes=1)):
        assert jobs_turn(moment) is None  # a new OutageKit each time: a restarted `jobs`
    assert len(kits(inst)) == 1 and len(capture_queue.captured()) == 1
    assert "Planerat avbrott" not in kiosk_view(inst, ends + timedelta(minutes=2))
    assert [e["window"] for e in audit(inst) if e["event"] == "outage_kit"] == [wid]
    listed = json.loads(inst.appliance("outage", "list", "--json").output)
    assert listed[0]["kit"]["outcome"] == "printed"


def test_a_sender_cancels_its_window_on_every_appliance_that_had_it(make_site):  # noqa: F811
    """Two appliances, one down while the window is announced: the one that had it gets
    the cancellation; the one that never had it gets neither, once it is back."""
    site = make_site("norr", "syd", start=False)
    site.servers["norr"].start()
    starts = minute(datetime.now(UTC)) + timedelta(days=2)
    args = ("--from", local_arg(starts), "--to", local_arg(starts + timedelta(hours=2)))
    site.sender.sender_cli("outage", "plan", *args)
    clock = FixedClock(datetime.now(UTC))
    agent = site.agent(clock)
    agent.tick()
    wid = window_id(starts, TZ)
    assert [w.id for w in OutagePlan(site.appliances["norr"].config).windows()] == [wid]
    site.sender.sender_cli("outage", "cancel", wid)
    site.servers["syd"].start()
    clock.advance(timedelta(hours=1))  # past the retry of "syd", which did not answer
    agent.tick()
    for name in ("norr", "syd"):
        assert OutagePlan(site.appliances[name].config).windows() == []
    events = {name: [e["event"] for e in audit(site.appliances[name])
                     if e["event"].startswith(("outage_", "refused"))]
              for name in ("norr", "syd")}
    assert events == {"norr": ["outage_planned", "outage_cancelled"], "syd": []}
    assert "CANCELLED" in site.sender.sender_cli("outage", "list").output


def test_a_fleet_window_in_the_senders_config_is_delivered_for_never_announced(make_site):  # noqa: F811
    """`appliance_planned_outages` for a fleet reaches the sender as `[[outage.planned]]`
    (the sender role's default): its agent delivers every kind once more at T−30 min, as
    for a window planned on the sender, but sends no announcement, since every appliance
    has the window from its own config."""
    site = make_site(start=False)
    site.servers["jourrum"].start()
    real_now = datetime.now(UTC)
    starts = minute(real_now) + timedelta(minutes=40)
    for name, kind in (("todo-1.pdf", "todo"), ("lakemedel-1.pdf", "medications")):
        export(site, name, real_now - timedelta(hours=2), kind=kind)
    with open(site.sender.sender_toml, "a", encoding="utf-8") as handle:
        handle.write(f'\n[[outage.planned]]\nfrom = "{local_arg(starts)}"\n'
                     f'to = "{local_arg(starts + timedelta(hours=3))}"\nnote = "Flottan"\n')
    clock = FixedClock(starts - timedelta(hours=1))
    agent = site.agent(clock)
    agent.tick()
    clock.advance(timedelta(seconds=STABLE))
    assert agent.tick().delivered == 2
    assert "set in the config, not announced" in site.sender.sender_cli("outage", "list").output
    clock.set(starts - timedelta(minutes=31))
    assert agent.tick().queued == 0
    clock.set(starts - timedelta(minutes=30))
    report = agent.tick()
    assert (report.queued, report.delivered) == (2, 2)
    assert site.agent(clock).tick().queued == 0  # once, across a restart
    appliance = site.appliances["jourrum"]
    assert OutagePlan(appliance.config).windows() == []  # nothing announced to it
    assert not [e for e in audit(appliance) if e["event"].startswith(("outage_", "refused"))]


def test_the_sender_role_writes_the_fleets_windows_and_checks_them(tmp_path):
    """sender.toml.j2 rendered as Ansible would: the fleet's windows load into the
    sender's config; one that ends before it begins is refused with its key named."""
    import jinja2

    from appliance.core.config.settings import load_sender_config

    role = Path(__file__).resolve().parent.parent / "ansible" / "roles" / "sender"
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(role / "templates"),
                             undefined=jinja2.StrictUndefined, trim_blocks=True)
    env.filters["to_json"] = lambda value, **kw: json.dumps(value, default=str, **kw)
    variables = {"ansible_managed": "test", "sender_name": "kontor-norr",
                 "sender_unit": "Hemsjukvård Norr", "sender_outbox_dir": "/srv/exports",
                 "sender_outbox_after_delivery": "keep",
                 "sender_outbox_rules": [{"glob": "*.pdf", "kind": "todo"}],
                 "sender_schedule_slots": ["07:00", "14:30"],
                 "sender_schedule_required_kinds": ["todo"],
                 "sender_timezone": "Europe/Stockholm", "sender_alerts_webhook_url": ""}

    def rendered(windows):
        path = tmp_path / "sender.toml"
        path.write_text(env.get_template("sender.toml.j2").render(
            **variables, sender_planned_outages=windows), encoding="utf-8")
        return load_sender_config(path)

    config = rendered([{"from": "2026-12-12T18:00", "to": "2026-12-12T22:00",
                        "note": "LifeCare uppgraderas"}])
    assert [(w.starts.isoformat(), w.ends.isoformat(), w.note) for w in config.outage.planned] \
        == [("2026-12-12T18:00:00", "2026-12-12T22:00:00", "LifeCare uppgraderas")]
    assert rendered([]).outage.planned == ()
    with pytest.raises(Exception, match=r"outage.planned\[1\].to: must be after from"):
        rendered([{"from": "2026-12-12T18:00", "to": "2026-12-12T08:00"}])


# ---------------------------------------------------------------- the appliance on its own


@pytest.fixture
def appliance(tmp_path, private_cups, capture_queue, monkeypatch):
    monkeypatch.setenv("CUPS_SERVER", private_cups.server)
    inst = make_installation(tmp_path, f'[printing]\nqueue = "{capture_queue.name}"\n'
                             + OUTAGE_CONFIG)
    inst.queue, inst.cups = capture_queue, private_cups
    return inst


def run_jobs_until_ready(inst) -> subprocess.Popen:
    """The real `appliance jobs`, on the machine's clock, once it has told systemd READY=1:
    every job has then run once (`run_all` comes first)."""
    address = f"appliance-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind("\0" + address)
        notify.settimeout(60)
        process = subprocess.Popen(
            [str(BIN / "appliance"), "--config", str(inst.appliance_toml), "jobs"],
            env={**os.environ, "NOTIFY_SOCKET": "@" + address}, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            assert notify.recv(4096).startswith(b"READY=1")
        except BaseException:
            process.kill()
            raise
    return process


def test_the_jobs_service_prints_once_and_not_again_after_kill_9(appliance):
    """The composition root: `appliance jobs` started inside a window prints its kit before
    it reports ready; killed with SIGKILL and started again inside the window, it does not."""
    # No repeat guard: only the window's own record may keep a second kit from printing.
    with open(appliance.appliance_toml, "a", encoding="utf-8") as handle:
        handle.write("\n[panel]\nrepeat_guard_seconds = 0\n")
    now = datetime.now(UTC)
    OutagePlan(appliance.config).plan(minute(now) - timedelta(minutes=1),
                                      minute(now) + timedelta(hours=2), "", "cli", now)
    for _ in range(2):
        process = run_jobs_until_ready(appliance)
        # the kit's job has left CUPS: nothing in flight holds a second one back either
        appliance.cups.wait_for(appliance.queue.captured, what="the outage kit")
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        assert [k["trigger"] for k in kits(appliance)] == ["planned-outage"]
    assert len(appliance.queue.captured()) == 1


def test_cli_plans_lists_and_cancels(appliance):
    now = datetime.now(UTC)
    starts = minute(now) + timedelta(days=5)
    ends = starts + timedelta(hours=4)
    out = appliance.appliance("outage", "plan", "--from", local_arg(starts), "--to",
                              local_arg(ends), "--note", "Byte av server").output
    wid = window_id(starts, TZ)
    assert out.startswith(f"planned {wid}:")
    shown = json.loads(appliance.appliance("status", "--json", expect=None).output)
    assert [w["text"] for w in shown["planned_outages"]] == [expected_text(starts, ends)]
    assert wid in appliance.appliance("outage", "list").output
    appliance.appliance("outage", "cancel", wid)
    assert appliance.appliance("outage", "list").output.strip() == "no planned outages"
    events = [(e["event"], e["window"]) for e in audit(appliance)
              if e["event"].startswith("outage_")]
    assert events == [("outage_planned", wid), ("outage_cancelled", wid)]


@pytest.mark.parametrize(("starts", "ends", "note", "says"), [
    (timedelta(days=2), timedelta(days=2, hours=-1), "", "--to must be after --from"),
    (timedelta(days=-2), timedelta(days=-1), "", "already ended"),
    (timedelta(days=2), timedelta(days=20), "", "at most 14 days"),
    (timedelta(days=2), timedelta(days=2, hours=1), "x" * 201, "at most 200"),
    (timedelta(days=2), timedelta(days=2, hours=1), "two\nlines", "one line"),
])
def test_cli_refuses_a_bad_window_and_keeps_the_plan(appliance, starts, ends, note, says):
    now = minute(datetime.now(UTC))
    result = appliance.appliance("outage", "plan", "--from", local_arg(now + starts), "--to",
                                 local_arg(now + ends), "--note", note, expect=2)
    assert says in result.output
    assert OutagePlan(appliance.config).windows() == []


def test_cli_refuses_a_time_that_is_no_time(appliance):
    result = appliance.appliance("outage", "plan", "--from", "12 dec 18:00", "--to",
                                 "2026-12-12T22:00", expect=2)
    assert "e.g. 2026-12-12T18:00" in result.output


def test_a_late_jobs_prints_once_inside_the_window_and_never_after(appliance):
    """`jobs` down at the start (a reboot, an update): it prints when it starts, still
    inside the window, once; a window it first sees after its end gets no kit at all."""
    plan = OutagePlan(appliance.config)
    now = datetime.now(UTC)
    first = plan.plan(minute(now) + timedelta(hours=1), minute(now) + timedelta(hours=3),
                      "", "cli", now)
    second = plan.plan(minute(now) + timedelta(hours=5), minute(now) + timedelta(hours=6),
                       "", "cli", now)

    def turn(moment):
        return OutageKit(appliance.services(FixedClock(moment))).evaluate()

    assert turn(first.starts_at + timedelta(minutes=95)).id == first.id
    assert turn(first.starts_at + timedelta(minutes=96)) is None
    assert turn(second.ends_at + timedelta(seconds=1)) is None  # jobs was down all along
    assert [k["trigger"] for k in kits(appliance)] == ["planned-outage"]
    assert plan.kit_record(second.id) is None


def test_off_by_default_and_overlapping_windows_print_one_kit(tmp_path, private_cups,
                                                              capture_queue, monkeypatch):
    monkeypatch.setenv("CUPS_SERVER", private_cups.server)
    inst = make_installation(tmp_path, f'[printing]\nqueue = "{capture_queue.name}"\n')
    inst.queue, inst.cups = capture_queue, private_cups
    plan = OutagePlan(inst.config)
    now = datetime.now(UTC)
    one = plan.plan(minute(now) + timedelta(hours=1), minute(now) + timedelta(hours=4), "",
                    "cli", now)
    plan.plan(minute(now) + timedelta(hours=2), minute(now) + timedelta(hours=5), "", "cli", now)
    assert OutageKit(inst.services(FixedClock(one.starts_at))).evaluate() is None
    assert kits(inst) == []

    with open(inst.appliance_toml, "a", encoding="utf-8") as handle:
        handle.write(OUTAGE_CONFIG)
    for moment in (one.starts_at, one.starts_at + timedelta(hours=1, minutes=1)):
        OutageKit(inst.services(FixedClock(moment))).evaluate()
    assert len(kits(inst)) == 1


def test_the_claim_comes_before_the_kit(appliance):
    """A `jobs` killed between its claim and CUPS (kill -9) loses that kit: the claim is on
    disk first, so the next `jobs` never prints a second one (docs/decisions.md)."""
    plan = OutagePlan(appliance.config)
    now = datetime.now(UTC)
    window = plan.plan(minute(now) + timedelta(hours=1), minute(now) + timedelta(hours=2), "",
                       "cli", now)
    at = window.starts_at + timedelta(minutes=1)
    assert plan.claim_kit(window, at, [window])  # ... and the process died here
    assert OutageKit(appliance.services(FixedClock(at))).evaluate() is None
    assert kits(appliance) == [] and appliance.queue.captured() == []


def test_a_printer_that_is_down_is_tried_again(appliance):
    """cupsd unreachable at the start: nothing reached a printer, so the claim is released
    and the next turn prints the kit, once."""
    plan = OutagePlan(appliance.config)
    now = datetime.now(UTC)
    window = plan.plan(minute(now) + timedelta(hours=1), minute(now) + timedelta(hours=2), "",
                       "cli", now)
    appliance.cups.stop()
    try:
        assert OutageKit(appliance.services(FixedClock(window.starts_at))).evaluate() is None
    finally:
        appliance.cups.start()
    assert plan.kit_record(window.id)["outcome"] == "retry"
    assert [e["event"] for e in audit(appliance) if "print" in e["event"]] == ["print_failed"]
    later = window.starts_at + timedelta(minutes=1)
    assert OutageKit(appliance.services(FixedClock(later))).evaluate().id == window.id
    assert OutageKit(appliance.services(FixedClock(later))).evaluate() is None
    assert len(kits(appliance)) == 1 and plan.kit_record(window.id)["outcome"] == "printed"


def test_config_windows_are_shown_and_cannot_be_cancelled_here(tmp_path):
    starts = minute(datetime.now(UTC)) + timedelta(days=3)
    ends = starts + timedelta(hours=2)
    inst = make_installation(tmp_path, "\n[[outage.planned]]\n"
                             f'from = "{local_arg(starts)}"\nto = "{local_arg(ends)}"\n'
                             'note = "Planerat underhåll"\n')
    status = json.loads(inst.appliance("status", "--json", expect=None).output)
    assert [(w["source"], w["text"], w["note"]) for w in status["planned_outages"]] == [
        ("config", expected_text(starts, ends), "Planerat underhåll")]
    result = inst.appliance("outage", "cancel", window_id(starts, TZ), expect=2)
    assert "set in the config" in result.output


def test_metrics_give_the_next_start_without_the_note(tmp_path):
    from appliance.core.watch.metrics import AuditTally, collect

    inst = make_installation(tmp_path)
    now = datetime.now(UTC)
    window = OutagePlan(inst.config).plan(minute(now) + timedelta(days=1),
                                          minute(now) + timedelta(days=1, hours=2),
                                          "hemlig anteckning", "cli", now)
    services = inst.services(FixedClock(now))
    families = {f.name: f for f in collect(services, AuditTally(inst.state_dir / "audit.log"),
                                           now)}
    assert families["appliance_planned_outage_next_start_timestamp_seconds"].samples == [
        ({}, window.starts_at.timestamp())]
    assert families["appliance_planned_outage_ongoing"].samples == [({}, 0)]
    assert "hemlig" not in repr(families)


# ---------------------------------------------------------------- the Ansible role


def test_the_role_writes_the_fleets_planned_outages(tmp_path):
    """`appliance_planned_outages` rendered as the role renders appliance.toml, loaded by the
    appliance (tests/test_ansible_contacts.py's stand-in for Ansible); twice the same text."""
    from tests.test_ansible_contacts import rendered_role_config

    windows = [{"from": "2026-12-12T18:00", "to": "2026-12-12T22:00",
                "note": "LifeCare uppgraderas"},
               {"from": "2027-01-09T06:00", "to": "2027-01-09T08:30"}]
    config = rendered_role_config(tmp_path, appliance_planned_outages=windows,
                                  appliance_outage_print_kit_at_start=True)
    assert config.outage.print_kit_at_start
    got = [(w.id, w.source, w.note) for w in OutagePlan(config).config_windows()]
    assert got == [("20261212-1800", "config", "LifeCare uppgraderas"),
                   ("20270109-0600", "config", "")]
    with pytest.raises(Exception, match=r"outage.planned\[1\].to: must be after from"):
        rendered_role_config(tmp_path, appliance_planned_outages=[
            {"from": "2026-12-12T18:00", "to": "2026-12-12T08:00"}])


# ---------------------------------------------------------------- the seal


def test_announcement_round_trips_and_a_broken_one_is_malformed(tmp_path):
    inst = make_installation(tmp_path)
    starts = minute(datetime.now(UTC)) + timedelta(days=1)
    notice = seal.PlannedOutageNotice(starts, starts + timedelta(hours=1), "Uppgradering")
    envelope = seal.parse(seal.seal_notice(notice, inst.sender.key, inst.public_key(), 7,
                                           datetime.now(UTC)), max_payload=2**20)
    from appliance.core.services import Services

    opened = seal.open_payload(envelope, Services(inst.config).private_key)
    assert opened.documents == [] and opened.notice == notice
    with pytest.raises(seal.MalformedSeal, match="ends_at must be after"):
        seal._check_manifest({"planned_outage": {**notice.to_json(),
                                                 "ends_at": isoformat_utc(starts)}})
    with pytest.raises(seal.MalformedSeal, match="unknown fields"):
        seal._check_manifest({"planned_outage": notice.to_json(), "documents": []})


def test_a_replayed_announcement_is_refused(tmp_path):
    inst = make_installation(tmp_path)
    starts = minute(datetime.now(UTC)) + timedelta(days=1)
    notice = seal.PlannedOutageNotice(starts, starts + timedelta(hours=1), "")
    envelope = inst.sender.seal_notice(notice, inst.public_key())
    inst.ingest(envelope)
    from appliance.core.intake.ingest import Refusal

    with pytest.raises(Refusal) as refused:
        inst.ingest(envelope)
    assert refused.value.status == 409
    cancel = seal.PlannedOutageNotice(starts, starts + timedelta(hours=1), "", cancelled=True)
    inst.ingest(inst.sender.seal_notice(cancel, inst.public_key()))
    assert OutagePlan(inst.config).windows() == []
