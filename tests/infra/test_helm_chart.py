"""The Helm chart: lints, renders schema-valid manifests, and honours its values."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.app_settings import settings_from
from tests.infra.k8s_tools import K8sTools
from tests.infra.k8s_validation import DEFAULT_KUBERNETES_VERSION, validate_k8s_yaml
from tests.infra.layout import CHART, HELM_ALL_ON, PROBE_PATHS, Rendered

RENDERS = ("defaults", "all-on")
PROD_SECRETS = {
    "DATABASE_URL": "postgresql://stack8s:s3cr3t-pw@db.internal:5432/stack8s",
    "SUPABASE_URL": "https://abcd.supabase.co",
    "SUPABASE_JWT_SECRET": "a-real-jwt-secret-of-enough-length-0123456789",
    "VAULT_MASTER_KEY": "q2V3rX0pZ5uYwJ8mN1bC4dE7fG0hI3kL6oP9sT2vW5y=",
}


def deployments(render: Rendered) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in render.all("Deployment")}


def api_container(render: Rendered) -> dict[str, Any]:
    (container,) = render.one("Deployment", "-api")["spec"]["template"]["spec"]["containers"]
    return container


@pytest.mark.parametrize("args", [(), HELM_ALL_ON], ids=["defaults", "all-on"])
def test_chart_passes_helm_lint_strict(k8s_tools: K8sTools, args: tuple[str, ...]) -> None:
    result = k8s_tools.run("helm", "lint", "--strict", CHART, *args, check=False)

    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("version", [DEFAULT_KUBERNETES_VERSION, "1.35"])
@pytest.mark.parametrize("name", RENDERS)
def test_rendered_chart_validates_strictly(
    helm_renders: dict[str, Rendered], name: str, version: str
) -> None:
    assert validate_k8s_yaml(helm_renders[name].text, kubernetes_version=version) == []


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        (("--set", "replicaCount=three"), "/replicaCount"),
        (("--set", "vllm.gpu=2"), "'gpu' not allowed"),
        (("--set", "config.ENVIRONMENT=prod"), "/config/ENVIRONMENT"),
        (("--set", "secrets.existingSecret="), "/secrets/existingSecret"),
        (("--set", "ingress.hosts={}"), "/ingress/hosts"),
    ],
)
def test_values_schema_rejects_bad_values(
    k8s_tools: K8sTools, values: tuple[str, ...], complaint: str
) -> None:
    result = k8s_tools.run("helm", "template", "stack8s", CHART, *values, check=False)

    assert result.returncode != 0
    assert "values don't meet the specifications of the schema" in result.stderr
    assert complaint in result.stderr


def test_chart_renders_no_secret_and_reads_the_existing_one(
    helm_renders: dict[str, Rendered],
) -> None:
    render = helm_renders["defaults"]
    refs = {
        e["name"]: e["valueFrom"]["secretKeyRef"]
        for e in api_container(render)["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    }

    assert not render.all("Secret")
    assert {ref["name"] for ref in refs.values()} == {"stack8s-secrets"}
    for name in PROD_SECRETS:
        assert refs[name]["optional"] is False, name


@pytest.mark.parametrize("name", RENDERS)
def test_chart_probes_use_only_the_api_probe_paths(
    helm_renders: dict[str, Rendered], name: str
) -> None:
    render = helm_renders[name]
    for deployment in render.all("Deployment"):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                http = container.get(probe, {}).get("httpGet")
                if http:
                    assert http["path"] in PROBE_PATHS
    api = api_container(render)
    assert api["livenessProbe"]["httpGet"]["path"] == "/health"
    assert api["readinessProbe"]["httpGet"]["path"] == "/ready"


@pytest.mark.parametrize("name", RENDERS)
def test_chart_services_select_exactly_one_deployment(
    helm_renders: dict[str, Rendered], name: str
) -> None:
    render = helm_renders[name]
    for service in render.all("Service"):
        selector = service["spec"]["selector"]
        matched = [
            d
            for d in render.all("Deployment")
            if all(
                d["spec"]["template"]["metadata"]["labels"].get(k) == v for k, v in selector.items()
            )
        ]
        assert len(matched) == 1, service["metadata"]["name"]


def test_chart_points_the_api_at_the_in_release_services(
    helm_renders: dict[str, Rendered],
) -> None:
    render = helm_renders["all-on"]
    config = render.one("ConfigMap", "-config")["data"]
    services = {s["metadata"]["name"]: s for s in render.all("Service")}

    for key in ("EMBEDDINGS_HTTP_URL", "NLI_HTTP_URL", "LLM_BASE_URL"):
        host = config[key].split("//")[1].split(":")[0].split("/")[0]
        assert host in services, f"{key}={config[key]}"
    assert config["LLM_PROVIDER"] == "openai_compatible"


def test_chart_vllm_requests_nvidia_gpus(helm_renders: dict[str, Rendered]) -> None:
    (container,) = helm_renders["all-on"].one("Deployment", "-vllm")["spec"]["template"]["spec"][
        "containers"
    ]

    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert container["resources"]["requests"]["nvidia.com/gpu"] == "1"
    assert not any(name.endswith("-vllm") for name in deployments(helm_renders["defaults"]))


def test_chart_nli_model_path_reaches_the_service(helm_renders: dict[str, Rendered]) -> None:
    (container,) = helm_renders["all-on"].one("Deployment", "-nli")["spec"]["template"]["spec"][
        "containers"
    ]
    env = {e["name"]: e.get("value") for e in container["env"]}

    assert env["NLI_MODEL_PATH"] == "/models/nli"


def test_chart_default_config_is_a_production_config_the_app_accepts(
    helm_renders: dict[str, Rendered], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = helm_renders["defaults"].one("ConfigMap", "-config")["data"]

    settings = settings_from({**config, **PROD_SECRETS}, monkeypatch)

    assert settings.environment == "production"
    assert settings.auth_enabled and settings.rate_limit_enabled


def test_chart_autoscaling_off_then_fixed_replicas_and_no_hpa(k8s_tools: K8sTools) -> None:
    text = k8s_tools.helm_template(
        CHART, "--set", "autoscaling.enabled=false", "--set", "replicaCount=2"
    )

    assert "kind: HorizontalPodAutoscaler" not in text
    assert "replicas: 2" in text
    assert validate_k8s_yaml(text) == []
