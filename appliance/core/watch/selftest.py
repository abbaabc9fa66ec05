"""The appliance's self-check: is everything printing depends on still in order?

Run after every upgrade (the apt hook), at every boot, hourly (`appliance-selftest.timer`)
and by hand (`appliance selftest`). It is a list of named checks; each is a probe, passed in,
that returns a short English detail for IT or raises `CheckFailed` saying what is wrong and
what to do. The probes that need the operating system (`cupsd -t`, `systemctl`, `dpkg`)
are the adapter's (`appliance.adapters.system_probes`); those on the appliance's own parts
(the printer port, the key, the store, the audit chain) are here, in `core_probes`.

The last result is kept in `state_dir/selftest.json`, so the web service, the panel and
the jobs service, other processes than the one that ran the check, all see it: a failed
check makes the state `fault` (`status.compute_status`), on the LED, the kiosk, `status`,
`/metrics`. `SelftestAlerts` sends the webhook alert once per change of the outcome
(failed, passed again), retried by the jobs service. Whether a reboot is pending after an
upgrade (`/run/reboot-required`) is recorded with the result: that file only appears after
a dpkg run and only goes away with a reboot, and both run the check. It is for IT (status,
metrics), never a fault and never on the kiosk.

No patient data: check names, package names, unit names and the probes' own messages
(bounded) only.
"""

from __future__ import annotations

import copy
import functools
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from appliance.core.base.alert_queue import AlertPoster, AlertQueue
from appliance.core.base.clock import isoformat_utc, parse_iso
from appliance.core.base.errors import ApplianceError
from appliance.core.base.fsutil import exclusive_lock
from appliance.core.base.safe_text import bounded_text
from appliance.core.base.statefile import StateFile, StateFileError
from appliance.core.printing.printer import Condition

if TYPE_CHECKING:  # the type only: services.py is above every wing
    from appliance.core.services import Services

log = logging.getLogger(__name__)

STATE_FILE = "selftest.json"
LOCK_FILE = "selftest.lock"
STATE_VERSION = 1
FILE_MODE = 0o640
RETRY_SECONDS = 60
MAX_DETAIL_CHARS = 500
FAILED_EVENT, PASSED_EVENT = "selftest_failed", "selftest_passed"

# The checks in the order they run and are shown; a probe for each is passed to `run`.
CUPSD_CONFIG = "cupsd_config"
CUPSD_ANSWERING = "cupsd_answering"
QUEUE = "queue"
SERVICES = "services"
KEY_CREDENTIAL = "key_credential"
STORE = "store"
AUDIT_CHAIN = "audit_chain"
PACKAGES = "packages"
CHECKS = (CUPSD_CONFIG, CUPSD_ANSWERING, QUEUE, SERVICES, KEY_CREDENTIAL, STORE,
          AUDIT_CHAIN, PACKAGES)

# What each failed check means to a nurse (the kiosk), in Swedish; the remedy is the
# kiosk's hint (appliance.adapters.web.kiosk_text, "hint.fault.selftest").
SWEDISH_NAMES = {
    CUPSD_CONFIG: "utskriftssystemets inställningar",
    CUPSD_ANSWERING: "utskriftssystemet svarar inte",
    QUEUE: "skrivarkön",
    SERVICES: "apparatens tjänster",
    KEY_CREDENTIAL: "apparatens nyckel",
    STORE: "listornas lagring",
    AUDIT_CHAIN: "loggboken",
    PACKAGES: "en ofullständig uppdatering",
}

# The queue conditions that are the set-up's fault, not the printer's: the check fails.
QUEUE_FAULTS = (Condition.NO_PRINTER, Condition.NOT_ACCEPTING, Condition.PAUSED)


class CheckFailed(ApplianceError, RuntimeError):
    """A check found a problem; the message says what and what to do, safe to show IT."""


Probe = Callable[[], str]  # a short detail on success; raises CheckFailed


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


