"""`/metrics`: Prometheus text format, via Flask's test client with a FixedClock where timing
matters and via the real server (gunicorn, several workers) for the counters; prometheus_client
writes it (escaping included) from the core's families."""

from __future__ import annotations

import json
import os
import re
import socket
import urllib.request
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from prometheus_client.parser import text_string_to_metric_families

import appliance
from appliance.adapters.cups import CupsPrinter
from appliance.adapters.web import create_app
from appliance.adapters.web.metrics import CONTENT_TYPE, render
from appliance.core.base.clock import FixedClock
from appliance.core.base.statefile import StateFile
from appliance.core.records.audit import AuditLog
from appliance.core.services import Services
from appliance.core.watch.metrics import AuditTally, Family, collect, tally_checkpoint
from appliance.core.watch.slots import SlotWatch
from tests.conftest import Server, post

STOCKHOLM = ZoneInfo("Europe/Stockholm")
MARKER = "Zqxmarkör-Patient-4711"
MORNING = datetime(2026, 11, 27, 7, 31, tzinfo=STOCKHOLM).astimezone(UTC)
SENDER_SEEN = "appliance_sender_last_delivery_timestamp_seconds"

_SAMPLE = re.compile(r"(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^}]*)\})? "
                     r"(?P<value>[-+]?(?:[0-9.eE+-]+|Inf|NaN))")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')
_METADATA = re.compile(r"# (?P<what>HELP|TYPE) (?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*) (?P<rest>.+)")

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> tuple[Samples, dict[str, str]]:
    """Samples keyed by (name, sorted labels), and each family's type. Every line must be
    valid exposition format; every sample must follow its family's HELP and TYPE."""
    assert text.endswith("\n")
    samples: Samples = {}
    types: dict[str, str] = {}
    helped: set[str] = set()
    for line in text.splitlines():
        meta = _METADATA.fullmatch(line)
        if meta:
            if meta["what"] == "HELP":
                helped.add(meta["name"])
            else:
                assert meta["rest"] in ("gauge", "counter"), line
                assert meta["name"] not in types, f"family typed twice: {line}"
                types[meta["name"]] = meta["rest"]
            continue
        sample = _SAMPLE.fullmatch(line)
        assert sample, f"not a sample line: {line!r}"
        assert sample["name"] in types and sample["name"] in helped, line
        raw = sample["labels"] or ""
        labels = tuple(sorted(_LABEL.findall(raw)))
        assert ",".join(f'{k}="{v}"' for k, v in _LABEL.findall(raw)) == raw, line
        key = (sample["name"], labels)
        assert key not in samples, f"duplicate sample: {line}"
        samples[key] = float(sample["value"])
    return samples, types


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def one_hot_state(samples: Samples) -> str:
    states = {dict(labels)["state"]: v for (name, labels), v in samples.items()
              if name == "appliance_state"}
    assert sorted(states.values()) == [0] * (len(states) - 1) + [1]
    return next(state for state, v in states.items() if v == 1)


@pytest.fixture
def inst(installation):
    return installation  # prints to a capture queue on the private cupsd


def make_app(inst, clock):
    return create_app(inst.config, clock=clock,
                      printer=CupsPrinter(inst.queue.name, server=inst.cups.server))


def scrape(client) -> tuple[Samples, str]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == CONTENT_TYPE
    text = response.get_data(as_text=True)
    return parse(text)[0], text


def library_parse(text: str) -> Samples:
    """The samples as prometheus_client's own parser reads them: label values unescaped."""
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def test_the_library_escapes_a_quote_a_backslash_and_a_newline() -> None:
    reason = 'bad "quote" \\ back\nslash'  # not a reason code the core has: injected
    text = render([Family("appliance_refusals_total", "counter", "Refused \\ by\nreason.",
                          [({"reason": reason}, 2)]),
                   Family("appliance_drill_due", "gauge", "Due.", [({}, 1)])])
    assert text == ('# HELP appliance_refusals_total Refused \\\\ by\\nreason.\n'
                    '# TYPE appliance_refusals_total counter\n'
                    'appliance_refusals_total{reason="bad \\"quote\\" \\\\ back\\nslash"} 2.0\n'
                    '# HELP appliance_drill_due Due.\n'
                    '# TYPE appliance_drill_due gauge\n'
                    'appliance_drill_due 1.0\n')
    parse(text)  # valid exposition format, by this module's checker too
    assert library_parse(text) == {("appliance_refusals_total", (("reason", reason),)): 2,
                                   ("appliance_drill_due", ()): 1}
    assert CONTENT_TYPE == "text/plain; version=0.0.4; charset=utf-8"


