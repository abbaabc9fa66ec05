"""The monitoring role's generated files from the example inventory (ansible/inventory.example.yml
and group_vars/), rendered by ansible-playbook on localhost without touching the machine: the
file_sd holds every appliance with its labels and address, Prometheus' config passes
`promtool check config`, Alertmanager's has the route, and every appliance's allow-list is
the monitoring host. Skipped without .venv-ansible (test-deploy installs it); the deploy
check 60-monitoring applies the role for real."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.ansible_runner import ANSIBLE_BIN, REPO

ROLE = REPO / "ansible" / "roles" / "monitoring"
INVENTORY = REPO / "ansible" / "inventory.example.yml"
PLAY = """\
- hosts: monitoring
  connection: local
  gather_facts: false
  vars_files: [{defaults}]
  tasks:
    - name: Render the role's templates
      ansible.builtin.template:
        src: "{templates}/{{{{ item }}}}.j2"
        dest: "{out}/{{{{ item }}}}"
        mode: "0644"
      loop: [appliances.yml, prometheus.yml, alertmanager.yml]

# As the appliance play sees it (a host's variable read through hostvars has no hostvars).
- hosts: appliances
  connection: local
  gather_facts: false
  tasks:
    - name: Write the appliance's allow-list
      ansible.builtin.copy:
        content: "{{{{ appliance_metrics_allow | to_json }}}}"
        dest: "{out}/allow-{{{{ inventory_hostname }}}}.json"
        mode: "0644"
"""


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Path:
    if not (ANSIBLE_BIN / "ansible-playbook").exists():
        pytest.skip("no Ansible in .venv-ansible (scripts/test-deploy installs it)")
    tmp = tmp_path_factory.mktemp("monitoring")
    out = tmp / "out"
    out.mkdir()
    play = tmp / "play.yml"
    play.write_text(PLAY.format(defaults=ROLE / "defaults" / "main.yml",
                                templates=ROLE / "templates", out=out), encoding="utf-8")
    env = dict(os.environ, PATH=f"{ANSIBLE_BIN}{os.pathsep}{os.environ['PATH']}",
               ANSIBLE_NOCOLOR="1", ANSIBLE_LOCAL_TEMP=str(tmp / "ansible-tmp"),
               ANSIBLE_CONFIG=str(REPO / "ansible" / "ansible.cfg"))
    result = subprocess.run(
        [str(ANSIBLE_BIN / "ansible-playbook"), "-i", str(INVENTORY), str(play),
         "-e", "ansible_python_interpreter=/usr/bin/python3"],
        capture_output=True, text=True, env=env, timeout=300, check=False)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return out


def test_file_sd_has_every_appliance_with_its_labels(rendered) -> None:
    targets = yaml.safe_load((rendered / "appliances.yml").read_text(encoding="utf-8"))
    assert targets == [
        {"targets": ["10.20.1.10:8080"],
         "labels": {"appliance": "jourrum-norr", "site": "Slottsgården", "room": "Jourrum norr"}},
        {"targets": ["10.20.2.10:8080"],
         "labels": {"appliance": "jourrum-syd", "site": "Slottsgården", "room": "Jourrum syd"}},
    ]


def test_every_appliance_lets_only_the_monitoring_host_read_metrics(rendered) -> None:
    allow = {path.stem.removeprefix("allow-"): json.loads(path.read_text(encoding="utf-8"))
             for path in rendered.glob("allow-*.json")}
    assert allow == {"jourrum-norr": ["10.10.0.20"], "jourrum-syd": ["10.10.0.20"]}


@pytest.mark.skipif(shutil.which("promtool") is None,
                    reason="promtool missing: apt-get install prometheus")
def test_prometheus_config_passes_promtool(rendered) -> None:
    config = rendered / "prometheus.yml"
    result = subprocess.run(["promtool", "check", "config", "--syntax-only", str(config)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    scrape = yaml.safe_load(config.read_text(encoding="utf-8"))["scrape_configs"]
    assert scrape[0]["file_sd_configs"] == [{"files": ["/etc/prometheus/file_sd/appliances.yml"]}]


def test_alertmanager_routes_critical_alerts_on_call(rendered) -> None:
    config = yaml.safe_load((rendered / "alertmanager.yml").read_text(encoding="utf-8"))
    assert config["route"]["group_by"] == ["alertname", "appliance", "unit", "kind"]
    assert config["route"]["routes"][0] == {"receiver": "it-on-call", "repeat_interval": "1h",
                                            "matchers": ['severity="critical"']}
    names = {receiver["name"] for receiver in config["receivers"]}
    assert {config["route"]["receiver"], config["route"]["routes"][0]["receiver"]} <= names
