"""`/metrics`: the core's figures (`core.watch.metrics`) in the Prometheus text format, which
prometheus_client writes (escaping included) through a custom collector on a private
registry; see docs/alerts-and-metrics.md."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from flask import Blueprint, Response, current_app
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from appliance.adapters.web.services import services
from appliance.core.watch.metrics import AuditTally, Family, collect, tally_checkpoint

try:  # 0.23 and later: CONTENT_TYPE_LATEST names format 1.0.0, which generate_latest does
    # not write unless asked; the format it writes by default (0.0.4) has this name
    from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4 as CONTENT_TYPE
except ImportError:  # 0.16 (Debian 12) to 0.22: the same string, as CONTENT_TYPE_LATEST
    from prometheus_client.exposition import CONTENT_TYPE_LATEST as CONTENT_TYPE

bp = Blueprint("metrics", __name__)
TALLY_KEY = "appliance.audit_tally"
_FAMILY_TYPES = {"gauge": GaugeMetricFamily, "counter": CounterMetricFamily}


class FamiliesCollector(Collector):
    """The core's metric families of one scrape as prometheus_client's."""

    def __init__(self, families: Iterable[Family]) -> None:
        self.families = list(families)

    def collect(self) -> Iterator[Metric]:
        for family in self.families:
            label_names = list(family.samples[0][0]) if family.samples else []
            # prometheus_client names a counter family without `_total` and adds it to the
            # family's samples, HELP and TYPE lines: the exposed name stays `family.name`.
            name = family.name
            if family.type == "counter":
                name = name.removesuffix("_total")
            metric = _FAMILY_TYPES[family.type](name, family.help, labels=label_names)
            for labels, value in family.samples:
                metric.add_metric([labels[label] for label in label_names], value)
            yield metric


def render(families: Iterable[Family]) -> str:
    """The families in the text exposition format 0.0.4 (`CONTENT_TYPE`)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FamiliesCollector(families))
    return generate_latest(registry).decode("utf-8")


@bp.get("/metrics")
def metrics():
    svc = services()
    # One tally per worker process, kept for the app's life: each scrape reads only the
    # audit lines appended since the last one; a new worker resumes from the checkpoint.
    tally = current_app.extensions.get(TALLY_KEY)
    if tally is None:
        tally = current_app.extensions.setdefault(TALLY_KEY, AuditTally(
            svc.audit.path, tally_checkpoint(svc.config.state_dir)))
    families = collect(svc, tally, svc.clock_reading(), svc.printer.report())
    return Response(render(families), content_type=CONTENT_TYPE)
