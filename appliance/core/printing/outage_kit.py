"""The kit printed by itself at the start of a planned outage (`outage.print_kit_at_start`).

The routine has units print lists before a planned outage begins; printed days ahead they
are days old when needed. With `print_kit_at_start = true` the `jobs` service prints the
kit of `outage.kit_profile` as the window begins, from the fresh set the senders pushed
at T−30 min, through the one print service, audited `printed` with trigger
`planned-outage` (and `outage_kit` naming the window, for the after-outage report).

At most one kit per window, across restarts and processes: the window's kit is claimed in
`planned-outages.json` before the kit is composed (`OutagePlan.claim_kit`). A `jobs` that
starts late inside the window prints then, once; after the window has ended nothing is
printed. A kit the printer did not take (unavailable, or a nurse's kit on its way) is tried
again at the next turns, `MAX_KIT_ATTEMPTS` times at most; a crash between the claim and
CUPS loses that kit rather than risk a second one (docs/decisions.md, "Planned outages").
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from appliance.core.printing.print_service import Busy, PrintService
from appliance.core.printing.printer import PrinterUnavailable
from appliance.core.records.planned_outages import OutagePlan, PlannedWindow

if TYPE_CHECKING:  # the type only: services.py is above every wing
    from appliance.core.services import Services

log = logging.getLogger(__name__)

TRIGGER = "planned-outage"
EVENT = "outage_kit"


class OutageKit:
    def __init__(self, services: Services, print_service: PrintService | None = None) -> None:
        self.services = services
        self.plan = OutagePlan(services.config)
        self._print_service = print_service

    def evaluate(self) -> PlannedWindow | None:
        """Print the kit of a window under way that has none yet; the window whose kit was
        handed to the printer, or None. Off unless `outage.print_kit_at_start`."""
        config = self.services.config
        if not config.outage.print_kit_at_start:
            return None
        now = self.services.clock.now()
        ongoing = [w for w in self.plan.windows() if w.ongoing(now)]
        for window in ongoing:
            if self.plan.claim_kit(window, now, ongoing):
                return window if self._print(window) else None
        return None

    def _print(self, window: PlannedWindow) -> bool:
        service = self._print_service or PrintService(self.services)
        profile = self.services.config.outage.kit_profile
        try:
            outcome = service.request(profile, TRIGGER)
        except PrinterUnavailable as exc:
            log.warning("the planned outage %s kit was not printed (%s); trying again at "
                        "the next turn", window.id, exc.condition)
            self.plan.settle_kit(window.id, "printer_unavailable", retry=True)
            return False
        if isinstance(outcome, Busy):
            log.info("the planned outage %s kit waits: %s", window.id, outcome.reason)
            self.plan.settle_kit(window.id, "busy", retry=True)
            return False
        self.plan.settle_kit(window.id, "printed", job=outcome.job_id)
        try:
            self.services.audit.append(EVENT, window=window.id, job=outcome.job_id,
                                       profile=profile, trigger=TRIGGER)
        except Exception:  # the log's own failure is logged; the kit is printed
            log.exception("audit log could not record %s", EVENT)
        log.info("planned outage %s: kit printed by itself (job %s)", window.id,
                 outcome.job_id)
        return True
