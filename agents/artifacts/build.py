"""The files a plan ships, and the directories ``stack8s export`` writes, from one target."""

from __future__ import annotations

from typing import Literal

from agents.artifacts import compose, helm, kubernetes, skypilot
from agents.artifacts.target import DeploymentTarget
from agents.schemas import Artifact

ExportFormat = Literal["helm", "kustomize", "compose", "skypilot"]
FORMATS: tuple[ExportFormat, ...] = ("helm", "kustomize", "compose", "skypilot")
WORKLOAD_FILE = "workload.yaml"
VLLM_VALUES_FILE = "vllm-stack-values.yaml"
COMPOSE_FILE = "compose.yaml"
SKYPILOT_FILE = "skypilot.yaml"


def build_artifacts(target: DeploymentTarget) -> list[Artifact]:
    """Return every file the plan shows: manifest, Helm values (vLLM servers), compose, SkyPilot."""
    artifacts = [
        Artifact(
            kind="kubernetes_manifest",
            filename=WORKLOAD_FILE,
            content=kubernetes.manifest(target),
        ),
        Artifact(kind="compose", filename=COMPOSE_FILE, content=compose.compose_file(target)),
        Artifact(kind="skypilot", filename=SKYPILOT_FILE, content=skypilot.task_file(target)),
    ]
    if target.engine == "vLLM" and target.model_repo and target.workload == "serve":
        artifacts.insert(
            1,
            Artifact(
                kind="helm_values",
                filename=VLLM_VALUES_FILE,
                content=helm.vllm_stack_values(target),
            ),
        )
    return artifacts


def export_files(target: DeploymentTarget, fmt: ExportFormat) -> dict[str, str]:
    """Return the files of one export format by relative path.

    helm: a chart (``helm install NAME DIR``); kustomize: a base (``kubectl apply -k DIR``);
    compose: ``docker compose up``; skypilot: ``sky launch skypilot.yaml``.
    """
    if fmt == "helm":
        files = helm.chart_files(target)
        if target.engine == "vLLM" and target.model_repo and target.workload == "serve":
            # The same model on the vllm-stack chart, for clusters that run it.
            files[VLLM_VALUES_FILE] = helm.vllm_stack_values(target)
        return files
    if fmt == "kustomize":
        return {
            "kustomization.yaml": kubernetes.kustomization(),
            WORKLOAD_FILE: kubernetes.manifest(target),
        }
    if fmt == "compose":
        return {COMPOSE_FILE: compose.compose_file(target)}
    if fmt == "skypilot":
        return {SKYPILOT_FILE: skypilot.task_file(target)}
    raise ValueError(f"unknown export format {fmt!r}; expected one of {', '.join(FORMATS)}")
