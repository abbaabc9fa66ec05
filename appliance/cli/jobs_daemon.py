"""`appliance jobs`: the periodic work, as its own service.

Every `SLOT_CHECK_SECONDS` the slot watch runs (missed-slot alerts and their webhook
retries), the drill reminder (`core.time.drills`: one alert when a drill is due), the
self-check's alert (`core.watch.selftest`: retried, or sent late when the check could not
reach the webhook) and the print
service's follow-up (the end of a kit's job is audited even when the panel, which usually
sees it first, is not running), the planned outage's kit (`core.printing.outage_kit`:
once, as a planned outage begins, if `outage.print_kit_at_start`) and the supplies watch
(`core.watch.supplies_check`: it asks the printer only when its daily check is due, the
first time at start, in a thread of its own so a slow printer never holds the loop);
every `RETENTION_HOURS`, retention
(ingest applies it too, but an appliance that receives nothing during an outage still has to
drop what is past `retention.max_age_hours`, within the rule that the newest documents of
each unit and kind (`retention.keep_per_unit_kind`) are kept). All run once at start. They
are intervals, not times of day (`docs/decisions.md` says why).

A failing job is logged and tried again at its next turn: the service keeps running. With
`Type=notify` it reports READY=1 when it starts and pings the watchdog from the loop.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import schedule

from appliance.adapters import sdnotify
from appliance.adapters.stop_signals import StopFlag
from appliance.adapters.webhook import webhook_poster
from appliance.core.intake.refusal_counts import RefusalCounts
from appliance.core.intake.retention import apply_retention
from appliance.core.printing.outage_kit import OutageKit
from appliance.core.printing.print_service import PrintService
from appliance.core.services import Services
from appliance.core.time.drills import DrillReminder
from appliance.core.watch.selftest import SelftestAlerts
from appliance.core.watch.slots import SlotWatch
from appliance.core.watch.supplies_check import SuppliesWatch

log = logging.getLogger(__name__)

SLOT_CHECK_SECONDS = 30
RETENTION_HOURS = 24
MAX_SLEEP_SECONDS = SLOT_CHECK_SECONDS  # wake at least this often (stop, watchdog)


def build_scheduler(services: Services) -> schedule.Scheduler:
    """A private scheduler (not the `schedule` module's global one) with both jobs."""
    alerts = services.config.alerts
    poster = webhook_poster(alerts.webhook_url, alerts.timeout_seconds)
    watch = SlotWatch(services, poster)
    scheduler = schedule.Scheduler()
    scheduler.every(SLOT_CHECK_SECONDS).seconds.do(_guarded, "slot check", watch.evaluate)
    scheduler.every(SLOT_CHECK_SECONDS).seconds.do(_guarded, "drill reminder",
                                                   DrillReminder(services, poster).evaluate)
    # the self-check's alert: sent by the check itself, retried (or sent late) here
    scheduler.every(SLOT_CHECK_SECONDS).seconds.do(_guarded, "self-check alert",
                                                   SelftestAlerts(services, poster).evaluate)
    # a minute's counted refusals reach the audit log even if no further request comes
    scheduler.every(SLOT_CHECK_SECONDS).seconds.do(_guarded, "counted refusals",
                                                   RefusalCounts.of(services).flush_due)
    if services.has_printer:
        scheduler.every(SLOT_CHECK_SECONDS).seconds.do(_guarded, "print follow-up",
                                                       PrintService(services).follow_up)
        # outage.print_kit_at_start: one kit as a planned outage begins (core.printing.outage_kit)
        scheduler.every(SLOT_CHECK_SECONDS).seconds.do(_guarded, "planned outage kit",
                                                       OutageKit(services).evaluate)
        scheduler.every(SLOT_CHECK_SECONDS).seconds.do(
            _Background("supplies check", SuppliesWatch(services, poster).evaluate))
    scheduler.every(RETENTION_HOURS).hours.do(_guarded, "retention",
                                              lambda: _retention(services))
    return scheduler


def run_jobs(services: Services, stop_event: StopFlag) -> None:
    """Run every job at once, then on schedule until `stop_event` is set."""
    scheduler = build_scheduler(services)
    scheduler.run_all()
    watchdog = sdnotify.watchdog_interval()
    sdnotify.notify("READY=1\nSTATUS=checking slots every "
                    f"{SLOT_CHECK_SECONDS} s, retention every {RETENTION_HOURS} h")
    log.info("jobs running: slot check every %d s, retention every %d h", SLOT_CHECK_SECONDS,
             RETENTION_HOURS)
    last_ping = time.monotonic()
    while not stop_event.is_set():
        scheduler.run_pending()
        if watchdog and time.monotonic() - last_ping >= watchdog:
            sdnotify.notify("WATCHDOG=1")
            last_ping = time.monotonic()
        sleep = min(MAX_SLEEP_SECONDS, max(scheduler.idle_seconds or 0, 0),
                    watchdog or MAX_SLEEP_SECONDS)
        stop_event.wait(sleep)
    sdnotify.notify("STOPPING=1")
    log.info("jobs stopped")


def _retention(services: Services) -> None:
    gone = apply_retention(services)
    if gone:
        log.info("retention deleted %d snapshot(s)", len(gone))


class _Background:
    """A job run in a thread of its own, one run at a time: asking a printer can take long
    (a printer that accepts a connection but never answers, the usb backend listing
    devices), and the loop must go on checking slots and pinging the watchdog meanwhile."""

    def __init__(self, name: str, job: Callable[[], object]) -> None:
        self.name, self.job = name, job
        self._thread: threading.Thread | None = None

    def __call__(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return  # the last run is still asking
        self._thread = threading.Thread(target=_guarded, args=(self.name, self.job),
                                        name=self.name, daemon=True)
        self._thread.start()


def _guarded(name: str, job: Callable[[], object]) -> None:
    try:
        job()
    except Exception:
        log.exception("%s failed; it runs again at its next turn", name)
