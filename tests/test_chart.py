"""The generated Helm chart and Dockerfile, checked with the real tools.

For each source dialect the chart is rendered once per variant (the defaults with
the shared state and output several workers need, the chart's ci/ values files, and
each option on) and then:

- ``helm lint --strict`` and ``helm template`` (helm from PATH or ``scripts/fetch-helm.sh``);
- ``kubernetes-validate --strict`` against Kubernetes 1.30 and 1.33;
- ``checkov`` (kubernetes + dockerfile), offline, in one run over everything;
- invariant asserts: HA, probes, hardening, drain budget, no secret values;
- refusals: several workers on the default (per-pod) state store or output never render.

No cluster is involved: this proves the manifests, not a deployment.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from .helpers import helm_binary, render

# Its session and module fixtures are built once: keep the whole file on one xdist worker.
pytestmark = pytest.mark.xdist_group("chart")

DIALECTS = ["postgresql", "mysql", "sqlite", "rest"]
K8S_VERSIONS = ["1.30.0", "1.33.0"]
RELEASE, NAMESPACE = "extractor", "data-extraction"
DIGEST = "sha256:" + "ab" * 32

# The least a multi-worker install needs on top of the defaults: a shared state store (its
# password in existingSecret) and a shared output. Without it the chart refuses to render.
SHARED: dict[str, Any] = {
    "existingSecret": "extractor-sources",
    "stateStore": {"url": "postgresql+asyncpg://extractor@state-db.data.svc:5432/extractor_state"},
    "output": {"url": "s3://extractor-output/runs"},
}
# Variants rendered from the chart's own ci/ values files instead of SHARED + values.
CI_FILES = {"production": "production-values.yaml", "s3-compatible": "s3-compatible-values.yaml",
            "single-worker": "single-worker-values.yaml"}

# name: (autoscaling answer at generation time, values merged over SHARED); CI_FILES use their file.
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "defaults": ("none", {}),
    "production": ("none", {}),
    "s3-compatible": ("none", {}),
    "single-worker": ("none", {}),
    "rwx-claim": ("none", {"output": {"url": "", "existingClaim": "extractor-output", "readWriteMany": True}}),
    "hpa": ("hpa", {"autoscaling": {"hpa": {"enabled": True, "maxReplicas": 6}}}),
    "keda": ("keda", {"autoscaling": {"keda": {"enabled": True}},
                      "temporal": {"apiKey": {"existingSecret": "temporal-cloud"}}}),
    "digest": ("none", {"image": {"digest": DIGEST}}),
    "versioning": ("none", {"worker": {"versioning": {"enabled": True, "defaultBehavior": "PINNED"}}}),
    "cloud-api-key": ("none", {"existingSecret": "extractor-sources",
                               "temporal": {"address": "prod.a1b2c.tmprl.cloud:7233", "namespace": "prod.a1b2c",
                                            "apiKey": {"existingSecret": "temporal-cloud", "key": "api-key"}}}),
    "mtls": ("none", {"existingSecret": "extractor-sources",
                      "temporal": {"tls": {"enabled": True, "existingSecret": "temporal-mtls", "caKey": "ca.crt",
                                           "serverName": "temporal.internal"}}}),
    "extras": ("none", {"annotations": {"team": "data"}, "podAnnotations": {"example.com/audit": "on"},
                        "extraEnv": [{"name": "TZ", "value": "UTC"}],
                        "extraVolumes": [{"name": "ca-bundle", "configMap": {"name": "ca-bundle"}}],
                        "extraVolumeMounts": [{"name": "ca-bundle", "mountPath": "/etc/ssl/extra",
                                               "readOnly": True}]}),
}

# Checkov checks a rendering may skip, each through an annotation that carries the reason.
ALLOWED_SKIPS = {"CKV_K8S_43": "image pinned by tag until image.digest is set"}

# Variables the app reads besides the ones in .env.example (temporalio envconfig + versioning,
# and the object-store client's standard AWS variables).
EXTRA_ENV = {"TEMPORAL_TLS_CLIENT_CERT_PATH", "TEMPORAL_TLS_CLIENT_KEY_PATH", "TEMPORAL_TLS_SERVER_CA_CERT_PATH",
             "TEMPORAL_TLS_SERVER_NAME", "TEMPORAL_DEPLOYMENT_NAME", "TEMPORAL_WORKER_BUILD_ID",
             "TEMPORAL_VERSIONING_BEHAVIOR", "AWS_ENDPOINT_URL", "AWS_REGION"}


def merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` deep-merged onto ``base`` (as helm merges values files)."""
    out = dict(base)
    for key, value in over.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def tool(name: str) -> str:
    """A CLI from this test venv (requirements-dev.txt), else from PATH."""
    here = Path(sys.executable).with_name(name)
    found = str(here) if here.exists() else shutil.which(name)
    if not found:
        pytest.fail(f"{name} not found: install requirements-dev.txt into the test venv")
    return found


def run(cmd: list[str], cwd: Path | None = None, ok: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "BC_SKIP_MAPPING": "TRUE"})
    if ok and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}\n{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}")
    return proc


