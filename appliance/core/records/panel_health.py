"""Whether the panel daemon has its GPIO: what IT sees when the button cannot work.

The panel daemon (`appliance panel`) records it in `state_dir/panel.json`, only when it
changes (SD card wear): "waiting" with the GPIO library's reason while it retries, "ready"
once the pins are open, "stopped" when it exits. `appliance status`, `/api/v1/status`,
`/metrics` and the kiosk read it. No file: no panel has run here (a development machine, or
an appliance without a panel), which is no fault.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from appliance.core.base.clock import isoformat_utc, parse_iso
from appliance.core.base.safe_text import bounded_text
from appliance.core.base.statefile import StateFile, StateFileError

log = logging.getLogger(__name__)

STATE_FILE = "panel.json"
STATE_VERSION = 1
FILE_MODE = 0o640
MAX_REASON_CHARS = 200
WAITING, READY, STOPPED = "waiting", "ready", "stopped"


@dataclass(frozen=True)
class PanelHealth:
    gpio: str  # WAITING, READY or STOPPED
    since: datetime
    reason: str | None = None  # why the GPIO could not be opened (WAITING only)

    @property
    def fault(self) -> bool:
        """The button and LED do not work: the daemon is waiting for its GPIO."""
        return self.gpio == WAITING

    def to_json(self) -> dict:
        return {"gpio": self.gpio, "since": isoformat_utc(self.since), "reason": self.reason,
                "fault": self.fault}


def _state_file(state_dir: Path) -> StateFile:
    return StateFile(Path(state_dir) / STATE_FILE, STATE_VERSION, mode=FILE_MODE)


def read_panel_health(state_dir: Path) -> PanelHealth | None:
    """The last recorded health, or None (no panel ran here, or a damaged file: quiet, as
    status is read every second; the panel daemon writes a new one at its next change)."""
    try:
        data = _state_file(state_dir).load()
        if data is None:
            return None
        if data.get("gpio") not in (WAITING, READY, STOPPED):
            raise ValueError("unknown gpio state")
        reason = data.get("reason")
        return PanelHealth(data["gpio"], parse_iso(data["since"]),
                           reason if isinstance(reason, str) else None)
    except (StateFileError, ValueError, TypeError, KeyError):
        return None


def record_panel_health(state_dir: Path, gpio: str, now: datetime,
                        reason: str | None = None) -> PanelHealth:
    """Record a change of the panel's GPIO state; the same state and reason again is not
    written (the `since` of the first stays)."""
    reason = bounded_text(reason, MAX_REASON_CHARS) if reason is not None else None
    current = read_panel_health(state_dir)
    if current is not None and (current.gpio, current.reason) == (gpio, reason):
        return current
    health = PanelHealth(gpio, now, reason)
    data = health.to_json()
    del data["fault"]
    try:
        _state_file(state_dir).save(data)
    except OSError as exc:  # a full disk must not stop the panel from retrying its GPIO
        log.warning("cannot record the panel's state (%s)", exc)
    return health
