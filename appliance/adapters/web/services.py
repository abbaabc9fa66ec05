"""The request's `Services`: one per app, built by `create_app`, shared by the blueprints.

Its own module (as flaskr's `db.py`), so the blueprints (`api`, `kiosk`, `metrics`) import
it from here and not from each other.
"""

from __future__ import annotations

from flask import Flask, current_app

from appliance.core.services import Services

SERVICES_KEY = "appliance.core.services"


def attach(app: Flask, parts: Services) -> None:
    """Make `parts` the app's services (once, in `create_app`)."""
    app.extensions[SERVICES_KEY] = parts


def services() -> Services:
    """The current app's services."""
    return current_app.extensions[SERVICES_KEY]
