"""The appliance's web service: ingest API, status and health, the kiosk screen (Flask app
factory)."""

from __future__ import annotations

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from appliance.adapters.timesync import kernel_synchronised
from appliance.adapters.web import services as web_services
from appliance.core.base.clock import Clock
from appliance.core.config.settings import ApplianceConfig
from appliance.core.intake.store import StoreError
from appliance.core.printing.printer import Printer
from appliance.core.services import Services
from appliance.core.time.clock_trust import SyncState


def create_app(config: ApplianceConfig, *, printer: Printer | None = None,
               clock: Clock | None = None, clock_sync: SyncState | None = None) -> Flask:
    """The web app with its parts passed in (as flaskr and gpiozero's pin factories do):
    without a `printer`, the CUPS queue the config names; without a `clock`, the system's,
    judged by the kernel's synchronisation state. An injected `clock` comes with its own
    `clock_sync`, or none (then only `clock.has_rtc` makes it trusted)."""
    from appliance.adapters.web import api, kiosk, metrics

    if printer is None:
        from appliance.adapters.cups import printer_for

        printing = config.printing
        printer = printer_for(printing.queue, printing.options,
                              stalled_after_seconds=printing.stalled_after_seconds)
    app = Flask(__name__)
    app.json.ensure_ascii = False  # Swedish titles as UTF-8, not \u escapes
    if clock is None and clock_sync is None:
        clock_sync = kernel_synchronised
    web_services.attach(app, Services(config, clock, printer=printer, clock_sync=clock_sync))
    app.register_blueprint(api.bp)
    app.register_blueprint(metrics.bp)
    app.register_blueprint(kiosk.bp)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        error = (exc.name or "error").lower().replace(" ", "_")
        return jsonify(error=error, message=exc.description or exc.name), exc.code

    @app.errorhandler(StoreError)
    def store_error(exc: StoreError):
        # The index or the disk: the operator reads which snapshot in the journal; the
        # network gets the rule only (a 503, as /healthz gives), never the detail.
        app.logger.error("store error while handling a request: %s", exc)
        return jsonify(error="store_unreadable",
                       message="the appliance's store cannot be read; see its log"), 503

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        # Logged with its trace by Flask; the client gets no detail that could carry data.
        app.logger.exception("unexpected error while handling a request")
        return jsonify(error="internal", message="internal error; see the appliance's log"), 500

    return app
