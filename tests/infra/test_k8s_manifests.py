"""The kustomize base and overlays: schema-valid for Kubernetes, and saying what they promise."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from kubernetes_validate import utils as kv

from tests.infra.app_settings import settings_from
from tests.infra.k8s_validation import DEFAULT_KUBERNETES_VERSION, validate_k8s_yaml
from tests.infra.layout import K8S, OVERLAYS, PROBE_PATHS, Rendered

RENDERS = ("base", *OVERLAYS)
# The oldest version we support and the newest the installed kubectl speaks.
KUBERNETES_VERSIONS = (DEFAULT_KUBERNETES_VERSION, "1.35")
NAMESPACES = {
    "base": "stack8s",
    "dev": "stack8s-dev",
    "staging": "stack8s-staging",
    "prod": "stack8s",
    "prod-gpu": "stack8s",
}
CLUSTER_SCOPED = {"Namespace"}

# What each environment must be (the overlay comparison in infra/README.md).
OVERLAY_MATRIX = {
    #         replicas, HPA min, HPA max, auth,    rate limit,         mem req, mem limit, sampling
    "dev": (1, 1, 2, "false", ("false", None), "1Gi", "2Gi", ("true", "0")),
    "staging": (2, 2, 4, "true", ("true", "200"), "2Gi", "3Gi", ("false", "0.5")),
    "prod": (3, 3, 10, "true", ("true", "100"), "2Gi", "4Gi", ("false", "0.1")),
}
# Real-looking secret values for a production start (the app refuses placeholders).
PROD_SECRETS = {
    "DATABASE_URL": "postgresql://stack8s:s3cr3t-pw@db.internal:5432/stack8s",
    "SUPABASE_URL": "https://abcd.supabase.co",
    "SUPABASE_JWT_SECRET": "a-real-jwt-secret-of-enough-length-0123456789",
    "VAULT_MASTER_KEY": "q2V3rX0pZ5uYwJ8mN1bC4dE7fG0hI3kL6oP9sT2vW5y=",
}


def _b64(value: str) -> str:
    return base64.b64decode(value).decode()


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    return dict(obj["spec"]["template"]["spec"])


def workloads(render: Rendered) -> list[dict[str, Any]]:
    return render.all("Deployment") + render.all("StatefulSet")


def containers(render: Rendered) -> list[tuple[str, dict[str, Any]]]:
    return [
        (workload["metadata"]["name"], container)
        for workload in workloads(render)
        for container in pod_spec(workload)["containers"]
    ]


def api_container(render: Rendered) -> dict[str, Any]:
    (container,) = pod_spec(render.one("Deployment", "stack8s-api"))["containers"]
    return container


def config(render: Rendered) -> dict[str, str]:
    return dict(render.one("ConfigMap", "stack8s-config")["data"])


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


# --- schema validation ------------------------------------------------------------------------


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("name", RENDERS)
def test_rendered_manifests_validate_strictly(
    kustomize_renders: dict[str, Rendered], name: str, version: str
) -> None:
    errors = validate_k8s_yaml(kustomize_renders[name].text, kubernetes_version=version)

    assert errors == []


def test_secret_example_validates_strictly() -> None:
    text = (K8S / "base" / "secret.example.yaml").read_text()

    assert validate_k8s_yaml(text) == []


def test_component_manifests_validate_strictly() -> None:
    text = (K8S / "components" / "vllm-gpu" / "vllm.yaml").read_text()

    assert validate_k8s_yaml(text) == []


# --- the validation helper itself (it is reused for generated plans) --------------------------

VALID_DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx}]
"""


def test_validator_when_valid_then_no_errors() -> None:
    assert validate_k8s_yaml(VALID_DEPLOYMENT) == []


def test_validator_when_unknown_field_then_strict_rejects_and_lax_accepts() -> None:
    text = VALID_DEPLOYMENT.replace("image: nginx", "image: nginx, imagePullPolicyy: Always")

    strict = validate_k8s_yaml(text)
    lax = validate_k8s_yaml(text, strict=False)

    assert len(strict) == 1
    assert "spec.template.spec.containers.0" in strict[0] and "imagePullPolicyy" in strict[0]
    assert lax == []


def test_validator_reports_every_error_of_every_document() -> None:
    text = (
        VALID_DEPLOYMENT.replace("spec:\n  selector", "spec:\n  replicas: two\n  selector")
        + "---\napiVersion: v1\nkind: Service\nmetadata: {name: Web}\nspec: {ports: [{port: x}]}\n"
    )

    errors = validate_k8s_yaml(text)

    assert any("Deployment/web (document 1): spec.replicas" in e for e in errors)
    assert any("Service/Web (document 2): metadata.name" in e for e in errors)
    assert any("Service/Web (document 2): spec.ports.0.port" in e for e in errors)


