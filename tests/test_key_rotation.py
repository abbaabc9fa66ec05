"""Key rotation without an outage of the outage system (issue 23 §3).

The appliance's key pair: rotated with a grace period in which envelopes sealed to either
key are accepted, then the old key refuses new envelopes and is destroyed only once no
retained snapshot is sealed to it, so every retained snapshot prints throughout. A sender's
key: the new one enrolled beside the old, then activated, then the old one retired, with a
precise, audited refusal, and replay protection that does not restart with the new key.

Through the real server (nginx in front of gunicorn, tests/conftest.py), the real CLI and
the private cupsd; the grace period's end by time with a FixedClock, in-process.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from appliance.core.base.clock import FixedClock
from appliance.core.config.settings import load_sender_config
from appliance.core.crypto import keys, seal
from appliance.core.intake import key_rotation
from appliance.core.intake.appliance_key import load_private_ring, replace_key_file
from appliance.core.intake.ingest import Refusal
from appliance.core.services import Services
from appliance.devtools.synthetic import make_document
from appliance.sender.outgoing import Sender
from tests.conftest import Installation, Server, get_json, post
from tests.print_helpers import audit_events
from tests.test_printing import print_and_capture, text_of

LONG_AGO = timedelta(hours=100)  # older than retention.max_age_hours (72)
RETENTION = "\n[retention]\nkeep_per_unit_kind = 1\n[panel]\nrepeat_guard_seconds = 0\n"
PEM_BEGIN = b"-----BEGIN APPLIANCE HPKE PRIVATE KEY-----"


def push(srv: Server, body: bytes) -> tuple[int, dict]:
    return post(srv.url + "/api/v1/snapshots", body)


def restarted(srv: Server, inst: Installation) -> Server:
    """The web service restarted, as `systemctl restart` does after a rotation: the
    services read the key ring when they start."""
    srv.stop()
    return Server(inst).start()


def ring_size(inst: Installation) -> int:
    return (inst.state_dir / "keys" / "appliance.key").read_bytes().count(PEM_BEGIN)


def key_status(inst: Installation) -> dict:
    return json.loads(inst.appliance("key", "status", "--json").output)


def marked(inst: Installation, kind: str, marker: str, *, recipient=None,
           produced_at: datetime | None = None) -> bytes:
    return inst.envelope(kind, marker=marker, recipient=recipient, produced_at=produced_at,
                         pages=1)


def test_retained_snapshot_prints_before_during_and_after_an_appliance_key_rotation(
        installation: Installation):
    inst = installation
    with open(inst.appliance_toml, "a", encoding="utf-8") as handle:
        handle.write(RETENTION)
    srv = Server(inst).start()
    try:
        old = inst.public_key()
        before = datetime.now(UTC) - LONG_AGO
        assert push(srv, marked(inst, "medications", "MARK-BEFORE", produced_at=before))[0] == 201

        rotated = inst.appliance("key", "rotate", "--grace-days", "14").output
        new = inst.public_key()
        assert new.fingerprint != old.fingerprint
        assert f"new key {keys.short_fingerprint(new.fingerprint)}" in rotated
        assert ring_size(inst) == 2
        state = key_status(inst)
        assert state["fingerprint"] == new.fingerprint and state["in_grace"] == 1
        grace_ends = datetime.fromisoformat(state["grace_ends"])
        assert timedelta(days=13) < grace_ends - datetime.now(UTC) <= timedelta(days=14)
        assert [e["previous"] for e in audit_events(inst, "appliance_key_rotated")] == [
            old.fingerprint]

        srv = restarted(srv, inst)
        assert get_json(srv.url + "/api/v1/status")[1]["key_rotation"]["in_grace"] == 1
        assert "appliance key: rotation in progress" in inst.status().output
        # In the grace period: a sender that still has the old public key, and one that
        # already has the new one, are both accepted.
        assert push(srv, marked(inst, "todo", "MARK-GRACE-OLD", recipient=old,
                                produced_at=before))[0] == 201
        assert push(srv, marked(inst, "todo", "MARK-NEW", recipient=new))[0] == 201
        during = text_of(print_and_capture(inst, "--profile", "full")[0])
        assert "MARK-BEFORE" in during and "MARK-NEW" in during

        # Grace ended by IT: the old key takes nothing new, precisely refused...
        assert "grace ended" in inst.appliance("key", "end-grace").output
        status, answer = push(srv, marked(inst, "todo", "MARK-LATE", recipient=old))
        assert (status, answer["error"]) == (403, "retired_recipient")
        assert "grace period ended" in answer["message"]
        assert keys.short_fingerprint(new.fingerprint) in answer["message"]
        # ...and still opens what is stored: the key stays while a snapshot needs it.
        assert "kept: old key" in inst.appliance("key", "prune").output
        assert ring_size(inst) == 2
        after_grace = text_of(print_and_capture(inst, "--profile", "full")[0])
        assert "MARK-BEFORE" in after_grace

        # A newer medication list makes the old one go (retention); then the key goes too.
        assert push(srv, marked(inst, "medications", "MARK-AFTER", recipient=new))[0] == 201
        destroyed = inst.appliance("key", "prune").output
        assert f"destroyed: old key {keys.short_fingerprint(old.fingerprint)}" in destroyed
        assert ring_size(inst) == 1
        assert [e["fingerprint"] for e in audit_events(inst, "appliance_key_destroyed")] == [
            old.fingerprint]
        assert key_status(inst)["previous_keys"] == 0
        assert "unchanged" in inst.appliance("key", "prune").output

        srv = restarted(srv, inst)
        assert "key_rotation" not in get_json(srv.url + "/api/v1/status")[1]
        status, answer = push(srv, marked(inst, "todo", "MARK-GONE", recipient=old))
        assert (status, answer["error"]) == (403, "wrong_recipient")
        final = text_of(print_and_capture(inst, "--profile", "full")[0])
        assert "MARK-AFTER" in final and "MARK-NEW" in final and "MARK-BEFORE" not in final
    finally:
        srv.stop()


def test_the_grace_period_ends_by_the_clock(memory_installation: Installation):
    inst = memory_installation
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    clock = FixedClock(start)
    svc = Services(inst.config, clock)
    old = inst.public_key()
    result = key_rotation.rotate(svc, svc.key_ring, timedelta(days=14), "2026-spring")
    replace_key_file(inst.config, result.ring.keys)
    assert result.done and len(load_private_ring(inst.config)) == 2

    clock.advance(timedelta(days=13, hours=23))
    inst.ingest(inst.envelope("todo", recipient=old, clock=clock), clock)
    clock.set(start + timedelta(days=14))
    with pytest.raises(Refusal) as refused:
        inst.ingest(inst.envelope("todo", recipient=old, clock=clock), clock)
    assert refused.value.error == "retired_recipient"
    assert "2026-03-16T09:00:00Z" in refused.value.message
    inst.ingest(inst.envelope("todo", clock=clock), clock)  # the new key, of course

    # The same round again changes nothing: Ansible may rerun the playbook.
    again = key_rotation.rotate(Services(inst.config, clock),
                                Services(inst.config, clock).key_ring, timedelta(days=14),
                                "2026-spring")
    assert not again.done and again.ring.fingerprints == result.ring.fingerprints
    # Past its grace but with stored snapshots sealed to it: kept.
    kept, dropped = key_rotation.prune(Services(inst.config, clock),
                                       Services(inst.config, clock).key_ring)
    assert dropped == () and len(kept.keys) == 2


def test_a_damaged_rotation_record_leaves_the_current_key_working(
        memory_installation: Installation):
    inst = memory_installation
    inst.appliance("key", "rotate", "--grace-days", "3")
    (inst.state_dir / "keys" / "rotation.json").write_text("{not json")
    inst.ingest(inst.envelope("todo"))  # the current key: accepted
    status = json.loads(inst.appliance("status", "--json").output)
    assert "rotation.json" in status["key_rotation"]["problem"]
    # Nothing is destroyed, or rotated, on a guess: the old key may still be in its grace.
    for command in (("prune",), ("rotate",)):
        refused = inst.appliance("key", *command, expect=2).output
        assert "rotation.json" in refused and "not JSON" in refused
    assert ring_size(inst) == 2


def test_the_credential_ring_goes_through_a_pipe(memory_installation: Installation):
    inst = memory_installation
    key_file = inst.state_dir / "keys" / "appliance.key"
    ring = key_file.read_bytes()
    key_file.unlink()  # as on a provisioned appliance: the key is only in the credential
    toml = inst.appliance_toml.read_text().replace(
        "[keys]\n", '[keys]\nprivate_key_credential = "appliance-key"\n')
    inst.appliance_toml.write_text(toml)
    old = inst.public_key()

    refused = inst.appliance("key", "rotate", expect=2).output
    assert "systemd-creds decrypt --name=appliance-key" in refused and "--stdio" in refused

    from click.testing import CliRunner

    from appliance.cli.appliance_cli import main

    def piped(*args: str, stdin: bytes) -> tuple[bytes, str]:
        result = CliRunner().invoke(main, ["--config", str(inst.appliance_toml), "key", *args,
                                           "--stdio"], input=stdin, catch_exceptions=False)
        assert result.exit_code == 0, result.stderr
        return result.stdout_bytes, result.stderr

    out, said = piped("rotate", "--grace-days", "7", "--round", "r1", stdin=ring)
    new_ring = keys.parse_appliance_private_ring(out, "stdout")
    assert "rotated" in said and len(new_ring) == 2
    assert new_ring[1].public_key() == old
    assert new_ring[0].public_key() == inst.public_key()  # appliance.pub follows the ring
    assert not key_file.exists()  # nothing written in plaintext
    again, said = piped("rotate", "--round", "r1", stdin=out)
    assert again == out and "unchanged" in said
    # The same round, given the ring from before it (the new one never reached the
    # credential: systemd-creds encrypt failed): rotated again, not skipped.
    retried, said = piped("rotate", "--round", "r1", stdin=ring)
    assert "rotated" in said and len(keys.parse_appliance_private_ring(retried, "out")) == 2
    out, _ = piped("rotate", "--round", "r1", stdin=retried)
    assert out == retried
    new_ring = keys.parse_appliance_private_ring(out, "stdout")
    kept, said = piped("prune", stdin=out)
    assert kept == out and "its grace runs until" in said

    # The services find both keys in the credential systemd hands them.
    credentials = inst.root / "run-credentials"
    credentials.mkdir()
    (credentials / "appliance-key").write_bytes(out)
    ring_now = load_private_ring(inst.config, {"CREDENTIALS_DIRECTORY": str(credentials)})
    assert [k.public_key() for k in ring_now] == [k.public_key() for k in new_ring]


def test_a_sender_key_is_rotated_and_the_old_one_retired(installation: Installation):
    inst = installation
    srv = Server(inst).start()
    try:
        sender_config = load_sender_config(inst.sender_toml)
        old_sender = inst.sender
        old_fp = keys.sender_fingerprint(old_sender.key.public_key())
        first = inst.envelope("todo")
        assert push(srv, first)[0] == 201
        first_seq = seal.parse(first, 2**40).header.seq

        prepared = inst.sender_cli("key", "prepare", "--round", "r1").output
        next_pub = sender_config.private_key_path.parent / "sender.next.pub"
        assert "next key (created)" in prepared and next_pub.exists()
        inst.appliance("senders", "add-key", "kontor-norr", str(next_pub))
        listed = json.loads(inst.appliance("senders", "list", "--json").output)
        assert len(listed[0]["fingerprints"]) == 2 and listed[0]["fingerprint"] != old_fp
        # Both keys accepted: the old one goes on signing until activation.
        second = inst.envelope("todo")
        assert push(srv, second)[0] == 201

        activated = inst.sender_cli("key", "activate").output
        assert f"retire the old key {keys.short_fingerprint(old_fp)}" in activated
        new_sender = inst.sender
        new_fp = keys.sender_fingerprint(new_sender.key.public_key())
        assert new_fp != old_fp and new_fp == listed[0]["fingerprint"]
        assert not (sender_config.private_key_path.parent / "sender.next.key").exists()

        # Replay protection belongs to the sender, not to its key: a number the old key
        # already passed is refused from the new key too.
        document = seal.Document(seal.describe_document(
            "todo", "Hemsjukvård Sölvesborg", "Att göra-lista", datetime.now(UTC),
            content := make_document("todo", produced_at=datetime.now(UTC), pages=1)), content)
        replay = seal.seal([document], new_sender.key, inst.public_key(), first_seq + 1,
                           datetime.now(UTC))
        status, answer = push(srv, replay)
        assert (status, answer["error"]) == (409, "replayed")
        assert push(srv, inst.envelope("todo"))[0] == 201  # the new key, next number

        old_short = old_fp[:16]
        retired = inst.appliance("senders", "retire-key", "kontor-norr", old_short).output
        assert f"key {keys.short_fingerprint(old_fp)} retired" in retired
        late = Sender(sender_config, old_sender.key).seal_for([document], inst.public_key())
        status, answer = push(srv, late)
        assert (status, answer["error"]) == (403, "retired_key")
        assert re.search(rf"{keys.short_fingerprint(old_fp)} of kontor-norr was retired at "
                         r"\d{4}-\d\d-\d\dT", answer["message"])
        assert [e["fingerprint"] for e in audit_events(inst, "sender_key_added")] == [new_fp]
        assert [e["fingerprint"] for e in audit_events(inst, "sender_key_retired")] == [old_fp]
        refusal = audit_events(inst, "refused")[-1]
        assert (refusal["reason"], refusal["sender"]) == ("retired_key", "kontor-norr")

        # Reruns change nothing; a retired key is never taken back; the only key stays.
        assert "unchanged" in inst.sender_cli("key", "prepare", "--round", "r1").output
        assert "unchanged" in inst.sender_cli("key", "activate").output
        old_pub = sender_config.private_key_path.parent / "sender.retired.pub"
        again = inst.appliance("senders", "add-key", "kontor-norr", str(old_pub), expect=2)
        assert "never taken back" in again.output
        only = inst.appliance("senders", "retire-key", "kontor-norr", new_fp[:16], expect=2)
        assert "is the only key" in only.output and "senders remove" in only.output
        assert push(srv, inst.envelope("todo"))[0] == 201
    finally:
        srv.stop()
