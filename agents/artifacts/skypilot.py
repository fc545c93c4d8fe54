"""A SkyPilot task from a DeploymentTarget: ``sky launch`` runs the engine on a cloud VM.

Fields follow SkyPilot's task schema (sky/utils/schemas.py): ``resources`` with cloud,
region, accelerators, use_spot, disk_size, ports and a Docker ``image_id``; ``run`` is the
engine's command inside that image.
"""

from __future__ import annotations

import shlex
from typing import Any

from agents.artifacts.engines import DATA_DIR, server
from agents.artifacts.target import DeploymentTarget
from agents.artifacts.yaml_io import dump

# Providers SkyPilot launches on (its ALL_CLOUDS) that the instance catalog also prices; a
# plan on anything else (the user's own servers) leaves the cloud for SkyPilot to choose.
SKYPILOT_CLOUDS = frozenset(
    {"aws", "azure", "gcp", "lambda", "oci", "runpod", "vast", "nebius", "kubernetes", "do",
     "paperspace", "fluidstack", "cudo", "ibm", "scp", "hyperbolic", "primeintellect"}
)  # fmt: skip
# The vLLM image's entrypoint: SkyPilot runs ``run`` in the container instead of it.
VLLM_SERVER = ["python3", "-m", "vllm.entrypoints.openai.api_server"]
TEI_SERVER = ["text-embeddings-router"]
TGI_SERVER = ["text-generation-launcher"]


def run_command(target: DeploymentTarget) -> str:
    """Return the shell command that starts the engine."""
    srv = server(target)
    if srv.command == ["/bin/sh", "-c"]:
        # A script alone runs as it is; one with arguments (an LLM batch's engine flags) is
        # handed them as the container gets them.
        return srv.args[0] if len(srv.args) == 1 else shlex.join(["/bin/sh", "-c", *srv.args])
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in srv.env.items())
    prefix = {"vLLM": VLLM_SERVER, "TEI": TEI_SERVER, "TGI": TGI_SERVER}.get(target.engine, [])
    words = [*(srv.command or []), *prefix, *srv.args]
    return (f"export {exports}; " if exports else "") + shlex.join(words)


def task(target: DeploymentTarget) -> dict[str, Any]:
    """Return the task as data."""
    srv = server(target)
    resources: dict[str, Any] = {}
    if target.provider in SKYPILOT_CLOUDS:
        resources["cloud"] = target.provider
        if target.region:
            resources["region"] = target.region
    if target.gpu_count and not target.cpu_only and target.gpu_model:
        resources["accelerators"] = {target.gpu_model: target.gpu_count}
    if target.cpu:
        resources["cpus"] = f"{target.cpu:g}+"
    if target.memory_gb:
        resources["memory"] = f"{int(target.memory_gb)}+"
    resources["use_spot"] = target.use_spot
    resources["disk_size"] = target.disk_gb
    if srv.port:
        resources["ports"] = srv.port
    resources["image_id"] = f"docker:{target.image}"
    document: dict[str, Any] = {"name": target.name, "resources": resources}
    if target.workload == "train":
        # The training script (train.py) is synced from the directory sky launch runs in.
        document["workdir"] = "."
    if srv.data_volume:
        # A batch reads and writes its directories (audio/ and transcripts/, or requests/
        # and results/) in the directory sky launch syncs, not on a volume.
        document["workdir"] = "."
        prefix = f"{DATA_DIR}/"
        document["envs"] = {k: v.removeprefix(prefix) for k, v in srv.env.items()}
    if target.model_repo and target.engine != "Ollama":
        # Passed at launch: sky launch --secret HF_TOKEN.
        document["secrets"] = {"HF_TOKEN": None}
    document["run"] = run_command(target)
    return document


def task_file(target: DeploymentTarget) -> str:
    """Return skypilot.yaml for ``sky launch``."""
    return dump(task(target))