def test_validator_when_custom_resource_then_error_unless_skipped_with_reason() -> None:
    certificate = "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: tls}\n"
    reason = {"cert-manager.io/v1/Certificate": "CRD: kubernetes-validate has no schema"}

    assert "no schema for cert-manager.io/v1/Certificate" in validate_k8s_yaml(certificate)[0]
    assert validate_k8s_yaml(certificate, skip_kinds=reason) == []
    with pytest.raises(ValueError, match="needs a reason"):
        validate_k8s_yaml(certificate, skip_kinds={"cert-manager.io/v1/Certificate": " "})


def test_validator_when_api_removed_then_error() -> None:
    old = "apiVersion: autoscaling/v2beta2\nkind: HorizontalPodAutoscaler\nmetadata: {name: a}\n"

    assert "no schema" in validate_k8s_yaml(old)[0]


def test_validator_when_list_or_duplicates_or_bad_yaml_then_reports() -> None:
    item = "{apiVersion: v1, kind: ConfigMap, metadata: {name: a}}"
    listed = f"apiVersion: v1\nkind: List\nitems:\n  - {item}\n  - {item}\n"

    assert validate_k8s_yaml(listed) == ["ConfigMap/a (document 1): duplicates document 1"]
    assert validate_k8s_yaml("a: [")[0].startswith("YAML does not parse")
    assert validate_k8s_yaml("- just\n- a list\n") == ["document 1: not a mapping but list"]


def test_validator_when_version_not_shipped_then_value_error() -> None:
    newest = kv.latest_version()
    major, minor = (int(part) for part in newest.split(".")[:2])

    with pytest.raises(ValueError, match="ships no schemas"):
        validate_k8s_yaml(VALID_DEPLOYMENT, kubernetes_version=f"{major}.{minor + 1}")


# --- structure and cross-references -----------------------------------------------------------


@pytest.mark.parametrize("name", RENDERS)
def test_every_object_is_in_the_environment_namespace(
    kustomize_renders: dict[str, Rendered], name: str
) -> None:
    render = kustomize_renders[name]
    (namespace,) = render.all("Namespace")

    assert namespace["metadata"]["name"] == NAMESPACES[name]
    for obj in render.objects:
        if obj["kind"] not in CLUSTER_SCOPED:
            assert obj["metadata"].get("namespace") == NAMESPACES[name], obj["metadata"]["name"]


@pytest.mark.parametrize("name", RENDERS)
def test_probes_use_only_the_api_probe_paths(
    kustomize_renders: dict[str, Rendered], name: str
) -> None:
    for workload, container in containers(kustomize_renders[name]):
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            http = container.get(probe, {}).get("httpGet")
            if http:
                assert http["path"] in PROBE_PATHS, f"{workload}.{probe}: {http['path']}"


