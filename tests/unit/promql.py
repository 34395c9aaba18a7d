"""Metric names in PromQL and the names our code exports, for the dashboard and alert tests."""

from __future__ import annotations

import re

from prometheus_client.metrics import MetricWrapperBase

import opendeur.metrics
import services.audit.handlers

# Where metrics are defined: the shared ones, and audit's own counters.
MODULES = (opendeur.metrics, services.audit.handlers)

# Series that dashboards and alerts read but our code does not define, and who makes them.
FROM_ELSEWHERE = {
    "up": "Prometheus, for every scrape target",
    # The NATS Helm chart's promExporter: prometheus-nats-exporter -jsz=all -prefix=nats.
    "nats_consumer_num_pending": "prometheus-nats-exporter next to each nats-server",
}

# Identifiers in a PromQL expression that are not metric names.
PROMQL_WORDS = {
    "sum", "rate", "irate", "increase", "by", "without", "histogram_quantile", "avg", "max",
    "min", "count", "le", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
    "bool", "offset", "topk", "bottomk", "delta", "deriv", "abs", "clamp_min", "clamp_max",
    "absent",
}  # fmt: skip


def exported_names() -> set[str]:
    """Every sample name our metrics expose, with the suffixes Prometheus adds by type."""
    suffixes = {
        "counter": ("_total",),
        "histogram": ("_bucket", "_sum", "_count"),
        "gauge": ("",),
        "summary": ("", "_sum", "_count"),
    }
    names = set()
    metrics = [m for mod in MODULES for m in vars(mod).values() if isinstance(m, MetricWrapperBase)]
    for metric in metrics:
        for family in metric.describe():
            names.update(family.name + s for s in suffixes.get(family.type, ("",)))
    return names


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads."""
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # range selectors
    expr = re.sub(r'"[^"]*"', "", expr)
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"[a-zA-Z_]\w*\s*\(", "(", expr)  # function calls
    words = set(re.findall(r"(?<![\w.$])[a-zA-Z_:][a-zA-Z0-9_:]*", expr))
    return {w for w in words - PROMQL_WORDS if not w.startswith("__")}