@dataclass(frozen=True)
class SelftestResult:
    at: datetime
    checks: tuple[CheckResult, ...]
    reboot_required: bool = False
    reboot_packages: tuple[str, ...] = ()  # /run/reboot-required.pkgs: why, for IT

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def failed(self) -> tuple[str, ...]:
        return tuple(check.name for check in self.checks if not check.ok)

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "at": isoformat_utc(self.at), "failed": list(self.failed),
                "checks": [check.to_json() for check in self.checks],
                "reboot_required": self.reboot_required,
                "reboot_packages": list(self.reboot_packages)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SelftestResult:
        """Raises KeyError, TypeError or ValueError on a file of another shape."""
        checks = tuple(CheckResult(str(c["name"]), c["ok"] is True, str(c["detail"]))
                       for c in data["checks"])
        return cls(parse_iso(data["at"]), checks, data.get("reboot_required") is True,
                   tuple(str(p) for p in data.get("reboot_packages") or ()))


def run(probes: Iterable[tuple[str, Probe]], now: datetime, *,
        reboot_required: bool = False, reboot_packages: Sequence[str] = ()) -> SelftestResult:
    """Run every probe, whatever the others found: IT wants every problem named at once. A
    probe that fails otherwise than with `CheckFailed` (a bug, an unexpected error) fails
    its check with the error's type and message."""
    results = []
    for name, probe in probes:
        try:
            results.append(CheckResult(name, True, bounded_text(probe(), MAX_DETAIL_CHARS)))
        except CheckFailed as exc:
            results.append(CheckResult(name, False, bounded_text(str(exc), MAX_DETAIL_CHARS)))
        except Exception as exc:  # a check that crashes has failed, named
            detail = f"{type(exc).__name__}: {exc}"
            results.append(CheckResult(name, False, bounded_text(detail, MAX_DETAIL_CHARS)))
    return SelftestResult(now, tuple(results), reboot_required, tuple(reboot_packages))


# -- the probes on the appliance's own parts ---------------------------------------------


def core_probes(services: Services) -> dict[str, Probe]:
    """The checks of the parts `Services` holds: the printer port (cupsd and the queue),
    the key, the store and the audit chain."""
    printer_report = functools.cache(services.printer.report)  # one question for both

    return {
        CUPSD_ANSWERING: lambda: _cupsd_answering(printer_report()),
        QUEUE: lambda: _queue(printer_report()),
        KEY_CREDENTIAL: lambda: _key(services),
        STORE: lambda: _store(services),
        AUDIT_CHAIN: lambda: _audit(services),
    }


def _cupsd_answering(report) -> str:
    if report.condition is Condition.CUPS_UNREACHABLE:
        raise CheckFailed(f"cupsd does not answer ({report.detail or report.english}): "
                          "`systemctl status cups`, `journalctl -u cups`")
    return "cupsd answers"


def _queue(report) -> str:
    queue = report.queue or "(default)"
    if report.condition is Condition.CUPS_UNREACHABLE:
        raise CheckFailed(f"queue {queue}: cannot ask, cupsd does not answer")
    if report.condition in QUEUE_FAULTS:
        raise CheckFailed(f"queue {queue}: {report.english}: `lpstat -p -a`; "
                          f"`cupsenable {queue}` and `cupsaccept {queue}` as root, or "
                          "apply the Ansible role again")
    return f"queue {queue} present and accepting ({report.english})"


def _key(services: Services) -> str:
    try:
        key = services.private_key
    except Exception as exc:  # KeyFileError, OSError: the message is the fix
        raise CheckFailed(f"the private key cannot be read: {exc}") from None
    return f"private key readable ({key.public_key().suite.name})"


def _store(services: Services) -> str:
    try:
        services.store.check_health()
        count = len(services.store.snapshots())
    except Exception as exc:  # StoreError, and what the index reader raises
        raise CheckFailed(f"{exc}: `appliance audit verify`; docs/storage-and-audit.md") from None
    return f"store usable, {count} snapshot(s) readable"


def _audit(services: Services) -> str:
    report = services.audit.verify()
    if not report.ok:
        raise CheckFailed(f"audit log does not verify: {'; '.join(report.problems[:3])} "
                          "(`appliance audit verify` lists every problem)")
    return f"audit chain verifies ({report.entries} entries)"


# -- the last result, shared by every process ---------------------------------------------