def test_a_unit_name_with_a_quote_and_a_backslash_is_escaped_and_help_is_the_cores(
        inst) -> None:
    unit = 'Hemsjukvård "Norr" \\ Syd'  # units.names allows both (printable, no newline)
    with open(inst.appliance_toml, "a", encoding="utf-8") as handle:
        handle.write(f"\n[units]\nnames = {json.dumps([unit], ensure_ascii=False)}\n")
    clock = FixedClock(MORNING)
    _, text = scrape(make_app(inst, clock).test_client())

    assert ('appliance_unit_document_stale{kind="todo",unit="Hemsjukvård \\"Norr\\" \\\\ Syd"} 1.0'
            in text.splitlines())
    assert library_parse(text)[("appliance_unit_document_stale",
                                (("kind", "todo"), ("unit", unit)))] == 1
    families = collect(Services(inst.config, clock), AuditTally(inst.state_dir / "audit.log"),
                       clock.now())
    helps = dict(re.findall(r"^# HELP (\S+) (.*)$", text, re.MULTILINE))
    assert helps == {family.name: family.help for family in families}


def test_metrics_follow_ingests_refusals_time_and_missed_slots(inst) -> None:
    clock = FixedClock(MORNING)
    client = make_app(inst, clock).test_client()

    samples, text = scrape(client)
    _, types = parse(text)
    assert types == {
        "appliance_build_info": "gauge", "appliance_state": "gauge",
        "appliance_clock_trusted": "gauge",
        "appliance_printer_condition": "gauge",
        "appliance_document_age_seconds": "gauge",
        "appliance_document_stale": "gauge", "appliance_snapshots_stored": "gauge",
        "appliance_unit_document_age_seconds": "gauge", "appliance_unit_document_stale": "gauge",
        "appliance_ingests_total": "counter", "appliance_refusals_total": "counter",
        "appliance_slots_missed_total": "counter",
        "appliance_last_drill_age_seconds": "gauge", "appliance_drill_due": "gauge",
        "appliance_panel_gpio_ready": "gauge",
        "appliance_planned_outage_next_start_timestamp_seconds": "gauge",
        "appliance_planned_outage_ongoing": "gauge",
        "appliance_sender_last_delivery_timestamp_seconds": "gauge",
        "appliance_state_dir_avail_bytes": "gauge", "appliance_state_dir_size_bytes": "gauge",
        "appliance_printer_marker_level_percent": "gauge",
        "appliance_printer_supply_warning": "gauge",
        "appliance_printer_unanswered_seconds": "gauge",
        "appliance_key_previous_keys": "gauge",
        "appliance_key_grace_ends_timestamp_seconds": "gauge",
    }
    assert value(samples, "appliance_key_previous_keys") == 0
    assert one_hot_state(samples) == "no-data"
    assert value(samples, "appliance_build_info", version=appliance.__version__) == 1
    assert value(samples, "appliance_ingests_total") == 0
    assert value(samples, "appliance_snapshots_stored") == 0
    assert value(samples, "appliance_document_stale", kind="todo") == 1
    assert value(samples, "appliance_document_stale", kind="medications") == 0
    assert value(samples, "appliance_slots_missed_total", kind="todo") == 0
    assert not [key for key in samples if key[0] == "appliance_document_age_seconds"]
    assert not [key for key in samples if key[0] == "appliance_refusals_total"]
    # enrolled, never delivered: 0, so a fleet's "sender not seen" alert covers it too
    assert value(samples, SENDER_SEEN, sender="kontor-norr") == 0
    disk = os.statvfs(inst.state_dir)
    assert value(samples, "appliance_state_dir_size_bytes") == disk.f_blocks * disk.f_frsize
    assert 0 < value(samples, "appliance_state_dir_avail_bytes") <= disk.f_blocks * disk.f_frsize

    produced = MORNING - timedelta(minutes=10)
    envelope = inst.envelope("todo", produced_at=produced, marker=MARKER)
    snapshots = "/api/v1/snapshots"
    octets = {"Content-Type": "application/octet-stream"}
    assert client.post(snapshots, data=envelope, headers=octets).status_code == 201
    assert client.post(snapshots, data=envelope, headers=octets).status_code == 409
    assert client.post(snapshots, data=b"not an envelope", headers=octets).status_code == 400
    assert client.post(snapshots, data=b"x", headers={"Content-Type": "text/plain"}
                       ).status_code == 415

    samples, text = scrape(client)
    assert one_hot_state(samples) == "ready"
    assert value(samples, "appliance_ingests_total") == 1
    assert value(samples, "appliance_refusals_total", reason="replayed") == 1
    assert value(samples, "appliance_refusals_total", reason="malformed") == 1
    assert value(samples, "appliance_refusals_total", reason="unsupported_media_type") == 1
    assert value(samples, "appliance_document_age_seconds", kind="todo") == 600
    assert value(samples, "appliance_document_stale", kind="todo") == 0
    assert value(samples, "appliance_snapshots_stored") == 1
    assert value(samples, SENDER_SEEN, sender="kontor-norr") == MORNING.timestamp()
    # Sender names are IT's names for office PCs, like unit names (docs/decisions.md).
    for secret in ("Patient-4711", "Sölvesborg", "Att göra"):
        assert secret not in text

    clock.set(datetime(2026, 11, 27, 15, 1, tzinfo=STOCKHOLM))  # 14:30 missed
    SlotWatch(Services(inst.config, clock), poster=None).evaluate()  # no webhook
    samples, _ = scrape(client)
    assert value(samples, "appliance_document_age_seconds", kind="todo") == \
        (clock.now() - produced).total_seconds()
    assert value(samples, "appliance_document_stale", kind="todo") == 1
    assert value(samples, "appliance_slots_missed_total", kind="todo") == 1
    assert one_hot_state(samples) == "stale"


