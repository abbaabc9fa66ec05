"""The sender agent: watch the outbox, deliver every complete export to every appliance,
warn when an expected export is missing.

One pass (`Agent.tick`) does all the work; `run_forever` repeats it every
`outbox.poll_seconds` with `schedule`, and `Agent.sync` is one pass for other schedulers.
Every decision about time asks the injected clock, so tests drive passes by hand.

A pass:
1. lists the appliances (`appliances_dir`) and scans the outbox;
2. queues each complete file version for each appliance that has not had it;
3. starts a delivery round for each appliance, each in its own thread (`Rounds`), so one
   appliance never waits for another. A round offers the appliance its due entries one at
   a time, oldest first, and none waits for another: a permanent refusal (413 too large
   included) marks that entry failed and the next one goes; an entry that cannot be read
   just now is retried later on its own. Only when the appliance itself does not take
   deliveries (no answer, 5xx, ...) does the round end, and nothing is offered to that
   appliance until the failed entry's retry, with exponential backoff (docs/decisions.md,
   "No head-of-line blocking");
4. applies `outbox.after_delivery` to files every appliance has accepted;
5. checks the expected slots and queues missing-export / recovered webhook alerts;
6. sends pending alerts, saves the state.

`tick` waits for the rounds it started; `run` does not (`wait=False`): a round still
running (an appliance that hangs until the push timeout) is simply not started again until
it ends, and the other appliances get their passes every `poll_seconds` meanwhile. The
queue and the state are shared by the rounds and the pass under one lock; the network is
used outside it.

Logs are English and never name an export file (names may contain patient names): they say
the kind, the appliance and the time the export was produced.
"""

from __future__ import annotations

import functools
import hashlib
import http.client
import logging
import os
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import schedule

from appliance.adapters.stop_signals import StopFlag
from appliance.adapters.webhook import webhook_poster
from appliance.core.base.alert_queue import AlertPoster
from appliance.core.base.clock import Clock, SystemClock, local_time
from appliance.core.config.settings import DEFAULT_KINDS, ConfigError, ScheduleConfig, SenderConfig
from appliance.core.crypto import seal
from appliance.core.time.freshness import freshness
from appliance.sender import alerts
from appliance.sender.appliances import Appliance, ApplianceFolder
from appliance.sender.client import PushResult
from appliance.sender.client import push as http_push
from appliance.sender.outages import SenderOutages, SenderWindow
from appliance.sender.outbox import Outbox, Scan
from appliance.sender.outgoing import Sender
from appliance.sender.queue import DeliveryQueue, Entry, backoff_seconds, is_permanent
from appliance.sender.rounds import Rounds
from appliance.sender.state import AgentState, from_iso, to_iso

log = logging.getLogger("appliance.sender")

SETTLE_ROUNDS = 3  # `sync` waits at most this many times for files still being written
STOP_WAIT_SECONDS = 5  # `stop` lets a delivery in progress finish and be recorded
SOURCE_MISSING = "the export was removed from the outbox before it was delivered"

PushFunction = Callable[[str, bytes, float], PushResult]


def missing_slot(schedule_config: ScheduleConfig, newest: datetime | None,
                 now: datetime) -> datetime | None:
    """The slot a kind is missing now (its grace has run out with no export produced no
    earlier than grace before it), or None. Same rule as the appliance's freshness."""
    grace = timedelta(minutes=schedule_config.grace_minutes)
    fresh = freshness(schedule_config.slots, newest, now, schedule_config.timezone, grace)
    return fresh.due_slot if fresh.stale else None


def describe_error(status: int | None, code: str, message: str) -> str:
    """`HTTP 422 unreadable_pdf: ...`, or `unreachable: ...` when there was no answer."""
    return f"{f'HTTP {status} ' if status else ''}{code}: {message}"


