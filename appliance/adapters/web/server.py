"""Run the web app under gunicorn, the production WSGI server, from `appliance serve`."""

from __future__ import annotations

import contextlib
import subprocess
import time
import urllib.request
from collections.abc import Callable

from flask import Flask
from gunicorn.app.base import BaseApplication

from appliance.core.config import ApplianceConfig


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
        return self.app_factory()


def serve(config: ApplianceConfig, host: str, port: int,
          app_factory: Callable[[], Flask] | None = None) -> None:
    """Serve until stopped. Each worker builds its own app (and SQLite connections).

    Sync workers read a request's body only when the app asks for it, so an oversized
    snapshot is refused by its Content-Length before its bytes are read, and the connection
    is closed after each response. `app_factory` lets benchmarks serve a variant of the app
    under exactly the same server settings.
    """
    from appliance.adapters.web import create_app

    _Gunicorn(app_factory or (lambda: create_app(config)), {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": config.web_workers,
        "worker_class": "sync",
        "timeout": config.web_timeout_seconds,
        "graceful_timeout": 10,
        "accesslog": "-",
        "errorlog": "-",
        "proc_name": "appliance-web",
        "no_control_socket": True,  # gunicorn >= 25 would otherwise write under $HOME
    }).run()


def wait_until_serving(base_url: str, process: subprocess.Popen, timeout: float = 30) -> None:
    """Wait for a just-started `appliance serve` to answer /healthz (demo, tests, benches).

    Raises RuntimeError if the process exits or the deadline passes first.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with status {process.returncode}")
        with contextlib.suppress(OSError), urllib.request.urlopen(
                base_url + "/healthz", timeout=1) as response:
            if response.status == 200:
                return
        time.sleep(0.05)
    raise RuntimeError(f"the server did not answer within {timeout:.0f} s")
