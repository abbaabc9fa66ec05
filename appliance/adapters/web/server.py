"""Run the web app under gunicorn, on a Unix socket behind nginx, from `appliance serve`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from flask import Flask
from gunicorn.app.base import BaseApplication
from werkzeug.middleware.proxy_fix import ProxyFix

from appliance.core.config.settings import ApplianceConfig

# Who may connect to the socket: the owner and its group (the proxy), nobody else.
SOCKET_UMASK = 0o007


class _Gunicorn(BaseApplication):
    def __init__(self, app_factory: Callable[[], Flask], options: dict) -> None:
        self.app_factory = app_factory
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings:  # settings differ between gunicorn releases
                self.cfg.set(key, value)

    def load(self) -> Flask:
        return behind_proxy(self.app_factory())


def behind_proxy(app: Flask) -> Flask:
    """Make `request.remote_addr` the client nginx saw, from the X-Forwarded-For it sets.

    Trustworthy only because gunicorn listens on a Unix socket that nothing but nginx can
    reach, and nginx replaces (not extends) whatever X-Forwarded-For a client sends.
    gunicorn itself does not rewrite REMOTE_ADDR, and its `forwarded_allow_ips` does not
    apply to Unix-socket peers (it trusts them unconditionally).
    """
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=0, x_host=0, x_port=0,
                            x_prefix=0)
    return app


def serve(config: ApplianceConfig, socket_path: Path,
          app_factory: Callable[[], Flask] | None = None) -> None:
    """Serve on `socket_path` until stopped. Each worker builds its own app (and SQLite
    connections).

    nginx (`appliance proxy-config`) listens on the network, reads each request completely
    and only then passes it on, so sync workers never wait on a slow client. `app_factory`
    lets benchmarks serve a variant of the app under exactly the same server settings.
    """
    from appliance.adapters.web import create_app

    _Gunicorn(app_factory or (lambda: create_app(config)), {
        "bind": f"unix:{socket_path}",
        "umask": SOCKET_UMASK,
        "workers": config.web_workers,
        "worker_class": "sync",
        "timeout": config.web_timeout_seconds,
        "graceful_timeout": 10,
        "accesslog": "-",
        "errorlog": "-",
        "proc_name": "appliance-web",
        "control_socket_disable": True,  # gunicorn >= 25 would otherwise write under $HOME
    }).run()
