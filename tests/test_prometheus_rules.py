"""The fleet's alerting rules and Grafana dashboard (ansible/roles/monitoring/files):
`promtool check rules` and `promtool test rules` (Debian's `prometheus` package) pass; every
alert is unit-tested firing and resolving, has its Swedish and English summary and a remedy;
and every metric the rules and the dashboard name is one a real appliance's `/metrics`
exports, with no label that could carry patient data."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from appliance.core.watch.selftest import CheckFailed, record_selftest
from appliance.core.watch.selftest import run as run_selftest
from tests.conftest import Server, make_installation

NOW = datetime(2026, 12, 8, 2, 41, tzinfo=UTC)

ROOT = Path(__file__).resolve().parent.parent
FILES = ROOT / "ansible" / "roles" / "monitoring" / "files"
RULES = FILES / "appliance-rules.yml"
RULE_TESTS = ROOT / "tests" / "prometheus" / "appliance-rules.test.yml"
DASHBOARD = FILES / "grafana-dashboard.json"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool missing: apt-get install prometheus (scripts/setup does)")

# Series Prometheus itself makes, not the appliance.
PROMETHEUS_OWN = {"up", "ALERTS"}
# The only label names the appliance exports: kinds, configured unit names, sender names
# (IT's names for office PCs), state, reason and condition codes, the self-check's check
# names, the software's version. Never a title or content.
SAFE_LABELS = {"state", "reason", "condition", "kind", "unit", "sender", "version", "check",
               "printer", "marker", "warning"}  # printer: a CUPS queue; marker: as it names it
SEVERITIES = {"critical", "warning", "info"}

PROMQL_WORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
                "group_right", "bool", "offset", "inf", "nan"}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENTIFIER = re.compile(r"(?<![\w$.])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects: identifiers that are neither a
    function (followed by `(`), a keyword, a label in a matcher or grouping, nor a duration."""
    bare = _GROUPING.sub(" ", _RANGE.sub(" ", _MATCHERS.sub(" ", _STRING.sub(" ", expr))))
    bare = re.sub(r"\b\d+(?:\.\d+)?(?:e[+-]?\d+)?[smhdwy]?\b", " ", bare)
    return {name for name in _IDENTIFIER.findall(bare) if name.lower() not in PROMQL_WORDS}


def rules() -> list[dict]:
    document = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in document["groups"] for rule in group["rules"]]


def dashboard_exprs() -> list[str]:
    board = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = [target["expr"] for panel in board["panels"] for target in panel["targets"]]
    exprs += [item["expr"] for item in board["annotations"]["list"]]
    exprs += [re.sub(r"^label_values\((.*),\s*\w+\)$", r"\1", item["definition"])
              for item in board["templating"]["list"]]
    return exprs


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[set[str], set[str]]:
    """(metric names, label names) of a real appliance's `/metrics`, through nginx: names from
    the TYPE lines, so families without samples yet (no drill printed) count too. A
    self-check has run (its families are absent until the first), and failed on one check."""
    inst = make_installation(tmp_path_factory.mktemp("scraped"))
    record_selftest(inst.state_dir, run_selftest(
        [("queue", lambda: "accepting"), ("store", failing_probe)], NOW))
    srv = Server(inst).start()
    try:
        with urllib.request.urlopen(srv.url + "/metrics", timeout=10) as response:
            text = response.read().decode("utf-8")
    finally:
        srv.stop()
    names = set(re.findall(r"^# TYPE (\S+) ", text, re.MULTILINE))
    labels = {label for block in re.findall(r"^[a-z_:]+\{([^}]*)\}", text, re.MULTILINE)
              for label in re.findall(r'(\w+)="', block)}
    return names, labels


def failing_probe() -> str:
    raise CheckFailed("the index cannot be read; restore it")


def test_the_expression_parser_finds_names_and_skips_the_rest() -> None:
    expr = ('max by (appliance, kind) (appliance_unit_document_stale{kind="todo",unit=~"a|b"} '
            '== 1) or (time() - appliance_sender_last_delivery_timestamp_seconds[5m] > 24 * '
            '3600 unless on (instance) up{job="x"}) / 1e3 offset 5m')
    assert metric_names(expr) == {"appliance_unit_document_stale", "up",
                                  "appliance_sender_last_delivery_timestamp_seconds"}


@needs_promtool
def test_promtool_checks_the_rules() -> None:
    result = subprocess.run([PROMTOOL, "check", "rules", str(RULES)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout


@needs_promtool
def test_promtool_unit_tests_pass() -> None:
    result = subprocess.run([PROMTOOL, "test", "rules", RULE_TESTS.name], cwd=RULE_TESTS.parent,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_is_tested_firing_and_then_resolving() -> None:
    tests = yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))["tests"]
    alerts = {rule["alert"] for rule in rules()}
    covered = set()
    for case in tests:
        by_alert: dict[str, list[tuple[str, bool]]] = {}
        for check in case["alert_rule_test"]:
            by_alert.setdefault(check["alertname"], []).append(
                (check["eval_time"], bool(check["exp_alerts"])))
        for alert, checks in by_alert.items():
            fired = [i for i, (_, firing) in enumerate(checks) if firing]
            if fired and any(not firing for _, firing in checks[fired[0] + 1:]):
                covered.add(alert)
    assert alerts - covered == set(), "alerts not tested firing, then resolved"
    assert covered <= alerts


def test_every_alert_says_it_in_english_and_swedish_with_a_remedy() -> None:
    for rule in rules():
        annotations = rule["annotations"]
        assert set(annotations) == {"summary", "summary_sv", "remedy"}, rule["alert"]
        assert all(text.strip() for text in annotations.values()), rule["alert"]
        assert annotations["summary"] != annotations["summary_sv"], rule["alert"]
        assert "$labels.appliance" in annotations["summary"], rule["alert"]
        assert rule["labels"]["severity"] in SEVERITIES, rule["alert"]
        assert re.fullmatch(r"Appliance[A-Z][A-Za-z]+", rule["alert"])


def test_the_rules_and_the_dashboard_use_only_what_the_appliance_exports(exported) -> None:
    names, labels = exported
    assert "appliance_state" in names and "appliance_drill_due" in names  # a real scrape
    assert labels <= SAFE_LABELS, labels - SAFE_LABELS
    for source, exprs in (("rules", [rule["expr"] for rule in rules()]),
                          ("dashboard", dashboard_exprs())):
        used = set().union(*(metric_names(expr) for expr in exprs))
        unknown = used - names - PROMETHEUS_OWN
        assert unknown == set(), f"{source} name metrics /metrics does not export: {unknown}"


def test_the_dashboard_is_importable_and_shows_every_room() -> None:
    board = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert [item["name"] for item in board["__inputs"]] == ["DS_PROMETHEUS"]
    assert board["uid"] and board["title"] and isinstance(board["schemaVersion"], int)
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        assert set(panel["gridPos"]) == {"x", "y", "w", "h"}, panel["title"]
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, panel["title"]
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
        refs = [target["refId"] for target in panel["targets"]]
        assert refs and len(refs) == len(set(refs)), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
            assert 'site=~"$site"' in target["expr"], (panel["title"], target["expr"])
    glance = board["panels"][0]
    shown = set().union(*(metric_names(target["expr"]) for target in glance["targets"]))
    assert {"up", "appliance_state", "appliance_printer_condition",
            "appliance_unit_document_age_seconds", "appliance_last_drill_age_seconds"} <= shown
