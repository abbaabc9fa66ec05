"""Units per sender, clock skew and freshness per (unit, kind) (issue 8 §2), and retention of
units no longer configured (§3), against the real server, CLI, store, panel and printer."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta

import pytest

from appliance.core.base.clock import FixedClock
from appliance.core.intake.ingest import Refusal, ingest
from appliance.core.intake.retention import apply_retention
from appliance.core.printing.print_service import PrintService, profile_named
from appliance.core.records.audit import AuditLog
from appliance.core.services import Services
from appliance.core.watch.metrics import AuditTally, collect
from appliance.core.watch.status import State, compute_status
from tests.conftest import Installation, Server, get_json, post
from tests.test_panel import panel  # noqa: F401 - the fixture, used by name below
from tests.test_printing import text_of

NORR, SYD = "Hemsjukvård Norr", "Hemsjukvård Syd"
MARKER_A, MARKER_B = "Zqx-Norr-lista", "Zqx-Syd-lista"


def configure_units(inst: Installation, *units: str, extra: str = "") -> None:
    with open(inst.appliance_toml, "a", encoding="utf-8") as handle:
        handle.write(f"\n[units]\nnames = {json.dumps(list(units), ensure_ascii=False)}\n"
                     + extra)


def second_sender(inst: Installation, name: str, *units: str) -> Installation:
    """Another office PC, enrolled for `units`: the same installation seen from it."""
    folder = inst.root / name
    inst.sender_cli("init", "--dir", str(folder))
    other = dataclasses.replace(inst, sender_toml=folder / "sender.toml")
    pub = inst.root / f"{name}.pub"
    pub.write_text(other.sender_cli("pubkey").output)
    inst.appliance("senders", "add", name, str(pub), *[arg for unit in units
                                                        for arg in ("--unit", unit)])
    return other


@pytest.fixture
def two_units(installation: Installation) -> tuple[Installation, Installation]:
    """Sender A (kontor-norr) may send for Norr, sender B (kontor-syd) for Syd."""
    configure_units(installation, NORR, SYD)
    installation.appliance("senders", "units", "kontor-norr", "--unit", NORR)
    return installation, second_sender(installation, "kontor-syd", SYD)


@pytest.fixture
def units_server(two_units):
    srv = Server(two_units[0]).start()
    yield srv
    srv.stop()


def push(srv: Server, envelope: bytes) -> tuple[int, dict]:
    return post(srv.url + "/api/v1/snapshots", envelope)


def now() -> datetime:
    return datetime.now(UTC)


# -- who may send for which unit -----------------------------------------------------------


def test_a_sender_pushing_for_another_units_list_is_refused(two_units, units_server) -> None:
    a, b = two_units
    assert push(units_server, a.envelope(unit=NORR))[0] == 201
    before = a.store_state()

    status, body = push(units_server, b.envelope(unit=NORR))

    assert (status, body["error"]) == (403, "unit_not_allowed")
    assert NORR not in body["message"]  # the unit travels encrypted: the audit log names it
    assert "kontor-syd" in a.refusal_detail() and NORR in a.refusal_detail()
    assert a.store_state() == before
    assert push(units_server, b.envelope(unit=SYD))[0] == 201


def test_a_unit_the_appliance_does_not_know_is_refused(two_units, units_server) -> None:
    a, _ = two_units
    before = a.store_state()

    status, body = push(units_server, a.envelope(unit="Hemsjukvård Påhittad"))

    assert (status, body["error"]) == (422, "unknown_unit")
    assert a.store_state() == before
    refusals = [e for e in AuditLog(a.state_dir / "audit.log", FixedClock(now())).entries()
                if e["event"] == "refused"]
    assert refusals[-1]["reason"] == "unknown_unit"
    assert refusals[-1]["sender"] == "kontor-norr"


def test_a_list_from_the_future_is_refused_and_a_little_skew_is_not(
        installation, server) -> None:
    before = installation.store_state()

    status, body = push(server, installation.envelope(produced_at=now() + timedelta(minutes=11)))

    assert (status, body["error"]) == (422, "from_the_future")
    assert "max_clock_skew_minutes" in body["message"]
    assert "10 min" in installation.refusal_detail()
    assert installation.store_state() == before
    assert push(server, installation.envelope(produced_at=now() + timedelta(minutes=5)))[0] == 201


def test_the_attack_of_the_issue_no_longer_changes_what_the_nurses_print(
        two_units, units_server, tmp_path) -> None:
    """B's list for A's unit, dated 2030, and even A's own 2030 list: both refused, and the
    kit prints A's real list."""
    a, b = two_units
    assert push(units_server, a.envelope(unit=NORR, marker=MARKER_A))[0] == 201
    in_2030 = datetime(2030, 1, 1, 6, 0, tzinfo=UTC)

    assert push(units_server, b.envelope(unit=NORR, produced_at=in_2030, marker=MARKER_B)
                )[1]["error"] == "unit_not_allowed"
    assert push(units_server, a.envelope(unit=NORR, produced_at=in_2030, marker=MARKER_B)
                )[1]["error"] == "from_the_future"

    kit = tmp_path / "kit.pdf"
    PrintService(a.services()).export("button", kit, trigger="test")
    text = text_of(kit.read_bytes())
    assert MARKER_A in text and MARKER_B not in text
    status = get_json(units_server.url + "/api/v1/status")[1]
    assert status["units"][NORR]["todo"]["age_seconds"] >= 0