@dataclass
class PassReport:
    """What one pass (or one `sync`) did, and what is left."""

    queued: int = 0
    delivered: int = 0
    retrying: int = 0  # attempts that failed for now and will be retried
    failed: int = 0  # refused for good during this pass
    dropped: int = 0
    settling: int = 0  # matching exports not yet complete
    pending: int = 0  # entries waiting after the pass
    failed_total: int = 0  # entries refused for good, still in the queue
    missing: list[tuple[str, datetime]] = field(default_factory=list)

    def add(self, later: PassReport) -> PassReport:
        """This report followed by `later`: counts add up, the remainder is `later`'s."""
        return PassReport(
            queued=self.queued + later.queued, delivered=self.delivered + later.delivered,
            retrying=self.retrying + later.retrying, failed=self.failed + later.failed,
            dropped=self.dropped + later.dropped, settling=later.settling,
            pending=later.pending, failed_total=later.failed_total, missing=later.missing,
        )


class Agent:
    def __init__(self, config: SenderConfig, clock: Clock | None = None, *,
                 push: PushFunction = http_push, poster: AlertPoster | None = None,
                 sender: Sender | None = None) -> None:
        """`poster` delivers the alerts; by default a webhook poster for
        `alerts.webhook_url` (none when it is empty)."""
        if config.outbox.dir is None:
            raise ConfigError(config.source, [
                "outbox.dir: must be set for `run` and `sync` (the folder the record "
                "system's exports land in)"])
        self.config = config
        self.tz = config.schedule.timezone  # of the local times in the log
        self.clock = clock or SystemClock()
        self.sender = sender or Sender.load(config)
        self.outbox = Outbox(config.outbox, self.clock)
        self.appliance_folder = ApplianceFolder(config.appliances_dir)
        self.queue = DeliveryQueue.load(config.state_dir)
        self.state = AgentState.load(config.state_dir)
        self._push = push
        self._poster = poster or webhook_poster(config.alerts.webhook_url,
                                                alerts.WEBHOOK_TIMEOUT_SECONDS)
        self._warned: set[str] = set()
        self._last_failure: str | None = None
        self._lock = threading.RLock()  # the queue, the state and the reports
        self._rounds = Rounds()
        self._check_rules()

    # ------------------------------------------------------------ one pass

    def tick(self, *, retry_now: bool = False, wait: bool = True) -> PassReport:
        """One pass. `retry_now` ignores backoff (a `sync` asked for by a person or
        another scheduler): everything pending is tried once. `wait` waits for the
        delivery rounds; without it their counts are missing from the report."""
        report = PassReport()
        names, appliances = self._appliances()
        scan = self.outbox.scan()
        outages = SenderOutages.load(self.config.state_dir).live(
            self.clock.now(), self.config.outage.planned, self.config.schedule.timezone)
        with self._lock:
            self._queue_new(scan, names, report)
            self._forget(scan, names, report)
            self._queue_outage_deliveries(scan, names, outages, report)
            self.queue.save()
            self.state.save()  # an extra delivery queued is recorded as such at once
            for appliance in appliances:
                due = self._due(appliance.name, retry_now)
                notices = self._notices_due(appliance.name, outages, retry_now)
                if due or notices:
                    self._rounds.start(appliance.name, functools.partial(
                        self._deliver_to, appliance, due, report, notices))
        if wait:
            self._rounds.wait()
        with self._lock:
            self._apply_policy(scan, names)
        self._check_slots(scan, report)
        self._send_alerts()
        with self._lock:
            self.state.last_pass = self.clock.now()
            self.state.settling = report.settling = sum(scan.settling.values())
            self.state.unmatched = scan.unmatched
            self.state.save()
            report.pending = sum(1 for e in self.queue.entries if not e.failed)
            report.failed_total = sum(1 for e in self.queue.entries if e.failed)
        self._rounds.raise_errors()
        return report

    def tick_safely(self, *, wait: bool = True) -> PassReport | None:
        """A pass that never raises: the agent must outlive any one bad file or disk error.
        The log gets the exception's type and where it happened (file, line, function),
        not its message, which may hold a file name. A delivery round's exception is
        reported by the pass that sees it end."""
        try:
            report = self.tick(wait=wait)
        except Exception as exc:
            where = " < ".join(f"{Path(frame.filename).name}:{frame.lineno} in {frame.name}"
                               for frame in reversed(traceback.extract_tb(exc.__traceback__)))
            failure = f"{type(exc).__name__} at {where}"
            if failure != self._last_failure:  # the same failure every 2 s is logged once
                log.error("a pass failed (%s); the next pass tries again", failure)
            self._last_failure = failure
            return None
        if self._last_failure:
            log.info("passes work again")
            self._last_failure = None
        return report

    def sync(self, *, sleep: Callable[[float], None] = time.sleep,
             retry_failed: bool = False) -> PassReport:
        """Push what is pending now, ignoring backoff. A file seen for the first time must
        still stay unchanged for `stable_seconds`: wait (with `sleep`) and look again, a
        few times at most."""
        if retry_failed:
            count = self.queue.retry_failed(self.clock.now())
            self.queue.save()
            if count:
                log.info("%d failed delivery(ies) will be tried again", count)
        report = self.tick(retry_now=True)
        for _ in range(SETTLE_ROUNDS):
            if not report.settling:
                break
            sleep(self.config.outbox.stable_seconds)
            report = report.add(self.tick(retry_now=True))
        return report

    # ------------------------------------------------------------ `run` bookkeeping

    def beat(self) -> None:
        """Mark the state as owned by a running `run` agent (see `running_elsewhere`)."""
        self.state.run_heartbeat = {"pid": os.getpid(), "at": to_iso(self.clock.now())}

    def stop(self) -> None:
        """Let deliveries in progress finish (briefly), then mark the state as not run."""
        self._rounds.wait(STOP_WAIT_SECONDS)
        with self._lock:
            self.state.run_heartbeat = None
            self.state.save(force=True)

    def running_elsewhere(self) -> bool:
        """True when another process's `run` agent made a pass recently: a `sync` now
        would race it."""
        beat = self.state.run_heartbeat
        if not beat or beat.get("pid") == os.getpid():
            return False
        window = timedelta(seconds=3 * self.config.outbox.poll_seconds
                           + 2 * self.config.push_timeout_seconds + 60)
        return self.clock.now() - from_iso(beat["at"]) < window

    # ------------------------------------------------------------ pieces

    def _warn_once(self, key: str, message: str, *args: Any) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message, *args)

    def _check_rules(self) -> None:
        ruled = {rule.kind for rule in self.config.outbox.rules}
        for kind in self.config.schedule.required_kinds:
            if kind not in ruled:
                log.warning("required kind %s has no [[outbox.rules]] entry: it will always be "
                            "reported missing", kind)

    def _appliances(self) -> tuple[list[str], list[Appliance]]:
        """Configured names (all of them count for the delete policy) and the appliances
        that could be loaded (a broken entry is skipped, loudly, once)."""
        names = self.appliance_folder.keys.names()
        if not names:
            self._warn_once("no-appliances", "no appliances configured: nothing is delivered "
                            "(`appliance-sender appliances add`)")
        loaded = []
        for name in names:
            try:
                loaded.append(self.appliance_folder.get(name))
            except (ValueError, OSError) as exc:
                self._warn_once(f"appliance:{name}", "appliance %s cannot be loaded (%s); "
                                "nothing is delivered to it", name, exc)
        return names, loaded

    def _queue_new(self, scan: Scan, names: list[str], report: PassReport) -> None:
        now = self.clock.now()
        for export in scan.ready:
            rule = export.rule
            self.state.export_seen(rule.kind, export.produced_at, now)
            for appliance in names:
                if self.queue.is_known(export.name, export.sha256, appliance):
                    continue
                _, superseded = self.queue.enqueue(
                    appliance, name=export.name, sha256=export.sha256, size=export.size,
                    kind=rule.kind, unit=rule.unit or self.config.unit,
                    title=rule.title or _default_title(rule.kind),
                    produced_at=export.produced_at, now=now)
                for old in superseded:
                    self._drop(old, "superseded", "a newer version of the export replaced it "
                               "before it was delivered", report)
                report.queued += 1
                log.info("queued a %s export (produced %s) for %s", rule.kind,
                         local_time(export.produced_at, self.tz), appliance)

    def _forget(self, scan: Scan, names: list[str], report: PassReport) -> None:
        if scan.present is not None:
            for entry in self.queue.forget_missing(scan.present):
                self._drop(entry, "source_missing", SOURCE_MISSING, report)
        if names:  # an empty folder is more likely a mistake than "deliver nowhere"
            for entry in self.queue.forget_appliances(set(names)):
                self._drop(entry, "appliance_removed", "the appliance is no longer "
                           "configured", report)
            for name in set(self.state.appliances) - set(names):
                del self.state.appliances[name]

    def _drop(self, entry: Entry, reason: str, message: str, report: PassReport) -> None:
        """Record a dropped delivery, removing its entry if still queued."""
        with self._lock:
            self.queue.drop(entry)
            self.queue.save()
            report.dropped += 1
            self.state.record_drop({
                "at": to_iso(self.clock.now()), "appliance": entry.appliance,
                "kind": entry.kind, "produced_at": to_iso(entry.produced_at),
                "reason": reason, "message": message,
            })
        log.warning("dropped the delivery of a %s export (produced %s) to %s: %s",
                    entry.kind, local_time(entry.produced_at, self.tz), entry.appliance,
                    message)

    def _due(self, appliance: str, retry_now: bool) -> list[Entry]:
        """What to offer the appliance now, oldest first: nothing while it waits for a
        retry after it did not answer, unless `retry_now`."""
        if retry_now:
            return self.queue.pending(appliance)
        now = self.clock.now()
        waiting_until = self.state.appliance(appliance).next_attempt_at
        if waiting_until is not None and waiting_until > now:
            return []
        return self.queue.due(appliance, now)

    def _deliver_to(self, appliance: Appliance, due: list[Entry], report: PassReport,
                    notices: list[SenderWindow] = ()) -> None:
        """A round (in its own thread): announce `appliance` its planned outages, then offer
        it its due entries, one at a time, until it does not take one (no answer, 5xx, ...)."""
        for window in notices:
            if not self._announce(appliance, window):
                return
        for entry in due:
            with self._lock:
                if not self.queue.is_pending(entry):
                    continue  # dropped or superseded by the pass meanwhile
            if not self._attempt(entry, appliance, report):
                return

    # ------------------------------------------------------------ planned outages

    def _queue_outage_deliveries(self, scan: Scan, names: list[str],
                                 outages: list[SenderWindow], report: PassReport) -> None:
        """Once per planned outage, from EXTRA_DELIVERY_LEAD before it begins until it ends:
        queue the newest export of every rule's kind and unit again for every appliance,
        delivered or not (sender/outages.py). Recorded in the state, which `tick` saves
        right after the queue: a crash in between at worst queues it again, and a version
        queued twice for an appliance supersedes itself."""
        now = self.clock.now()
        self.state.forget_outages({window.id for window in outages})
        for window in outages:
            progress = self.state.outage(window.id)
            if progress["extra_delivery_at"] or not window.extra_delivery_due(now):
                continue
            newest: dict[tuple[str, str], Any] = {}
            for export in scan.ready:
                key = (export.rule.kind, export.rule.unit or self.config.unit)
                if key not in newest or export.produced_at > newest[key].produced_at:
                    newest[key] = export
            for (kind, unit), export in sorted(newest.items()):
                for appliance in names:
                    self.queue.enqueue(
                        appliance, name=export.name, sha256=export.sha256, size=export.size,
                        kind=kind, unit=unit, title=export.rule.title or _default_title(kind),
                        produced_at=export.produced_at, now=now)
                    report.queued += 1
            progress["extra_delivery_at"] = to_iso(now)
            kinds = sorted({kind for kind, _ in newest})
            log.info("planned outage %s: the newest export of each kind (%s) queued again for "
                     "every appliance", window.id, ", ".join(kinds) or "none")
            absent = sorted({rule.kind for rule in self.config.outbox.rules} - set(kinds))
            if absent:
                log.warning("planned outage %s: no export of %s in the outbox to deliver "
                            "before it begins", window.id, ", ".join(absent))

    def _notices_due(self, appliance: str, outages: list[SenderWindow],
                     retry_now: bool) -> list[SenderWindow]:
        """The announcements `appliance` has not had in their current version (none while
        it waits for a retry after it did not answer, unless `retry_now`); a cancellation
        only where the window was announced."""
        waiting_until = self.state.appliance(appliance).next_attempt_at
        if not retry_now and waiting_until is not None and waiting_until > self.clock.now():
            return []
        due = []
        for window in outages:
            if window.from_config:
                continue  # the appliances have it in their own config
            had = self.state.outage(window.id)["announced"].get(appliance, {})
            if had.get("notice") == window.notice_key:
                continue
            if window.notice.cancelled and had.get("outcome") != "sent":
                continue  # it never had the window: nothing to cancel there
            due.append(window)
        return due

    def _announce(self, appliance: Appliance, window: SenderWindow) -> bool:
        """Send one announcement; False when the appliance itself did not take it (the
        round ends, and the appliance waits `push.retry_initial_seconds`). A refusal for
        good (an appliance too old to know announcements answers 400) is recorded and
        logged, and not sent again."""
        what = "cancellation" if window.notice.cancelled else "announcement"
        try:
            envelope = self.sender.seal_notice(window.notice, appliance.public_key,
                                               self.clock.now())
        except OSError as exc:  # the sequence counter could not be written
            log.warning("cannot seal the planned outage %s %s (%s)", window.id, what,
                        type(exc).__name__)
            return False
        result = self._push_safely(appliance, envelope)
        if result.accepted or is_permanent(result.status):
            outcome = "sent" if result.accepted else describe_error(
                result.status, result.error, result.message)
            with self._lock:
                self.state.outage(window.id)["announced"][appliance.name] = {
                    "notice": window.notice_key, "outcome": outcome,
                    "at": to_iso(self.clock.now())}
            if result.accepted:
                log.info("planned outage %s: %s delivered to %s", window.id, what,
                         appliance.name)
            else:
                log.error("%s REFUSED the planned outage %s %s for good: %s", appliance.name,
                          window.id, what, outcome)
            return True
        retry_at = self.clock.now() + timedelta(seconds=self.config.retry_initial_seconds)
        with self._lock:  # the appliance itself did not answer: it waits, like a delivery
            record = self.state.appliance(appliance.name)
            record.next_attempt_at = max(record.next_attempt_at or retry_at, retry_at)
        log.warning("could not deliver the planned outage %s %s to %s (%s); trying again at "
                    "%s", window.id, what, appliance.name,
                    describe_error(result.status, result.error, result.message),
                    local_time(retry_at, self.tz))
        return False

    def _attempt(self, entry: Entry, appliance: Appliance, report: PassReport) -> bool:
        """Try one delivery; False when the appliance itself did not take it (no answer,
        5xx, ...): then it cannot take the others now either."""
        try:
            content = (self.outbox.folder / entry.name).read_bytes()
        except FileNotFoundError:
            self._drop(entry, "source_missing", SOURCE_MISSING, report)
            return True
        except OSError as exc:
            self._retry(entry, appliance, None, "source_unreadable",
                        f"the export cannot be read ({type(exc).__name__})", report)
            return True
        if hashlib.sha256(content).hexdigest() != entry.sha256:
            self._drop(entry, "source_changed", "the export changed before it was delivered; "
                       "the new version is queued once complete", report)
            return True
        now = self.clock.now()
        try:
            document = seal.Document(seal.describe_document(
                entry.kind, entry.unit, entry.title, entry.produced_at, content), content)
            envelope = self.sender.seal_for([document], appliance.public_key, now)
        except seal.SealError as exc:
            self._fail(entry, appliance, None, "seal_failed", str(exc), report)
            return True
        except OSError as exc:  # the sequence counter could not be written
            self._retry(entry, appliance, None, "seal_failed",
                        f"cannot seal ({type(exc).__name__})", report)
            return True
        del content, document
        result = self._push_safely(appliance, envelope)
        if result.accepted:
            self._delivered(entry, appliance, result, report)
            return True
        message = result.message
        if result.status == 413:
            message += f"; this export, sealed, is {len(envelope)} bytes"
        if is_permanent(result.status):
            self._fail(entry, appliance, result.status, result.error, message, report)
            return True
        self._retry(entry, appliance, result.status, result.error, message, report)
        with self._lock:
            self.state.appliance(appliance.name).next_attempt_at = entry.next_attempt_at
        return False

    def _delivered(self, entry: Entry, appliance: Appliance, result: PushResult,
                   report: PassReport) -> None:
        with self._lock:
            self.queue.mark_delivered(entry)
            self.queue.save()
            record = self.state.appliance(appliance.name)
            record.last_success, record.next_attempt_at = self.clock.now(), None
            report.delivered += 1
        log.info("delivered a %s export (produced %s) to %s as %s", entry.kind,
                 local_time(entry.produced_at, self.tz), appliance.name,
                 result.body.get("id", "?"))

    def _push_safely(self, appliance: Appliance, envelope: bytes) -> PushResult:
        """The HTTP client reports network errors as a result; a garbled HTTP answer
        (http.client.HTTPException) is one too, and is retried like one."""
        try:
            return self._push(appliance.snapshots_url, envelope,
                              self.config.push_timeout_seconds)
        except http.client.HTTPException as exc:
            return PushResult(False, None, "protocol_error",
                              f"garbled answer from {appliance.url} ({type(exc).__name__})", {})

    def _error(self, entry: Entry, status: int | None, code: str, message: str
               ) -> dict[str, Any]:
        return {"at": to_iso(self.clock.now()), "status": status, "error": code,
                "message": message, "kind": entry.kind}

    def _retry(self, entry: Entry, appliance: Appliance, status: int | None, code: str,
               message: str, report: PassReport) -> None:
        error = self._error(entry, status, code, message)
        with self._lock:
            self.queue.retry_later(entry, self.clock.now(), error,
                                   self.config.retry_initial_seconds,
                                   self.config.retry_max_seconds)
            self.queue.save()
            self.state.appliance(appliance.name).last_error = error
            report.retrying += 1
        log.warning("could not deliver a %s export to %s (%s); attempt %d, next try at %s",
                    entry.kind, appliance.name, describe_error(status, code, message),
                    entry.attempts, local_time(entry.next_attempt_at, self.tz))

    def _fail(self, entry: Entry, appliance: Appliance, status: int | None, code: str,
              message: str, report: PassReport) -> None:
        error = self._error(entry, status, code, message)
        with self._lock:
            self.queue.mark_failed(entry, error)
            self.queue.save()
            self.state.appliance(appliance.name).last_error = error
            report.failed += 1
        log.error("%s REFUSED a %s export (produced %s) for good: %s. It is not sent again "
                  "unless the file changes or `appliance-sender sync --retry-failed` is run",
                  appliance.name, entry.kind, local_time(entry.produced_at, self.tz),
                  describe_error(status, code, message))

    def _apply_policy(self, scan: Scan, names: list[str]) -> None:
        if self.config.outbox.after_delivery != "delete":
            return
        for export in scan.ready:
            if not self.queue.delivered_to_all(export.name, export.sha256, names):
                continue
            try:
                now_stat = export.path.stat()
                if (now_stat.st_size, now_stat.st_mtime_ns) != (export.size, export.mtime_ns):
                    continue  # rewritten meanwhile: the new version is delivered first
                export.path.unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:  # e.g. open in a viewer on Windows
                self._warn_once(f"delete:{export.name}:{export.sha256}",
                                "a delivered %s export cannot be deleted yet (%s); trying "
                                "again next pass", export.rule.kind, type(exc).__name__)
                continue
            log.info("deleted a %s export (produced %s) from the outbox: every appliance "
                     "has it", export.rule.kind, local_time(export.produced_at, self.tz))

    def _check_slots(self, scan: Scan, report: PassReport) -> None:
        now = self.clock.now()
        sched = self.config.schedule
        for kind in sched.required_kinds:
            seen = [t for t in (self.state.newest_export(kind), scan.newest.get(kind)) if t]
            slot = missing_slot(sched, max(seen) if seen else None, now)
            previous = self.state.missing.get(kind)
            if slot is not None:
                report.missing.append((kind, slot))
                if slot != previous:
                    self.state.missing[kind] = slot
                    event = alerts.missing_export(self.config.name, kind, slot, sched.timezone)
                    log.warning("MISSING EXPORT: %s", event["message"])
                    self._queue_alert(event)
            elif previous is not None:
                del self.state.missing[kind]
                event = alerts.export_recovered(self.config.name, kind, previous,
                                                sched.timezone)
                log.info("export recovered: %s", event["message"])
                self._queue_alert(event)

    def _save_state(self) -> None:
        with self._lock:
            self.state.save()

    def _queue_alert(self, event: dict) -> None:
        if self._poster is None:
            self.state.record_alert(event, self.clock.now(), "none")
        else:
            self.state.pending_alerts.add(event, self.clock.now())

    def _send_alerts(self) -> None:
        """Post pending alerts in order (`AlertQueue`), retried with the deliveries'
        backoff; the state is saved after each, so a crash never sends one twice."""
        now = self.clock.now()
        sent = self.state.pending_alerts.deliver(
            self._poster, now, persist=self._save_state,
            retry_delay=lambda attempts: backoff_seconds(
                attempts, self.config.retry_initial_seconds, self.config.retry_max_seconds))
        for event in sent:
            self.state.record_alert(event, now, "sent")


def _default_title(kind: str) -> str:
    return DEFAULT_KINDS.get(kind, {}).get("title", kind)


def run_forever(agent: Agent, poll_seconds: float, stop: StopFlag) -> None:
    """Pass after pass until `stop` is set; `schedule` times the passes, the first runs at
    once. The `run` command's stop is a `SignalStop`: Ctrl+C/SIGINT/SIGTERM only set a flag
    and the pass in progress ends normally. A KeyboardInterrupt raised mid-pass could leave
    the agent's lock held (Python may deliver it between acquiring a lock and entering its
    `with`), and `Agent.stop` would then wait for it forever: a `run` that ignored Ctrl+C,
    seen under load. (A handler that sets a `threading.Event` can deadlock too: see
    `adapters.stop_signals`.)"""
    scheduler = schedule.Scheduler()

    def one_pass() -> None:
        agent.beat()
        agent.tick_safely(wait=False)

    scheduler.every(poll_seconds).seconds.do(one_pass)
    scheduler.run_all()
    while not stop.wait(max(0.05, min(poll_seconds, scheduler.idle_seconds or poll_seconds))):
        scheduler.run_pending()
