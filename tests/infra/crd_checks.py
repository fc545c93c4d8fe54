"""Check the custom resources a plan writes (PyTorchJob, RayJob) without their CRDs.

No CRD schema of the Kubeflow training operator or of KubeRay ships in a package we install,
so each object is checked in two parts: its pod templates against the Kubernetes core schema
(strict, as a ``v1/PodTemplate``), and the fields around them structurally, against the
fields and types those CRDs define (kubeflow.org/v1 PyTorchJob, ray.io/v1 RayJob, read from
the operators' Go API types). The API server prunes unknown fields of a custom resource
silently; here they are errors.
"""

from __future__ import annotations

from typing import Any

import yaml

from tests.infra.k8s_validation import safe_load_all, validate_k8s_yaml

CRD_KINDS = {
    "kubeflow.org/v1/PyTorchJob": "custom resource: checked by tests/infra/crd_checks.py",
    "ray.io/v1/RayJob": "custom resource: checked by tests/infra/crd_checks.py",
}

# The fields each object may carry, from the CRDs' OpenAPI schemas; a dict is an object with
# those keys, a type a leaf, "template" a pod template checked with the core schema.
_REPLICA_SPEC = {"replicas": int, "restartPolicy": str, "template": "template"}
PYTORCH_JOB = {
    "elasticPolicy": dict,
    "nprocPerNode": str,
    "runPolicy": {
        "activeDeadlineSeconds": int,
        "backoffLimit": int,
        "cleanPodPolicy": str,
        "managedBy": str,
        "schedulingPolicy": dict,
        "suspend": bool,
        "ttlSecondsAfterFinished": int,
    },
    "pytorchReplicaSpecs": {"Master": _REPLICA_SPEC, "Worker": _REPLICA_SPEC},
}
_GROUP = {"rayStartParams": dict, "template": "template", "serviceType": str}
RAY_JOB = {
    "entrypoint": str,
    "runtimeEnvYAML": str,
    "shutdownAfterJobFinishes": bool,
    "ttlSecondsAfterFinished": int,
    "activeDeadlineSeconds": int,
    "backoffLimit": int,
    "submissionMode": str,
    "suspend": bool,
    "rayClusterSpec": {
        "rayVersion": str,
        "enableInTreeAutoscaling": bool,
        "headGroupSpec": _GROUP,
        "workerGroupSpecs": [
            {"groupName": str, "replicas": int, "minReplicas": int, "maxReplicas": int, **_GROUP}
        ],
    },
}
SPECS = {"PyTorchJob": PYTORCH_JOB, "RayJob": RAY_JOB}


def _walk(value: Any, shape: Any, path: str, templates: list[tuple[str, Any]]) -> list[str]:
    if shape == "template":
        templates.append((path, value))
        return []
    if isinstance(shape, list):
        if not isinstance(value, list):
            return [f"{path}: expected a list"]
        return [
            e
            for i, item in enumerate(value)
            for e in _walk(item, shape[0], f"{path}[{i}]", templates)
        ]
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            return [f"{path}: expected an object"]
        errors = [f"{path}.{key}: not a field of the CRD" for key in value if key not in shape]
        for key, item in value.items():
            if key in shape:
                errors += _walk(item, shape[key], f"{path}.{key}", templates)
        return errors
    if shape is int and isinstance(value, bool) or not isinstance(value, shape):
        return [f"{path}: {value!r} is not a {shape.__name__}"]
    if shape is dict and not all(isinstance(v, str) for v in value.values()):
        # rayStartParams and the like are string maps in the CRDs.
        return [f"{path}: values must be strings"] if path.endswith("rayStartParams") else []
    return []


def crd_errors(yaml_text: str) -> list[str]:
    """Return the problems of every PyTorchJob and RayJob in a (multi-document) manifest."""
    errors: list[str] = []
    for doc in safe_load_all(yaml_text):
        if not isinstance(doc, dict) or doc.get("kind") not in SPECS:
            continue
        kind, name = doc["kind"], doc.get("metadata", {}).get("name", "?")
        templates: list[tuple[str, Any]] = []
        found = _walk(doc.get("spec"), SPECS[kind], "spec", templates)
        errors += [f"{kind}/{name}: {e}" for e in found]
        if not templates:
            errors.append(f"{kind}/{name}: no pod template")
        for path, template in templates:
            pod = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": name}}
            pod["template"] = template
            found = validate_k8s_yaml(yaml.safe_dump(pod))
            errors += [f"{kind}/{name} {path}: {e}" for e in found]
    return errors
