"""The role's `appliance_contacts` written into appliance.toml: templates/appliance.toml.j2
rendered with Jinja2 (Ansible's filters stood in for; there is no Ansible here, and
tests/test_ansible_role_checks.py, which applies the role's checks for real, skips without
it), and the file loaded by the appliance, as the role's `validate:` step would."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import jinja2
import pytest

from appliance.core.config.settings import ApplianceConfig, ConfigError, Slot, load_appliance_config
from tests.test_config import write

SYD, NORR = "Hemsjukvård Syd", "Hemsjukvård Norr"

ROLE = Path(__file__).resolve().parents[1] / "ansible" / "roles" / "appliance"
# The role's variables the template reads, at their defaults (defaults/main.yml).
ROLE_DEFAULTS = {
    "ansible_managed": "test", "appliance_name": "jourrum", "appliance_state_dir": "state",
    "appliance_config_dir": "/etc/appliance", "appliance_kem": "mlkem768-x25519",
    "appliance_web_host": "0.0.0.0", "appliance_web_port": 8080,
    "appliance_timezone": "Europe/Stockholm", "appliance_grace_minutes": 30,
    "appliance_has_rtc": False, "appliance_units": [], "appliance_kinds": {},
    "appliance_printer_queue": "kit", "appliance_print_options": {},
    "appliance_panel_pin_factory": "lgpio", "appliance_panel_button_pin": 17,
    "appliance_panel_led": "rgb", "appliance_alerts_webhook_url": "",
    "appliance_contacts": {}, "appliance_metrics_allow": [],
    "appliance_planned_outages": [], "appliance_outage_print_kit_at_start": False,
}


def rendered_role_config(tmp_path: Path, **variables) -> ApplianceConfig:
    """templates/appliance.toml.j2 rendered as Ansible would (its filters stood in for),
    then loaded by the appliance."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(ROLE / "templates"),
                             undefined=jinja2.StrictUndefined, trim_blocks=True)
    env.filters["to_json"] = lambda value, **kw: json.dumps(value, default=str, **kw)
    env.filters["bool"] = bool
    text = env.get_template("appliance.toml.j2").render(**{**ROLE_DEFAULTS, **variables})
    return load_appliance_config(write(tmp_path, text))


def test_the_role_lets_loopback_and_the_monitoring_hosts_read_metrics(tmp_path):
    assert rendered_role_config(tmp_path).web_metrics_allow == ("127.0.0.1", "::1")
    config = rendered_role_config(tmp_path, appliance_metrics_allow=["10.10.0.20", "127.0.0.1"])
    assert config.web_metrics_allow == ("127.0.0.1", "::1", "10.10.0.20")


def test_the_role_writes_no_contacts_by_default(tmp_path):
    assert not rendered_role_config(tmp_path).contacts.configured


def test_the_role_writes_the_inventorys_contacts(tmp_path):
    config = rendered_role_config(
        tmp_path, appliance_units=[SYD, NORR],
        appliance_contacts={
            "updated": date(2026, 11, 3),  # YAML's own date, unquoted in the inventory
            "stale_after_days": 90, "day_starts": "07:30", "day_ends": "16:00",
            "unit_manager": {"name": "Anna Andersson", "phone": "0456-123 45"},
            "manager_on_call": {"phone": "+46 70 123 45 67", "note": "Jourtelefonen"},
            "it_support": {"phone": "(0456) 816 00"},
            "pas": [{"unit": SYD, "phone": "070-111 22 33"},
                    {"unit": NORR, "phone": "070-444 55 66", "name": "PAS Norr"}]})
    contacts = config.contacts
    assert contacts.updated == date(2026, 11, 3) and contacts.stale_after_days == 90
    assert (contacts.day_starts, contacts.day_ends) == (Slot(7, 30), Slot(16, 0))
    assert contacts.unit_manager.name == "Anna Andersson"
    assert contacts.manager_on_call.note == "Jourtelefonen" and contacts.cosafe is None
    assert [(p.unit, p.phone, p.name) for p in contacts.pas] == [
        (SYD, "070-111 22 33", None), (NORR, "070-444 55 66", "PAS Norr")]


def test_a_misspelt_key_in_the_inventory_reaches_the_appliance_which_names_it(tmp_path):
    with pytest.raises(ConfigError) as caught:
        rendered_role_config(tmp_path, appliance_contacts={
            "updated": "2026-11-03", "it_support": {"phone": "0456-816 00", "nmae": "IT"}})
    assert "contacts.it_support.nmae: unknown key (did you mean 'name'?)" in str(caught.value)


@pytest.mark.parametrize(("contacts", "named"), [
    # what YAML makes of an unquoted 0701234567 (octal) and 16:30 (sexagesimal): the role's
    # own check names them first; should one get past it, the appliance refuses them too
    ({"it_support": {"phone": 117782903}}, "contacts.it_support.phone: must be the phone "
                                           "number to call, got 117782903"),
    ({"day_ends": 990}, "contacts.day_ends: must be the time the day ends, \"HH:MM\", got 990"),
])
def test_what_yaml_gets_wrong_without_quotes_is_refused_by_the_appliance(tmp_path, contacts,
                                                                         named):
    with pytest.raises(ConfigError) as caught:
        rendered_role_config(tmp_path, appliance_contacts={"updated": "2026-11-03", **contacts})
    assert named in str(caught.value)
