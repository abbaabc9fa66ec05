"""enrol.yml's pairing for a fleet, evaluated by ansible-playbook on localhost from a generated
inventory (districts as groups, a sender in two districts): each appliance enrols exactly the
senders whose `sender_appliances` name it (never all to all), each sender gets exactly its
appliances' files, a second run has nothing to do, the inventory is the truth (a sender no
longer named is removed, one listed in `appliance_senders_unmanaged` stays), and a run whose
--limit leaves out a sender of an appliance refuses instead of half-enrolling. The variables
are read from enrol.yml itself, so this checks the playbook's own expressions; the machines'
side (slurp, `appliance senders add`) is faked with facts. Skipped without .venv-ansible;
scripts/test-fleet runs the real thing in containers."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess

import pytest
import yaml

from tests.ansible_runner import ANSIBLE_BIN, REPO

ENROL = REPO / "ansible" / "enrol.yml"
GROUP_VARS = REPO / "ansible" / "group_vars" / "all.yml"
UNIT = "Hemsjukvård Test"

FAKE_PLAY = """\
# What enrol.yml's first plays read from the machines, faked: a key and a fingerprint per
# host, and what each appliance has enrolled (the test's `enrolled` variable).
- hosts: all
  connection: local
  gather_facts: false
  tasks:
    - name: Keys and fingerprints
      ansible.builtin.set_fact:
        enrol_sender_key: {content: "{{ ('PEM ' ~ inventory_hostname) | b64encode }}"}
        enrol_sender_init: {stdout: "fingerprint: {{ fingerprints[inventory_hostname][:8] }}"}
        enrol_appliance_key: {content: "{{ ('PEM ' ~ inventory_hostname) | b64encode }}"}
        enrol_enrolled: {stdout: "{{ enrolled[inventory_hostname] | default([]) | to_json }}"}

- hosts: appliances
  connection: local
  gather_facts: false
  vars: APPLIANCE_VARS
  tasks:
    - name: What enrol.yml would do here
      ansible.builtin.copy:
        content: "{{ {'changes': enrol_changes, 'stale': enrol_stale,
                      'missing': enrol_missing} | to_json }}"
        dest: "OUT/{{ inventory_hostname }}.json"
        mode: "0644"

- hosts: senders
  connection: local
  gather_facts: false
  tasks:
    - name: The files the sender would get
      ansible.builtin.copy:
        content: "{{ {'files': enrol_files, 'kept': enrol_kept_files} | to_json }}"
        dest: "OUT/{{ inventory_hostname }}.json"
        mode: "0644"
"""


def fleet_inventory(appliances: int, senders: int) -> dict:
    """Districts as in scripts/test-fleet: sender j in district (j-1) % A + 1, its
    sender_appliances a group variable; every fourth sender also the next district's (a host
    variable, which wins over the group's)."""
    pis = [f"pi-{i}" for i in range(1, appliances + 1)]
    hosts, districts = {}, {f"district_{i}": {"vars": {"sender_appliances": {pi: [UNIT]}},
                                             "hosts": {pi: {}}} for i, pi in enumerate(pis, 1)}
    for j in range(1, senders + 1):
        district = (j - 1) % appliances + 1
        districts[f"district_{district}"]["hosts"][f"pc-{j}"] = {}
        hosts[f"pc-{j}"] = ({"sender_appliances": {f"pi-{district}": [UNIT],
                                                   f"pi-{district % appliances + 1}": [UNIT]}}
                            if j % 4 == 0 else {})
    return {"all": {"vars": {"ansible_python_interpreter": "/usr/bin/python3"},
                    "children": {"appliances": {"hosts": {pi: {} for pi in pis}},
                                 "senders": {"hosts": hosts}, **districts}}}


def expected_pairs(appliances: int, senders: int) -> dict[str, set[str]]:
    """Written out independently of the inventory: appliance -> the senders pushing to it."""
    pairs: dict[str, set[str]] = {f"pi-{i}": set() for i in range(1, appliances + 1)}
    for j in range(1, senders + 1):
        district = (j - 1) % appliances + 1
        pairs[f"pi-{district}"].add(f"pc-{j}")
        if j % 4 == 0:
            pairs[f"pi-{district % appliances + 1}"].add(f"pc-{j}")
    return pairs