def test_counters_survive_a_restart_and_agree_across_workers(inst) -> None:
    clock = FixedClock(MORNING)
    first = make_app(inst, clock).test_client()
    second = make_app(inst, clock).test_client()  # another gunicorn worker, in effect
    scrape(second)  # its tally has read the log up to here
    octets = {"Content-Type": "application/octet-stream"}
    envelope = inst.envelope("todo", produced_at=MORNING)
    assert first.post("/api/v1/snapshots", data=envelope, headers=octets).status_code == 201
    assert first.post("/api/v1/snapshots", data=b"?", headers=octets).status_code == 400

    restarted = make_app(inst, clock).test_client()
    for client in (first, second, restarted):
        samples, _ = scrape(client)
        assert value(samples, "appliance_ingests_total") == 1
        assert value(samples, "appliance_refusals_total", reason="malformed") == 1


def test_the_tally_reads_incrementally_and_recounts_a_replaced_log(tmp_path) -> None:
    path = tmp_path / "audit.log"
    log = AuditLog(path, FixedClock(MORNING))
    tally = AuditTally(path)
    tally.update()
    assert (tally.ingests, dict(tally.refusals)) == (0, {})

    log.append("ingested", snapshot="a")
    log.append("refused", reason="malformed")
    tally.update()
    log.append("refused", reason="malformed")
    log.append("printed", job=1)
    with open(path, "ab") as handle:
        handle.write(b'{"torn":')  # an append in progress is not counted yet
    tally.update()
    assert (tally.ingests, dict(tally.refusals)) == (1, {"malformed": 2})

    path.unlink()  # e.g. restored from an older copy
    AuditLog(path, FixedClock(MORNING)).append("ingested", snapshot="b")
    tally.update()
    assert (tally.ingests, dict(tally.refusals)) == (1, {})