def _state_file(state_dir: Path) -> StateFile:
    return StateFile(Path(state_dir) / STATE_FILE, STATE_VERSION, mode=FILE_MODE)


@dataclass
class SelftestState:
    result: SelftestResult | None = None
    alerted: list[str] | None = None  # the failed checks last alerted ([]: passed; None: none yet)
    queue: AlertQueue = field(default_factory=AlertQueue)

    @classmethod
    def load(cls, state_dir: Path, *, quiet: bool = False) -> SelftestState:
        """`quiet` readers (status, read every second) take a damaged file as no result;
        the others move it aside (the next check writes a new one) and log it."""
        state_file = _state_file(state_dir)
        try:
            data = (state_file.load() if quiet else
                    state_file.load_or_set_aside("the last self-check is forgotten"))
        except StateFileError:
            if not quiet:
                raise
            data = None
        if data is None:
            return cls()
        try:
            result = SelftestResult.from_json(data["result"]) if data.get("result") else None
        except (KeyError, TypeError, ValueError):
            result = None
        alerted = data.get("alerted")
        return cls(result, [str(name) for name in alerted] if isinstance(alerted, list) else None,
                   AlertQueue.from_json(data.get("queue")))

    def to_dict(self) -> dict[str, Any]:
        return {"result": self.result.to_json() if self.result else None,
                "alerted": self.alerted, "queue": self.queue.to_json()}

    def save(self, state_dir: Path) -> None:
        _state_file(state_dir).save(self.to_dict())


def read_selftest(state_dir: Path) -> SelftestResult | None:
    """The last recorded result, or None (never run here: a development machine; or a
    damaged file, which the next check replaces). Read without the lock: the file is
    replaced atomically."""
    return SelftestState.load(state_dir, quiet=True).result


def record_selftest(state_dir: Path, result: SelftestResult) -> None:
    """Keep `result` as the last one, for every process to see."""
    state_dir = Path(state_dir)
    with exclusive_lock(state_dir / LOCK_FILE):
        state = SelftestState.load(state_dir)
        state.result = result
        state.save(state_dir)


class SelftestAlerts:
    """One webhook alert per change of the outcome: `selftest_failed` (naming the failed
    checks, and again if the set of failed checks changes) and `selftest_passed` once it
    passes again. The first result ever alerts only if it failed. Run by the check itself
    right after recording and by the jobs service every half minute (retries)."""

    def __init__(self, services: Services, poster: AlertPoster | None) -> None:
        self.services = services
        self.poster = poster

    def evaluate(self) -> dict[str, Any] | None:
        """Queue the alert the last result calls for, deliver what waits; return the alert
        queued (None otherwise). Webhook failures are logged and retried, never raised."""
        state_dir = self.services.config.state_dir
        now = self.services.clock.now()
        with exclusive_lock(state_dir / LOCK_FILE):
            state = SelftestState.load(state_dir)
            before = copy.deepcopy(state.to_dict())
            alert = self._alert_for(state)
            if alert is not None and self.poster is not None:
                state.queue.add(alert, now)
            state.queue.settle(self.poster, now, changed=state.to_dict() != before,
                               save=lambda: state.save(state_dir), retry_seconds=RETRY_SECONDS)
        return alert

    def _alert_for(self, state: SelftestState) -> dict[str, Any] | None:
        result = state.result
        if result is None or (state.alerted is not None
                              and tuple(state.alerted) == result.failed):
            return None
        first = state.alerted is None
        state.alerted = list(result.failed)
        if first and result.ok:
            return None  # all well from the start: nothing to tell
        return self._alert(result)

    def _alert(self, result: SelftestResult) -> dict[str, Any]:
        config = self.services.config
        if result.ok:
            message = "The appliance's self-check passes again."
            log.info("self-check passes again")
        else:
            details = "; ".join(f"{c.name}: {c.detail}" for c in result.checks if not c.ok)
            message = f"The appliance's self-check failed: {details}"
            log.error("self-check failed: %s", details)
        return {"event": PASSED_EVENT if result.ok else FAILED_EVENT,
                "appliance": config.name, "failed": list(result.failed),
                "checked_at": isoformat_utc(result.at),
                "reboot_required": result.reboot_required, "message": message}