@dataclass
class Rendering:
    dialect: str
    variant: str
    chart: Path
    values: Path | None
    path: Path
    docs: list[dict[str, Any]]

    def kind(self, kind: str) -> list[dict[str, Any]]:
        return [d for d in self.docs if d["kind"] == kind]

    def one(self, kind: str) -> dict[str, Any]:
        found = self.kind(kind)
        assert len(found) == 1, f"{self.variant}: expected one {kind}, got {len(found)}"
        return found[0]

    @property
    def pod(self) -> dict[str, Any]:
        return self.one("Deployment")["spec"]["template"]["spec"]  # type: ignore[no-any-return]

    @property
    def container(self) -> dict[str, Any]:
        (container,) = self.pod["containers"]
        return container  # type: ignore[no-any-return]

    @property
    def config(self) -> dict[str, str]:
        return self.one("ConfigMap")["data"]  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def helm() -> str:
    return helm_binary()


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chart")


@pytest.fixture(scope="session")
def projects(workdir: Path) -> dict[tuple[str, str], Path]:
    """One rendered project per (dialect, autoscaling answer) that some variant needs."""
    needed = {(d, autoscaling) for d in DIALECTS for autoscaling, _ in VARIANTS.values()}
    return {
        key: render(workdir / "projects" / "-".join(key), source=key[0], autoscaling=key[1], init_git="no")
        for key in sorted(needed)
    }


def chart_dir(project: Path) -> Path:
    (chart,) = (project / "deploy" / "helm").iterdir()
    return chart


def values_args(values: Path | None) -> list[str]:
    return ["-f", str(values)] if values else []


@pytest.fixture(scope="session")
def renderings(helm: str, projects: dict[tuple[str, str], Path], workdir: Path) -> dict[tuple[str, str], Rendering]:
    """``helm template`` of every (dialect, variant), written under ``workdir/scan/<dialect>/``."""
    out: dict[tuple[str, str], Rendering] = {}
    for dialect in DIALECTS:
        scan = workdir / "scan" / dialect
        scan.mkdir(parents=True)
        shutil.copy(projects[(dialect, "none")] / "Dockerfile", scan / "Dockerfile")
        for variant, (autoscaling, values) in VARIANTS.items():
            chart = chart_dir(projects[(dialect, autoscaling)])
            if variant in CI_FILES:
                values_file: Path | None = chart / "ci" / CI_FILES[variant]
            else:
                values_file = workdir / f"{dialect}-{variant}-values.yaml"
                values_file.write_text(yaml.safe_dump(merged(SHARED, values)))
            text = run([helm, "template", RELEASE, str(chart), "--namespace", NAMESPACE,
                        *values_args(values_file)]).stdout
            path = scan / f"{variant}.yaml"
            path.write_text(text)
            docs = [d for d in yaml.safe_load_all(text) if d]
            out[(dialect, variant)] = Rendering(dialect, variant, chart, values_file, path, docs)
    return out