def test_a_sender_without_a_units_file_may_send_for_no_configured_unit(installation) -> None:
    """Units configured after the sender was enrolled: fail closed until it is given units."""
    configure_units(installation, NORR)

    with pytest.raises(Refusal) as refused:
        installation.ingest(installation.envelope(unit=NORR))
    assert refused.value.error == "unit_not_allowed"

    installation.appliance("senders", "units", "kontor-norr", "--unit", NORR)
    assert installation.ingest(installation.envelope(unit=NORR)).documents[0].unit == NORR


def test_single_unit_mode_accepts_any_unit_from_any_sender(installation) -> None:
    """`appliance init` configures no units: ingest as before this change."""
    for unit in ("Hemsjukvård Sölvesborg", "Hemtjänst Gröna Dalen"):
        assert installation.ingest(installation.envelope(unit=unit)).documents[0].unit == unit
    listed = json.loads(installation.appliance("senders", "list", "--json").output)
    assert listed[0]["any_unit"] is True and listed[0]["units"] == []
    assert "any unit (single-unit mode" in installation.appliance("senders", "list").output
    check = installation.appliance("config", "check", expect=None).output
    assert "units: none configured (single-unit mode" in check


# -- the senders commands ------------------------------------------------------------------


def test_senders_commands_keep_units_in_a_file_next_to_the_key(two_units) -> None:
    a, _ = two_units
    senders_dir = a.config.senders_dir
    assert (senders_dir / "kontor-syd.units").read_text(encoding="utf-8") == f"{SYD}\n"

    listed = {s["name"]: s for s in json.loads(a.appliance("senders", "list", "--json").output)}
    assert listed["kontor-norr"]["units"] == [NORR] and not listed["kontor-norr"]["any_unit"]
    assert listed["kontor-syd"]["units"] == [SYD]
    assert "kontor-syd\t" in a.appliance("senders", "list").output

    a.appliance("senders", "units", "kontor-syd", "--unit", SYD, "--unit", NORR)
    assert (senders_dir / "kontor-syd.units").read_text(encoding="utf-8") == f"{SYD}\n{NORR}\n"
    changes = [e for e in AuditLog(a.state_dir / "audit.log", FixedClock(now())).entries()
               if e["event"] == "sender_units_changed"]
    assert changes[-1]["sender"] == "kontor-syd"
    assert (changes[-1]["before"], changes[-1]["units"]) == ([SYD], [SYD, NORR])

    refused = a.appliance("senders", "units", "kontor-syd", "--unit", "Påhittad", expect=2)
    assert "unknown unit" in refused.output and NORR in refused.output
    assert "--unit" in a.appliance("senders", "add", "kontor-x", str(a.root / "sender.pub"),
                                   expect=2).output
    a.appliance("senders", "remove", "kontor-syd")
    assert not (senders_dir / "kontor-syd.units").exists()


