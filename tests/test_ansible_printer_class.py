"""The role's printer class tasks (ansible/roles/appliance/tasks/printer_class.yml) applied for
real with ansible-playbook against the private cupsd (CUPS_SERVER): the class replaces a
single queue of its name, a second run and a --check run change nothing, and a changed list
converges. Skipped without the Ansible that scripts/test-deploy installs (.venv-ansible)."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.devtools.cups_harness.harness import PrivateCups
from tests.ansible_runner import role_tasks_runner

COMMON = {"appliance_printer_queue": "kit_by_role", "appliance_printer_model": "raw",
          "appliance_printer_options": [], "appliance_printer_capture_backend": False,
          "appliance_user": "appliance"}


@pytest.fixture
def apply(tmp_path: Path, private_cups: PrivateCups):
    run_tasks = role_tasks_runner(tmp_path, "printer_class.yml",
                                  {"CUPS_SERVER": private_cups.server})

    def run(members: list[dict], *args: str) -> int:
        """Apply with these class members; the number of tasks that changed something."""
        result = run_tasks(dict(COMMON, appliance_printer_class_members=members), *args)
        assert result.returncode == 0, result.output[-6000:]
        return result.changed

    yield run
    for queue in ("kit_by_role", "role_exp", "role_rum2"):
        private_cups.run("lpadmin", "-x", queue, check=False)


def test_the_role_makes_the_class_idempotently(apply, private_cups: PrivateCups) -> None:
    private_cups.add_capture_queue("kit_by_role")  # the single queue from before the class
    uri = private_cups.queues["kit_by_role"].device_uri
    members = [{"name": "role_exp", "uri": uri, "info": "Skrivaren i expeditionen",
                "location": "Plan 2"},
               {"name": "role_rum2", "uri": uri}]

    assert apply(members) > 0
    conn = private_cups.connect()
    assert conn.getClasses()["kit_by_role"] == ["role_exp", "role_rum2"]
    printers = conn.getPrinters()
    assert printers["role_exp"]["printer-info"] == "Skrivaren i expeditionen"
    assert printers["role_exp"]["printer-location"] == "Plan 2"
    assert printers["role_rum2"]["device-uri"] == uri
    assert apply(members) == 0
    assert apply(members, "--check", "--diff") == 0

    renamed = [dict(members[1], info="Skrivaren i rum 2")]
    assert apply(renamed) > 0
    assert private_cups.connect().getClasses()["kit_by_role"] == ["role_rum2"]
    assert private_cups.connect().getPrinters()["role_rum2"]["printer-info"] == (
        "Skrivaren i rum 2")
    assert apply(renamed) == 0
