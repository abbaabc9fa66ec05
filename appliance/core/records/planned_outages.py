"""Planned outages: the windows IT announced, and the record that a window's kit was printed.

A planned outage ("planerat driftavbrott") is a window, `from`–`to`, that IT announces at
least a week ahead. It reaches the appliance three ways, each named as its `source`:

- `appliance outage plan` on the appliance (`cli`);
- `[[outage.planned]]` in appliance.toml, which the Ansible role writes from
  `appliance_planned_outages` for a fleet (`config`);
- a sealed, signed announcement from an enrolled sender (`sender:NAME`,
  docs/seal-format.md §2.7), made with `appliance-sender outage plan`.

A window's `id` is its start in local time, `20261212-1800`: the same outage announced
twice (by the config and by a sender) is one window, and it is what `appliance outage
cancel` takes. Windows from the config cannot be cancelled here: the config says them.

State: `planned-outages.json` in the state dir (0640), replaced atomically under an
exclusive `flock` on `planned-outages.lock` for every change. It holds the windows planned
by the CLI and by senders, the highest sequence number of each sender's announcements (an
announcement is not a stored snapshot, so the store's replay check does not see it), and
`kits`: for each window, the automatic kit claimed at its start. The claim is written
*before* the kit is handed to CUPS, so a crash (kill -9, power cut) in between loses that
one kit and never prints it twice (docs/decisions.md, "Planned outages"). No patient data:
times, the note IT wrote and the sender's name.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from appliance.core.base.clock import isoformat_utc, parse_iso
from appliance.core.base.errors import ApplianceError
from appliance.core.base.fsutil import exclusive_lock
from appliance.core.base.statefile import StateFile, StateFileError
from appliance.core.config.settings import ApplianceConfig
from appliance.core.crypto.seal import MAX_NOTE_CHARS, PlannedOutageNotice

STATE_FILE = "planned-outages.json"
LOCK_FILE = "planned-outages.lock"
STATE_VERSION = 1
FILE_MODE = 0o640
MAX_DURATION = timedelta(days=14)  # longer is a typo, or not a planned outage
MAX_AHEAD = timedelta(days=366)
KEEP_ENDED = timedelta(days=30)  # ended windows and their kit records are kept this long
MAX_KIT_ATTEMPTS = 10  # a kit the printer would not take, tried again at the jobs' next turns
MAX_WINDOWS = 50  # planned and not yet ended, from the CLI and senders together
SOURCE_CLI, SOURCE_CONFIG = "cli", "config"
RETRY = "retry"  # a kit's outcome: not printed, may be claimed again
SENDER_PREFIX = "sender:"


class OutagePlanError(ApplianceError, ValueError):
    """A window that cannot be planned or cancelled; the message says why and what to do."""


@dataclass(frozen=True)
class PlannedWindow:
    id: str
    starts_at: datetime  # aware, UTC
    ends_at: datetime
    note: str
    source: str  # cli, config, sender:NAME
    planned_at: datetime | None = None  # None for config windows

    def ongoing(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "starts_at": isoformat_utc(self.starts_at),
                "ends_at": isoformat_utc(self.ends_at), "note": self.note,
                "source": self.source,
                "planned_at": isoformat_utc(self.planned_at) if self.planned_at else None}


def window_id(starts_at: datetime, tz: ZoneInfo) -> str:
    """`20261212-1800`: the start in local time, to the minute."""
    return f"{starts_at.astimezone(tz):%Y%m%d-%H%M}"


def local_to_utc(moment: datetime, tz: ZoneInfo) -> datetime:
    """A wall-clock time in `tz` (naive, from the CLI or the config) as an aware UTC time.
    In the autumn's repeated hour the first (summer-time) reading is taken."""
    return moment.replace(tzinfo=tz).astimezone(UTC)


def check_window(starts_at: datetime, ends_at: datetime, note: str, now: datetime) -> None:
    """The rules for a window being planned now: it ends after it begins, lasts at most
    MAX_DURATION, has not ended, begins within MAX_AHEAD, and its note is one line of at most
    MAX_NOTE_CHARS printable characters. Raises `OutagePlanError`."""
    if ends_at <= starts_at:
        raise OutagePlanError("--to must be after --from")
    if ends_at - starts_at > MAX_DURATION:
        raise OutagePlanError(f"a planned outage lasts at most {MAX_DURATION.days} days; "
                              "check --from and --to")
    if ends_at <= now:
        raise OutagePlanError("the outage has already ended (--to is in the past); check the "
                              "date and the appliance's clock")
    if starts_at - now > MAX_AHEAD:
        raise OutagePlanError(f"--from is more than {MAX_AHEAD.days} days ahead; check the year")
    if len(note) > MAX_NOTE_CHARS or not note.isprintable():
        raise OutagePlanError(f"--note must be one line of at most {MAX_NOTE_CHARS} "
                              f"printable characters (got {len(note)})")


