"""Crash-safe file writes (a reader sees the old file or the new one, never a part) and the
lock that serialises writers of one file across processes."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

TEMP_PREFIX = ".tmp-"


def fsync_dir(directory: Path) -> None:
    """Make a rename in `directory` durable. A no-op where directories cannot be opened
    (Windows), which has no such step."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write `data` to `path` via temp file, fsync, rename, fsync of the directory."""
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def write_new_private(path: Path, data: bytes) -> None:
    """Create `path` with mode 0600, refusing to overwrite: private keys are never replaced.

    The key is written and synced under a temp name first and then hard-linked into place
    (a link, unlike a rename, fails if the target exists), so a power cut never leaves a
    half-written key that a later `init` would take for an existing one.
    """
    path = Path(path)
    if path.exists():
        raise FileExistsError(errno.EEXIST, "refusing to overwrite a private key", str(path))
    fd, tmp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=path.parent)
    tmp = Path(tmp_name)
    try:
        os.chmod(tmp, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)


@contextlib.contextmanager
def exclusive_lock(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive `flock` on `lock_path` (created if missing, with its folder): one
    process at a time, across processes. The kernel drops the lock when its holder dies, so a
    crash never leaves it held."""
    import fcntl  # POSIX only: the sender, which imports this module, also runs on Windows

    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield  # closing the file releases the lock
