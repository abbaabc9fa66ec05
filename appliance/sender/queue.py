"""The persisted delivery queue: one entry per (export file version, appliance).

A file version is its name in the outbox plus the SHA-256 of its content, so a changed file
is a new delivery. Entries are kept in the order they were queued, which is the order an
appliance is offered them; none waits for another (docs/decisions.md, "No head-of-line
blocking"). What has been delivered is remembered per file name and appliance, so a restart
never sends a version again. The envelope is not stored: it is sealed afresh from the source
file at each attempt (a new sequence number each time), so nothing sealed for an appliance
lingers on the PC.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from appliance.sender.state import from_iso, load_json, save_json, to_iso

QUEUE_FILE = "queue.json"

# Refusals that sending the same bytes again cannot fix: malformed (400), not enrolled, bad
# signature or wrong recipient (403), replayed (409), larger than the appliance's limit (413),
# wrong content type (415), unknown kind, undecryptable or unreadable PDF (422). Everything
# else (unreachable, 5xx, 507 disk full, 429, 404 behind a misconfigured proxy, ...) says the
# appliance cannot take anything just now, and is retried with backoff.
PERMANENT_STATUSES = frozenset({400, 403, 409, 413, 415, 422})


def is_permanent(status: int | None) -> bool:
    return status in PERMANENT_STATUSES


def backoff_seconds(attempts: int, initial: float, maximum: float) -> float:
    """Wait after the `attempts`-th failed attempt: initial, 2x, 4x, ... capped at maximum."""
    return min(maximum, initial * 2 ** max(0, attempts - 1))


@dataclass
class Entry:
    id: int
    appliance: str
    name: str  # the export's file name in the outbox (stays on this PC)
    sha256: str
    size: int
    kind: str
    unit: str
    title: str
    produced_at: datetime
    queued_at: datetime
    next_attempt_at: datetime
    attempts: int = 0
    last_error: dict[str, Any] | None = None
    failed: bool = False  # refused for good: no more attempts

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("produced_at", "queued_at", "next_attempt_at"):
            data[key] = to_iso(data[key])
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Entry:
        times = {key: from_iso(data[key])
                 for key in ("produced_at", "queued_at", "next_attempt_at")}
        return cls(**{**data, **times})

    def summary(self) -> dict[str, Any]:
        """What `status` and the logs may show: no file name."""
        return {"id": self.id, "kind": self.kind, "produced_at": to_iso(self.produced_at),
                "queued_at": to_iso(self.queued_at), "attempts": self.attempts,
                "next_attempt_at": None if self.failed else to_iso(self.next_attempt_at),
                "last_error": self.last_error, "failed": self.failed}


@dataclass
class DeliveryQueue:
    path: Path
    entries: list[Entry] = field(default_factory=list)
    delivered: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> app -> sha
    next_id: int = 1
    _saved: dict[str, Any] | None = field(default=None, repr=False)

    @classmethod
    def load(cls, state_dir: Path) -> DeliveryQueue:
        path = Path(state_dir) / QUEUE_FILE
        data = load_json(path) or {}
        return cls(path=path,
                   entries=[Entry.from_json(item) for item in data.get("entries", [])],
                   delivered={name: dict(apps)
                              for name, apps in data.get("delivered", {}).items()},
                   next_id=int(data.get("next_id", 1)))

    def save(self) -> None:
        """Write the queue, unless it is unchanged since this object last wrote it."""
        payload = {"entries": [entry.to_json() for entry in self.entries],
                   "delivered": self.delivered, "next_id": self.next_id}
        if payload != self._saved:
            save_json(self.path, payload)
            self._saved = copy.deepcopy(payload)

    # ------------------------------------------------------------ questions

    def is_known(self, name: str, sha256: str, appliance: str) -> bool:
        """Delivered already, or queued (pending or failed): never queue it twice."""
        if self.delivered.get(name, {}).get(appliance) == sha256:
            return True
        return any(e.name == name and e.sha256 == sha256 and e.appliance == appliance
                   for e in self.entries)

    def delivered_to_all(self, name: str, sha256: str, appliances: list[str]) -> bool:
        done = self.delivered.get(name, {})
        return bool(appliances) and all(done.get(app) == sha256 for app in appliances)

    def pending(self, appliance: str) -> list[Entry]:
        return [e for e in self.entries if e.appliance == appliance and not e.failed]

    def due(self, appliance: str, now: datetime) -> list[Entry]:
        return [e for e in self.pending(appliance) if e.next_attempt_at <= now]

    def is_pending(self, entry: Entry) -> bool:
        """Still queued and not failed (a pass may have dropped or superseded it since)."""
        return not entry.failed and any(e is entry for e in self.entries)

    def failed(self, appliance: str) -> list[Entry]:
        return [e for e in self.entries if e.appliance == appliance and e.failed]

    # ------------------------------------------------------------ changes

    def enqueue(self, appliance: str, *, name: str, sha256: str, size: int, kind: str,
                unit: str, title: str, produced_at: datetime, now: datetime
                ) -> tuple[Entry, list[Entry]]:
        """Queue a version for an appliance. Older versions of the same file still waiting for
        it are superseded (their content is gone from disk) and returned for the record."""
        superseded = [e for e in self.entries if e.appliance == appliance and e.name == name]
        for entry in superseded:
            self.entries.remove(entry)
        entry = Entry(id=self.next_id, appliance=appliance, name=name, sha256=sha256,
                      size=size, kind=kind, unit=unit, title=title, produced_at=produced_at,
                      queued_at=now, next_attempt_at=now)
        self.next_id += 1
        self.entries.append(entry)
        return entry, superseded

    def mark_delivered(self, entry: Entry) -> None:
        self.drop(entry)
        self.delivered.setdefault(entry.name, {})[entry.appliance] = entry.sha256

    def retry_later(self, entry: Entry, now: datetime, error: dict[str, Any],
                    initial: float, maximum: float) -> None:
        entry.attempts += 1
        entry.last_error = error
        entry.next_attempt_at = now + timedelta(
            seconds=backoff_seconds(entry.attempts, initial, maximum))

    def mark_failed(self, entry: Entry, error: dict[str, Any]) -> None:
        entry.attempts += 1
        entry.last_error = error
        entry.failed = True

    def drop(self, entry: Entry) -> None:
        """Remove an entry, unless a pass already has (dropped or superseded meanwhile)."""
        self.entries[:] = [e for e in self.entries if e is not entry]

    def forget_missing(self, present: set[str]) -> list[Entry]:
        """Forget files no longer in the outbox; return the pending or failed entries of
        those files, which can no longer be delivered."""
        for name in set(self.delivered) - present:
            del self.delivered[name]
        gone = [e for e in self.entries if e.name not in present]
        for entry in gone:
            self.entries.remove(entry)
        return gone

    def forget_appliances(self, configured: set[str]) -> list[Entry]:
        """Drop entries for appliances no longer configured; return them."""
        gone = [e for e in self.entries if e.appliance not in configured]
        for entry in gone:
            self.entries.remove(entry)
        for apps in self.delivered.values():
            for name in set(apps) - configured:
                del apps[name]
        return gone

    def retry_failed(self, now: datetime) -> int:
        """Give failed entries another chance (after the cause was fixed on the appliance)."""
        count = 0
        for entry in self.entries:
            if entry.failed:
                entry.failed, entry.attempts, entry.next_attempt_at = False, 0, now
                count += 1
        return count
