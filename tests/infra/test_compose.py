"""docker-compose.yml: valid against the Compose Specification, and internally consistent."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.infra.layout import COMPOSE_FILE, INFRA, PROBE_PATHS

CORE_SERVICES = {"api", "postgres", "redis", "embeddings", "nli"}
PROFILES = {
    "local-llm": {"ollama", "vllm"},
    "monitoring": {"prometheus", "grafana", "otel-collector", "jaeger"},
}
METRICS = {
    "stack8s_http_requests_total",
    "stack8s_http_request_duration_seconds",
    "stack8s_chat_turns_total",
    "stack8s_optimizer_tokens_saved_total",
}
MONITORING = INFRA / "monitoring"

_VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::?-(?P<default>[^}]*))?\}")


def interpolate(value: str) -> str:
    """Resolve ${VAR} / ${VAR:-default} as compose does with an empty shell environment."""
    return _VARIABLE.sub(lambda m: m.group("default") or "", value)


def check_jsonschema(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            "--output-format",
            "json",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_compose_file_validates_against_compose_spec() -> None:
    result = check_jsonschema(COMPOSE_FILE)

    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["status"] == "ok"


def test_compose_spec_check_when_unknown_key_then_fails(tmp_path: Path) -> None:
    # A control: the schema really rejects what it does not define.
    broken = yaml.safe_load(COMPOSE_FILE.read_text())
    broken["services"]["api"]["healthcheck"]["intervall"] = "5s"
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump(broken))

    result = check_jsonschema(path)

    assert result.returncode != 0
    assert "intervall" in result.stdout


def test_every_service_has_a_healthcheck_or_a_stated_reason(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        healthcheck = service.get("healthcheck")
        reason = service.get("x-healthcheck-exempt")
        assert bool(healthcheck) != bool(reason), f"{name}: a healthcheck xor a reason"
        if healthcheck:
            assert not healthcheck.get("disable"), name
            assert healthcheck["test"][0] in {"CMD", "CMD-SHELL"}, name
        else:
            assert len(reason.split()) >= 5, f"{name}: say why there is no healthcheck"


def test_every_service_has_a_memory_limit(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        assert service["deploy"]["resources"]["limits"]["memory"], name


def test_services_are_grouped_into_the_documented_profiles(compose: dict[str, Any]) -> None:
    by_profile: dict[str, set[str]] = {}
    for name, service in compose["services"].items():
        for profile in service.get("profiles", ["(core)"]):
            by_profile.setdefault(profile, set()).add(name)

    assert by_profile == {"(core)": CORE_SERVICES, **PROFILES}


def test_depends_on_uses_conditions_and_health_conditions_have_healthchecks(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    for name, service in services.items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on needs conditions"
        for target, spec in depends.items():
            assert target in services, f"{name} depends on unknown {target}"
            assert spec["condition"] in {"service_started", "service_healthy"}, name
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in services[target], f"{name} waits on {target}'s health"
            # A core service must not wait on a profile that may not be running.
            if not service.get("profiles"):
                assert not services[target].get("profiles"), f"{name} -> {target}"


def test_api_waits_for_a_healthy_database_and_embedder(compose: dict[str, Any]) -> None:
    depends = compose["services"]["api"]["depends_on"]

    assert depends["postgres"]["condition"] == "service_healthy"
    assert depends["embeddings"]["condition"] == "service_healthy"


def test_healthchecks_of_our_services_probe_the_api_probe_paths(compose: dict[str, Any]) -> None:
    for name in ("api", "nli"):
        command = " ".join(compose["services"][name]["healthcheck"]["test"])
        paths = {urlsplit(url).path for url in re.findall(r"https?://[^'\" ]+", command)}
        assert paths and paths <= PROBE_PATHS, f"{name}: {paths}"


def test_api_urls_point_at_compose_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    environment = services["api"]["environment"]
    urls = {
        key: interpolate(str(value))
        for key, value in environment.items()
        if value is not None and "://" in str(value) and key != "CORS_ORIGINS"
    }

    assert {"DATABASE_URL", "EMBEDDINGS_HTTP_URL", "NLI_HTTP_URL", "REDIS_URL"} <= set(urls)
    for key, url in urls.items():
        assert urlsplit(url).hostname in services, f"{key}={url}"


def test_vllm_reserves_an_nvidia_gpu(compose: dict[str, Any]) -> None:
    devices = compose["services"]["vllm"]["deploy"]["resources"]["reservations"]["devices"]

    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]


def test_local_llm_endpoints_are_openai_compatible_paths(compose: dict[str, Any]) -> None:
    base_url = interpolate(compose["services"]["api"]["environment"]["LLM_BASE_URL"])

    assert urlsplit(base_url).hostname in PROFILES["local-llm"]
    assert urlsplit(base_url).path == "/v1"


def test_bind_mounted_files_exist(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (INFRA / source).exists(), f"{name}: {source}"
            else:
                assert source in compose["volumes"], f"{name}: undeclared volume {source}"


def test_prometheus_scrapes_the_api_metrics_endpoint(compose: dict[str, Any]) -> None:
    config = yaml.safe_load((MONITORING / "prometheus" / "prometheus.yml").read_text())
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "stack8s-api")
    api_port = compose["services"]["api"]["environment"]["PORT"]

    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"][0]["targets"] == [f"api:{api_port}"]


def test_grafana_dashboard_charts_the_api_metrics_from_the_provisioned_datasource() -> None:
    provisioned = yaml.safe_load(
        (MONITORING / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )
    uids = {source["uid"] for source in provisioned["datasources"]}
    dashboard = json.loads((MONITORING / "grafana" / "dashboards" / "stack8s-api.json").read_text())
    targets = [target for panel in dashboard["panels"] for target in panel["targets"]]
    expressions = " ".join(target["expr"] for target in targets)

    assert all(target["datasource"]["uid"] in uids for target in targets)
    assert all(panel["datasource"]["uid"] in uids for panel in dashboard["panels"])
    for metric in METRICS:
        assert metric in expressions, metric
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_otel_collector_pipelines_use_defined_components(compose: dict[str, Any]) -> None:
    config = yaml.safe_load((MONITORING / "otel-collector" / "config.yaml").read_text())

    for pipeline in config["service"]["pipelines"].values():
        for section in ("receivers", "processors", "exporters"):
            for component in pipeline.get(section, []):
                assert component in config[section], component
    endpoint = config["exporters"]["otlp/jaeger"]["endpoint"]
    assert endpoint.split(":")[0] in compose["services"]


@pytest.mark.parametrize("service", ["api", "nli"])
def test_images_built_here_have_a_dockerfile(compose: dict[str, Any], service: str) -> None:
    build = compose["services"][service]["build"]
    dockerfile = INFRA / build["context"] / build.get("dockerfile", "Dockerfile")

    assert dockerfile.resolve().is_file()
