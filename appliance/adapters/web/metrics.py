"""`/metrics`: Prometheus text format for monitoring (see docs/alerts-and-metrics.md)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app

from appliance.adapters.web.services import services
from appliance.core.watch.metrics import CONTENT_TYPE, AuditTally, collect, render

bp = Blueprint("metrics", __name__)
TALLY_KEY = "appliance.audit_tally"


@bp.get("/metrics")
def metrics():
    svc = services()
    # One tally per worker process, kept for the app's life: each scrape reads only the
    # audit lines appended since the last one.
    tally = current_app.extensions.setdefault(TALLY_KEY, AuditTally(svc.audit.path))
    families = collect(svc, tally, svc.clock_reading(), svc.printer.report())
    return Response(render(families), content_type=CONTENT_TYPE)