@pytest.fixture(scope="session")
def checkov_results(renderings: dict[tuple[str, str], Rendering], workdir: Path) -> dict[str, list[dict[str, Any]]]:
    """One offline checkov run (kubernetes + dockerfile) over every rendering; results by outcome."""
    proc = run([tool("checkov"), "-d", str(workdir / "scan"), "--framework", "kubernetes", "dockerfile",
                "--skip-download", "-o", "json"], ok=False)
    reports = json.loads(proc.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    results: dict[str, list[dict[str, Any]]] = {"passed": [], "failed": [], "skipped": []}
    for report in reports:
        for outcome in results:
            for check in report.get("results", {}).get(f"{outcome}_checks", []):
                results[outcome].append({**check, "check_type": report["check_type"]})
    return results


def of(results: list[dict[str, Any]], dialect: str, check_type: str) -> list[dict[str, Any]]:
    return [r for r in results if r["check_type"] == check_type and f"/{dialect}/" in r["file_path"]]


@pytest.fixture(params=DIALECTS)
def dialect(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# --- the tools ---------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_helm_lint_strict(helm: str, renderings: dict[tuple[str, str], Rendering], dialect: str, variant: str) -> None:
    r = renderings[(dialect, variant)]
    out = run([helm, "lint", str(r.chart), "--strict", "--namespace", NAMESPACE, *values_args(r.values)]).stdout
    assert "0 chart(s) failed" in out


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_manifests_validate_strictly(renderings: dict[tuple[str, str], Rendering], dialect: str, version: str) -> None:
    files = [str(renderings[(dialect, v)].path) for v in VARIANTS]
    out = run([tool("kubernetes-validate"), "--strict", "-k", version, *files]).stdout
    assert "passed for resource deployment" in out
    # KEDA objects are custom resources it has no schema for; they are checked by test_keda_* below.
    unknown = {line.split("kind ")[1].split(" ")[0] for line in out.splitlines() if "Couldn't find schema" in line}
    assert unknown <= {"ScaledObject", "TriggerAuthentication"}, out


def test_checkov_kubernetes_zero_failed(checkov_results: dict[str, list[dict[str, Any]]], dialect: str) -> None:
    failed = of(checkov_results["failed"], dialect, "kubernetes")
    assert failed == [], "\n".join(f"{f['check_id']} {f['check_name']} in {f['file_path']}" for f in failed)
    passed = of(checkov_results["passed"], dialect, "kubernetes")
    assert {Path(p["file_path"]).stem for p in passed} == set(VARIANTS), "checkov did not scan every rendering"
    assert len(passed) > 80 * len(VARIANTS)
    for skip in of(checkov_results["skipped"], dialect, "kubernetes"):
        assert skip["check_id"] in ALLOWED_SKIPS, skip
        assert "image.digest" in skip["check_result"].get("suppress_comment", ""), "a skip must carry its reason"


def test_checkov_skips_only_what_the_digest_option_fixes(
    checkov_results: dict[str, list[dict[str, Any]]], dialect: str
) -> None:
    skipped = {Path(s["file_path"]).stem for s in of(checkov_results["skipped"], dialect, "kubernetes")}
    assert "digest" not in skipped and "production" not in skipped and "s3-compatible" not in skipped
    assert "defaults" in skipped and "single-worker" in skipped


def test_checkov_dockerfile_zero_failed(checkov_results: dict[str, list[dict[str, Any]]], dialect: str) -> None:
    assert of(checkov_results["failed"], dialect, "dockerfile") == []
    assert of(checkov_results["skipped"], dialect, "dockerfile") == []
    assert len(of(checkov_results["passed"], dialect, "dockerfile")) > 50


# --- invariants of the default rendering ---------------------------------------------------------


def test_three_replicas_and_pdb_min_available_two(renderings: dict[tuple[str, str], Rendering], dialect: str) -> None:
    r = renderings[(dialect, "defaults")]
    assert r.one("Deployment")["spec"]["replicas"] == 3
    pdb = r.one("PodDisruptionBudget")
    assert pdb["apiVersion"] == "policy/v1"
    assert pdb["spec"]["minAvailable"] == 2
    assert pdb["spec"]["selector"]["matchLabels"] == r.one("Deployment")["spec"]["selector"]["matchLabels"]


def test_anti_affinity_and_topology_spread(renderings: dict[tuple[str, str], Rendering], dialect: str) -> None:
    r = renderings[(dialect, "defaults")]
    labels = r.one("Deployment")["spec"]["template"]["metadata"]["labels"]
    (term,) = r.pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert term["podAffinityTerm"]["labelSelector"]["matchLabels"].items() <= labels.items()
    spread = r.pod["topologySpreadConstraints"]
    assert {c["topologyKey"] for c in spread} == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
    assert all(c["labelSelector"]["matchLabels"].items() <= labels.items() for c in spread)


@pytest.mark.parametrize("variant", ["defaults", "production"])
def test_grace_period_exceeds_the_drain_timeout(
    renderings: dict[tuple[str, str], Rendering], dialect: str, variant: str
) -> None:
    r = renderings[(dialect, variant)]
    drain = float(r.config["GRACEFUL_SHUTDOWN_SECONDS"])
    assert r.pod["terminationGracePeriodSeconds"] > drain
    assert r.pod["terminationGracePeriodSeconds"] >= drain + 5


def test_probes_differ_and_hit_the_health_port(renderings: dict[tuple[str, str], Rendering], dialect: str) -> None:
    c = renderings[(dialect, "defaults")].container
    assert c["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["livenessProbe"] != c["readinessProbe"]
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert c["livenessProbe"]["httpGet"]["port"] == "health" and ports == {"health": 8080, "metrics": 9464}
    assert c["resources"]["requests"] and c["resources"]["limits"]


def test_pod_is_hardened(renderings: dict[tuple[str, str], Rendering], dialect: str) -> None:
    r = renderings[(dialect, "defaults")]
    pod, c = r.pod, r.container
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] >= 10000
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["privileged"] is False and sc["capabilities"]["drop"] == ["ALL"] and sc["runAsUser"] >= 10000
    assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"]
    assert any(v["name"] == "tmp" and "emptyDir" in v for v in pod["volumes"])
    assert pod["automountServiceAccountToken"] is False
    sa = r.one("ServiceAccount")
    assert sa["automountServiceAccountToken"] is False and pod["serviceAccountName"] == sa["metadata"]["name"]
    assert c["args"] == ["worker"]
    assert all(d["metadata"]["namespace"] == NAMESPACE for d in r.docs)
    assert all(d["metadata"]["labels"]["app.kubernetes.io/instance"] == RELEASE for d in r.docs)


def test_network_policy_opens_only_probe_and_metrics_ports(
    renderings: dict[tuple[str, str], Rendering], dialect: str
) -> None:
    r = renderings[(dialect, "defaults")]
    policy = r.one("NetworkPolicy")["spec"]
    assert set(policy["policyTypes"]) == {"Ingress", "Egress"}
    (ingress,) = policy["ingress"]
    assert {p["port"] for p in ingress["ports"]} == {"health", "metrics"}
    egress_ports = {(p["port"], p["protocol"]) for rule in policy["egress"] for p in rule["ports"]}
    assert {(53, "UDP"), (53, "TCP"), (7233, "TCP")} <= egress_ports
    db_port = {"postgresql": 5432, "mysql": 3306, "sqlite": None, "rest": 443}[dialect]
    assert db_port is None or (db_port, "TCP") in egress_ports
    for variant in VARIANTS:
        rules = renderings[(dialect, variant)].one("NetworkPolicy")["spec"]["egress"]
        assert all(rule.get("ports") for rule in rules), f"{variant}: an egress rule without ports allows everything"


def egress_ports(r: Rendering) -> set[int]:
    return {p["port"] for rule in r.one("NetworkPolicy")["spec"]["egress"] for p in rule["ports"]}


SOURCE_PORTS = {"postgresql": {5432}, "mysql": {3306}, "sqlite": set(), "rest": {443}}


def test_egress_stays_tight_when_nothing_needs_more(renderings: dict[tuple[str, str], Rendering], dialect: str) -> None:
    """SQLite state, file:// output: DNS, Temporal and the source's port, nothing else."""
    r = renderings[(dialect, "single-worker")]
    assert egress_ports(r) == {53, 7233} | SOURCE_PORTS[dialect]
    assert egress_ports(renderings[(dialect, "rwx-claim")]) == {53, 7233, 5432} | SOURCE_PORTS[dialect]


def test_egress_follows_the_state_store_and_object_store(
    renderings: dict[tuple[str, str], Rendering], dialect: str
) -> None:
    # PostgreSQL state store: its port; object store: 443, plus the endpoint's own port.
    assert egress_ports(renderings[(dialect, "production")]) == {53, 7233, 5432, 443} | SOURCE_PORTS[dialect]
    assert egress_ports(renderings[(dialect, "s3-compatible")]) == {53, 7233, 5432, 443, 9000} | SOURCE_PORTS[dialect]
    rules = renderings[(dialect, "production")].one("NetworkPolicy")["spec"]["egress"]
    (state,) = [rule for rule in rules if rule.get("to") == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "data"}}}]]
    assert state["ports"] == [{"port": 5432, "protocol": "TCP"}], "stateStore.to narrows the state-store rule"


