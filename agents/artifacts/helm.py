"""Helm files from a DeploymentTarget: values for the vllm-stack chart, and a small chart.

The chart is what ``stack8s export --format helm`` writes: ``helm install NAME DIR`` applies
the same workload as workload.yaml, with the replica count and image as values (checked by
the chart's values.schema.json).
"""

from __future__ import annotations

import json
from typing import Any

from agents.artifacts.kubernetes import documents, pod_templates
from agents.artifacts.target import DeploymentTarget
from agents.artifacts.yaml_io import dump, dump_all

CHART_VERSION = "0.1.0"
# Stand-ins dumped as strings, then swapped for template expressions.
_REPLICAS = "__STACK8S_REPLICAS__"
_IMAGE = "__STACK8S_IMAGE__"


def vllm_stack_values(target: DeploymentTarget) -> str:
    """Return values for the vllm-stack Helm chart serving the target's model."""
    config: dict[str, Any] = {
        "tensorParallelSize": target.tensor_parallel,
        "gpuMemoryUtilization": target.gpu_memory_utilization or 0.9,
    }
    if target.max_model_len:
        config["maxModelLen"] = target.max_model_len
    if target.dtype:
        config["dtype"] = target.dtype
    extra = []
    if target.quantization:
        extra += ["--quantization", target.quantization]
    extra += ["--kv-cache-dtype", target.kv_cache_dtype]
    config["extraArgs"] = extra
    repository, tag = target.image.rsplit(":", 1)
    spec: dict[str, Any] = {
        "name": target.name,
        "repository": repository,
        "tag": tag,
        "modelURL": target.model_repo,
        "replicaCount": target.replicas,
        "requestCPU": int(target.cpu or 8),
        "requestMemory": f"{int(target.memory_gb or 64)}Gi",
        "requestGPU": target.gpu_count,
        "vllmConfig": config,
    }
    return dump({"servingEngineSpec": {"modelSpec": [spec]}})


def values_schema() -> dict[str, Any]:
    """Return the chart's values.schema.json."""
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "additionalProperties": False,
        "required": ["replicaCount", "image"],
        "properties": {
            "replicaCount": {"type": "integer", "minimum": 1},
            "image": {"type": "string", "minLength": 1},
        },
    }


def chart_files(target: DeploymentTarget) -> dict[str, str]:
    """Return the chart's files by path: Chart.yaml, values, schema, the workload template."""
    docs = documents(target)
    for doc in docs:
        if doc["kind"] == "Deployment":
            doc["spec"]["replicas"] = _REPLICAS
        for pod in pod_templates(doc):
            for c in pod["spec"]["containers"]:
                c["image"] = _IMAGE
    template = (
        dump_all(docs)
        .replace(_REPLICAS, "{{ .Values.replicaCount }}")
        .replace(_IMAGE, "{{ .Values.image | quote }}")
    )
    chart = {
        "apiVersion": "v2",
        "name": target.name,
        "description": f"{target.engine} serving {target.model_id or target.name} (stack8s plan)",
        "type": "application",
        "version": CHART_VERSION,
        "appVersion": target.image.rsplit(":", 1)[-1],
    }
    values = {"replicaCount": target.replicas, "image": target.image}
    return {
        "Chart.yaml": dump(chart),
        "values.yaml": dump(values),
        "values.schema.json": json.dumps(values_schema(), indent=2) + "\n",
        "templates/workload.yaml": template,
    }