def fingerprint(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


@pytest.fixture(scope="module")
def enrol_plan(tmp_path_factory):
    """A function: run the faked enrolment for an inventory, the appliances' enrolled senders
    and ansible-playbook arguments; returns {host: what enrol.yml would do there}."""
    if not (ANSIBLE_BIN / "ansible-playbook").exists():
        pytest.skip("no Ansible in .venv-ansible (scripts/test-deploy installs it)")
    plays = yaml.safe_load(ENROL.read_text(encoding="utf-8"))
    enrol_play = next(p for p in plays if p["name"] == "Enrol the senders on the appliances")
    base = tmp_path_factory.mktemp("fleet")
    (base / "group_vars").mkdir()
    (base / "group_vars" / "all.yml").write_text(GROUP_VARS.read_text(encoding="utf-8"),
                                                 encoding="utf-8")
    counter = iter(range(1000))

    def plan(inventory: dict, enrolled: dict, *args: str) -> dict[str, dict]:
        run = base / f"run{next(counter)}"
        out = run / "out"
        out.mkdir(parents=True)
        play = base / f"{run.name}.yml"  # beside group_vars/, as enrol.yml is
        play.write_text(FAKE_PLAY.replace("APPLIANCE_VARS", json.dumps(enrol_play["vars"]))
                        .replace("OUT", str(out)),
                        encoding="utf-8")
        (run / "inventory.yml").write_text(yaml.safe_dump(inventory, allow_unicode=True),
                                           encoding="utf-8")
        names = [*inventory["all"]["children"]["appliances"]["hosts"],
                 *inventory["all"]["children"]["senders"]["hosts"]]
        facts = {"fingerprints": {n: fingerprint(n) for n in names}, "enrolled": enrolled}
        env = dict(os.environ, PATH=f"{ANSIBLE_BIN}{os.pathsep}{os.environ['PATH']}",
                   ANSIBLE_NOCOLOR="1", ANSIBLE_LOCAL_TEMP=str(run / "ansible-tmp"),
                   ANSIBLE_CONFIG=str(REPO / "ansible" / "ansible.cfg"))
        result = subprocess.run(
            [str(ANSIBLE_BIN / "ansible-playbook"), "-i", str(run / "inventory.yml"), str(play),
             "-e", json.dumps(facts), *args],
            capture_output=True, text=True, env=env, timeout=300, check=False)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in out.glob("*.json")}

    return plan


def enrolled_as_wanted(pairs: dict[str, set[str]]) -> dict[str, list[dict]]:
    """What `appliance senders list --json` says once every pair is enrolled."""
    return {pi: [{"name": pc, "fingerprint": fingerprint(pc), "units": [UNIT]}
                 for pc in sorted(pcs)] for pi, pcs in pairs.items()}


def test_each_appliance_enrols_exactly_its_senders(enrol_plan):
    plan = enrol_plan(fleet_inventory(4, 12), {})
    pairs = expected_pairs(4, 12)
    for pi, pcs in pairs.items():
        changes = plan[pi]["changes"]
        assert {c["name"] for c in changes} == pcs
        assert all(c["units"] == [UNIT] for c in changes)
        assert all(c["pem"] == f"PEM {c['name']}" for c in changes)
        assert plan[pi]["stale"] == [] and plan[pi]["missing"] == []
    # Not all to all: 12 senders + 3 in a second district, of the 48 possible pairs.
    assert sum(len(plan[pi]["changes"]) for pi in pairs) == 15


def test_each_sender_gets_exactly_its_appliances(enrol_plan):
    plan = enrol_plan(fleet_inventory(4, 12), {})
    pairs = expected_pairs(4, 12)
    for j in range(1, 13):
        pc = f"pc-{j}"
        want = {pi for pi, pcs in pairs.items() if pc in pcs}
        files = {f["name"]: f["content"] for f in plan[pc]["files"]}
        assert sorted(plan[pc]["kept"]) == sorted(files)
        assert set(files) == {f"{pi}.pub" for pi in want} | {f"{pi}.url" for pi in want}
        assert all(files[f"{pi}.pub"] == f"PEM {pi}" for pi in want)


def test_a_second_run_has_nothing_to_do(enrol_plan):
    pairs = expected_pairs(4, 12)
    plan = enrol_plan(fleet_inventory(4, 12), enrolled_as_wanted(pairs))
    for pi in pairs:
        assert plan[pi] == {"changes": [], "stale": [], "missing": []}


