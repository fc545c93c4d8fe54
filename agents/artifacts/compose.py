"""A docker compose file from a DeploymentTarget: the same engine on one machine."""

from __future__ import annotations

from typing import Any

from agents.artifacts.engines import server
from agents.artifacts.target import DeploymentTarget
from agents.artifacts.yaml_io import dump

SHM_SIZE = "16gb"


def service(target: DeploymentTarget) -> dict[str, Any]:
    """Return the compose service: image, start-up, port, cache volume, GPUs or CPU limits."""
    srv = server(target)
    spec: dict[str, Any] = {"image": target.image}
    if target.arch == "arm64":
        spec["platform"] = "linux/arm64"
    if srv.command:
        spec["entrypoint"] = list(srv.command)
    if srv.args:
        # Compose substitutes $NAME in every value: a shell script's own $ are written $$.
        script = srv.command == ["/bin/sh", "-c"]
        spec["command"] = [a.replace("$", "$$") if script else a for a in srv.args]
    env = dict(srv.env)
    if target.model_repo and target.engine != "Ollama":
        env["HF_TOKEN"] = "${HF_TOKEN:-}"
    if env:
        spec["environment"] = env
    if srv.port:
        spec["ports"] = [f"{srv.port}:{srv.port}"]
    if srv.model_volume:
        spec["volumes"] = [f"model-cache:{srv.model_volume}"]
    if srv.data_volume:
        # The batch's inputs and outputs under ./data (audio/ or requests/ in, transcripts/
        # or results/ out).
        spec.setdefault("volumes", []).append(f"./data:{srv.data_volume}")
    if target.tensor_parallel > 1 or target.gpu_count > 1:
        spec["shm_size"] = SHM_SIZE
    resources: dict[str, Any] = {}
    if target.cpu or target.memory_gb:
        limits: dict[str, Any] = {}
        if target.cpu:
            limits["cpus"] = f"{target.cpu:g}"
        if target.memory_gb:
            # Compose reads "g" as GiB; the target counts GB.
            limits["memory"] = f"{int(target.memory_gb / 1.073741824)}g"
        resources["limits"] = limits
    if target.gpu_count and not target.cpu_only:
        resources["reservations"] = {
            "devices": [{"driver": "nvidia", "count": target.gpu_count, "capabilities": ["gpu"]}]
        }
    if resources:
        spec["deploy"] = {"resources": resources}
    if target.workload in ("train", "batch"):
        spec["restart"] = "no"
    return spec


def compose_file(target: DeploymentTarget) -> str:
    """Return compose.yaml for ``docker compose up``."""
    document: dict[str, Any] = {"services": {target.name: service(target)}}
    if server(target).model_volume:
        document["volumes"] = {"model-cache": {}}
    return dump(document)
