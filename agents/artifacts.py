"""Deployment files a plan ships: a Kubernetes manifest, Helm values and a compose snippet.

Built as data and dumped with PyYAML, so they always parse; GPU requests use the
``nvidia.com/gpu`` extended resource that the NVIDIA device plugin advertises.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from agents.schemas import Artifact, ServingEngine

IMAGES: dict[str, str] = {
    "vLLM": "vllm/vllm-openai:v0.10.1",
    "Ollama": "ollama/ollama:0.11.4",
    "TEI": "ghcr.io/huggingface/text-embeddings-inference:1.8",
    "Triton": "nvcr.io/nvidia/tritonserver:25.07-py3",
    "TGI": "ghcr.io/huggingface/text-generation-inference:3.3.4",
    "TensorRT-LLM": "nvcr.io/nvidia/tritonserver:25.07-trtllm-python-py3",
    "training stack": "pytorch/pytorch:2.7.1-cuda12.6-cudnn9-runtime",
}
# libyaml's C emitter: the pure-Python one costs tens of milliseconds a plan.
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

PORTS = {"vLLM": 8000, "Ollama": 11434, "TEI": 80, "Triton": 8000, "TGI": 80}


def _name(model_id: str | None, engine: str) -> str:
    base = (model_id or engine).split("/")[-1].lower()
    return re.sub(r"[^a-z0-9-]+", "-", base).strip("-")[:50] or "model"


def _container(engine: ServingEngine, model_id: str | None, gpus: int) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "server", "image": IMAGES[engine]}
    if engine == "vLLM" and model_id:
        container["args"] = [
            "--model",
            model_id,
            "--tensor-parallel-size",
            str(gpus),
            "--gpu-memory-utilization",
            "0.9",
        ]
        container["env"] = [
            {
                "name": "HF_TOKEN",
                "valueFrom": {
                    "secretKeyRef": {"name": "hf-token", "key": "token", "optional": True}
                },
            }
        ]
    elif engine == "TEI" and model_id:
        container["args"] = ["--model-id", model_id]
    elif engine == "training stack":
        container["command"] = ["torchrun", f"--nproc_per_node={max(gpus, 1)}", "train.py"]
    if engine in PORTS:
        container["ports"] = [{"containerPort": PORTS[engine], "name": "http"}]
    limits: dict[str, Any] = {"nvidia.com/gpu": gpus} if gpus else {"cpu": "4", "memory": "16Gi"}
    container["resources"] = {"limits": limits}
    return container


def kubernetes_manifest(engine: ServingEngine, model_id: str | None, gpus: int) -> str:
    """Return the workload (Deployment + Service, or a Job for training) as YAML."""
    name = _name(model_id, engine)

    def labels() -> dict[str, str]:
        # A fresh dict each time: shared objects would be dumped as YAML anchors.
        return {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "stack8s-plan"}

    pod_spec: dict[str, Any] = {"containers": [_container(engine, model_id, gpus)]}
    if engine == "training stack":
        pod_spec["restartPolicy"] = "Never"
        job = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name, "labels": labels()},
            "spec": {
                "backoffLimit": 1,
                "template": {"metadata": {"labels": labels()}, "spec": pod_spec},
            },
        }
        return yaml.dump(job, Dumper=_DUMPER, sort_keys=False)
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels()},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            "template": {"metadata": {"labels": labels()}, "spec": pod_spec},
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": labels()},
        "spec": {
            "selector": {"app.kubernetes.io/name": name},
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
        },
    }
    return yaml.dump_all([deployment, service], Dumper=_DUMPER, sort_keys=False)


def vllm_stack_values(model_id: str, gpus: int) -> str:
    """Return values for the vllm-stack Helm chart serving ``model_id``."""
    values = {
        "servingEngineSpec": {
            "modelSpec": [
                {
                    "name": _name(model_id, "vLLM"),
                    "repository": "vllm/vllm-openai",
                    "tag": IMAGES["vLLM"].split(":")[1],
                    "modelURL": model_id,
                    "replicaCount": 1,
                    "requestCPU": 8,
                    "requestMemory": "64Gi",
                    "requestGPU": gpus,
                    "vllmConfig": {"tensorParallelSize": gpus, "gpuMemoryUtilization": 0.9},
                }
            ]
        }
    }
    return yaml.dump(values, Dumper=_DUMPER, sort_keys=False)


def compose_snippet(engine: ServingEngine, model_id: str | None, gpus: int) -> str:
    """Return a docker compose service for trying the engine on one machine."""
    container = _container(engine, model_id, gpus)
    service: dict[str, Any] = {"image": container["image"]}
    if "args" in container:
        service["command"] = container["args"]
    if engine in PORTS:
        service["ports"] = [f"{PORTS[engine]}:{PORTS[engine]}"]
    if gpus:
        service["deploy"] = {
            "resources": {
                "reservations": {
                    "devices": [{"driver": "nvidia", "count": gpus, "capabilities": ["gpu"]}]
                }
            }
        }
    return yaml.dump(
        {"services": {_name(model_id, engine): service}}, Dumper=_DUMPER, sort_keys=False
    )


def build_artifacts(engine: ServingEngine, model_id: str | None, gpus: int) -> list[Artifact]:
    """Return every file the plan ships for its engine."""
    artifacts = [
        Artifact(
            kind="kubernetes_manifest",
            filename="workload.yaml",
            content=kubernetes_manifest(engine, model_id, gpus),
        ),
        Artifact(
            kind="compose", filename="compose.yaml", content=compose_snippet(engine, model_id, gpus)
        ),
    ]
    if engine == "vLLM" and model_id:
        artifacts.insert(
            1,
            Artifact(
                kind="helm_values",
                filename="vllm-stack-values.yaml",
                content=vllm_stack_values(model_id, max(gpus, 1)),
            ),
        )
    return artifacts
