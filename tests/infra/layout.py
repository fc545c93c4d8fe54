"""Where the infrastructure files are, and how rendered manifests are held."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from tests.infra.k8s_tools import REPO_ROOT

INFRA = REPO_ROOT / "infra"
K8S = INFRA / "k8s"
CHART = INFRA / "helm" / "stack8s"
COMPOSE_FILE = INFRA / "docker-compose.yml"
OVERLAYS = ("dev", "staging", "prod", "prod-gpu")

# The API serves these (api/routes/health.py); every probe of ours must use one of them.
PROBE_PATHS = {"/health", "/ready"}

# Values files for `helm template` beyond the defaults: everything optional switched on.
HELM_ALL_ON = ("--set", "vllm.enabled=true", "--set", "nli.modelPath=/models/nli")


@dataclass(frozen=True)
class Rendered:
    """One rendered set of manifests."""

    name: str
    text: str
    objects: list[dict[str, Any]]

    def one(self, kind: str, name_part: str = "") -> dict[str, Any]:
        """Return the only object of a kind whose name contains name_part."""
        found = [
            obj
            for obj in self.objects
            if obj["kind"] == kind and name_part in obj["metadata"]["name"]
        ]
        assert len(found) == 1, f"{self.name}: {len(found)} {kind} matching {name_part!r}"
        return found[0]

    def all(self, kind: str) -> list[dict[str, Any]]:
        """Return every object of a kind."""
        return [obj for obj in self.objects if obj["kind"] == kind]


def rendered(name: str, text: str) -> Rendered:
    return Rendered(name, text, [doc for doc in yaml.safe_load_all(text) if doc])
