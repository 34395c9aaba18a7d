"""Alerts that promtool accepts and whose unit tests pass, on metrics that exist, and a network
that lets Prometheus (and only Prometheus) scrape the services and NATS."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from tests.unit.promql import FROM_ELSEWHERE, exported_names, metric_names

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "rules.yaml"
RULES_TEST = ROOT / "deploy" / "prometheus" / "rules.test.yaml"
K8S = ROOT / "deploy" / "k8s"
SERVICES = {"intake": 8080, "routing": 8081, "notify": 8082, "audit": 8083}

# What the issue asks the alerts to cover.
REQUIRED_ALERTS = {
    "OpendeurDeadlineBreached": "opendeur_deadline_breaches_total",
    "OpendeurOutboxBacklog": "opendeur_outbox_backlog",
    "OpendeurConsumerLag": "nats_consumer_num_pending",
    "OpendeurDeadLetters": "opendeur_dead_letters_total",
    "OpendeurHttp5xx": "opendeur_http_requests_total",
    "OpendeurServiceDown": "up",
}


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is missing: apt-get install prometheus (.ci/run does)")
        pytest.skip("promtool not installed (Debian package prometheus)")
    return found


def rules() -> list[dict]:
    return [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]


def run_promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_promtool_checks_the_rules() -> None:
    result = run_promtool("check", "rules", str(RULES), cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout


def test_the_rules_unit_tests_pass() -> None:
    result = run_promtool("test", "rules", RULES_TEST.name, cwd=RULES_TEST.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_rules_unit_tests_catch_a_wrong_threshold(tmp_path: Path) -> None:
    """The unit tests are not vacuous: a 5xx alert at 50% instead of 5% fails them."""
    text = RULES.read_text()
    assert text.count("> 0.05") == 1
    (tmp_path / "rules.yaml").write_text(text.replace("> 0.05", "> 0.5"))
    (tmp_path / RULES_TEST.name).write_text(RULES_TEST.read_text())
    result = run_promtool("test", "rules", RULES_TEST.name, cwd=tmp_path)
    assert result.returncode != 0
    assert "OpendeurHttp5xx" in result.stdout + result.stderr


def test_every_alert_reads_metrics_that_exist_and_the_required_ones_are_there() -> None:
    exported = exported_names()
    by_name = {r["alert"]: r for r in rules()}
    for alert, metric in REQUIRED_ALERTS.items():
        assert metric in metric_names(by_name[alert]["expr"]), alert
    for rule in rules():
        names = metric_names(rule["expr"])
        assert names, rule["alert"]
        unknown = names - exported - set(FROM_ELSEWHERE)
        assert not unknown, f"{rule['alert']}: {sorted(unknown)} is exported by nothing"
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_every_alert_has_a_unit_test_that_fires_it() -> None:
    tested = yaml.safe_load(RULES_TEST.read_text())["tests"]
    fired = {
        case["alertname"]
        for t in tested
        for case in t.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert fired == {r["alert"] for r in rules()}


def k8s(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]


def test_the_prometheus_rule_manifest_carries_the_same_rules() -> None:
    (rule,) = [d for d in k8s("monitoring.yaml") if d["kind"] == "PrometheusRule"]
    assert rule["spec"] == yaml.safe_load(RULES.read_text())


def test_pod_monitors_scrape_every_service_and_the_nats_exporter_as_the_rules_expect() -> None:
    monitors = [d for d in k8s("monitoring.yaml") if d["kind"] == "PodMonitor"]
    scraped: dict[str, str] = {}
    for m in monitors:
        # The rules group by job = app.kubernetes.io/name.
        assert m["spec"]["jobLabel"] == "app.kubernetes.io/name"
        selector = m["spec"]["selector"]
        port = m["spec"]["podMetricsEndpoints"][0]["port"]
        for app in (*SERVICES, "nats"):
            if matches(selector, {"app.kubernetes.io/name": app}):
                scraped[app] = port
    assert scraped == {**dict.fromkeys(SERVICES, "http"), "nats": "prom-metrics"}
    (services,) = [m for m in monitors if m["metadata"]["name"] == "opendeur-services"]
    auth = services["spec"]["podMetricsEndpoints"][0]["authorization"]
    assert auth["type"] == "Bearer" and auth["credentials"]["key"]  # /metrics wants the token


def test_every_manifest_validates_strictly_against_kubernetes() -> None:
    """kubernetes-validate --strict, as CI's check of deploy/k8s (unknown fields are errors)."""
    checked = 0
    for path in sorted(K8S.glob("*.yaml")):
        for doc in k8s(path.name):
            if "apiVersion" not in doc:
                continue  # nats-values.yaml: Helm values, not a manifest
            if doc["apiVersion"].startswith("monitoring.coreos.com/"):
                continue  # Prometheus Operator CRDs: kubernetes-validate has no schema for them
            kubernetes_validate.validate(doc, "1.33", strict=True)
            checked += 1
    assert checked >= 15


