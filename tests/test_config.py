from __future__ import annotations

import socket
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.cli.sender_cli import main as sender_main
from appliance.core.base.errors import ApplianceError
from appliance.core.config.schema import settings_in_force, walk_settings
from appliance.core.config.settings import (
    APPLIANCE_CONFIG_ENV,
    DEFAULT_APPLIANCE_CONFIG,
    DEFAULT_KINDS,
    DEFAULT_PROFILES,
    MIB,
    SENDER_CONFIG_ENV,
    ApplianceConfig,
    ConfigError,
    OutboxRule,
    SenderConfig,
    Slot,
    load_appliance_config,
    load_sender_config,
    resolve_path,
)
from appliance.core.config.setup import write_appliance_config, write_sender_config
from appliance.core.crypto import keys


def write(directory: Path, text: str, name: str = "appliance.toml") -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def appliance_problems(directory: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_appliance_config(write(directory, text))
    return caught.value.problems


def sender_problems(directory: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_sender_config(write(directory, text, "sender.toml"))
    return caught.value.problems


# -- defaults and templates -----------------------------------------------------------------


def test_empty_appliance_file_gives_every_default(tmp_path: Path) -> None:
    config = load_appliance_config(write(tmp_path, ""))

    assert config.source == (tmp_path / "appliance.toml").resolve()
    assert config.name == socket.gethostname()
    assert config.state_dir == Path("/var/lib/appliance")
    assert config.senders_dir == Path("/etc/appliance/senders")
    assert config.kem is keys.MLKEM768_X25519
    assert (config.web_host, config.web_port) == ("0.0.0.0", 8080)
    assert (config.web_workers, config.web_timeout_seconds) == (2, 120)
    assert config.max_snapshot_bytes == 64 * MIB
    assert config.free_space_reserve_bytes == 200 * MIB
    assert (config.keep_per_unit_kind, config.max_age_hours) == (2, 72)
    assert config.timezone.key == "Europe/Stockholm"
    assert config.grace_minutes == 30
    assert list(config.kinds) == list(DEFAULT_KINDS)
    assert config.kinds["todo"].title == "Att göra-lista"
    assert config.kinds["todo"].slots == (Slot(7, 0), Slot(14, 30))
    assert all(not config.kinds[name].slots for name in DEFAULT_KINDS if name != "todo")
    assert config.private_key_path == Path("/var/lib/appliance/keys/appliance.key")


def test_empty_sender_file_gives_every_default(tmp_path: Path) -> None:
    config = load_sender_config(write(tmp_path, "", "sender.toml"))

    assert config.name == socket.gethostname()
    assert config.state_dir == Path("/var/lib/appliance-sender")
    assert config.appliances_dir == Path("/etc/appliance/appliances")
    assert config.unit == "Hemsjukvård"
    assert config.push_timeout_seconds == 60
    assert config.private_key_path == Path("/var/lib/appliance-sender/keys/sender.key")


def test_sections_present_but_partial_keep_the_other_defaults(tmp_path: Path) -> None:
    config = load_appliance_config(write(tmp_path, "[web]\nport = 9000\n"))

    assert config.web_port == 9000
    assert config.web_host == "0.0.0.0"
    assert config.web_workers == 2


def test_written_appliance_template_loads_with_paths_inside_its_folder(tmp_path: Path) -> None:
    path = write_appliance_config(tmp_path / "install")
    config = load_appliance_config(path)
    base = (tmp_path / "install").resolve()

    assert path == tmp_path / "install" / "appliance.toml"
    assert config.name == "jourrum"
    assert config.state_dir == base / "state"
    assert config.senders_dir == base / "senders"
    assert config.kem is keys.MLKEM768_X25519
    assert (config.web_host, config.web_port) == ("127.0.0.1", 8080)
    assert config.kinds["todo"].slots == (Slot(7, 0), Slot(14, 30))


def test_written_sender_template_loads_with_paths_inside_its_folder(tmp_path: Path) -> None:
    config = load_sender_config(write_sender_config(tmp_path, name="kontor-2"))

    assert config.name == "kontor-2"
    assert config.unit == "Hemsjukvård"
    assert config.state_dir == tmp_path.resolve() / "state"
    assert config.appliances_dir == tmp_path.resolve() / "appliances"
    assert config.push_timeout_seconds == 60


def test_templates_never_overwrite_an_existing_file(tmp_path: Path) -> None:
    existing = write(tmp_path, '[web]\nport = 9999\n')
    assert write_appliance_config(tmp_path, name="other") == existing
    assert load_appliance_config(existing).web_port == 9999


# -- paths ----------------------------------------------------------------------------------


def test_relative_paths_resolve_against_the_config_folder_not_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    path = write(tmp_path / "conf", '[appliance]\nstate_dir = "data/state"\n'
                                    'senders_dir = "/srv/senders"\n')

    config = load_appliance_config(path)

    assert config.state_dir == (tmp_path / "conf").resolve() / "data" / "state"
    assert config.senders_dir == Path("/srv/senders")


def test_relative_config_path_itself_is_resolved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "conf", '[appliance]\nstate_dir = "state"\n')
    monkeypatch.chdir(tmp_path)

    config = load_appliance_config("conf/appliance.toml")

    assert config.source == (tmp_path / "conf" / "appliance.toml").resolve()
    assert config.state_dir == (tmp_path / "conf").resolve() / "state"


def test_paths_expand_environment_variables_and_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APPLIANCE_TEST_ROOT", "/srv/appliance")
    monkeypatch.setenv("HOME", "/home/tekniker")
    path = write(tmp_path, '[sender]\nstate_dir = "$APPLIANCE_TEST_ROOT/state"\n'
                           'appliances_dir = "~/appliances"\n', "sender.toml")

    config = load_sender_config(path)

    assert config.state_dir == Path("/srv/appliance/state")
    assert config.appliances_dir == Path("/home/tekniker/appliances")


# -- validation: one line per problem, key path and bad value ------------------------------


@pytest.mark.parametrize(
    ("section", "key", "toml_value", "shown"),
    [
        ("appliance", "name", '""', "''"),
        ("appliance", "state_dir", "5", "5"),
        ("appliance", "senders_dir", '"  "', "'  '"),
        ("keys", "kem", '"rsa-2048"', "'rsa-2048'"),
        ("web", "host", "1", "1"),
        ("web", "port", '"x"', "'x'"),
        ("web", "port", "0", "0"),
        ("web", "port", "65536", "65536"),
        ("web", "port", "8080.0", "8080.0"),
        ("web", "workers", "17", "17"),
        ("web", "timeout_seconds", "4", "4"),
        ("web", "max_snapshot_mb", "0", "0"),
        ("storage", "free_space_reserve_mb", "-1", "-1"),
        ("retention", "keep_per_unit_kind", "0", "0"),
        ("retention", "max_age_hours", "87601", "87601"),
        ("freshness", "timezone", '"Mars/Olympus"', "'Mars/Olympus'"),
        ("freshness", "timezone", "1", "1"),
        ("freshness", "grace_minutes", "1441", "1441"),
    ],
)
def test_each_bad_appliance_value_names_its_key_and_shows_the_value(
    tmp_path: Path, section: str, key: str, toml_value: str, shown: str
) -> None:
    problems = appliance_problems(tmp_path, f"[{section}]\n{key} = {toml_value}\n")

    assert len(problems) == 1
    assert problems[0].startswith(f"{section}.{key}: ")
    assert f"got {shown} (" in problems[0]


@pytest.mark.parametrize(
    ("section", "key", "toml_value", "shown"),
    [
        ("sender", "name", "3", "3"),
        ("sender", "unit", '""', "''"),
        ("sender", "state_dir", "[]", "[]"),
        ("push", "timeout_seconds", "0", "0"),
        ("push", "timeout_seconds", "3601", "3601"),
    ],
)
def test_each_bad_sender_value_names_its_key_and_shows_the_value(
    tmp_path: Path, section: str, key: str, toml_value: str, shown: str
) -> None:
    problems = sender_problems(tmp_path, f"[{section}]\n{key} = {toml_value}\n")

    assert len(problems) == 1
    assert problems[0].startswith(f"{section}.{key}: ")
    assert f"got {shown} (" in problems[0]


def test_all_problems_are_reported_at_once_one_line_each(tmp_path: Path) -> None:
    path = write(tmp_path, '[web]\nport = "x"\n\n[retention]\nkeep_per_unit_kind = 0\n\n'
                           '[freshness]\ntimezone = "Europe/Stokholm"\n')

    with pytest.raises(ConfigError) as caught:
        load_appliance_config(path)

    error = caught.value
    assert [p.split(":")[0] for p in error.problems] == [
        "web.port", "retention.keep_per_unit_kind", "freshness.timezone"]
    assert error.source == str(path.resolve())
    lines = str(error).splitlines()
    assert lines[0] == f"{path.resolve()}: 3 problem(s) in the configuration:"
    assert lines[1:] == [f"  {problem}" for problem in error.problems]


def test_problems_from_kinds_and_sections_are_collected_together(tmp_path: Path) -> None:
    problems = appliance_problems(
        tmp_path, '[web]\nprot = 1\n\n[kinds.todo]\nslots = ["7:00"]\n\n[printer]\nqueue = "x"\n')

    assert sorted(p.split(":")[0] for p in problems) == ["kinds.todo.slots", "printer",
                                                          "web.prot"]


def test_bad_value_in_the_range_error_says_the_allowed_range(tmp_path: Path) -> None:
    (problem,) = appliance_problems(tmp_path, "[web]\nport = 70000\n")
    assert problem == "web.port: must be a TCP port, got 70000 (expected 1..65535)"


@pytest.mark.parametrize(
    ("section", "key"),
    [("web", "port"), ("retention", "keep_per_unit_kind"), ("freshness", "grace_minutes"),
     ("web", "workers")],
)
@pytest.mark.parametrize("value", ["true", "false"])
def test_booleans_are_not_accepted_as_integers(
    tmp_path: Path, section: str, key: str, value: str
) -> None:
    (problem,) = appliance_problems(tmp_path, f"[{section}]\n{key} = {value}\n")
    assert problem.startswith(f"{section}.{key}: ")
    assert f"got {value.title()} (expected an integer)" in problem


def test_sender_timeout_refuses_a_boolean(tmp_path: Path) -> None:
    (problem,) = sender_problems(tmp_path, "[push]\ntimeout_seconds = true\n")
    assert problem.startswith("push.timeout_seconds: ")


@settings(max_examples=60, deadline=None)
@given(port=st.integers(min_value=-(2**31), max_value=2**31))
def test_port_is_accepted_exactly_in_1_to_65535(tmp_path_factory, port: int) -> None:
    path = write(tmp_path_factory.mktemp("port"), f"[web]\nport = {port}\n")
    if 1 <= port <= 65535:
        assert load_appliance_config(path).web_port == port
    else:
        with pytest.raises(ConfigError) as caught:
            load_appliance_config(path)
        assert caught.value.problems == [
            f"web.port: must be a TCP port, got {port} (expected 1..65535)"]


def test_config_error_is_an_appliance_error_and_a_value_error(tmp_path: Path) -> None:
    with pytest.raises(ApplianceError) as caught:
        load_appliance_config(write(tmp_path, "[web]\nport = 0\n"))
    assert isinstance(caught.value, ConfigError) and isinstance(caught.value, ValueError)


# -- unknown keys and sections --------------------------------------------------------------


def test_unknown_key_suggests_the_close_match(tmp_path: Path) -> None:
    (problem,) = appliance_problems(tmp_path, "[web]\nprot = 8080\n")
    assert problem == "web.prot: unknown key (did you mean 'port'?)"


def test_unknown_key_with_nothing_close_gets_no_suggestion(tmp_path: Path) -> None:
    (problem,) = sender_problems(tmp_path, "[push]\nzzzz = 1\n")
    assert problem == "push.zzzz: unknown key"


def test_unknown_section_suggests_the_close_match(tmp_path: Path) -> None:
    (problem,) = appliance_problems(tmp_path, "[freshnes]\ngrace_minutes = 5\n")
    assert problem == "freshnes: unknown section (did you mean 'freshness'?)"


def test_unknown_section_without_close_match(tmp_path: Path) -> None:
    (problem,) = appliance_problems(tmp_path, '[printer]\nqueue = "x"\n')
    assert problem == "printer: unknown section (did you mean 'printing'?)"


def test_appliance_section_in_a_sender_file_is_unknown(tmp_path: Path) -> None:
    (problem,) = sender_problems(tmp_path, "[web]\nport = 8080\n")
    assert problem.startswith("web: unknown section")


def test_misspelt_kinds_section_suggests_kinds(tmp_path: Path) -> None:
    (problem,) = appliance_problems(tmp_path, '[kind.todo]\ntitle = "x"\n')
    assert problem == "kind: unknown section (did you mean 'kinds'?)"


def test_section_that_is_not_a_table_is_reported(tmp_path: Path) -> None:
    (problem,) = appliance_problems(tmp_path, "web = 5\n")
    assert problem == "web: must be a table ([web])"


@pytest.mark.parametrize(("old", "new"), [
    ("keep_per_kind", "keep_per_unit_kind"),
    ("keep_per_sender_unit_kind", "keep_per_unit_kind"),
    ("max_age_days", "max_age_hours"),
])
def test_an_old_retention_key_is_refused_naming_its_replacement(tmp_path: Path, old: str,
                                                                new: str) -> None:
    """The old keys meant something else (per sender; days; subject to age): a file that
    still has one must be looked at, not silently read with a new meaning."""
    (problem,) = appliance_problems(tmp_path, f"[retention]\n{old} = 14\n")
    assert problem == (f"retention.{old}: replaced by retention.{new}, which means something "
                       "else; choose its value anew (docs/configuration.md)")


def test_retention_keys_are_read(tmp_path: Path) -> None:
    config = load_appliance_config(
        write(tmp_path, "[retention]\nkeep_per_unit_kind = 3\nmax_age_hours = 24\n"))
    assert (config.keep_per_unit_kind, config.max_age_hours) == (3, 24)


def test_unknown_key_in_an_outbox_rule_names_the_rule(tmp_path: Path) -> None:
    problems = sender_problems(tmp_path, '[[outbox.rules]]\nglob = "a*"\nkind = "todo"\n'
                                         '[[outbox.rules]]\nglob = "b*"\nkid = "todo"\n')
    assert problems == ["outbox.rules[2].kid: unknown key (did you mean 'kind'?)",
                        "outbox.rules[2].kind: must be a kind name, but it is missing"]


def test_outbox_rules_are_read_in_order_with_optional_unit_and_title(tmp_path: Path) -> None:
    config = load_sender_config(write(
        tmp_path, '[outbox]\ndir = "ut"\n[[outbox.rules]]\nglob = "a*"\nkind = "todo"\n'
                  '[[outbox.rules]]\nglob = "b*"\nkind = "other"\nunit = "Syd"\n'
                  'title = "Provsvar"\n', "sender.toml"))
    assert config.outbox.dir == tmp_path.resolve() / "ut"
    assert config.outbox.rules == (OutboxRule("a*", "todo"),
                                   OutboxRule("b*", "other", "Syd", "Provsvar"))


@pytest.mark.parametrize(("toml_value", "why"), [
    ('"x"', "expected [[outbox.rules]] tables"), ("[1]", None)])
def test_outbox_rules_that_are_not_tables_are_refused(
    tmp_path: Path, toml_value: str, why: str | None
) -> None:
    (problem,) = sender_problems(tmp_path, f"[outbox]\nrules = {toml_value}\n")
    assert problem.startswith("outbox.rules: must be [[outbox.rules]] tables" if why else
                              "outbox.rules[1]: must be a table with glob, kind, unit and title")


# -- profiles and the panel ------------------------------------------------------------------


def test_built_in_profiles_and_a_new_one(tmp_path: Path) -> None:
    config = load_appliance_config(write(
        tmp_path, '[profiles.button]\nkinds = ["todo", "medications"]\n'
                  '[profiles.natt]\ntitle = "Natt"\nkinds = ["todo"]\nforms = false\n'))
    profiles = config.printing.profiles
    assert list(profiles) == [*DEFAULT_PROFILES, "natt"]
    assert profiles["button"].kinds == ("todo", "medications")
    assert profiles["button"].title == DEFAULT_PROFILES["button"]["title"]
    assert (profiles["natt"].title, profiles["natt"].forms) == ("Natt", False)
    assert profiles["full"].includes("anything")


def test_profile_naming_an_unknown_kind_is_refused_once(tmp_path: Path) -> None:
    problems = appliance_problems(
        tmp_path, '[kinds.Lab]\n[profiles.natt]\nkinds = ["todo", "lab", "Lab"]\n')
    assert problems == ["kinds.Lab: kind names are lowercase a-z, 0-9, _ or -, max 32",
                        "profiles.natt.kinds: unknown kind(s) lab (known: Lab, careplan, "
                        "medications, occupancy, other, relatives, todo)"]


@pytest.mark.parametrize(("led", "pins"), [("rgb", (22, 23, 24)), ("two", (22, 23)),
                                           ("single", (22,))])
def test_led_pins_default_to_what_the_wiring_needs(tmp_path: Path, led: str, pins) -> None:
    config = load_appliance_config(write(tmp_path, f'[panel]\nled = "{led}"\n'))
    assert config.panel.led_pins == pins


def test_led_pins_that_do_not_fit_the_wiring_are_refused(tmp_path: Path) -> None:
    (problem,) = appliance_problems(tmp_path, '[panel]\nled = "two"\nled_pins = [5, 6, 7]\n')
    assert problem == ("panel.led_pins: must list the LED's GPIO pins (BCM numbers), got "
                       "[5, 6, 7] (expected 2 GPIO number(s) for led = 'two')")


# -- config show: what is in force --------------------------------------------------------


BUSY_APPLIANCE = """\
[appliance]
name = "jourrum 2"
state_dir = "state"
[web]
max_snapshot_mb = 3
[kinds.todo]
slots = ["21:00", "06:15"]
[kinds.wound-care]
title = "Sår \\\\ \\"vård\\""
[printing]
queue = "kö"
options = { sides = "two-sided-long-edge", "print-quality" = "5" }
[profiles."natt"]
kinds = ["wound-care"]
[panel]
led = "single"
"""


def test_config_show_output_loads_back_to_the_same_settings(tmp_path: Path) -> None:
    config = load_appliance_config(write(tmp_path / "a", BUSY_APPLIANCE))

    shown = "\n".join(settings_in_force(config))
    again = load_appliance_config(write(tmp_path / "b", shown))

    assert again == ApplianceConfig(**{**vars(config), "source": again.source})
    assert 'kinds.wound-care.title = "Sår \\\\ \\"vård\\""' in shown
    assert "web.max_snapshot_mb = 3" in shown.splitlines()


def test_sender_config_show_output_loads_back_to_the_same_settings(tmp_path: Path) -> None:
    config = load_sender_config(write(
        tmp_path / "a", '[outbox]\ndir = "ut"\n[[outbox.rules]]\nglob = "a*"\nkind = "todo"\n'
                        'unit = "Syd"\n[schedule]\nslots = ["08:00"]\n', "sender.toml"))

    again = load_sender_config(write(tmp_path / "b", "\n".join(settings_in_force(config)),
                                     "sender.toml"))

    assert again == SenderConfig(**{**vars(config), "source": again.source})


def test_config_show_names_every_setting_once(tmp_path: Path) -> None:
    shown = list(settings_in_force(load_appliance_config(write(tmp_path, ""))))
    keys_shown = [line.split(" = ")[0] for line in shown]

    assert len(keys_shown) == len(set(keys_shown))
    assert {s.key for s in walk_settings(ApplianceConfig)} <= set(keys_shown)
    assert "kinds.todo.slots" in keys_shown and "profiles.button.kinds" in keys_shown


def test_config_show_withholds_secrets(tmp_path: Path) -> None:
    url = "https://hooks.example/alert?token=hemligt"
    config = load_sender_config(write(tmp_path, f'[alerts]\nwebhook_url = "{url}"\n',
                                      "sender.toml"))
    shown = "\n".join(settings_in_force(config))

    assert config.alerts.webhook_url == url
    assert "hemligt" not in shown
    assert "# alerts.webhook_url: set (secret, not shown)" in shown


@pytest.mark.parametrize("cls", [ApplianceConfig, SenderConfig])
def test_every_setting_is_declared_with_doc_and_error_text(cls) -> None:
    for setting in walk_settings(cls):
        assert setting.doc.strip() and "\n" not in setting.doc, setting.key
        assert setting.must.startswith("must "), setting.key


# -- document kinds -------------------------------------------------------------------------


def test_kind_title_can_be_overridden_keeping_its_slots(tmp_path: Path) -> None:
    config = load_appliance_config(write(tmp_path, '[kinds.todo]\ntitle = "Att göra"\n'))

    assert config.kinds["todo"].title == "Att göra"
    assert config.kinds["todo"].slots == (Slot(7, 0), Slot(14, 30))
    assert config.kinds["medications"].title == "Läkemedelslista"


def test_kind_slots_can_be_overridden_keeping_its_title(tmp_path: Path) -> None:
    config = load_appliance_config(
        write(tmp_path, '[kinds.todo]\nslots = ["21:00", "06:15"]\n'
                        '[kinds.medications]\nslots = ["08:00"]\n'))

    assert config.kinds["todo"].title == "Att göra-lista"
    assert config.kinds["todo"].slots == (Slot(6, 15), Slot(21, 0))  # sorted
    assert config.kinds["medications"].slots == (Slot(8, 0),)


def test_empty_slot_list_removes_the_expectation(tmp_path: Path) -> None:
    config = load_appliance_config(write(tmp_path, "[kinds.todo]\nslots = []\n"))
    assert config.kinds["todo"].slots == ()


def test_a_new_kind_can_be_added(tmp_path: Path) -> None:
    config = load_appliance_config(
        write(tmp_path, '[kinds.lab_results]\ntitle = "Provsvar"\nslots = ["10:00"]\n'))

    lab = config.kinds["lab_results"]
    assert (lab.name, lab.title, lab.slots) == ("lab_results", "Provsvar", (Slot(10, 0),))
    assert set(DEFAULT_KINDS) < set(config.kinds)


def test_a_new_kind_without_title_or_slots_is_titled_by_its_name(tmp_path: Path) -> None:
    config = load_appliance_config(write(tmp_path, "[kinds.wound-care]\n"))
    assert config.kinds["wound-care"].title == "wound-care"
    assert config.kinds["wound-care"].slots == ()


NOT_A_TIME = '{!r} is not a time from "00:00" to "23:59"'
NOT_A_LIST = 'expected a list, even of one time: ["08:00"]'


@pytest.mark.parametrize(
    ("toml_value", "shown", "why"),
    [
        ('["7:00"]', "['7:00']", NOT_A_TIME.format("7:00")),
        ('["24:00"]', "['24:00']", NOT_A_TIME.format("24:00")),
        ('["07:60"]', "['07:60']", NOT_A_TIME.format("07:60")),
        ('["07:00", "1430"]', "['07:00', '1430']", NOT_A_TIME.format("1430")),
        ('[700]', "[700]", NOT_A_TIME.format(700)),
        ('"07:00"', "'07:00'", NOT_A_LIST),
        ('{ at = "07:00" }', "{'at': '07:00'}", NOT_A_LIST),
    ],
)
def test_bad_slots_are_refused_with_key_value_and_the_item_at_fault(
    tmp_path: Path, toml_value: str, shown: str, why: str
) -> None:
    (problem,) = appliance_problems(tmp_path, f"[kinds.todo]\nslots = {toml_value}\n")
    assert problem == f'kinds.todo.slots: must be a list of "HH:MM" times, got {shown} ({why})'


@pytest.mark.parametrize("slot", ["00:00", "23:59", "09:05"])
def test_boundary_slots_are_accepted(tmp_path: Path, slot: str) -> None:
    config = load_appliance_config(write(tmp_path, f'[kinds.todo]\nslots = ["{slot}"]\n'))
    assert [str(s) for s in config.kinds["todo"].slots] == [slot]


@pytest.mark.parametrize("name", ["Todo", "9lab", "lab results", "å", "a" * 33])
def test_invalid_kind_names_are_refused(tmp_path: Path, name: str) -> None:
    (problem,) = appliance_problems(tmp_path, f'[kinds."{name}"]\ntitle = "x"\n')
    assert problem == f"kinds.{name}: kind names are lowercase a-z, 0-9, _ or -, max 32"


def test_longest_valid_kind_name_is_accepted(tmp_path: Path) -> None:
    name = "a" * 32
    assert name in load_appliance_config(write(tmp_path, f"[kinds.{name}]\n")).kinds


def test_empty_kind_title_is_refused(tmp_path: Path) -> None:
    (problem,) = appliance_problems(tmp_path, '[kinds.todo]\ntitle = " "\n')
    assert problem == ("kinds.todo.title: must be the Swedish title, got ' ' "
                       "(expected non-empty text)")


def test_unknown_key_in_a_kind_suggests_slots(tmp_path: Path) -> None:
    (problem,) = appliance_problems(tmp_path, '[kinds.todo]\nslot = ["07:00"]\n')
    assert problem == "kinds.todo.slot: unknown key (did you mean 'slots'?)"


def test_kind_that_is_not_a_table_is_refused(tmp_path: Path) -> None:
    (problem,) = appliance_problems(tmp_path, '[kinds]\nlab = "Provsvar"\n')
    assert problem == "kinds.lab: must be a table with title, slots and signoff"


def test_kinds_that_is_not_a_table_is_refused(tmp_path: Path) -> None:
    (problem,) = appliance_problems(tmp_path, "kinds = 5\n")
    assert problem == "kinds: must be a table of [kinds.NAME] sections"


# -- time zone ------------------------------------------------------------------------------


@pytest.mark.parametrize("zone", ["Europe/Stokholm", "europe/stockholm", "Europe", "",
                                  "../etc/passwd", "/etc/localtime", "zone.tab"])
def test_bad_time_zone_is_refused(tmp_path: Path, zone: str) -> None:
    (problem,) = appliance_problems(tmp_path, f'[freshness]\ntimezone = "{zone}"\n')
    assert problem == (f"freshness.timezone: must be an IANA time zone such as "
                       f"Europe/Stockholm, got {zone!r} (unknown time zone)")


def test_other_time_zone_is_used(tmp_path: Path) -> None:
    config = load_appliance_config(write(tmp_path, '[freshness]\ntimezone = "Europe/Helsinki"\n'))
    assert config.timezone.key == "Europe/Helsinki"


def test_kem_choice_x25519(tmp_path: Path) -> None:
    config = load_appliance_config(write(tmp_path, '[keys]\nkem = "x25519"\n'))
    assert config.kem is keys.X25519


# -- unreadable files -----------------------------------------------------------------------


def test_invalid_toml_is_a_config_error_naming_the_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "[web]\nport = = 8080\n")

    with pytest.raises(ConfigError) as caught:
        load_appliance_config(path)

    (problem,) = caught.value.problems
    assert problem.startswith("not valid TOML: ")
    assert "line 2" in problem
    assert str(caught.value).startswith(f"{path.resolve()}: 1 problem(s)")