def test_a_units_file_copied_by_hand_is_honoured(two_units) -> None:
    """Ansible enrols with file copies: NAME.units is read on every push, no restart."""
    a, b = two_units
    (a.config.senders_dir / "kontor-syd.units").write_text(
        f"# copied by Ansible\n\n{NORR}\n", encoding="utf-8")
    assert a.ingest(b.envelope(unit=NORR)).documents[0].unit == NORR
    with pytest.raises(Refusal) as refused:
        a.ingest(b.envelope(unit=SYD))
    assert refused.value.error == "unit_not_allowed"


def test_single_unit_mode_refuses_unit_options(installation) -> None:
    result = installation.appliance("senders", "units", "kontor-norr", "--unit", NORR, expect=2)
    assert "no units are configured" in result.output


def test_config_check_names_senders_without_units(installation) -> None:
    configure_units(installation, NORR)
    result = installation.appliance("config", "check", expect=1)
    assert f"units: {NORR}" in result.output
    assert "sender kontor-norr may send for no unit" in result.output


# -- freshness per unit and kind -----------------------------------------------------------


def test_one_stale_unit_makes_the_appliance_stale_and_the_cover_warns(
        two_units, units_server, panel, tmp_path) -> None:  # noqa: F811 - the fixture
    a, b = two_units
    assert push(units_server, a.envelope(unit=NORR, marker=MARKER_A))[0] == 201
    assert push(units_server, b.envelope(unit=SYD, produced_at=now() - timedelta(days=2),
                                         marker=MARKER_B))[0] == 201

    body = get_json(units_server.url + "/api/v1/status")[1]
    assert body["state"] == "stale"
    assert body["units"][NORR]["todo"]["stale"] is False
    assert body["units"][SYD]["todo"]["stale"] is True
    assert body["kinds"]["todo"]["stale"] is True  # the worst unit
    assert body["kinds"]["todo"]["age_seconds"] >= 2 * 24 * 3600

    panel().recorder.wait_for(State.STALE)

    kit = tmp_path / "kit.pdf"
    PrintService(a.services()).export("button", kit, trigger="test")
    cover = text_of(kit.read_bytes(), 1)
    assert f"EJ AKTUELL: Att göra-lista för {SYD}" in cover
    assert f"för {NORR} är inte aktuell" not in cover
    assert "2 dygn" in cover  # the headline is the oldest to-do list
    text = text_of(kit.read_bytes())
    assert MARKER_A in text and MARKER_B in text


def test_a_configured_unit_without_a_list_is_no_data_and_missing_on_the_cover(
        two_units, tmp_path) -> None:
    a, _ = two_units
    a.ingest(a.envelope(unit=NORR))
    services = a.services()

    status = compute_status(services.config, services.store, now())
    assert status.state is State.NO_DATA
    assert status.units[SYD]["todo"].latest is None
    assert status.units[NORR]["todo"].latest is not None

    kit = tmp_path / "kit.pdf"
    summary = PrintService(services).export("button", kit, trigger="test")
    assert summary.missing == (f"todo/{SYD}",)
    assert f"SAKNAS: ingen att göra-lista för {SYD} finns i apparaten" in text_of(
        kit.read_bytes(), 1)