def test_changed_key_or_units_are_enrolled_again(enrol_plan):
    pairs = expected_pairs(2, 4)
    enrolled = enrolled_as_wanted(pairs)
    by_name = {(pi, s["name"]): s for pi, senders in enrolled.items() for s in senders}
    by_name["pi-1", "pc-1"]["fingerprint"] = fingerprint("another key")  # pc-1 got a new key
    by_name["pi-2", "pc-2"]["units"] = ["Hemsjukvård Väst"]  # pc-2's units were changed by hand
    plan = enrol_plan(fleet_inventory(2, 4), enrolled)
    assert [c["name"] for c in plan["pi-1"]["changes"]] == ["pc-1"]
    assert [c["name"] for c in plan["pi-2"]["changes"]] == ["pc-2"]


def test_the_inventory_is_the_truth(enrol_plan):
    """A sender no longer named is removed; one enrolled by hand and listed stays."""
    pairs = expected_pairs(2, 4)
    enrolled = enrolled_as_wanted(pairs)
    enrolled["pi-1"] += [{"name": "old-pc", "fingerprint": fingerprint("old-pc"), "units": [UNIT]},
                         {"name": "host-sender", "fingerprint": "ff", "units": [UNIT]}]
    plan = enrol_plan(fleet_inventory(2, 4), enrolled,
                      "-e", json.dumps({"appliance_senders_unmanaged": ["host-sender"]}))
    assert plan["pi-1"]["stale"] == ["old-pc"]
    assert plan["pi-1"]["changes"] == [] and plan["pi-2"]["stale"] == []


def test_a_limit_that_leaves_out_a_sender_changes_nothing_for_it(enrol_plan):
    """The replacement runbook limits to the appliance and the senders; leaving out one
    of its senders must not enrol a partial list nor remove the one left out."""
    pairs = expected_pairs(2, 4)
    enrolled = enrolled_as_wanted(pairs)
    plan = enrol_plan(fleet_inventory(2, 4), enrolled, "--limit", "pi-1,pc-1")
    assert plan["pi-1"]["missing"] == sorted(pairs["pi-1"] - {"pc-1"}) == ["pc-3", "pc-4"]
    assert plan["pi-1"]["stale"] == []
    assert set(plan) == {"pi-1", "pc-1"}


def test_a_limit_without_an_appliance_leaves_the_senders_files_for_it(enrol_plan):
    """The runbook's `--limit PI,senders`: a sender that also delivers to an appliance not
    in the run gets the files of PI, and keeps (is not given, nor loses) the other's."""
    plan = enrol_plan(fleet_inventory(2, 4), {}, "--limit", "pi-1,senders")
    assert "pc-4" in expected_pairs(2, 4)["pi-2"]  # pc-4 delivers to both
    assert {f["name"] for f in plan["pc-4"]["files"]} == {"pi-1.pub", "pi-1.url"}
    assert sorted(plan["pc-4"]["kept"]) == ["pi-1.pub", "pi-1.url", "pi-2.pub", "pi-2.url"]
    assert plan["pc-2"]["files"] == [] and sorted(plan["pc-2"]["kept"]) == ["pi-2.pub", "pi-2.url"]
    assert plan["pi-1"]["missing"] == [] and "pi-2" not in plan


def test_example_inventory_pairs(tmp_path):
    """The example inventory: each office PC delivers to the appliances it names, only."""
    if not (ANSIBLE_BIN / "ansible-inventory").exists():
        pytest.skip("no Ansible in .venv-ansible (scripts/test-deploy installs it)")
    result = subprocess.run(
        [str(ANSIBLE_BIN / "ansible-inventory"), "-i",
         str(REPO / "ansible" / "inventory.example.yml"), "--list"],
        capture_output=True, text=True, timeout=120, check=True,
        env=dict(os.environ, ANSIBLE_LOCAL_TEMP=str(tmp_path)))
    hostvars = json.loads(result.stdout)["_meta"]["hostvars"]
    assert {pc: set(hostvars[pc]["sender_appliances"])
            for pc in ("kontor-norr", "kontor-syd", "kontor-vast")} == {
        "kontor-norr": {"jourrum-norr"}, "kontor-syd": {"jourrum-syd"},
        "kontor-vast": {"jourrum-syd"}}