def test_missing_file_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_sender_config(tmp_path / "absent.toml")

    assert caught.value.source == str((tmp_path / "absent.toml").resolve())
    (problem,) = caught.value.problems
    assert problem.startswith("file not found")
    assert "init --dir" in problem and "--config" in problem


def test_directory_instead_of_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_appliance_config(tmp_path)
    assert caught.value.problems[0].startswith("cannot read: ")


def test_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "appliance.toml"
    path.write_bytes('[appliance]\nname = "jourrum"\n'.encode("utf-8-sig"))
    assert load_appliance_config(path).name == "jourrum"


def test_file_not_in_utf8_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "sender.toml"
    path.write_bytes('[sender]\nunit = "Hemsjukvård"\n'.encode("cp1252"))
    with pytest.raises(ConfigError) as caught:
        load_sender_config(path)
    (problem,) = caught.value.problems
    assert problem.startswith("not UTF-8")
    assert "save the file as UTF-8" in problem


# -- which file -----------------------------------------------------------------------------


def test_resolve_path_prefers_explicit_then_environment_then_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(APPLIANCE_CONFIG_ENV, "/env/appliance.toml")

    assert resolve_path("/cli/appliance.toml", APPLIANCE_CONFIG_ENV,
                        DEFAULT_APPLIANCE_CONFIG) == Path("/cli/appliance.toml")
    assert resolve_path(None, APPLIANCE_CONFIG_ENV,
                        DEFAULT_APPLIANCE_CONFIG) == Path("/env/appliance.toml")

    monkeypatch.delenv(APPLIANCE_CONFIG_ENV)
    assert resolve_path(None, APPLIANCE_CONFIG_ENV,
                        DEFAULT_APPLIANCE_CONFIG) == Path("/etc/appliance/appliance.toml")