def test_documents_of_units_not_configured_are_neither_counted_nor_printed(
        installation, tmp_path) -> None:
    installation.ingest(installation.envelope(unit="Hemsjukvård Sölvesborg", marker=MARKER_B))
    configure_units(installation, NORR)
    services = installation.services()

    assert compute_status(services.config, services.store, now()).state is State.NO_DATA
    kit = tmp_path / "kit.pdf"
    PrintService(services).export("button", kit, trigger="test")
    assert MARKER_B not in text_of(kit.read_bytes())


def test_a_stored_document_from_the_future_never_gives_a_negative_age(installation) -> None:
    """Stored when the clock was ahead (or before the skew check); then the clock went back."""
    produced = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    ahead = installation.services(FixedClock(produced))
    ingest(ahead, installation.envelope(produced_at=produced), remote="test")
    back = produced - timedelta(days=3)
    services = installation.services(FixedClock(back))

    status = compute_status(services.config, services.store, back)
    assert status.kinds["todo"].to_json(back)["age_seconds"] == 0
    assert status.state is State.READY
    ages = [value for family in collect(services, AuditTally(installation.state_dir /
                                                              "audit.log"), back)
            if family.name.endswith("age_seconds") for _, value in family.samples]
    assert ages == [0.0]
    button = profile_named(services.config, "button")
    documents, missing = PrintService(services).gather(button, back)
    assert [doc.stale for doc in documents] == [False] and missing == []
    cover = text_of(PrintService(services).compose(button, back).pdf, 1)
    assert "uppgifterna är 0 min gamla" in cover


# -- retention of units no longer configured -----------------------------------------------


def test_retention_removes_an_unconfigured_unit_after_its_grace_but_keeps_configured_ones(
        installation) -> None:
    start = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
    clock = FixedClock(start)
    old_unit = "Hemsjukvård Sölvesborg"
    ingest(Services(installation.config, clock),
           installation.envelope(unit=old_unit, produced_at=start), remote="test")
    configure_units(installation, NORR,
                    extra="[retention]\nunconfigured_unit_grace_days = 2\nmax_age_hours = 24\n")
    installation.appliance("senders", "units", "kontor-norr", "--unit", NORR)
    services = Services(installation.config, clock)
    ingest(services, installation.envelope(unit=NORR, produced_at=start), remote="test")

    def units_stored() -> set[str]:
        return {d.unit for d in services.store.documents()}

    clock.set(start + timedelta(days=2) - timedelta(minutes=1))
    assert apply_retention(services) == []
    assert units_stored() == {old_unit, NORR}

    clock.set(start + timedelta(days=2, minutes=1))
    gone = apply_retention(services)
    assert [d.unit for snap in gone for d in snap.documents] == [old_unit]
    assert units_stored() == {NORR}
    audited = [e for e in AuditLog(installation.state_dir / "audit.log", clock).entries()
               if e["event"] == "retention_deleted"]
    assert [(e["snapshot"], e["units"]) for e in audited] == [(gone[0].id, [old_unit])]

    clock.set(start + timedelta(days=60))  # far beyond max_age_hours: the newest stays
    assert apply_retention(services) == []
    assert units_stored() == {NORR}


def test_the_grace_counts_from_when_the_unit_was_found_unconfigured(installation) -> None:
    """A unit whose data is old but that was removed from the config just now keeps it for
    the whole grace period; configured again, it is forgotten."""
    start = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
    clock = FixedClock(start)
    ingest(Services(installation.config, clock), installation.envelope(produced_at=start),
           remote="test")
    clock.set(start + timedelta(days=20))
    configure_units(installation, NORR,
                    extra="[retention]\nunconfigured_unit_grace_days = 2\n")
    services = Services(installation.config, clock)

    assert apply_retention(services) == []  # found unconfigured now: two days from now
    clock.set(start + timedelta(days=21))
    assert apply_retention(services) == []
    clock.set(start + timedelta(days=22, minutes=1))
    assert len(apply_retention(services)) == 1
