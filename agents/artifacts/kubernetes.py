"""Kubernetes files from a DeploymentTarget: the workload manifest and a kustomize base.

Serving gets a Deployment (probes on the engine's health path, /dev/shm for tensor
parallelism, the node pinned to the GPU sized for), a Service, and a PodDisruptionBudget
when there is more than one replica. Training and fine-tuning get a Job, or a PyTorchJob or
RayJob when the plan's stack installs that operator; an offline batch (an audio backlog, or
documents for an LLM) an Indexed Job over a data volume, started each night by a CronJob when
the load is stated per day. CPU targets request no ``nvidia.com/gpu`` anywhere.
"""

from __future__ import annotations

import math
from typing import Any

from agents.artifacts.engines import RAY_VERSION, server
from agents.artifacts.hardware import GPU_PRODUCT_LABELS
from agents.artifacts.target import DeploymentTarget
from agents.artifacts.workloads import BATCH_TIME_ZONE
from agents.artifacts.yaml_io import dump, dump_all

# /dev/shm for NCCL between tensor-parallel ranks; Docker's default 64 MB is far too small.
SHM_SIZE = "16Gi"
# vLLM loads and (for FP8) quantizes the weights before /health answers: wait up to 30 min.
STARTUP_FAILURES = 180
PROBE_PERIOD_S = 10


def labels(target: DeploymentTarget) -> dict[str, str]:
    """Return the workload's labels (a fresh dict: shared ones would dump as YAML anchors)."""
    return {"app.kubernetes.io/name": target.name, "app.kubernetes.io/part-of": "stack8s-plan"}


def resources(target: DeploymentTarget) -> dict[str, Any]:
    """Return requests and limits equal to the instance share the target sized for."""
    requests: dict[str, Any] = {}
    if target.cpu:
        requests["cpu"] = f"{target.cpu:g}"
    if target.memory_gb:
        requests["memory"] = f"{math.floor(target.memory_gb)}G"
    requests.setdefault("cpu", "4")
    requests.setdefault("memory", "16Gi")
    # Memory is capped at the request (no overcommit that ends in an OOM kill); CPU is not.
    limits: dict[str, Any] = {"memory": requests["memory"]}
    if target.gpu_count and not target.cpu_only:
        requests["nvidia.com/gpu"] = target.gpu_count
        limits["nvidia.com/gpu"] = target.gpu_count
    return {"requests": requests, "limits": limits}


def _probe(path: str, port: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": port},
        "periodSeconds": PROBE_PERIOD_S,
        "failureThreshold": failures,
    }


def container(target: DeploymentTarget) -> dict[str, Any]:
    """Return the engine's container: image, start-up, ports, probes, resources, volumes."""
    srv = server(target)
    spec: dict[str, Any] = {"name": "server", "image": target.image}
    if srv.command:
        spec["command"] = list(srv.command)
    if srv.args:
        spec["args"] = list(srv.args)
    env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in srv.env.items()]
    if target.workload == "batch":
        # The Indexed Job's workers split the files: each takes its JOB_COMPLETION_INDEX share.
        env.append({"name": "JOB_WORKERS", "value": str(target.replicas)})
    if target.model_repo and target.engine != "Ollama":
        env.append(
            {
                "name": "HF_TOKEN",
                "valueFrom": {
                    "secretKeyRef": {"name": "hf-token", "key": "token", "optional": True}
                },
            }
        )
    if env:
        spec["env"] = env
    if srv.port:
        spec["ports"] = [{"containerPort": srv.port, "name": "http"}]
    if srv.port and srv.health_path:
        if srv.ready_command:
            ready = {"exec": {"command": list(srv.ready_command)}, "periodSeconds": PROBE_PERIOD_S}
            spec["startupProbe"] = {**ready, "failureThreshold": STARTUP_FAILURES}
            spec["readinessProbe"] = {**ready, "failureThreshold": 3}
        else:
            spec["startupProbe"] = _probe(srv.health_path, srv.port, STARTUP_FAILURES)
            spec["readinessProbe"] = _probe(srv.health_path, srv.port, 3)
        spec["livenessProbe"] = _probe(srv.health_path, srv.port, 6)
    spec["resources"] = resources(target)
    mounts = []
    if srv.model_volume:
        mounts.append({"name": "model-cache", "mountPath": srv.model_volume})
    if srv.data_volume:
        mounts.append({"name": "data", "mountPath": srv.data_volume})
    if target.tensor_parallel > 1 or target.workload == "train" and target.gpu_count > 1:
        mounts.append({"name": "dshm", "mountPath": "/dev/shm"})
    if mounts:
        spec["volumeMounts"] = mounts
    return spec


