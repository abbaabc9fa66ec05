"""The command-line contract of `appliance` and `appliance-sender`."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime

from appliance.cli.appliance_cli import main as appliance_main
from appliance.devtools.synthetic import make_document
from tests.conftest import make_installation, post, run_cli


def write_pdf(path, kind="todo", pages=2):
    path.write_bytes(make_document(kind, produced_at=datetime.now(UTC), pages=pages))
    return str(path)


def test_init_is_idempotent_and_never_replaces_the_key(tmp_path):
    inst = make_installation(tmp_path)
    key = inst.state_dir / "keys" / "appliance.key"
    before = key.read_bytes()
    result = inst.appliance("init", "--dir", str(tmp_path / "appliance"))
    assert "existing" in result.output and "fingerprint:" in result.output
    assert key.read_bytes() == before
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_pubkeys_are_pem(installation):
    assert installation.appliance("pubkey").output.startswith(
        "-----BEGIN APPLIANCE HPKE PUBLIC KEY-----")
    assert installation.sender_cli("pubkey").output.startswith("-----BEGIN PUBLIC KEY-----")


def test_senders_add_list_remove(installation, tmp_path):
    listed = json.loads(installation.appliance("senders", "list", "--json").output)
    assert [s["name"] for s in listed] == ["kontor-norr"]
    pub = tmp_path / "s.pub"
    pub.write_text(installation.sender_cli("pubkey").output)
    again = installation.appliance("senders", "add", "kontor-norr", str(pub), expect=2)
    assert "already enrolled" in again.output
    bad = installation.appliance("senders", "add", "../evil", str(pub), expect=2)
    assert "invalid name" in bad.output
    installation.appliance("senders", "remove", "kontor-norr")
    assert installation.appliance("senders", "list").output == ""
    events = [json.loads(line)["event"] for line in
              (installation.state_dir / "audit.log").read_text().splitlines()]
    assert events.count("sender_enrolled") == 1 and events[-1] == "sender_removed"


def test_push_to_every_appliance_and_exit_status(installation, server, tmp_path):
    pub = tmp_path / "a.pub"
    pub.write_text(installation.appliance("pubkey").output)
    installation.sender_cli("appliances", "add", "jourrum", server.url, str(pub))
    installation.sender_cli("appliances", "add", "nere", "http://127.0.0.1:9", str(pub))
    pdf = write_pdf(tmp_path / "todo.pdf", pages=3)

    result = installation.sender_cli("push", pdf, "--kind", "todo", "--to", "jourrum")
    assert result.output.startswith("jourrum: accepted as ")
    assert "(1 document(s))" in result.output

    result = installation.sender_cli("push", pdf, "--kind", "todo",
                                     "--produced-at", "2026-11-27T07:00+01:00", expect=1)
    lines = sorted(result.output.splitlines())
    assert lines[0].startswith("jourrum: accepted")
    assert lines[1].startswith("nere: REFUSED - unreachable")

    snapshots = json.loads(installation.appliance("snapshots", "--json").output)
    produced = sorted(snap["documents"][0]["produced_at"] for snap in snapshots)
    assert len(snapshots) == 2 and produced[0] == "2026-11-27T06:00:00Z"

    listed = installation.sender_cli("appliances", "list").output
    assert "jourrum\t" + server.url in listed
    installation.sender_cli("appliances", "remove", "nere")
    assert "nere" not in installation.sender_cli("appliances", "list").output


def test_push_refusal_is_reported_with_reason(installation, server, tmp_path):
    pub = tmp_path / "a.pub"
    pub.write_text(installation.appliance("pubkey").output)
    installation.sender_cli("appliances", "add", "jourrum", server.url, str(pub))
    text = tmp_path / "list.txt"
    text.write_text("inte en pdf")
    result = installation.sender_cli("push", str(text), "--kind", "todo", expect=1)
    assert "jourrum: REFUSED 422 unreadable_pdf" in result.output


def test_seal_offline_then_push_the_file(installation, server, tmp_path):
    pub = tmp_path / "a.pub"
    pub.write_text(installation.appliance("pubkey").output)
    out = tmp_path / "snap.seal"
    installation.sender_cli("seal", write_pdf(tmp_path / "m.pdf", "medications"),
                            "--kind", "medications", "--recipient", str(pub), "-o", str(out))
    status, reply = post(server.url + "/api/v1/snapshots", out.read_bytes())
    assert status == 201 and set(reply) == {"id", "sender", "received_at"}
    stored = json.loads(installation.appliance("snapshots", "--json").output)
    assert stored[0]["documents"][0]["kind"] == "medications"
    assert stored[0]["documents"][0]["pages"] == 2


def test_status_json_and_text(installation):
    data = json.loads(installation.appliance("status", "--json").output)
    assert data["state"] == "no-data" and "todo" in data["kinds"]
    assert "state: no-data" in installation.appliance("status").output


def test_status_exit_code_follows_the_state(installation):
    """0 ready, 1 needs attention (here: no data yet), 2 fault (here: the queue is gone)."""
    assert run_cli(appliance_main, installation.appliance_toml, "status", expect=1)
    installation.ingest(installation.envelope("todo"))
    ready = run_cli(appliance_main, installation.appliance_toml, "status", expect=0)
    assert "state: ready" in ready.output
    installation.cups.run("lpadmin", "-x", installation.queue.name)
    fault = run_cli(appliance_main, installation.appliance_toml, "status", "--json", expect=2)
    assert json.loads(fault.output)["state"] == "fault"


def test_config_show_and_check(installation):
    shown = installation.appliance("config", "show").output
    assert "web.max_snapshot_mb = 64" in shown
    assert 'kinds.todo.title = "Att göra-lista"' in shown
    assert 'kinds.todo.slots = ["07:00", "14:30"]' in shown
    key_text = (installation.state_dir / "keys" / "appliance.key").read_text()
    assert key_text.splitlines()[1] not in shown
    assert "config ok" in installation.appliance("config", "check").output
    (installation.root / "appliance" / "senders" / "trasig.pub").write_text("nonsense")
    broken = installation.appliance("config", "check", expect=1)
    assert "trasig.pub: not an Ed25519 public key" in broken.output


def test_config_check_names_a_missing_queue_and_form(installation):
    text = installation.appliance_toml.read_text().replace(
        f'queue = "{installation.queue.name}"',
        'queue = "finns-inte"\nforms = ["dokumentation", "okand"]')
    installation.appliance_toml.write_text(text)
    shown = installation.appliance("config", "show").output
    assert 'printing.queue = "finns-inte"' in shown and "panel.button_pin = 17" in shown
    result = installation.appliance("config", "check", expect=1)
    assert "printing.queue: no such CUPS queue" in result.output
    assert "printing.forms: no template print/form-okand.txt.j2 for form 'okand'" in \
        result.output


def test_config_check_file_only_judges_the_file_alone(tmp_path):
    """What provisioning validates a new file with: no key, store or senders needed yet."""
    config = tmp_path / "appliance.toml"
    config.write_text(f'[appliance]\nname = "ny"\nstate_dir = "{tmp_path / "nothing-yet"}"\n')
    result = run_cli(appliance_main, config, "config", "check", "--file-only")
    assert f"config file ok: {config}" in result.output
    assert not (tmp_path / "nothing-yet").exists()
    config.write_text('[web]\nport = 0\n[units]\nnames = "Hemsjukvård Syd"\n')
    result = run_cli(appliance_main, config, "config", "check", "--file-only", expect=2)
    assert "web.port: must be a TCP port, got 0" in result.output
    assert "units.names: must list the units" in result.output


def test_config_error_names_key_and_exits_2(tmp_path):
    config = tmp_path / "appliance.toml"
    config.write_text('[web]\nprot = 8080\n')
    result = run_cli(appliance_main, config, "status", expect=2)
    assert "web.prot: unknown key (did you mean 'port'?)" in result.output


def test_missing_config_says_how_to_create_one(tmp_path):
    result = run_cli(appliance_main, tmp_path / "none.toml", "status", expect=2)
    assert "init --dir" in result.output


def test_audit_verify_detects_tampering(installation, server, tmp_path):
    assert post(server.url + "/api/v1/snapshots", installation.envelope())[0] == 201
    assert "OK" in installation.appliance("audit", "verify").output
    log = installation.state_dir / "audit.log"
    lines = log.read_text().splitlines()
    lines[1] = lines[1].replace('"kontor-norr"', '"kontor-syd"')
    log.write_text("\n".join(lines) + "\n")
    result = installation.appliance("audit", "verify", expect=1)
    assert "line 2" in result.output
