"""What the panel's once-a-second status call writes to the card, journal included.

Issue 23 (bench/README.md, "A year, simulated", problem 2): the store opens a connection
per operation, and when the last connection to the index closes SQLite deletes
`index.sqlite3-wal` and `-shm`, which the next call creates again. The data pages are
cancelled before they reach the disk, but the file system's metadata journal is not: this
bench measures what the *block device* receives, which `/proc/self/io` cannot see.

Run it as root; it makes its own ext4 file system on a loop device (the default, or
`--device` with a mounted `--dir` of your own, e.g. the Pi's card: `--device mmcblk0
--dir /var/lib/appliance-bench`), so that nothing else writes to the device it reads:

    .venv/bin/python -m bench.sqlite_churn --seconds 300

It makes an installation there with a few snapshots, then calls `Services.status()` once a
second (the panel's rate) for `--seconds`, and reads the device's sectors written
(`/sys/block/DEV/stat`, field 7) before and after, with a `sync` at both ends. Modes
(`--mode`): `idle` (nothing but the device's own background), `status` (the calls as the
store makes them). Prints one JSON line per mode.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

SECTOR = 512
REPOSITORY = Path(__file__).resolve().parent.parent
MODES = ("idle", "status", "status-held")


def sectors_written(device: str) -> int:
    fields = Path(f"/sys/block/{device}/stat").read_text().split()
    return int(fields[6])


@contextmanager
def loop_filesystem(size_mb: int):
    """A fresh ext4 (default options, as on Raspberry Pi OS) on a loop device, mounted."""
    work = Path(tempfile.mkdtemp(prefix="churn-"))
    work.chmod(0o755)  # the calls run as another user
    image, mount = work / "fs.img", work / "mnt"
    mount.mkdir()
    with open(image, "wb") as handle:
        handle.truncate(size_mb * 1024 * 1024)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True)
    device = subprocess.run(["losetup", "--find", "--show", str(image)], check=True,
                            capture_output=True, text=True).stdout.strip()
    try:
        subprocess.run(["mount", device, str(mount)], check=True)
        try:
            yield Path(device).name, mount
        finally:
            subprocess.run(["umount", str(mount)], check=True)
    finally:
        subprocess.run(["losetup", "-d", device], check=True)
        image.unlink()


def prepared_services(root: Path):
    from appliance.core.base.clock import SystemClock
    from appliance.core.intake.ingest import ingest
    from appliance.core.services import Services
    from tests.conftest import make_installation

    inst = make_installation(root / "inst")
    services = Services(inst.config, SystemClock())
    produced = datetime.now(UTC) - timedelta(minutes=5)
    for kind in ("todo", "medications", "occupancy", "relatives"):
        ingest(services, inst.envelope(kind, produced_at=produced), "127.0.0.1")
    return services


def sync() -> None:
    os.sync()


def measure(device: str, seconds: int, call) -> dict:
    sync()
    time.sleep(6)  # let the journal commit what the set-up left (commit interval 5 s)
    before, start = sectors_written(device), time.monotonic()
    calls = 0
    while time.monotonic() - start < seconds:
        if call is not None:
            call()
            calls += 1
        time.sleep(max(0.0, start + calls - time.monotonic()) if call else 1.0)
    sync()
    time.sleep(6)
    written = (sectors_written(device) - before) * SECTOR
    elapsed = time.monotonic() - start
    return {"calls": calls, "seconds": round(elapsed, 1), "bytes_written": written,
            "bytes_per_call": round(written / calls) if calls else None,
            "mb_per_day": round(written / elapsed * 86400 / 1e6, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=300)
    parser.add_argument("--size-mb", type=int, default=512)
    parser.add_argument("--device", help="a block device name under /sys/block, with --dir")
    parser.add_argument("--dir", type=Path, help="a directory on --device")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--user", default="nobody",
                        help="run the appliance's calls as this user, as its services run "
                        "(as root, SQLite fchowns the -wal on every open: a write of its own)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if (args.device is None) != (args.dir is None):
        parser.error("--device and --dir go together")
    if args.worker:
        return worker(args)
    context = (contextmanager(lambda: (yield (args.device, args.dir)))() if args.device
               else loop_filesystem(args.size_mb))
    with context as (device, directory):
        work = Path(tempfile.mkdtemp(dir=directory))
        shutil.chown(work, user=args.user)
        command = [sys.executable, "-m", "bench.sqlite_churn", "--worker", "--device", device,
                   "--dir", str(work), "--seconds", str(args.seconds), "--user", args.user,
                   "--modes", *args.modes]
        subprocess.run(command, check=True, cwd=REPOSITORY)
    return 0


def worker(args) -> int:
    """The calls, as `args.user`. The set-up and a first call (every import done) run as
    root, because this interpreter may live where that user cannot read (a pyenv under
    /root); then the files are given to the user and the process becomes it."""
    services = prepared_services(args.dir)
    services.status()
    account = pwd.getpwnam(args.user)
    for path in [args.dir, *args.dir.rglob("*")]:
        os.chown(path, account.pw_uid, account.pw_gid, follow_symlinks=False)
    os.setgid(account.pw_gid)
    os.setuid(account.pw_uid)
    for mode in args.modes:
        call = None if mode == "idle" else services.status
        held = None
        if mode == "status-held":  # a read opens the -wal and -shm; they stay open
            held = sqlite3.connect(services.store.index_path)
            held.execute("SELECT count(*) FROM sqlite_master").fetchone()
        try:
            figures = measure(args.device, args.seconds, call)
        finally:
            if held is not None:
                held.close()
        print(json.dumps({"mode": mode, "device": args.device, "user": os.getuid(),
                          **figures}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