def test_resolve_path_ignores_empty_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SENDER_CONFIG_ENV, "")
    default = Path("/etc/appliance/sender.toml")
    assert resolve_path("", SENDER_CONFIG_ENV, default) == default


def test_resolve_path_uses_its_own_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(APPLIANCE_CONFIG_ENV, "/env/appliance.toml")
    monkeypatch.delenv(SENDER_CONFIG_ENV, raising=False)
    default = Path("/etc/appliance/sender.toml")
    assert resolve_path(None, SENDER_CONFIG_ENV, default) == default


# -- the `config show` commands ---------------------------------------------------------------


def test_sender_config_show_command_prints_the_settings_and_withholds_secrets(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, '[sender]\nunit = "Norr"\n[alerts]\n'
                           'webhook_url = "https://hooks.example/x?token=hemligt"\n', "sender.toml")

    result = CliRunner().invoke(sender_main, ["--config", str(path), "config", "show"])

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"# {path.resolve()}"
    assert 'sender.unit = "Norr"' in lines and "push.timeout_seconds = 60" in lines
    assert "hemligt" not in result.output


def test_config_show_command_reports_a_broken_file_and_exits_2(tmp_path: Path) -> None:
    path = write(tmp_path, "[push]\ntimeout_secnds = 5\n", "sender.toml")

    result = CliRunner().invoke(sender_main, ["--config", str(path), "config", "show"])

    assert result.exit_code == 2
    assert "push.timeout_secnds: unknown key (did you mean 'timeout_seconds'?)" in result.output
