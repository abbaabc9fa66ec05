"""Apply one of the role's task files for real with ansible-playbook on localhost (connection
local), the way tests/test_ansible_*.py check the role without booting a machine. The
Ansible is the one scripts/test-deploy installs in .venv-ansible; without it the tests skip
(test-deploy runs them again with it, so CI never only skips them)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ANSIBLE_BIN = REPO / ".venv-ansible" / "bin"
ROLE = REPO / "ansible" / "roles" / "appliance"
PLAY = """\
- hosts: localhost
  connection: local
  gather_facts: false
  environment: {environment}
  vars_files: [{defaults}]
  tasks:
    - name: The role's tasks under test
      ansible.builtin.import_tasks: {tasks}
  handlers:  # stands in for the role's: records that the service would restart
    - name: Restart the appliance
      ansible.builtin.debug:
        msg: the appliance would restart
"""


@dataclass(frozen=True)
class PlayResult:
    returncode: int
    output: str

    @property
    def changed(self) -> int:
        """How many tasks changed something (from the play recap)."""
        return int(re.search(r"localhost\s+: ok=\d+\s+changed=(\d+)", self.output).group(1))


def role_tasks_runner(tmp_path: Path, tasks: str, environment: dict[str, str] | None = None):
    """A function that applies the role's `tasks/<tasks>` with the role's defaults and the
    given variables (extra vars, as an inventory would set them) and returns a PlayResult."""
    if not (ANSIBLE_BIN / "ansible-playbook").exists():
        pytest.skip("no Ansible in .venv-ansible (scripts/test-deploy installs it)")
    play = tmp_path / "play.yml"
    (tmp_path / "templates").symlink_to(ROLE / "templates")  # where the role finds its own
    play.write_text(PLAY.format(environment=json.dumps(environment or {}),
                                defaults=ROLE / "defaults" / "main.yml",
                                tasks=ROLE / "tasks" / tasks), encoding="utf-8")
    env = dict(os.environ, PATH=f"{ANSIBLE_BIN}{os.pathsep}{os.environ['PATH']}",
               ANSIBLE_NOCOLOR="1", ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
               ANSIBLE_CONFIG=str(REPO / "ansible" / "ansible.cfg"))

    def apply(variables: dict, *args: str) -> PlayResult:
        result = subprocess.run(
            [str(ANSIBLE_BIN / "ansible-playbook"), "-i", "localhost,", str(play),
             "-e", "ansible_python_interpreter=/usr/bin/python3",
             "-e", json.dumps(variables), *args],
            capture_output=True, text=True, env=env, timeout=300, check=False)
        return PlayResult(result.returncode, result.stdout + result.stderr)

    return apply