def _state_file(path: Path) -> StateFile:
    return StateFile(path, STATE_VERSION, mode=FILE_MODE)


@dataclass
class PlanState:
    windows: dict[str, dict[str, Any]]  # id -> starts_at, ends_at, note, source, planned_at
    kits: dict[str, dict[str, Any]]  # id -> at, outcome ("claimed", "printed", ...), job
    sender_seq: dict[str, int]  # sender name -> highest announcement sequence accepted

    @classmethod
    def load(cls, path: Path, *, quiet: bool = False) -> PlanState:
        """A damaged file is moved aside (logged) and the plan starts empty: windows must
        then be announced again, and a kit already printed for a window under way may print
        once more, which beats never printing. `quiet` readers (status, polled every second)
        read a damaged file as empty and leave it to the writers."""
        state_file = _state_file(path)
        try:
            data = (state_file.load() if quiet else state_file.load_or_set_aside(
                "planned outages must be announced again"))
        except StateFileError:
            if not quiet:
                raise
            data = None
        data = data or {}
        return cls(dict(data.get("windows", {})), dict(data.get("kits", {})),
                   {k: int(v) for k, v in data.get("sender_seq", {}).items()})

    def save(self, path: Path) -> None:
        _state_file(path).save({"windows": self.windows, "kits": self.kits,
                                "sender_seq": self.sender_seq})

    def prune(self, now: datetime) -> None:
        """Forget windows (and kit records) that ended more than KEEP_ENDED ago."""
        old = {wid for wid, w in self.windows.items()
               if parse_iso(w["ends_at"]) < now - KEEP_ENDED}
        old |= {wid for wid, k in self.kits.items()
                if wid not in self.windows and parse_iso(k["at"]) < now - KEEP_ENDED}
        for wid in old:
            self.windows.pop(wid, None)
            self.kits.pop(wid, None)


def _window(wid: str, data: dict[str, Any]) -> PlannedWindow:
    planned = data.get("planned_at")
    return PlannedWindow(wid, parse_iso(data["starts_at"]), parse_iso(data["ends_at"]),
                         data.get("note", ""), data["source"],
                         parse_iso(planned) if planned else None)