def test_egress_ports_are_parsed_from_the_urls(helm: str, projects: dict[tuple[str, str], Path],
                                               tmp_path: Path) -> None:
    chart = chart_dir(projects[("sqlite", "none")])
    cases: list[tuple[dict[str, Any], set[int]]] = [
        ({"stateStore": {"url": "postgresql+asyncpg://extractor@db-1:6432,db-2:6433/state?ssl=require"}},
         {6432, 6433, 443}),
        ({"stateStore": {"url": "postgresql+asyncpg://extractor@db/state"}}, {5432, 443}),
        ({"output": {"endpoint": "https://objects.example.com"}}, {5432, 443}),
        ({"output": {"endpoint": "http://minio.storage.svc"}}, {5432, 443, 80}),
        ({"output": {"url": "gs://bucket/prefix"}}, {5432, 443}),
        ({"networkPolicy": {"egress": {"source": {"ports": [1521, 3306]}}}}, {5432, 443, 1521, 3306}),
    ]
    for i, (values, ports) in enumerate(cases):
        path = tmp_path / f"ports-{i}.yaml"
        path.write_text(yaml.safe_dump(merged(SHARED, values)))
        text = run([helm, "template", RELEASE, str(chart), "-n", NAMESPACE, "-f", str(path)]).stdout
        (policy,) = [d for d in yaml.safe_load_all(text) if d and d["kind"] == "NetworkPolicy"]
        found = {p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"]}
        assert found == {53, 7233} | ports, (values, found)


def test_configmap_holds_only_settings_the_app_reads(
    renderings: dict[tuple[str, str], Rendering], projects: dict[tuple[str, str], Path], dialect: str
) -> None:
    example = (projects[(dialect, "none")] / ".env.example").read_text()
    known = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", example, re.MULTILINE)) | EXTRA_ENV
    for variant in VARIANTS:
        unknown = set(renderings[(dialect, variant)].config) - known
        assert not unknown, f"{variant}: ConfigMap keys the app does not read: {unknown}"


def test_no_secret_values_in_any_manifest(renderings: dict[tuple[str, str], Rendering], dialect: str) -> None:
    secret_like = re.compile(r"(_DSN|PASSWORD|API_KEY|SECRET|TOKEN)$")
    for variant in VARIANTS:
        r = renderings[(dialect, variant)]
        assert not r.kind("Secret"), f"{variant}: the chart must not carry a Secret"
        assert not [k for k in r.config if secret_like.search(k)], f"{variant}: secret-like ConfigMap key"
        assert all("valueFrom" not in e for e in r.container.get("env", [])), f"{variant}: secret as env value"
        assert all("secretRef" not in e for e in r.container.get("envFrom", [])), f"{variant}: secret as env values"
        for key, value in r.config.items():
            assert not re.search(r"://[^/@:\s]*:[^@\s]*@|password=", value, re.I), f"{variant}: credentials in {key}"


# --- options -------------------------------------------------------------------------------------


def test_production_values(renderings: dict[tuple[str, str], Rendering], dialect: str) -> None:
    r = renderings[(dialect, "production")]
    assert r.one("Deployment")["spec"]["replicas"] == 3 and r.one("PodDisruptionBudget")["spec"]["minAvailable"] == 2
    assert "@sha256:" in r.container["image"]
    assert r.config["GRACEFUL_SHUTDOWN_SECONDS"] == "120" and r.pod["terminationGracePeriodSeconds"] == 135
    # Shared by the 3 workers: S3 through IRSA (no keys anywhere) and the PostgreSQL state store.
    assert r.config["OUTPUT_URL"].startswith("s3://") and r.config["AWS_REGION"]
    assert "AWS_ENDPOINT_URL" not in r.config
    assert r.config["STATE_STORE_URL"].startswith("postgresql+asyncpg://")
    assert r.one("ServiceAccount")["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")
    assert not any(v["name"] == "output" for v in r.pod["volumes"]), "object-store output needs no volume"
    (secrets,) = [v for v in r.pod["volumes"] if v["name"] == "secrets"]
    assert {"secret": {"name": f"{r.chart.name}-sources"}} in secrets["projected"]["sources"]


def output_volume(r: Rendering) -> dict[str, Any] | None:
    volumes = [v for v in r.pod["volumes"] if v["name"] == "output"]
    mounts = [m for m in r.container["volumeMounts"] if m["name"] == "output"]
    assert len(volumes) == len(mounts) <= 1
    if mounts:
        assert r.config["OUTPUT_URL"] == "file://" + mounts[0]["mountPath"]
    return volumes[0] if volumes else None


def test_output_volume_only_for_file_output(renderings: dict[tuple[str, str], Rendering], dialect: str) -> None:
    single = output_volume(renderings[(dialect, "single-worker")])
    assert single is not None and "emptyDir" in single
    claim = output_volume(renderings[(dialect, "rwx-claim")])
    assert claim == {"name": "output", "persistentVolumeClaim": {"claimName": "extractor-output"}}
    for variant in ("defaults", "production", "s3-compatible"):
        assert output_volume(renderings[(dialect, variant)]) is None, variant
        assert renderings[(dialect, variant)].config["OUTPUT_URL"].startswith("s3://")


def test_object_store_credentials_are_mounted_files(renderings: dict[tuple[str, str], Rendering], dialect: str) -> None:
    r = renderings[(dialect, "s3-compatible")]
    assert r.config["AWS_ENDPOINT_URL"] == "http://minio.storage.svc.cluster.local:9000"
    assert r.config["AWS_REGION"] == "us-east-1"
    (secrets,) = [v for v in r.pod["volumes"] if v["name"] == "secrets"]
    assert {"secret": {"name": f"{r.chart.name}-minio"}} in secrets["projected"]["sources"]
    assert {"secret": {"name": f"{r.chart.name}-sources"}} in secrets["projected"]["sources"]
    assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} & set(r.config)
    assert all(e["name"] != "AWS_SECRET_ACCESS_KEY" for e in r.container.get("env", []))