def test_strict_validation_is_not_vacuous() -> None:
    (policy, *_) = k8s("networkpolicies.yaml")
    policy["spec"]["podSelectr"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(policy, "1.33", strict=True)


# A NetworkPolicy evaluator, as a CNI applies the policies of deploy/k8s/networkpolicies.yaml.


def matches(selector: dict, labels: dict[str, str]) -> bool:
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions", []):
        present = expr["key"] in labels
        value = labels.get(expr["key"])
        ok = {
            "In": present and value in expr.get("values", []),
            "NotIn": not present or value not in expr.get("values", []),
            "Exists": present,
            "DoesNotExist": not present,
        }[expr["operator"]]
        if not ok:
            return False
    return True


class Pod:
    def __init__(self, namespace: str, labels: dict[str, str], ports: dict[str, int]) -> None:
        self.namespace, self.labels, self.ports = namespace, labels, ports


def _peer_admits(peer: dict, source: Pod, policy_ns: str) -> bool:
    ns_labels = {"kubernetes.io/metadata.name": source.namespace}
    if "namespaceSelector" in peer:
        if not matches(peer["namespaceSelector"], ns_labels):
            return False
    elif source.namespace != policy_ns:
        return False
    return matches(peer.get("podSelector", {}), source.labels)


def _port_admits(rule: dict, target: Pod, port: int) -> bool:
    if "ports" not in rule:
        return True
    names = {n for n, v in target.ports.items() if v == port}
    return any(p["port"] == port or p["port"] in names for p in rule["ports"])


def reachable(policies: list[dict], source: Pod, target: Pod, port: int) -> bool:
    selecting = [
        p
        for p in policies
        if p["metadata"]["namespace"] == target.namespace
        and matches(p["spec"]["podSelector"], target.labels)
        and "Ingress" in p["spec"].get("policyTypes", ["Ingress"])
    ]
    if not selecting:
        return True
    for policy in selecting:
        namespace = policy["metadata"]["namespace"]
        for rule in policy["spec"].get("ingress", []):
            peers = rule.get("from")
            from_ok = peers is None or any(_peer_admits(x, source, namespace) for x in peers)
            if from_ok and _port_admits(rule, target, port):
                return True
    return False


def service_pod(name: str) -> Pod:
    return Pod(
        "opendeur",
        {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "opendeur"},
        {"http": SERVICES[name]},
    )


NATS = Pod(
    "opendeur",
    {"app.kubernetes.io/name": "nats", "app.kubernetes.io/part-of": "opendeur"},
    {"client": 4222, "cluster": 6222, "monitor": 8222, "prom-metrics": 7777},
)
PROMETHEUS = Pod("monitoring", {"app.kubernetes.io/name": "prometheus"}, {})


@pytest.fixture(scope="module")
def policies() -> list[dict]:
    docs = k8s("networkpolicies.yaml")
    assert all(d["kind"] == "NetworkPolicy" for d in docs)
    return docs


def test_prometheus_scrapes_every_service_and_nats(policies) -> None:
    for name, port in SERVICES.items():
        assert reachable(policies, PROMETHEUS, service_pod(name), port), name
    assert reachable(policies, PROMETHEUS, NATS, 7777)
    assert reachable(policies, PROMETHEUS, NATS, 8222)


@pytest.mark.parametrize(
    "source",
    [
        Pod("monitoring", {"app.kubernetes.io/name": "grafana"}, {}),  # its neighbour
        Pod("default", {"app.kubernetes.io/name": "prometheus"}, {}),  # a look-alike elsewhere
        Pod("opendeur", {"app.kubernetes.io/name": "prometheus"}, {}),  # ... or in opendeur
    ],
    ids=["grafana-in-monitoring", "prometheus-label-in-default", "prometheus-label-in-opendeur"],
)
def test_nothing_else_reaches_the_scrape_ports(policies, source: Pod) -> None:
    assert not reachable(policies, source, service_pod("notify"), 8082)
    assert not reachable(policies, source, NATS, 8222)
    assert not reachable(policies, source, NATS, 7777)
    assert not reachable(policies, source, NATS, 4222)


def test_prometheus_gets_nothing_but_the_scrape_ports(policies) -> None:
    assert not reachable(policies, PROMETHEUS, NATS, 4222)
    assert not reachable(policies, PROMETHEUS, NATS, 6222)
    assert not reachable(policies, PROMETHEUS, service_pod("notify"), 9000)


def test_the_rest_of_the_network_is_as_before(policies) -> None:
    outsider = Pod("default", {"app": "anything"}, {})
    ingress = Pod("ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"}, {})
    for name, port in SERVICES.items():
        assert reachable(policies, outsider, service_pod(name), port) == (name == "intake")
        assert reachable(policies, ingress, service_pod(name), port) == (name != "notify")
        assert reachable(policies, service_pod("intake"), service_pod(name), port) == (
            name != "notify"
        )
    for source in (outsider, ingress):
        assert not any(reachable(policies, source, NATS, p) for p in NATS.ports.values())
    assert reachable(policies, service_pod("notify"), NATS, 4222)
    assert not reachable(policies, service_pod("notify"), NATS, 8222)
    assert reachable(policies, NATS, NATS, 6222)