def _affinity(target: DeploymentTarget) -> dict[str, Any] | None:
    """Pin the pod to nodes with the GPU sized for (labels from GPU feature discovery)."""
    if target.cpu_only or not target.gpu_model:
        return None
    products = GPU_PRODUCT_LABELS.get(target.gpu_model)
    if products:
        expression = {"key": "nvidia.com/gpu.product", "operator": "In", "values": list(products)}
    else:
        # Unknown board names: at least the memory sized for (the label is in MiB).
        mib = int((target.gpu_memory_gb or 0) * 1000**3 / 1024**2 * 0.95)
        expression = {"key": "nvidia.com/gpu.memory", "operator": "Gt", "values": [str(mib)]}
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [expression]}]
            }
        }
    }


def pod_spec(target: DeploymentTarget) -> dict[str, Any]:
    """Return the pod: the container, its volumes, its node placement."""
    spec: dict[str, Any] = {"containers": [container(target)]}
    volumes: list[dict[str, Any]] = []
    if server(target).model_volume:
        volumes.append({"name": "model-cache", "emptyDir": {}})
    if server(target).data_volume:
        claim = data_claim(target)
        volumes.append({"name": "data", "persistentVolumeClaim": {"claimName": claim}})
    if target.tensor_parallel > 1 or target.workload == "train" and target.gpu_count > 1:
        volumes.append({"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": SHM_SIZE}})
    if volumes:
        spec["volumes"] = volumes
    affinity = _affinity(target)
    if affinity:
        spec["affinity"] = affinity
        spec["tolerations"] = [
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
        ]
    if target.arch == "arm64":
        spec["nodeSelector"] = {"kubernetes.io/arch": "arm64"}
    if target.workload in ("train", "batch"):
        spec["restartPolicy"] = "Never"
    return spec


def data_claim(target: DeploymentTarget) -> str:
    """Return the PersistentVolumeClaim a batch job reads and writes (the user provides it)."""
    return f"{target.name}-data"