def _counts(tally: AuditTally) -> tuple[int, dict[str, int]]:
    tally.update()
    return tally.ingests, dict(tally.refusals)


def test_a_new_tally_resumes_from_the_checkpoint_and_reads_only_what_is_new(tmp_path) -> None:
    path, checkpoint = tmp_path / "audit.log", StateFile(tmp_path / "metrics-tally.json")
    log = AuditLog(path, FixedClock(MORNING))
    log.append("ingested", snapshot="a", sender="kontor-a")
    log.append("refused", reason="malformed")
    assert _counts(AuditTally(path, checkpoint)) == (1, {"malformed": 1})
    saved = checkpoint.load()
    assert saved["last_delivery"] == {"kontor-a": MORNING.timestamp()}
    assert (saved["ingests"], saved["refusals"], saved["last_n"]) == (1, {"malformed": 1}, 2)

    # Proof that the next process does not count from the start: counts planted in the
    # checkpoint are carried on, and only the new line is added to them.
    checkpoint.save({**saved, "ingests": 40})
    log.append("ingested", snapshot="b", sender="kontor-b")
    resumed = AuditTally(path, checkpoint)
    assert _counts(resumed) == (41, {"malformed": 1})
    # the last delivery of a sender whose line was counted before the restart survives it
    assert resumed.last_delivery == {"kontor-a": MORNING.timestamp(),
                                     "kontor-b": MORNING.timestamp()}
    assert checkpoint.load()["ingests"] == 41
    # A scrape that finds nothing new does not write the checkpoint again.
    before = checkpoint.path.stat().st_mtime_ns
    tally = AuditTally(path, checkpoint)
    assert _counts(tally) == _counts(tally) == (41, {"malformed": 1})
    assert checkpoint.path.stat().st_mtime_ns == before


@pytest.mark.parametrize("change", ["replaced", "shrunk", "another log"])
def test_a_checkpoint_the_log_does_not_continue_is_counted_again(tmp_path, change) -> None:
    path, checkpoint = tmp_path / "audit.log", StateFile(tmp_path / "metrics-tally.json")
    log = AuditLog(path, FixedClock(MORNING))
    for snapshot in "abc":
        log.append("ingested", snapshot=snapshot)
    assert _counts(AuditTally(path, checkpoint)) == (3, {})
    if change == "replaced":  # e.g. restored from an older copy, written anew
        path.unlink()
        AuditLog(path, FixedClock(MORNING)).append("refused", reason="replayed")
        expected = (0, {"replayed": 1})
    elif change == "shrunk":
        lines = path.read_bytes().splitlines(keepends=True)
        with open(path, "r+b") as handle:  # the same file, cut back to its first entry
            handle.truncate(len(lines[0]))
        expected = (1, {})
    else:
        other = tmp_path / "other.log"
        AuditLog(other, FixedClock(MORNING)).append("refused", reason="malformed")
        path = other
        expected = (0, {"malformed": 1})
    assert _counts(AuditTally(path, checkpoint)) == expected


@pytest.mark.parametrize("damage", [b"{not json", b'{"version": 1, "offsets": 7}',
                                    b'{"version": 99}'])
def test_a_damaged_or_future_checkpoint_costs_a_recount_never_a_wrong_figure(
        tmp_path, damage) -> None:
    path = tmp_path / "audit.log"
    checkpoint = tally_checkpoint(tmp_path)
    log = AuditLog(path, FixedClock(MORNING))
    log.append("ingested", snapshot="a")
    checkpoint.path.write_bytes(damage)
    assert _counts(AuditTally(path, checkpoint)) == (1, {})
    if damage == b"{not json":  # set aside for IT, and a good one written in its place
        assert [p.name for p in tmp_path.glob("metrics-tally.json.damaged-*")]
    if damage == b'{"version": 99}':  # a newer release's: left alone, not overwritten
        assert checkpoint.path.read_bytes() == damage
    else:
        assert checkpoint.load()["ingests"] == 1