class OutagePlan:
    """The planned outages of one appliance: its config's and those in the state dir."""

    def __init__(self, config: ApplianceConfig) -> None:
        self.config = config
        self.path = config.state_dir / STATE_FILE

    @contextlib.contextmanager
    def _locked(self) -> Iterator[PlanState]:
        """The state, loaded under the lock and saved when the block ends without error,
        if it changed: the jobs' claim, every 30 s during a window, writes nothing (SD card
        wear) once the window has its kit."""
        with exclusive_lock(self.config.state_dir / LOCK_FILE):
            state = PlanState.load(self.path)
            before = copy.deepcopy(state)
            yield state
            if state != before:
                state.save(self.path)

    # ------------------------------------------------------------ reading

    def config_windows(self) -> list[PlannedWindow]:
        tz = self.config.timezone
        windows = []
        for planned in self.config.outage.planned:
            starts = local_to_utc(planned.starts, tz)
            windows.append(PlannedWindow(window_id(starts, tz), starts,
                                         local_to_utc(planned.ends, tz), planned.note or "",
                                         SOURCE_CONFIG))
        return windows

    def windows(self, *, quiet: bool = True) -> list[PlannedWindow]:
        """Every planned window, by start. A window in both the config and the state dir is
        the config's (the config is what IT manages for the fleet)."""
        state = PlanState.load(self.path, quiet=quiet)
        by_id = {wid: _window(wid, data) for wid, data in state.windows.items()}
        by_id.update({w.id: w for w in self.config_windows()})
        return sorted(by_id.values(), key=lambda w: (w.starts_at, w.id))

    def shown(self, now: datetime) -> list[PlannedWindow]:
        """What the kiosk and `status` show: windows under way, and those beginning within
        `outage.show_days_ahead` days."""
        ahead = timedelta(days=self.config.outage.show_days_ahead)
        return [w for w in self.windows() if w.ends_at > now and w.starts_at - now <= ahead]

    def kit_record(self, wid: str) -> dict[str, Any] | None:
        return PlanState.load(self.path, quiet=True).kits.get(wid)

    # ------------------------------------------------------------ changing

    def plan(self, starts_at: datetime, ends_at: datetime, note: str, source: str,
             now: datetime) -> PlannedWindow:
        """Add (or, with the same start, replace) a window; raises `OutagePlanError`."""
        check_window(starts_at, ends_at, note, now)
        wid = window_id(starts_at, self.config.timezone)
        if any(w.id == wid for w in self.config_windows()):
            raise OutagePlanError(f"outage {wid} is set in the config ([[outage.planned]], "
                                  "the Ansible role's appliance_planned_outages); change it there")
        with self._locked() as state:
            state.prune(now)
            live = [w for w in state.windows if w != wid
                    and parse_iso(state.windows[w]["ends_at"]) > now]
            if len(live) >= MAX_WINDOWS:
                raise OutagePlanError(f"{MAX_WINDOWS} planned outages are waiting already; "
                                      "cancel one first (`appliance outage list`)")
            state.windows[wid] = {"starts_at": isoformat_utc(starts_at),
                                  "ends_at": isoformat_utc(ends_at), "note": note,
                                  "source": source, "planned_at": isoformat_utc(now)}
        return _window(wid, state.windows[wid])

    def cancel(self, wid: str) -> PlannedWindow:
        """Remove a window planned by the CLI or a sender; raises `OutagePlanError`."""
        if any(w.id == wid for w in self.config_windows()):
            raise OutagePlanError(f"outage {wid} is set in the config ([[outage.planned]]); "
                                  "remove it there")
        with self._locked() as state:
            data = state.windows.pop(wid, None)
            if data is None:
                known = ", ".join(state.windows) or "none"
                raise OutagePlanError(f"no planned outage {wid!r} (planned: {known}; "
                                      "`appliance outage list`)")
        return _window(wid, data)

    def announce(self, sender: str, seq: int, notice: PlannedOutageNotice,
                 now: datetime) -> tuple[str, PlannedWindow]:
        """Apply a sender's announcement: ("planned" or "cancelled", the window). Raises
        `OutagePlanError` for a window that breaks the rules, and `AnnouncementReplayed` for
        a sequence number not above the sender's last announcement's."""
        with exclusive_lock(self.config.state_dir / LOCK_FILE):
            state = PlanState.load(self.path)
            if seq <= state.sender_seq.get(sender, 0):
                raise AnnouncementReplayed(f"announcement sequence {seq} is not newer than "
                                           f"{state.sender_seq[sender]}, the last accepted "
                                           "from this sender")
            wid = window_id(notice.starts_at, self.config.timezone)
            source = SENDER_PREFIX + sender
            if notice.cancelled:
                data = state.windows.get(wid)
                if data is None or data["source"] != source:
                    raise OutagePlanError(f"no planned outage {wid} from sender {sender} to "
                                          "cancel")
                del state.windows[wid]
                outcome = "cancelled"
            else:
                check_window(notice.starts_at, notice.ends_at, notice.note, now)
                state.windows[wid] = {"starts_at": isoformat_utc(notice.starts_at),
                                      "ends_at": isoformat_utc(notice.ends_at),
                                      "note": notice.note, "source": source,
                                      "planned_at": isoformat_utc(now)}
                data = state.windows[wid]
                outcome = "planned"
            state.sender_seq[sender] = seq
            state.prune(now)
            state.save(self.path)
        return outcome, _window(wid, data)

    def last_announcement_seq(self, sender: str) -> int:
        return PlanState.load(self.path, quiet=True).sender_seq.get(sender, 0)

    def claim_kit(self, window: PlannedWindow, now: datetime,
                  overlapping: list[PlannedWindow]) -> bool:
        """Claim the automatic kit of `window` before it is printed: True if this caller may
        print it now. False when it was claimed before (by any process, before any
        restart), or a kit was claimed for a window under way that overlaps it (one kit per
        outage, however it was announced)."""
        with self._locked() as state:
            record = state.kits.get(window.id)
            attempts = record.get("attempts", 0) if record else 0
            if record is not None and record["outcome"] != RETRY:
                return False
            if any(w.id in state.kits and state.kits[w.id]["outcome"] != RETRY
                   for w in overlapping if w.id != window.id):
                state.kits[window.id] = {"at": isoformat_utc(now), "outcome": "overlapping"}
                return False
            state.kits[window.id] = {"at": isoformat_utc(now), "outcome": "claimed",
                                     "attempts": attempts + 1}
            return True

    def settle_kit(self, wid: str, outcome: str, *, job: int | None = None,
                   retry: bool = False) -> None:
        """Record how the claimed kit went (`printed` with its job, ...). `retry`: nothing
        reached the printer (it was unavailable, or a kit was on its way), so the claim is
        released for the jobs' next turn, MAX_KIT_ATTEMPTS times at most."""
        with self._locked() as state:
            record = state.kits.setdefault(wid, {"at": None, "attempts": 1})
            if retry and record.get("attempts", 1) < MAX_KIT_ATTEMPTS:
                outcome = RETRY
            record.update({"outcome": outcome, "job": job})


class AnnouncementReplayed(OutagePlanError):
    """A sender's announcement with a sequence number it has used before."""