def documents(target: DeploymentTarget) -> list[dict[str, Any]]:
    """Return the workload's Kubernetes objects."""
    metadata = {"name": target.name, "labels": labels(target)}
    template = {"metadata": {"labels": labels(target)}, "spec": pod_spec(target)}
    if target.workload == "train" and target.launcher == "PyTorchJob":
        return [pytorch_job(target, metadata, template)]
    if target.workload == "train" and target.launcher == "RayJob":
        return [ray_job(target, metadata, template)]
    if target.workload in ("train", "batch"):
        spec: dict[str, Any] = {"backoffLimit": 1, "template": template}
        if target.workload == "batch":
            # Each pod takes its share of the files (JOB_COMPLETION_INDEX), so the batch
            # splits across the replicas planned; a retried pod skips finished files.
            spec = {
                "completionMode": "Indexed",
                "completions": target.replicas,
                "parallelism": target.replicas,
                "backoffLimitPerIndex": 2,
                "template": template,
            }
        if target.schedule:
            # A day's batch: one run a night, never two at once (Forbid), each run's Job
            # kept a day for its logs.
            cron = {
                "schedule": target.schedule,
                "timeZone": BATCH_TIME_ZONE,
                "concurrencyPolicy": "Forbid",
                "jobTemplate": {"spec": {**spec, "ttlSecondsAfterFinished": 86400}},
            }
            return [
                {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": metadata, "spec": cron}
            ]
        return [{"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": spec}]
    deployment: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {
            "replicas": target.replicas,
            "selector": {"matchLabels": {"app.kubernetes.io/name": target.name}},
            "template": template,
        },
    }
    if target.gpu_count and not target.cpu_only and target.replicas == 1:
        # A rolling update would start a second pod that needs GPUs the node does not have.
        deployment["spec"]["strategy"] = {"type": "Recreate"}
    docs: list[dict[str, Any]] = [deployment]
    if server(target).port:
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": target.name, "labels": labels(target)},
                "spec": {
                    "selector": {"app.kubernetes.io/name": target.name},
                    "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
                },
            }
        )
    if target.replicas > 1:
        docs.append(
            {
                "apiVersion": "policy/v1",
                "kind": "PodDisruptionBudget",
                "metadata": {"name": target.name, "labels": labels(target)},
                "spec": {
                    "maxUnavailable": 1,
                    "selector": {"matchLabels": {"app.kubernetes.io/name": target.name}},
                },
            }
        )
    return docs


def pytorch_job(
    target: DeploymentTarget, metadata: dict[str, Any], template: dict[str, Any]
) -> dict[str, Any]:
    """Return a Kubeflow training-operator PyTorchJob: one master running torchrun."""
    pod = template["spec"]
    # The operator finds the training container by this name (and sets its rendezvous env).
    pod["containers"][0]["name"] = "pytorch"
    pod.pop("restartPolicy", None)
    return {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": metadata,
        "spec": {
            "nprocPerNode": str(max(target.gpu_count, 1)),
            "runPolicy": {"backoffLimit": 1, "cleanPodPolicy": "None"},
            "pytorchReplicaSpecs": {
                "Master": {"replicas": 1, "restartPolicy": "OnFailure", "template": template}
            },
        },
    }


def ray_job(
    target: DeploymentTarget, metadata: dict[str, Any], template: dict[str, Any]
) -> dict[str, Any]:
    """Return a KubeRay RayJob: a one-node Ray cluster on the instance runs train.py."""
    pod = template["spec"]
    pod["containers"][0]["name"] = "ray-head"
    pod.pop("restartPolicy", None)
    start = {"dashboard-host": "0.0.0.0"}
    if target.gpu_count and not target.cpu_only:
        start["num-gpus"] = str(target.gpu_count)
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": metadata,
        "spec": {
            "entrypoint": "python train.py",
            "shutdownAfterJobFinishes": True,
            "ttlSecondsAfterFinished": 600,
            "rayClusterSpec": {
                "rayVersion": RAY_VERSION,
                "headGroupSpec": {"rayStartParams": start, "template": template},
            },
        },
    }


def pod_templates(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the pod templates of a workload object: Deployment, (Cron)Job, PyTorchJob, RayJob."""
    spec = doc.get("spec") or {}
    if doc.get("kind") == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    if doc.get("kind") == "PyTorchJob":
        return [r["template"] for r in (spec.get("pytorchReplicaSpecs") or {}).values()]
    if doc.get("kind") == "RayJob":
        cluster = spec.get("rayClusterSpec") or {}
        groups = [cluster.get("headGroupSpec") or {}, *(cluster.get("workerGroupSpecs") or [])]
        return [g["template"] for g in groups if "template" in g]
    return [spec["template"]] if "template" in spec else []


def manifest(target: DeploymentTarget) -> str:
    """Return the workload manifest as multi-document YAML."""
    return dump_all(documents(target))


def kustomization() -> str:
    """Return a kustomization.yaml that applies workload.yaml (``kubectl apply -k``)."""
    return dump(
        {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": ["workload.yaml"],
        }
    )
