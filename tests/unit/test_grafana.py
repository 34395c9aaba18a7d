"""The example Grafana dashboard is valid JSON, and every metric it queries is one we export."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.unit.promql import FROM_ELSEWHERE, exported_names, metric_names

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "opendeur.json"


def panels(dashboard: dict) -> list[dict]:
    out = []
    for p in dashboard["panels"]:
        out.append(p)
        out.extend(p.get("panels", []))
    return [p for p in out if p.get("type") != "row"]


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def test_the_dashboard_is_grafana_json_with_a_prometheus_datasource_variable(dashboard) -> None:
    assert dashboard["title"] and dashboard["uid"] and dashboard["schemaVersion"] >= 30
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for p in panels(dashboard):
        assert p["datasource"]["uid"] == "${DS_PROMETHEUS}", p["title"]
        assert p["gridPos"]["w"] <= 24 and p["gridPos"]["x"] + p["gridPos"]["w"] <= 24


def test_every_panel_has_a_promql_expression(dashboard) -> None:
    assert len(panels(dashboard)) >= 10
    for p in panels(dashboard):
        assert p["targets"], p["title"]
        for t in p["targets"]:
            assert t["expr"].strip() and t["refId"], p["title"]
            assert t["expr"].count("(") == t["expr"].count(")"), t["expr"]


def test_every_metric_in_the_dashboard_is_exported(dashboard) -> None:
    exported = exported_names()
    assert "opendeur_handler_seconds_bucket" in exported
    assert "opendeur_audit_events_stored_total" in exported
    used = set()
    for p in panels(dashboard):
        for t in p["targets"]:
            names = metric_names(t["expr"])
            assert names, t["expr"]
            unknown = names - exported - set(FROM_ELSEWHERE)
            assert not unknown, f"{p['title']}: {sorted(unknown)} not defined"
            used |= names
    # The metrics the issue asks the dashboard to show.
    assert {
        "opendeur_http_requests_total",
        "opendeur_events_consumed_total",
        "opendeur_events_published_total",
        "opendeur_handler_seconds_bucket",
        "opendeur_outbox_backlog",
        "opendeur_redeliveries_total",
        "opendeur_dead_letters_total",
        "opendeur_notifications_sent_total",
        "opendeur_notifications_failed_total",
        "opendeur_escalations_total",
        "opendeur_deadline_breaches_total",
        "opendeur_audit_events_stored_total",
        "opendeur_audit_fields_dropped_total",
        "nats_consumer_num_pending",
        "up",
    } <= used


def test_the_metric_name_parser() -> None:
    expr = (
        "histogram_quantile(0.99, sum by (le, consumer) (rate(opendeur_handler_seconds_bucket"
        '{consumer="x"}[$__rate_interval]))) * 60'
    )
    assert metric_names(expr) == {"opendeur_handler_seconds_bucket"}
    assert metric_names("sum(rate(opendeur_nope_total[5m]))") == {"opendeur_nope_total"}


def test_every_query_parses_as_promql(dashboard, tmp_path) -> None:
    """promtool parses each query (as a recording rule; Grafana's $__ variables made concrete)."""
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is missing: apt-get install prometheus (.ci/run does)")
        pytest.skip("promtool not installed (Debian package prometheus)")
    exprs = [t["expr"] for p in panels(dashboard) for t in p["targets"]]
    rules = [
        {"record": f"dashboard:query_{i}", "expr": e.replace("$__rate_interval", "5m")}
        for i, e in enumerate(exprs)
    ]
    path = tmp_path / "dashboard-rules.yaml"
    path.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout
    path.write_text(path.read_text().replace("sum by (", "sum by ((", 1))  # a typo fails it
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
