"""The nginx config that fronts the web service, rendered from the appliance config.

nginx (Debian's) reads every request completely, with header and body timeouts, before it
hands it to gunicorn on a Unix socket: a slow or broken client on the LAN costs nginx one
idle connection and never a gunicorn worker. The config comes from one template,
templates/nginx/appliance.conf.j2, for production (systemd), the tests, the benches and the
demo alike. Why nginx, and what was measured: docs/decisions.md.
"""

from __future__ import annotations

from pathlib import Path

from appliance.core.base import templating
from appliance.core.base.fsutil import atomic_write
from appliance.core.config.settings import ApplianceConfig
from appliance.core.intake.ingest import ENVELOPE_OVERHEAD

TEMPLATE = "nginx/appliance.conf.j2"
# One nginx worker; a proxied request holds two connections (client and gunicorn).
WORKER_CONNECTIONS = 1024


def listen_address(host: str, port: int) -> str:
    """nginx's `listen` argument: IPv6 addresses go in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def render_nginx_config(config: ApplianceConfig, work_dir: Path) -> str:
    """nginx's config for `config`; nginx keeps its pid and temporary files in `work_dir`."""
    return templating.render(
        TEMPLATE,
        source=config.source,
        work_dir=work_dir,
        listen=listen_address(config.web_host, config.web_port),
        socket=config.web_socket,
        worker_connections=WORKER_CONNECTIONS,
        header_timeout=config.web_header_timeout_seconds,
        body_timeout=config.web_body_timeout_seconds,
        max_connections_per_client=config.web_max_connections_per_client,
        max_body_bytes=config.max_snapshot_bytes + ENVELOPE_OVERHEAD,
        upstream_timeout=config.web_timeout_seconds,
        metrics_allow=config.web_metrics_allow,
    )


def write_nginx_config(config: ApplianceConfig, output: Path) -> None:
    """Write the config to `output`; its folder becomes nginx's working folder."""
    work_dir = output.resolve().parent
    work_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(output, render_nginx_config(config, work_dir).encode())