@pytest.mark.parametrize("name", RENDERS)
def test_api_probes_liveness_on_health_and_readiness_on_ready(
    kustomize_renders: dict[str, Rendered], name: str
) -> None:
    container = api_container(kustomize_renders[name])

    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["startupProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"


@pytest.mark.parametrize("name", RENDERS)
def test_services_select_pods_and_target_named_ports(
    kustomize_renders: dict[str, Rendered], name: str
) -> None:
    render = kustomize_renders[name]
    for service in render.all("Service"):
        matched = [
            w
            for w in workloads(render)
            if selects(service["spec"]["selector"], w["spec"]["template"]["metadata"]["labels"])
        ]
        assert len(matched) == 1, service["metadata"]["name"]
        ports = {p["name"] for c in pod_spec(matched[0])["containers"] for p in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports, service["metadata"]["name"]


@pytest.mark.parametrize("name", RENDERS)
def test_hpa_and_pdb_govern_the_api(kustomize_renders: dict[str, Rendered], name: str) -> None:
    render = kustomize_renders[name]
    api = render.one("Deployment", "stack8s-api")
    hpa = render.one("HorizontalPodAutoscaler")
    pdb = render.one("PodDisruptionBudget")

    assert hpa["spec"]["scaleTargetRef"]["name"] == api["metadata"]["name"]
    assert {m["resource"]["name"] for m in hpa["spec"]["metrics"]} == {"cpu", "memory"}
    assert selects(
        pdb["spec"]["selector"]["matchLabels"], api["spec"]["template"]["metadata"]["labels"]
    )


@pytest.mark.parametrize("name", RENDERS)
def test_ingress_routes_to_the_api_with_cert_manager_tls(
    kustomize_renders: dict[str, Rendered], name: str
) -> None:
    render = kustomize_renders[name]
    ingress = render.one("Ingress")
    (rule,) = ingress["spec"]["rules"]
    (tls,) = ingress["spec"]["tls"]
    backend = rule["http"]["paths"][0]["backend"]["service"]
    service = render.one("Service", backend["name"])

    assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"]
    assert tls["hosts"] == [rule["host"]] and tls["secretName"]
    assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}


@pytest.mark.parametrize("name", RENDERS)
def test_config_references_resolve(kustomize_renders: dict[str, Rendered], name: str) -> None:
    render = kustomize_renders[name]
    configmaps = {c["metadata"]["name"] for c in render.all("ConfigMap")}
    secrets = {s["metadata"]["name"] for s in render.all("Secret")}
    for workload, container in containers(render):
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                assert source["configMapRef"]["name"] in configmaps, workload
            if "secretRef" in source:
                assert source["secretRef"]["name"] in secrets, workload
        for entry in container.get("env", []):
            ref = entry.get("valueFrom", {}).get("secretKeyRef")
            # Outside dev the Secret is created out of band (base/secret.example.yaml).
            if ref and secrets:
                assert ref["name"] in secrets, f"{workload}: {ref['name']}"


@pytest.mark.parametrize("name", RENDERS)
def test_every_container_has_memory_requests_and_limits(
    kustomize_renders: dict[str, Rendered], name: str
) -> None:
    for workload, container in containers(kustomize_renders[name]):
        assert container["resources"]["requests"]["memory"], workload
        assert container["resources"]["limits"]["memory"], workload
        assert container["securityContext"]["allowPrivilegeEscalation"] is False, workload


@pytest.mark.parametrize("name", RENDERS)
def test_our_images_run_non_root_with_read_only_root(
    kustomize_renders: dict[str, Rendered], name: str
) -> None:
    render = kustomize_renders[name]
    for deployment_name in ("stack8s-api", "nli"):
        deployment = render.one("Deployment", deployment_name)
        assert pod_spec(deployment)["securityContext"]["runAsNonRoot"] is True
        for container in pod_spec(deployment)["containers"]:
            assert container["securityContext"]["readOnlyRootFilesystem"] is True


# --- the environments -------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(OVERLAY_MATRIX))
def test_overlay_sets_its_environment(kustomize_renders: dict[str, Rendered], name: str) -> None:
    replicas, hpa_min, hpa_max, auth, (limit_on, per_min), mem_req, mem_lim, otel = OVERLAY_MATRIX[
        name
    ]
    render = kustomize_renders[name]
    settings = config(render)
    resources = api_container(render)["resources"]
    hpa = render.one("HorizontalPodAutoscaler")

    assert render.one("Deployment", "stack8s-api")["spec"]["replicas"] == replicas
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (hpa_min, hpa_max)
    assert settings["AUTH_ENABLED"] == auth
    assert settings["RATE_LIMIT_ENABLED"] == limit_on
    if per_min is not None:
        assert settings["RATE_LIMIT_PER_MINUTE"] == per_min
    assert (resources["requests"]["memory"], resources["limits"]["memory"]) == (mem_req, mem_lim)
    assert (settings["OTEL_SDK_DISABLED"], settings["OTEL_TRACES_SAMPLER_ARG"]) == otel
    assert settings["ALLOW_ENV_PROVIDER_KEYS"] == "false"


def test_dev_config_is_accepted_by_the_app(
    kustomize_renders: dict[str, Rendered], monkeypatch: pytest.MonkeyPatch
) -> None:
    render = kustomize_renders["dev"]
    secret = render.one("Secret", "stack8s-secrets")
    env = {**config(render), **{k: _b64(v) for k, v in secret["data"].items()}}

    settings = settings_from(env, monkeypatch)

    assert settings.environment == "development"
    assert settings.database_url and "@postgres:5432/" in settings.database_url
    assert not settings.embedded_database


@pytest.mark.parametrize("name", ["staging", "prod", "prod-gpu"])
def test_config_with_real_secrets_is_accepted_by_the_app(
    kustomize_renders: dict[str, Rendered], monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    # Production refuses auth off, env provider keys, placeholders and a missing database or
    # Supabase URL (core.settings); this is the config the overlay would start the app with.
    settings = settings_from({**config(kustomize_renders[name]), **PROD_SECRETS}, monkeypatch)

    assert settings.auth_enabled and not settings.allow_env_provider_keys
    assert settings.environment == ("staging" if name == "staging" else "production")


@pytest.mark.parametrize("name", ["staging", "prod", "prod-gpu"])
def test_managed_environments_make_the_required_secrets_mandatory(
    kustomize_renders: dict[str, Rendered], name: str
) -> None:
    render = kustomize_renders[name]
    refs = {
        e["name"]: e["valueFrom"]["secretKeyRef"]
        for e in api_container(render)["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    }

    for key in PROD_SECRETS:
        assert refs[key]["optional"] is False, key
    assert not set(PROD_SECRETS) & set(config(render))
    assert not render.all("Secret")


def test_gpu_overlay_runs_vllm_on_an_nvidia_gpu_and_points_the_api_at_it(
    kustomize_renders: dict[str, Rendered],
) -> None:
    render = kustomize_renders["prod-gpu"]
    (container,) = pod_spec(render.one("Deployment", "vllm"))["containers"]
    settings = config(render)
    service = render.one("Service", "vllm")

    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert settings["LLM_PROVIDER"] == "openai_compatible"
    assert settings["LLM_BASE_URL"] == f"http://vllm:{service['spec']['ports'][0]['port']}/v1"
    assert all(not w["metadata"]["name"] == "vllm" for w in workloads(kustomize_renders["prod"]))