def test_a_checkpoint_that_cannot_be_written_does_not_stop_the_counting(tmp_path) -> None:
    path = tmp_path / "audit.log"
    AuditLog(path, FixedClock(MORNING)).append("ingested", snapshot="a")
    blocked = StateFile(tmp_path / "not-a-dir" / "metrics-tally.json")
    (tmp_path / "not-a-dir").write_text("a file where the folder should be")
    assert _counts(AuditTally(path, blocked)) == (1, {})


def test_metrics_on_the_real_server(inst) -> None:
    produced = datetime.now(UTC) - timedelta(minutes=5)
    srv = Server(inst).start()
    try:
        envelope = inst.envelope("todo", produced_at=produced, marker=MARKER)
        assert post(srv.url + "/api/v1/snapshots", envelope)[0] == 201
        assert post(srv.url + "/api/v1/snapshots", b"garbage")[0] == 400
        # several scrapes, so more than one gunicorn worker is likely asked
        for _ in range(4):
            with urllib.request.urlopen(srv.url + "/metrics", timeout=10) as response:
                assert response.headers["Content-Type"] == CONTENT_TYPE
                text = response.read().decode("utf-8")
            samples, _ = parse(text)
            assert value(samples, "appliance_ingests_total") == 1
            assert value(samples, "appliance_refusals_total", reason="malformed") == 1
            age = value(samples, "appliance_document_age_seconds", kind="todo")
            expected = (datetime.now(UTC) - produced.replace(microsecond=0)).total_seconds()
            assert expected - 30 <= age <= expected
            one_hot_state(samples)  # without CUPS here it is `fault`; one state all the same
            assert "Patient-4711" not in text
    finally:
        srv.stop()
    assert "Patient-4711" not in srv.log()


def get_from(source: str, port: int, path: str) -> tuple[int, bytes]:
    """GET `path` from the local address `source` (any 127.x.y.z is this host's loopback)."""
    sock = socket.socket()
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", port))
    sock.settimeout(10)
    with sock:
        sock.sendall(b"GET %s HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n" % path.encode())
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def test_metrics_only_for_the_allowed_addresses_the_rest_of_the_api_for_all(inst) -> None:
    text = inst.appliance_toml.read_text()
    inst.appliance_toml.write_text(text.replace(
        "[web]\n", '[web]\nmetrics_allow = ["127.0.0.1", "127.0.4.0/24"]\n', 1))
    srv = Server(inst).start()
    try:
        for allowed in ("127.0.0.1", "127.0.4.9"):
            status, body = get_from(allowed, srv.port, "/metrics")
            assert status == 200 and b"appliance_state{" in body
        status, body = get_from("127.0.5.1", srv.port, "/metrics")
        assert status == 403
        assert json.loads(body)["error"] == "forbidden"
        assert b"appliance_" not in body
        assert get_from("127.0.5.1", srv.port, "/healthz")[0] == 200
        assert get_from("127.0.5.1", srv.port, "/metrics/")[0] == 404  # not a way round
    finally:
        srv.stop()


def test_metrics_show_a_key_rotation_and_when_its_grace_ends(inst) -> None:
    from appliance.core.intake import key_rotation
    from appliance.core.intake.appliance_key import replace_key_file

    clock = FixedClock(MORNING)
    services = Services(inst.config, clock)
    rotated = key_rotation.rotate(services, services.key_ring, timedelta(days=10))
    replace_key_file(inst.config, rotated.ring.keys)
    samples, _ = scrape(make_app(inst, clock).test_client())
    assert value(samples, "appliance_key_previous_keys") == 1
    assert value(samples, "appliance_key_grace_ends_timestamp_seconds") == (
        MORNING + timedelta(days=10)).timestamp()
    clock.advance(timedelta(days=10))
    samples, _ = scrape(make_app(inst, clock).test_client())
    assert value(samples, "appliance_key_previous_keys") == 1  # kept: nothing pruned it
    assert not [key for key in samples
                if key[0] == "appliance_key_grace_ends_timestamp_seconds"]