def test_single_worker_keeps_the_simple_defaults(renderings: dict[tuple[str, str], Rendering], dialect: str) -> None:
    r = renderings[(dialect, "single-worker")]
    assert r.one("Deployment")["spec"]["replicas"] == 1 and not r.kind("PodDisruptionBudget")
    assert r.config["STATE_STORE_URL"] == "sqlite+aiosqlite:////tmp/state.db"
    assert r.config["OUTPUT_URL"] == "file:///data/output"


def test_hpa_option(renderings: dict[tuple[str, str], Rendering], dialect: str) -> None:
    r = renderings[(dialect, "hpa")]
    hpa = r.one("HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 6)
    assert "replicas" not in r.one("Deployment")["spec"], "the autoscaler owns the replica count"
    assert r.one("PodDisruptionBudget")["spec"]["minAvailable"] == 2
    assert not renderings[(dialect, "defaults")].kind("HorizontalPodAutoscaler")


def test_keda_option_scales_on_the_task_queue_backlog(
    renderings: dict[tuple[str, str], Rendering], dialect: str
) -> None:
    r = renderings[(dialect, "keda")]
    scaled = r.one("ScaledObject")
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    assert scaled["spec"]["scaleTargetRef"]["name"] == r.one("Deployment")["metadata"]["name"]
    assert scaled["spec"]["minReplicaCount"] == 3
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "temporal"
    meta = trigger["metadata"]
    assert meta["taskQueue"] == r.config["TASK_QUEUE"] and meta["endpoint"] == r.config["TEMPORAL_ADDRESS"]
    assert meta["namespace"] == r.config["TEMPORAL_NAMESPACE"] and int(meta["targetQueueSize"]) >= 1
    assert all(isinstance(v, str) for v in meta.values()), "KEDA metadata values must be strings"
    auth = r.one("TriggerAuthentication")
    assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"]
    assert auth["spec"]["secretTargetRef"] == [{"parameter": "apiKey", "name": "temporal-cloud",
                                                "key": "TEMPORAL_API_KEY"}]
    assert "replicas" not in r.one("Deployment")["spec"]


def test_image_by_digest_option(renderings: dict[tuple[str, str], Rendering], dialect: str) -> None:
    r = renderings[(dialect, "digest")]
    assert r.container["image"].endswith("@" + DIGEST)
    assert "checkov.io/skip1" not in r.one("Deployment")["metadata"].get("annotations", {})
    assert renderings[(dialect, "defaults")].container["image"].endswith(":0.1.0")


def test_worker_versioning_option(renderings: dict[tuple[str, str], Rendering], dialect: str) -> None:
    versioned = renderings[(dialect, "versioning")]
    config = versioned.config
    assert config["TEMPORAL_DEPLOYMENT_NAME"] == versioned.one("Deployment")["metadata"]["name"]
    assert config["TEMPORAL_WORKER_BUILD_ID"] == "0.1.0" and config["TEMPORAL_VERSIONING_BEHAVIOR"] == "PINNED"
    assert "TEMPORAL_DEPLOYMENT_NAME" not in renderings[(dialect, "defaults")].config


def test_temporal_cloud_api_key_is_a_mounted_file(renderings: dict[tuple[str, str], Rendering], dialect: str) -> None:
    r = renderings[(dialect, "cloud-api-key")]
    (secrets,) = [v for v in r.pod["volumes"] if v["name"] == "secrets"]
    sources = secrets["projected"]["sources"]
    assert {"secret": {"name": "extractor-sources"}} in sources
    assert {"secret": {"name": "temporal-cloud", "items": [{"key": "api-key", "path": "TEMPORAL_API_KEY"}]}} in sources
    mount = next(m for m in r.container["volumeMounts"] if m["name"] == "secrets")
    assert mount["mountPath"] == r.config["SECRETS_DIR"] and mount["readOnly"] is True
    assert "TEMPORAL_API_KEY" not in r.config


def test_mtls_option(renderings: dict[tuple[str, str], Rendering], dialect: str) -> None:
    r = renderings[(dialect, "mtls")]
    (tls,) = [v for v in r.pod["volumes"] if v["name"] == "temporal-tls"]
    assert tls["secret"]["secretName"] == "temporal-mtls"
    mount = next(m for m in r.container["volumeMounts"] if m["name"] == "temporal-tls")
    assert r.config["TEMPORAL_TLS"] == "true"
    assert r.config["TEMPORAL_TLS_CLIENT_CERT_PATH"] == mount["mountPath"] + "/tls.crt"
    assert r.config["TEMPORAL_TLS_CLIENT_KEY_PATH"] == mount["mountPath"] + "/tls.key"
    assert r.config["TEMPORAL_TLS_SERVER_CA_CERT_PATH"] == mount["mountPath"] + "/ca.crt"
    assert r.config["TEMPORAL_TLS_SERVER_NAME"] == "temporal.internal"


def test_extra_env_volumes_and_annotations(renderings: dict[tuple[str, str], Rendering], dialect: str) -> None:
    r = renderings[(dialect, "extras")]
    assert r.one("Deployment")["metadata"]["annotations"]["team"] == "data"
    assert r.one("Deployment")["spec"]["template"]["metadata"]["annotations"]["example.com/audit"] == "on"
    assert {"name": "TZ", "value": "UTC"} in r.container["env"]
    assert any(v["name"] == "ca-bundle" for v in r.pod["volumes"])
    assert any(m["name"] == "ca-bundle" for m in r.container["volumeMounts"])


# --- the schema and the answers ------------------------------------------------------------------

BAD_VALUES = {
    "replicaCount": ({"replicaCount": 0}, "replicaCount"),
    "replicaCount-string": ({"replicaCount": "three"}, "replicaCount"),
    "digest": ({"image": {"digest": "latest"}}, "digest"),
    "root-user": ({"podSecurityContext": {"runAsUser": 0}}, "runAsUser"),
    "writable-root": ({"securityContext": {"readOnlyRootFilesystem": False}}, "readOnlyRootFilesystem"),
    "drain-as-string": ({"worker": {"gracefulShutdownSeconds": "30s"}}, "gracefulShutdownSeconds"),
    "secret-in-config": ({"config": {"SOURCE_DEFAULT_DSN": "postgresql://u:p@db/x"}}, "SOURCE_DEFAULT_DSN"),
    "typo": ({"replicaCnt": 3}, "replicaCnt"),
    "chart-owned-key-in-config": ({"config": {"HEALTH_PORT": "9000"}}, "HEALTH_PORT"),
    "two-autoscalers": ({"autoscaling": {"hpa": {"enabled": True}, "keda": {"enabled": True}}}, "autoscaling"),
    "output-url-scheme": ({"output": {"url": "ftp://bucket/prefix"}}, "output"),
    "output-url-no-bucket": ({"output": {"url": "s3://"}}, "output"),
    "output-url-bare-path": ({"output": {"url": "/data/output"}}, "output"),
    "endpoint-no-scheme": ({"output": {"endpoint": "minio:9000"}}, "endpoint"),
    "read-write-many-string": ({"output": {"readWriteMany": "yes"}}, "readWriteMany"),
    "state-store-sync-driver": ({"stateStore": {"url": "postgresql://extractor@db:5432/state"}}, "stateStore"),
    "state-store-mysql": ({"stateStore": {"url": "mysql+aiomysql://extractor@db/state"}}, "stateStore"),
    "output-url-in-config": ({"config": {"OUTPUT_URL": "s3://bucket"}}, "OUTPUT_URL"),
    "aws-key-in-config": ({"config": {"AWS_ACCESS_KEY_ID": "AKIA0000"}}, "AWS_ACCESS_KEY_ID"),
    "old-egress-key": ({"networkPolicy": {"egress": {"databases": {"ports": [5432]}}}}, "databases"),
}


@pytest.mark.parametrize("case", list(BAD_VALUES))
def test_schema_rejects_bad_values(
    helm: str, renderings: dict[tuple[str, str], Rendering], workdir: Path, dialect: str, case: str
) -> None:
    values, field = BAD_VALUES[case]
    path = workdir / f"bad-{dialect}-{case}.yaml"
    path.write_text(yaml.safe_dump(values))
    chart = renderings[(dialect, "defaults")].chart
    single = chart / "ci" / "single-worker-values.yaml"  # so only the bad value can fail
    proc = run([helm, "lint", str(chart), "--strict", "-f", str(single), "-f", str(path)], ok=False)
    assert proc.returncode != 0, f"helm lint accepted {values}"
    assert field in proc.stdout + proc.stderr


# --- refusals: a chart that cannot be installed broken ------------------------------------------

STATE_FIX = ("stateStore.url=postgresql+asyncpg://", "existingSecret=", "STATE_STORE_PASSWORD")
OUTPUT_FIX = ("output.url=s3://", "output.existingClaim=", "output.readWriteMany=true")


def refusal(helm: str, chart: Path, tmp_path: Path, values: dict[str, Any] | None = None) -> str:
    """``helm template`` (the same rendering as ``helm install``) must fail; return helm's message.

    ``helm lint`` renders in lint mode, where ``fail`` is only logged, so it is no gate here.
    """
    args = []
    if values is not None:
        path = tmp_path / "values.yaml"
        path.write_text(yaml.safe_dump(values))
        args = ["-f", str(path)]
    proc = run([helm, "template", RELEASE, str(chart), "-n", NAMESPACE, *args], ok=False)
    assert proc.returncode != 0, f"rendered with {values}:\n{proc.stdout[:2000]}"
    assert "execution error" in proc.stderr, proc.stderr  # the chart's own refusal, not a schema error
    return proc.stderr


@pytest.mark.parametrize(("autoscaling", "trigger"), [("none", "replicaCount=3"),
                                                      ("hpa", "autoscaling.hpa.enabled=true"),
                                                      ("keda", "autoscaling.keda.enabled=true")])
def test_several_workers_on_the_defaults_refuse_to_render(
    helm: str, projects: dict[tuple[str, str], Path], tmp_path: Path, autoscaling: str, trigger: str
) -> None:
    message = refusal(helm, chart_dir(projects[("postgresql", autoscaling)]), tmp_path)
    assert trigger in message and "runs several workers" in message
    for fix in STATE_FIX + OUTPUT_FIX:
        assert fix in message, (fix, message)
    assert "checkpoints" in message and "no manifest is written" in message, "say why, not only what"


def test_each_half_alone_still_refuses(helm: str, projects: dict[tuple[str, str], Path], tmp_path: Path) -> None:
    chart = chart_dir(projects[("mysql", "none")])
    only_state = {k: SHARED[k] for k in ("existingSecret", "stateStore")}
    message = refusal(helm, chart, tmp_path, only_state)
    assert all(f in message for f in OUTPUT_FIX) and not any(f in message for f in STATE_FIX), message
    message = refusal(helm, chart, tmp_path, {"output": SHARED["output"]})
    assert all(f in message for f in STATE_FIX) and not any(f in message for f in OUTPUT_FIX), message
    # PostgreSQL without the Secret that carries its password, and a claim not marked ReadWriteMany.
    message = refusal(helm, chart, tmp_path, {"stateStore": SHARED["stateStore"], "output": SHARED["output"]})
    assert "existingSecret=" in message and "stateStore.url=" not in message
    message = refusal(helm, chart, tmp_path, {**only_state, "output": {"existingClaim": "extractor-output"}})
    assert "output.readWriteMany=true" in message and "claim extractor-output, not marked ReadWriteMany" in message
    # Both halves: renders (one replica needs neither).
    for values in (SHARED, {**only_state, "output": {"existingClaim": "c", "readWriteMany": True}},
                   {"replicaCount": 1}):
        path = tmp_path / "ok.yaml"
        path.write_text(yaml.safe_dump(values))
        run([helm, "template", RELEASE, str(chart), "-n", NAMESPACE, "-f", str(path)])


REFUSED = {
    "password-in-state-url": ({"stateStore": {"url": "postgresql+asyncpg://extractor:s3cret@db:5432/state"}},
                              "STATE_STORE_PASSWORD"),
    "password-query-in-state-url": ({"stateStore": {"url": "postgresql+asyncpg://extractor@db/state?password=x"}},
                                    "STATE_STORE_PASSWORD"),
    "old-output-dir": ({"config": {"OUTPUT_DIR": "/data/output"}}, "output.url"),
    "old-state-store-url": ({"config": {"STATE_STORE_URL": "sqlite+aiosqlite:////tmp/x.db"}}, "stateStore.url"),
    "file-url-outside-the-volume": ({"output": {"url": "file:///var/output"}}, "outside output.mountPath"),
    "claim-with-object-store": ({"output": {"url": "s3://bucket/p", "existingClaim": "c"}}, "output.existingClaim"),
    "endpoint-without-object-store": ({"output": {"endpoint": "http://minio:9000"}}, "output.endpoint"),
    "credentials-without-object-store": ({"output": {"existingSecret": "minio"}}, "output.existingSecret"),
    "endpoint-with-gcs": ({"output": {"url": "gs://bucket/p", "endpoint": "http://minio:9000"}}, "s3:// output only"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_inconsistent_values_refuse_to_render(
    helm: str, projects: dict[tuple[str, str], Path], tmp_path: Path, case: str
) -> None:
    values, fragment = REFUSED[case]
    message = refusal(helm, chart_dir(projects[("sqlite", "none")]), tmp_path, merged({"replicaCount": 1}, values))
    assert fragment in message, message
    assert "s3cret" not in message, "never echo a password"


def test_replicas_answer_drives_replicas_and_pdb(helm: str, tmp_path: Path) -> None:
    project = render(tmp_path, worker_replicas="5", autoscaling="none", init_git="no")
    shared = tmp_path / "shared.yaml"
    shared.write_text(yaml.safe_dump(SHARED))
    text = run([helm, "template", RELEASE, str(chart_dir(project)), "--namespace", NAMESPACE,
                "-f", str(shared)]).stdout
    docs = {d["kind"]: d for d in yaml.safe_load_all(text) if d}
    assert docs["Deployment"]["spec"]["replicas"] == 5
    assert docs["PodDisruptionBudget"]["spec"]["minAvailable"] == 4


def deploy_section(project: Path) -> str:
    readme = (project / "README.md").read_text()
    return readme.split("## Deploy", 1)[1].split("\n## ", 1)[0]


def readme_block(deploy: str, lang: str, marker: str) -> str:
    blocks: list[str] = re.findall(rf"```{lang}\n(.*?)```", deploy, re.DOTALL)
    return next(b for b in blocks if marker in b)


@pytest.mark.parametrize("autoscaling", ["none", "keda"])
def test_readme_values_example_lints(
    helm: str, projects: dict[tuple[str, str], Path], tmp_path: Path, autoscaling: str
) -> None:
    project = projects[("postgresql", autoscaling)]
    chart = chart_dir(project)
    deploy = deploy_section(project)
    example = readme_block(deploy, "yaml", "my-values.yaml").replace("sha256:<from docker push>", DIGEST)
    values = tmp_path / "my-values.yaml"
    values.write_text(example)
    run([helm, "lint", str(chart), "--strict", "-f", str(values)])
    text = run([helm, "template", RELEASE, str(chart), "-n", NAMESPACE, "-f", str(values)]).stdout
    assert "SOURCE_DEFAULT_DSN" not in text and "api-key" in text
    docs = {d["kind"]: d for d in yaml.safe_load_all(text) if d}
    assert docs["ConfigMap"]["data"]["OUTPUT_URL"].startswith("s3://")
    assert "eks.amazonaws.com/role-arn" in docs["ServiceAccount"]["metadata"]["annotations"]
    # The ReadWriteMany alternative: the README's output block replaces my-values.yaml's.
    rwx = readme_block(deploy, "yaml", "# rwx-output")
    head, tail = example.split("\noutput:\n", 1)
    assert not re.search(r"^\S", tail, re.MULTILINE), "output is the last block of my-values.yaml"
    values.write_text(head + "\n" + rwx)
    run([helm, "lint", str(chart), "--strict", "-f", str(values)])
    text = run([helm, "template", RELEASE, str(chart), "-n", NAMESPACE, "-f", str(values)]).stdout
    docs = {d["kind"]: d for d in yaml.safe_load_all(text) if d}
    assert docs["ConfigMap"]["data"]["OUTPUT_URL"] == "file:///data/output"
    assert {"name": "output", "persistentVolumeClaim": {"claimName": project.name + "-output"}} in (
        docs["Deployment"]["spec"]["template"]["spec"]["volumes"])


@pytest.mark.parametrize("autoscaling", ["none", "hpa"])
def test_readme_shows_the_real_refusal(helm: str, projects: dict[tuple[str, str], Path], autoscaling: str) -> None:
    project = projects[("sqlite", autoscaling)]
    console = readme_block(deploy_section(project), "console", "$ helm template")
    command, *shown = console.strip().splitlines()
    args = command.removeprefix("$ ").split()
    assert args[0] == "helm" and "replicaCount=3" in args
    proc = subprocess.run([helm, *args[1:]], cwd=project, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert shown == proc.stderr.strip().splitlines()[: len(shown)], proc.stderr


def test_keda_can_scale_to_zero(helm: str, projects: dict[tuple[str, str], Path], tmp_path: Path) -> None:
    values = tmp_path / "zero.yaml"
    values.write_text(yaml.safe_dump(merged(SHARED, {"autoscaling": {"keda": {"enabled": True, "minReplicas": 0}}})))
    chart = chart_dir(projects[("postgresql", "keda")])
    text = run([helm, "template", RELEASE, str(chart), "-n", NAMESPACE, "-f", str(values)]).stdout
    docs = [d for d in yaml.safe_load_all(text) if d]
    (scaled,) = [d for d in docs if d["kind"] == "ScaledObject"]
    assert scaled["spec"]["minReplicaCount"] == 0
    assert not [d for d in docs if d["kind"] == "PodDisruptionBudget"], "a PDB would block draining the last pod"
