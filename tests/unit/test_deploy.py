"""The deployment files: well-formed, health-checked, least-privileged, in step with the code."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from opendeur import keys, natsauth
from opendeur.embedded import NatsCluster
from opendeur.settings import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SERVICES = ("intake", "routing", "notify", "audit")


def k8s_docs() -> list[dict]:
    docs = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def test_every_manifest_has_the_basic_kubernetes_shape() -> None:
    docs = k8s_docs()
    assert docs
    for d in docs:
        if "config" in d:  # the NATS Helm values file
            continue
        assert {"apiVersion", "kind", "metadata"} <= set(d), d
        assert d["metadata"].get("name")


def test_each_service_deployment_probes_healthz_and_runs_unprivileged() -> None:
    deployments = {d["metadata"]["name"]: d for d in k8s_docs() if d.get("kind") == "Deployment"}
    assert set(deployments) == set(SERVICES)
    for name, d in deployments.items():
        spec = d["spec"]["template"]["spec"]
        container = spec["containers"][0]
        assert container["args"] == ["serve", name]
        for probe in ("readinessProbe", "livenessProbe"):
            assert container[probe]["httpGet"]["path"] == "/healthz"
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        env = {e["name"] for e in container["env"]}
        assert not {"OPENDEUR_SECRET_KEY", "OPENDEUR_SECRET_KEY_FILE"} & env  # no root secret
        assert not {"OPENDEUR_DATABASE_URL", "OPENDEUR_DATABASE_URL_FILE"} & env  # nor the owner


def test_each_deployment_mounts_only_its_own_secret_readable_by_its_group() -> None:
    """The files the code says a service gets (keys.secret_file_names), from a Secret of its own,
    mounted as the kubelet makes them for fsGroup: root:10001 0440 (the secret-file rule's case)."""
    docs = k8s_docs()
    deployments = {d["metadata"]["name"]: d for d in docs if d.get("kind") == "Deployment"}
    examples = {
        d["metadata"]["name"]: set(d["stringData"]) for d in docs if d.get("kind") == "Secret"
    }
    for name, d in deployments.items():
        spec = d["spec"]["template"]["spec"]
        assert spec["securityContext"]["fsGroup"] == spec["securityContext"]["runAsUser"] == 10001
        [volume] = spec["volumes"]
        assert volume["secret"] == {"secretName": f"opendeur-{name}", "defaultMode": 0o440}
        [mount] = spec["containers"][0]["volumeMounts"]
        files = {
            e["name"]: e["value"]
            for e in spec["containers"][0]["env"]
            if e["name"].endswith("_FILE")
        }
        own = keys.secret_file_names(name)
        assert files == {f"OPENDEUR_{n.upper()}_FILE": f"{mount['mountPath']}/{n}" for n in own}
        assert examples[f"opendeur-{name}"] == set(own), name
        for other in (s for s in SERVICES if s != name):
            assert not any(other in f for f in files), (name, other)
    job = next(d for d in docs if d.get("kind") == "Job")
    env = {e["name"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert "OPENDEUR_DATABASE_URL_FILE" in env and "OPENDEUR_SECRET_KEY_FILE" not in env
    assert (
        job["spec"]["template"]["spec"]["volumes"][0]["secret"]["secretName"] == "opendeur-migrate"
    )


def test_only_intake_is_open_to_everyone() -> None:
    policies = [d for d in k8s_docs() if d.get("kind") == "NetworkPolicy"]
    open_to_all = [
        p for p in policies if any("from" not in rule for rule in p["spec"].get("ingress", []))
    ]
    assert [
        p["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/name"] for p in open_to_all
    ] == ["intake"]
    assert any(
        p["spec"]["podSelector"] == {} and p["spec"]["policyTypes"] == ["Ingress"] for p in policies
    )


def test_compose_services_have_health_checks_and_restart_policies() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    for name in (*SERVICES, "nats-1", "nats-2", "nats-3", "postgres"):
        assert "healthcheck" in services[name], name
        assert services[name]["restart"] == "unless-stopped", name
    for name in SERVICES:
        assert services[name]["command"] == ["serve", name]
        assert services[name]["environment"]["OPENDEUR_NATS_USER"] == name


def test_compose_gives_each_service_only_its_own_secret_files() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services, secrets = compose["services"], compose["secrets"]
    assert "secret_key" not in str(compose).lower()
    for name in SERVICES:
        own = keys.secret_file_names(name)
        mounted = services[name]["secrets"]
        assert [m["target"] for m in mounted] == own
        for m in mounted:
            assert m["source"].startswith(f"{name}_")
            assert secrets[m["source"]]["file"] == f"./secrets/{name}/{m['target']}"
        env = services[name]["environment"]
        files = {k: v for k, v in env.items() if k.endswith("_FILE")}
        assert files == {f"OPENDEUR_{n.upper()}_FILE": f"/run/secrets/{n}" for n in own}
    assert "OPENDEUR_DATABASE_URL_FILE" in services["migrate"]["environment"]


def test_nats_cluster_is_three_nodes_with_fsync_always() -> None:
    confs = sorted((DEPLOY / "nats").glob("nats-*.conf"))
    assert len(confs) == 3
    for conf in confs:
        text = conf.read_text()
        assert "sync_interval: always" in text and "include ./authorization.conf" in text
        assert text.count("nats://nats-") == 3


def _nats_facts(conf: str, includes: Path | None = None) -> dict:
    """What must agree between deploy/nats/ and the local cluster of `opendeur up --cluster`."""
    if includes is not None:
        for name in re.findall(r"^include \./(\S+)$", conf, re.M):
            conf += "\n" + (includes / name).read_text()
    routes = re.search(r"routes: \[(.*?)\]", conf, re.S)
    return {
        "server_name": re.search(r"^server_name: (\S+)$", conf, re.M).group(1),
        "max_payload": re.search(r"^max_payload: (\S+)$", conf, re.M).group(1),
        "sync_interval": re.search(r"sync_interval: (\S+)", conf).group(1),
        "cluster": re.search(r"cluster \{\s*name: (\S+)", conf).group(1),
        "routes": routes.group(1).count("://") if routes else 0,
        "users": sorted(re.findall(r'\{user: "([^"]+)"', conf)),
    }


def test_the_local_cluster_of_opendeur_up_matches_deploy_nats(tmp_path: Path) -> None:
    deployed = [
        _nats_facts(p.read_text(), DEPLOY / "nats")
        for p in sorted((DEPLOY / "nats").glob("nats-*.conf"))
    ]
    auth = natsauth.authorization_conf(Settings(secret_key="k" * 43))
    local = [
        _nats_facts(node.write_conf().read_text())
        for node in NatsCluster(tmp_path, extra_conf=auth).nodes
    ]
    assert local == deployed
    assert deployed[0]["users"] == sorted([natsauth.ADMIN_USER, *SERVICES])
    assert {d["server_name"] for d in deployed} == {f"opendeur-nats-{i}" for i in (1, 2, 3)}


def test_nats_accounts_file_is_generated_from_the_contracts() -> None:
    checked_in = (DEPLOY / "nats" / "authorization.conf").read_text()
    header = "# Generated by `python -m opendeur.natsauth` from contracts/: do not edit by hand.\n"
    assert checked_in == header + natsauth.authorization_conf(), (
        "run: python -m opendeur.natsauth > deploy/nats/authorization.conf"
    )
    assert "question.routed.v1" not in natsauth.permissions("intake")["publish"]["allow"]
    assert not natsauth.owned_subjects("audit")
