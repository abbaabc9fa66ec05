"""The kiosk's per-boot token: print POSTs must carry it, and only the page served to the
appliance's own browser (loopback) embeds it.

The token is HMAC-SHA256(secret, boot id): the secret is 32 random bytes in the state
directory (`kiosk-token.key`, 0600, created once by whichever process needs it first), the
boot id is the kernel's (`/proc/sys/kernel/random/boot_id`, new at every boot). So every
gunicorn worker, and a web service restarted during the shift, derives the same token
without talking to the others — the kiosk's open page keeps working — while a reboot
changes it, and nobody who cannot read the service's state directory can compute it.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
from pathlib import Path

from appliance.core.base.fsutil import write_new_private

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
SECRET_NAME = "kiosk-token.key"
SECRET_BYTES = 32


def kiosk_token(state_dir: Path, boot_id: Path = BOOT_ID) -> str:
    mac = hmac.new(_secret(Path(state_dir)), boot_id.read_bytes().strip(), hashlib.sha256)
    return mac.hexdigest()


def matches(expected: str, offered: str | None) -> bool:
    return offered is not None and hmac.compare_digest(expected.encode(), offered.encode())


def _secret(state_dir: Path) -> bytes:
    path = state_dir / SECRET_NAME
    if not path.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        # another worker may make it first: then its secret is the one
        with contextlib.suppress(FileExistsError):
            write_new_private(path, secrets.token_bytes(SECRET_BYTES))
    return path.read_bytes()
