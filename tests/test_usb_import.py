"""The USB stick, sealed: `appliance-sender seal --to-dir` writes envelopes onto it and
`appliance import` ingests them through the HTTP path's own checks, refusals and audit."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from appliance.core.intake.ingest import max_envelope_bytes
from appliance.core.services import Services
from appliance.devtools.synthetic import make_document
from tests.conftest import BIN, get_json, make_installation, post
from tests.print_helpers import audit_events

REPO = Path(__file__).resolve().parent.parent
UNIT = REPO / "systemd" / "appliance-usb-import@.service"
MOUNT_UNIT = REPO / "systemd" / "appliance-usb-mount@.service"
UDEV_RULE = REPO / "udev" / "90-appliance-usb-import.rules"
INSTALLED_CLI = "/opt/appliance/venv/bin/appliance"
# The appliance, the time and a random part; never the kind (issue 26: the stick's names are
# readable by whoever holds it).
SEAL_NAME = re.compile(r"(?P<appliance>[A-Za-z0-9_.-]+)-\d{8}T\d{6}Z-[0-9a-f]{6}\.seal")


def export(tmp_path: Path, marker: str) -> Path:
    path = tmp_path / f"export-{marker}.pdf"
    path.write_bytes(make_document("todo", pages=2, marker=marker, produced_at=datetime.now(UTC)))
    return path


def enrol_appliance(inst, name: str, appliance_root: Path) -> None:
    """Configure appliance NAME (its public key from `appliance init`) on the sender."""
    inst.sender_cli("appliances", "add", name, "http://127.0.0.1:9", str(
        appliance_root / "appliance" / "state" / "keys" / "appliance.pub"))


def seal_to(inst, directory: Path, source: Path, *extra: str) -> list[Path]:
    result = inst.sender_cli("seal", str(source), "--kind", "todo", "--to-dir", str(directory),
                             *extra)
    return [Path(line.split(": ", 1)[1].rsplit(" (", 1)[0])
            for line in result.output.splitlines()]


def import_(inst, *paths: Path, expect: int, via: str = "import"):
    return inst.appliance("import", "--via", via, *map(str, paths), expect=expect)


def pdf_text(pdf: Path) -> str:
    return subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, check=True,
                          text=True).stdout


def test_seal_to_dir_writes_one_envelope_per_appliance_and_nothing_in_plaintext(
        installation, tmp_path):
    other = make_installation(tmp_path / "other")
    enrol_appliance(installation, "vxo-norr", installation.root)
    enrol_appliance(installation, "vxo-syd", other.root)
    stick = tmp_path / "stick"
    stick.mkdir()

    written = seal_to(installation, stick, export(tmp_path, "USBMARKER1"))

    assert sorted(p.name for p in stick.iterdir()) == sorted(p.name for p in written)
    assert sorted(SEAL_NAME.fullmatch(p.name)["appliance"] for p in written) == [
        "vxo-norr", "vxo-syd"]
    for path in written:
        assert "todo" not in path.name
        assert b"USBMARKER1" not in path.read_bytes() and b"%PDF" not in path.read_bytes()
    mine = next(p for p in written if p.name.startswith("vxo-norr-"))
    theirs = next(p for p in written if p.name.startswith("vxo-syd-"))
    result = import_(installation, mine, expect=0)
    assert "accepted as" in result.output
    # Sealed for the other appliance: refused here exactly as over HTTP.
    result = import_(installation, theirs, expect=1)
    assert "REFUSED wrong_recipient" in result.output

    only = tmp_path / "only"
    only.mkdir()
    assert [SEAL_NAME.fullmatch(p.name)["appliance"] for p in
            seal_to(installation, only, export(tmp_path, "X"), "--to", "vxo-syd")] == ["vxo-syd"]


def test_seal_needs_a_recipient_or_a_folder(installation, tmp_path):
    source = export(tmp_path, "X")
    result = installation.sender_cli("seal", str(source), "--kind", "todo", expect=2)
    assert "either --recipient and -o, or --to-dir" in result.output


def test_bad_files_are_refused_with_their_reasons_and_audited_and_the_store_unchanged(
        installation, tmp_path):
    good_folder, stick, outside = (tmp_path / d for d in ("good", "stick", "outside"))
    for folder in (good_folder, stick, outside):
        folder.mkdir()
    good = installation.envelope(marker="LASTGOODUSB")
    (good_folder / "a.seal").write_bytes(good)
    assert "accepted as" in import_(installation, good_folder, expect=0).output
    before = installation.store_state()

    tampered = bytearray(installation.envelope(marker="TAMPERED"))
    tampered[-5] ^= 0x01
    (stick / "1-tampered.seal").write_bytes(bytes(tampered))
    (stick / "2-replayed.seal").write_bytes(good)
    (stick / "3-plaintext.seal").write_bytes(make_document("todo", pages=1, marker="PLAIN",
                                                             produced_at=datetime.now(UTC)))
    with open(stick / "4-oversized.seal", "wb") as handle:  # sparse: size checked, not read
        handle.truncate(max_envelope_bytes(Services(installation.config)) + 1)
    (outside / "valid.seal").write_bytes(installation.envelope(marker="VIA_SYMLINK"))
    (stick / "5-symlink.seal").symlink_to(outside / "valid.seal")
    os.mkfifo(stick / "6-fifo.seal")
    (stick / "notes.txt").write_bytes(installation.envelope(marker="NOT_A_SEAL_NAME"))

    result = import_(installation, stick, expect=1, via="usb")

    lines = result.output.splitlines()
    assert [line.split(": ", 1)[1].split(":")[0] for line in lines[:-1]] == [
        "REFUSED replayed", "REFUSED bad_signature", "REFUSED malformed", "REFUSED too_large",
        "IGNORED symlink", "IGNORED not_a_regular_file"]
    assert lines[-1] == "imported 0, refused 4, ignored 2"
    assert installation.store_state() == before
    refused = [e for e in audit_events(installation, "refused") if e.get("via") == "usb"]
    assert [e["reason"] for e in refused] == [
        "replayed", "bad_signature", "malformed", "too_large"]
    assert all(e["remote"].startswith("usb") for e in refused)
    finished = audit_events(installation, "import_finished")[-1]
    assert finished | {"n": 0, "time": "", "prev": "", "hash": ""} == {
        "event": "import_finished", "via": "usb", "accepted": 0, "refused": 4, "ignored": 2,
        "reasons": {"bad_signature": 1, "replayed": 1, "malformed": 1, "too_large": 1,
                    "symlink": 1, "not_a_regular_file": 1},
        "n": 0, "time": "", "prev": "", "hash": ""}
    # No name from the stick in the audit log: a name is whatever someone typed.
    assert "tampered" not in (installation.state_dir / "audit.log").read_text()

    kit = tmp_path / "kit.pdf"
    installation.appliance("print", "--output", str(kit))
    text = pdf_text(kit)
    assert "LASTGOODUSB" in text and "VIA_SYMLINK" not in text
    kit.unlink()

    status = json.loads(installation.appliance("status", "--json").output)
    assert status["last_import"]["refused"] == 4 and status["last_import"]["via"] == "usb"
    assert "last import (usb):" in installation.appliance("status").output


def test_envelopes_are_imported_oldest_first_whatever_their_names(installation, tmp_path):
    # One sender numbers all its envelopes in one series: in name order the later
    # medication list would make the earlier to-do list a replay.
    (tmp_path / "vxo-todo-20261130T070000Z.seal").write_bytes(installation.envelope("todo"))
    (tmp_path / "vxo-medications-20261130T070001Z.seal").write_bytes(
        installation.envelope("medications"))

    result = import_(installation, tmp_path, expect=0)

    assert result.output.splitlines()[-1] == "imported 2, refused 0, ignored 0"
    assert result.output.index("vxo-todo-") < result.output.index("vxo-medications-")


def test_a_named_symlink_is_refused_not_followed(installation, tmp_path):
    target = tmp_path / "valid.seal"
    target.write_bytes(installation.envelope())
    link = tmp_path / "link.seal"
    link.symlink_to(target)

    result = import_(installation, link, expect=1)

    assert "REFUSED not_a_regular_file" in result.output
    assert installation.appliance("snapshots").output == ""


def test_an_envelope_received_over_http_is_refused_as_a_replay(installation, server, tmp_path):
    envelope = installation.envelope()
    status, _ = post(server.url + "/api/v1/snapshots", envelope)
    assert status == 201
    (tmp_path / "same.seal").write_bytes(envelope)

    result = import_(installation, tmp_path / "same.seal", expect=1)

    assert "REFUSED replayed: sequence" in result.output
    ingested, = audit_events(installation, "ingested")
    assert ingested["via"] == "http"
    assert audit_events(installation, "refused")[-1]["via"] == "import"
    _, status = get_json(server.url + "/api/v1/status")
    assert status["last_import"] | {"time": ""} == {
        "via": "import", "accepted": 0, "refused": 1, "ignored": 0,
        "reasons": {"replayed": 1}, "time": ""}


def test_hidden_names_name_files_by_digest(installation, tmp_path):
    (tmp_path / "Anna Andersson.seal").write_bytes(installation.envelope())

    result = installation.appliance("import", "--hide-names", str(tmp_path))

    assert "Anna" not in result.output
    assert re.match(r"file 1 \(sha256:[0-9a-f]{16}\): accepted as ", result.output)


def test_usb_units_and_udev_rule_pass_systemd_analyze_verify(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    assert "appliance import --via usb --hide-names" in UNIT.read_text()
    assert "Requires=appliance-usb-mount@%i.service" in UNIT.read_text()
    assert 'ENV{SYSTEMD_WANTS}+="appliance-usb-import@' in UDEV_RULE.read_text()
    # Instances of the templates, as the udev rule names them (the kernel's name). verify
    # insists that ExecStart exists: the installed path is replaced by this checkout's
    # (the deploy check verifies the units as installed).
    for template in (UNIT, MOUNT_UNIT):
        instance = tmp_path / template.name.replace("@", "@sdb1")
        instance.write_text(template.read_text().replace(INSTALLED_CLI, str(BIN / "appliance")))
    result = subprocess.run(["systemd-analyze", "verify", "--man=no",
                             *map(str, sorted(tmp_path.iterdir()))],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
    if shutil.which("udevadm") and subprocess.run(["udevadm", "verify", "--help"],
                                                  capture_output=True).returncode == 0:
        result = subprocess.run(["udevadm", "verify", str(UDEV_RULE)], capture_output=True,
                                text=True)  # systemd >= 254
        assert result.returncode == 0, result.stdout + result.stderr
