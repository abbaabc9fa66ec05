"""A full disk, for real: the state dir on a small tmpfs, filled up, against the real
server. Garbage is still told it is garbage (400), a valid snapshot gets 507, never a 500
because auditing the refusal failed; inside the reserve the refusal is audited."""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

import pytest

from appliance.core.base.clock import SystemClock
from appliance.core.records.audit import AuditLog
from tests.conftest import Server, make_installation, post
from tests.test_audit_flood import scrape
from tests.test_metrics import value

TMPFS_SIZE = "8m"
RESERVE = "[storage]\nfree_space_reserve_mb = 1\n"
MIB = 1024 * 1024


@pytest.fixture
def small_disk(tmp_path: Path):
    """tmp_path/appliance/state on its own 8 MiB tmpfs (needs root to mount)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    state = tmp_path / "appliance" / "state"
    state.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs",
                              str(state)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield make_installation(tmp_path, RESERVE)
    finally:
        subprocess.run(["umount", "-l", str(state)], check=True)


def fill(directory: Path, leave: int = 0) -> Path:
    """Write a filler file until the file system has at most `leave` bytes free."""
    filler = directory / f"filler-{len(list(directory.glob('filler-*')))}"
    chunk = b"\0" * 65536
    with open(filler, "wb") as handle:
        while True:
            free = os.statvfs(directory).f_bavail * os.statvfs(directory).f_frsize
            if free <= leave:
                break
            try:
                handle.write(chunk[:max(4096, min(len(chunk), free - leave))])
                handle.flush()
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                break
    return filler


def audit_refusals(state: Path) -> list[str]:
    return [e["reason"] for e in AuditLog(state / "audit.log", SystemClock()).entries()
            if e["event"] == "refused"]


def test_full_disk_garbage_is_400_and_a_valid_snapshot_507(small_disk):
    inst = small_disk
    state = inst.state_dir
    server = Server(inst).start()
    try:
        url = server.url + "/api/v1/snapshots"
        assert post(url, inst.envelope())[0] == 201
        assert post(url, b"garbage before")[0] == 400  # the counts file exists from here

        # within the reserve: refused, and the refusal is audited into the reserve
        inside = fill(state, leave=MIB // 2)
        before = inst.store_state()
        status, reply = post(url, inst.envelope())
        assert (status, reply["error"]) == (507, "insufficient_storage"), reply
        assert "storage.free_space_reserve_mb" in reply["message"]
        assert audit_refusals(state) == ["insufficient_storage"]
        assert post(url, b"garbage")[0] == 400
        assert inst.store_state() == before

        # completely full: the audit log cannot take a line, the answers stay the same
        full = fill(state)
        with pytest.raises(OSError):
            (state / "probe").write_bytes(b"\0" * 8192)
        for _ in range(5):
            status, reply = post(url, b"garbage on a full disk")
            assert (status, reply["error"]) == (400, "malformed"), reply
            status, reply = post(url, inst.envelope())
            assert (status, reply["error"]) == (507, "insufficient_storage"), reply
        assert inst.store_state() == before
        samples = scrape(server.url)  # garbage is still counted: the file never grows
        assert value(samples, "appliance_refusals_total", reason="malformed") == 7

        full.unlink()
        inside.unlink()
        assert post(url, inst.envelope())[0] == 201  # room again: business as usual
    finally:
        server.stop()
    assert AuditLog(state / "audit.log", SystemClock()).verify().ok
