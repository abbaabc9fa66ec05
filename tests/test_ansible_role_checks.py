"""The role's guards against a bad inventory, applied for real with ansible-playbook:
the variable check (tasks/assert.yml) names the Ansible variable the user wrote, its value and
the form expected, for every wrong one at once; the configuration file (tasks/config_file.yml)
is judged by `appliance config check --file-only` before it replaces the live one, so a
running appliance keeps its file. Skipped without .venv-ansible (test-deploy runs them)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.ansible_runner import role_tasks_runner

GOOD = {"appliance_wheel": "/dev/null", "appliance_printer_uri": "ipp://printer.example/ipp/print",
        "appliance_units": ["Hemsjukvård Syd"]}


@pytest.fixture
def check(tmp_path: Path):
    return role_tasks_runner(tmp_path, "assert.yml")


def test_good_variables_pass(check) -> None:
    result = check(GOOD)
    assert result.returncode == 0, result.output[-4000:]


@pytest.mark.parametrize(("variable", "value", "expected"), [
    ("appliance_units", "Hemsjukvård Syd", "a list of texts"),
    ("appliance_web_port", "eighty", "a whole number"),
    ("appliance_web_port", True, "a whole number"),
    ("appliance_grace_minutes", 12.5, "a whole number"),
    ("appliance_kinds", ["todo"], "a mapping of kind names"),
    ("appliance_metrics_allow", "10.10.0.20", "a list of texts"),
    ("appliance_kiosk", "maybe", "true or false"),
    ("appliance_kiosk", "true", "without quotes"),  # text: a `when:` would refuse it later
    ("appliance_printer_options", "media=iso_a4_210x297mm", "NAME=VALUE"),
    ("appliance_printer_media", "A4", "a PWG media name"),
    ("appliance_printer_class_members", [{"name": "exp"}], "uri"),
    ("appliance_sender_networks", "10.0.0.0/8", "a list of texts"),
    ("appliance_contacts", ["cib"], "a mapping of updated, stale_after_days"),
    ("appliance_contacts", {"ec": {"phone": "0456-123 45"}}, "a mapping of updated"),
    # YAML reads 0701234567 (no quotes) as an octal number: the number would be wrong
    ("appliance_contacts", {"it_support": {"phone": 117785463}}, "phone: a text in quotes"),
    ("appliance_contacts", {"unit_manager": {"name": "Anna"}}, "phone: a text in quotes"),
    ("appliance_contacts", {"pas": {"phone": "070-111 22 33"}}, "pas: a list of mappings"),
    ("appliance_contacts", {"updated": "3 november"}, "updated: a date"),
    ("appliance_contacts", {"day_ends": 990}, "day_starts and day_ends"),  # YAML's 16:30
    ("appliance_contacts", {"stale_after_days": "ett halvår"}, "stale_after_days"),
    ("appliance_planned_outages", {"from": "2026-12-12T18:00"}, "a list of planned outages"),
    ("appliance_planned_outages", [{"from": "2026-12-12T18:00"}], "a list of planned outages"),
    ("appliance_planned_outages", [{"from": "2026-12-12T18:00", "to": "2026-12-12T22:00",
                                    "until": "x"}], "a list of planned outages"),
    ("appliance_outage_print_kit_at_start", "yes", "true or false"),
    ("appliance_upgrade_time", "3:30", '"HH:MM"'),
    ("appliance_upgrade_time", 210, '"HH:MM"'),  # YAML's 03:30 without quotes
    ("appliance_upgrade_reboot", "false", "without quotes"),
    ("appliance_upgrade_origins", "origin=Debian", "a list of texts"),
])
def test_a_wrong_type_is_named_as_the_inventory_spells_it(check, variable, value,
                                                          expected) -> None:
    result = check(dict(GOOD, **{variable: value}))
    assert result.returncode != 0
    line = next((line for line in result.output.splitlines() if variable in line), "")
    assert variable in line and expected in line, result.output[-4000:]


def test_every_wrong_variable_is_named_at_once(check) -> None:
    result = check(dict(GOOD, appliance_units="Syd", appliance_web_port="eighty",
                        appliance_has_rtc="sometimes"))
    assert result.returncode != 0
    for variable in ("appliance_units", "appliance_web_port", "appliance_has_rtc"):
        assert variable in result.output, result.output[-4000:]


def test_contacts_as_the_readme_writes_them_pass(check) -> None:
    result = check(dict(GOOD, appliance_contacts={
        "updated": "2026-11-03", "day_ends": "16:00", "stale_after_days": 90,
        "manager_on_call": {"phone": "070-123 45 67"},
        "unit_manager": {"name": "Anna Andersson", "phone": "0456-123 45"},
        "pas": [{"unit": "Hemsjukvård Syd", "phone": "070-111 22 33"}]}))
    assert result.returncode == 0, result.output[-4000:]


def test_a_number_as_extra_vars_give_it_is_accepted(check) -> None:
    """`-e appliance_web_port=8080` arrives as text; the template's `| int` reads it."""
    result = check(dict(GOOD, appliance_web_port="8080", appliance_kiosk=True))
    assert result.returncode == 0, result.output[-4000:]


@pytest.fixture
def write_config(tmp_path: Path):
    """Apply tasks/config_file.yml into a folder, with this checkout's `appliance` as the
    validator and the current user's group as the service user's."""
    config_dir = tmp_path / "etc"
    config_dir.mkdir()
    venv = Path(sys.executable).parent.parent
    run = role_tasks_runner(tmp_path, "config_file.yml")
    group = os.getgid()
    base = dict(GOOD, appliance_config_dir=str(config_dir), appliance_venv=str(venv),
                appliance_state_dir=str(tmp_path / "state"), appliance_name="jourrum",
                appliance_user=str(group), ansible_managed="test")
    if not shutil.which("appliance", path=str(venv / "bin")):
        pytest.skip("no appliance command in this interpreter's venv")

    def apply(**variables):
        return run(dict(base, **variables)), config_dir / "appliance.toml"
    return apply


def test_a_bad_value_never_replaces_the_live_config(write_config) -> None:
    result, live = write_config()
    assert result.returncode == 0, result.output[-4000:]
    good = live.read_text(encoding="utf-8")
    assert "port = 8080" in good

    result, live = write_config(appliance_web_port=0)
    assert result.returncode != 0
    assert "web.port" in result.output and "got 0" in result.output, result.output[-4000:]
    assert live.read_text(encoding="utf-8") == good

    result, live = write_config(appliance_panel_pin_factory="gpio-magic")
    assert result.returncode != 0
    assert "panel.pin_factory" in result.output, result.output[-4000:]
    assert live.read_text(encoding="utf-8") == good
