"""The appliance's web service: ingest API, status and health (Flask app factory)."""

from __future__ import annotations

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from appliance.core.clock import Clock
from appliance.core.config import ApplianceConfig
from appliance.core.services import Services

SERVICES_KEY = "appliance.core.services"


def create_app(config: ApplianceConfig, clock: Clock | None = None) -> Flask:
    from appliance.adapters.web import api, metrics

    app = Flask(__name__)
    app.json.ensure_ascii = False  # Swedish titles as UTF-8, not \u escapes
    app.extensions[SERVICES_KEY] = Services(config, clock)
    app.register_blueprint(api.bp)
    app.register_blueprint(metrics.bp)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        error = (exc.name or "error").lower().replace(" ", "_")
        return jsonify(error=error, message=exc.description or exc.name), exc.code

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        # Logged with its trace by Flask; the client gets no detail that could carry data.
        app.logger.exception("unexpected error while handling a request")
        return jsonify(error="internal", message="internal error; see the appliance's log"), 500

    return app
