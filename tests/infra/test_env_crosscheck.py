"""Every setting the app reads is wired into every way of deploying it.

The field list is read from core.settings.Settings at test time, so a new setting fails here
until the ConfigMap or Secret, the compose file and the Helm chart carry it.
"""

from __future__ import annotations

from typing import Any

from tests.infra.app_settings import optional_env_names, settings_env_names
from tests.infra.layout import Rendered

# Settings that deliberately stay out of the cluster configuration. Each needs a reason.
LOCAL_ONLY = {
    # Only for EMBEDDINGS_PROVIDER=local reading a model from the developer's disk. Clusters use
    # TEI over HTTP (or the MiniLM packaged in the image), and an empty value would be read as
    # a path, so the variable must be absent there. compose passes it through from the shell.
    "EMBEDDINGS_MODEL_PATH": "a local filesystem path for the local embedder",
}


def configmap_data(render: Rendered) -> dict[str, str]:
    return dict(render.one("ConfigMap", "config")["data"])


def api_container(render: Rendered) -> dict[str, Any]:
    deployment = render.one("Deployment", "api")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def secret_refs(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        entry["name"]: entry["valueFrom"]["secretKeyRef"]
        for entry in container.get("env", [])
        if "secretKeyRef" in entry.get("valueFrom", {})
    }


def test_allowlist_names_real_settings_with_reasons() -> None:
    assert set(LOCAL_ONLY) <= settings_env_names()
    assert all(reason.strip() for reason in LOCAL_ONLY.values())


def test_every_setting_is_in_the_k8s_configmap_or_secret_example(
    kustomize_renders: dict[str, Rendered], secret_example: dict[str, Any]
) -> None:
    wired = set(configmap_data(kustomize_renders["base"])) | set(secret_example["stringData"])

    missing = settings_env_names() - wired - set(LOCAL_ONLY)

    assert not missing, f"add to infra/k8s/base/config.env or secret.example.yaml: {missing}"


def test_every_setting_is_in_the_compose_api_environment(compose: dict[str, Any]) -> None:
    environment = compose["services"]["api"]["environment"]

    missing = settings_env_names() - set(environment)

    assert not missing, f"add to the api service of infra/docker-compose.yml: {missing}"


def test_every_setting_is_in_the_helm_configmap_or_secret_keys(
    helm_renders: dict[str, Rendered],
) -> None:
    render = helm_renders["defaults"]
    wired = set(configmap_data(render)) | set(secret_refs(api_container(render)))

    missing = settings_env_names() - wired - set(LOCAL_ONLY)

    assert not missing, f"add to config or secrets in infra/helm/stack8s/values.yaml: {missing}"


def test_secrets_and_configmap_do_not_overlap(
    kustomize_renders: dict[str, Rendered], secret_example: dict[str, Any]
) -> None:
    assert not set(configmap_data(kustomize_renders["base"])) & set(secret_example["stringData"])


def test_every_secret_example_key_is_wired_into_the_api_and_nothing_else(
    kustomize_renders: dict[str, Rendered], secret_example: dict[str, Any]
) -> None:
    refs = secret_refs(api_container(kustomize_renders["base"]))

    assert set(refs) == set(secret_example["stringData"])
    for env_name, ref in refs.items():
        assert ref["key"] == env_name
        assert ref["name"] == secret_example["metadata"]["name"]


def test_compose_leaves_optional_settings_unset_rather_than_empty(compose: dict[str, Any]) -> None:
    # A None-default setting given "" is no longer None (and "" is not a valid provider name).
    environment = compose["services"]["api"]["environment"]
    for name in optional_env_names():
        value = environment[name]
        assert value is None or str(value).strip(), name
        assert not str(value).endswith(":-}"), name


def test_k8s_configmap_has_no_empty_values(kustomize_renders: dict[str, Rendered]) -> None:
    for name, render in kustomize_renders.items():
        empty = [key for key, value in configmap_data(render).items() if value == ""]
        assert not empty, f"{name}: {empty}"
