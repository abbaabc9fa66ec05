"""Sequence numbers that only rise, even across a reinstall of the sender.

The appliance refuses any envelope whose number is not above the last it accepted from
that sender (replay protection). A plain counter would restart at 1 after the sender's
state is lost and be refused forever; microseconds since the epoch do not. The number
is taken from the same instant as the envelope's `created` time (the injected clock), so
the appliance's check "not more than 24 h ahead of `created`" compares like with like,
whatever the wall clock says. The stored value only guards against the clock stepping
backwards. The agent seals for several
appliances at once (one thread each): a lock keeps the read-and-write whole.
"""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path

from appliance.core.base.clock import microseconds_since_epoch
from appliance.core.base.fsutil import atomic_write

_LOCK = threading.Lock()


def next_sequence(state_file: Path, now: datetime) -> int:
    """The next number: above the last one used, and at least `now` in microseconds."""
    with _LOCK:
        try:
            last = int(state_file.read_text().strip() or 0)
        except (FileNotFoundError, ValueError):
            last = 0
        seq = max(last + 1, microseconds_since_epoch(now))
        state_file.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(state_file, f"{seq}\n".encode())
        return seq
