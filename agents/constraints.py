"""The user's constraints in the plan: own hardware, and warnings for what cannot be met.

The user's own GPUs become the place to run when the model fits them; every constraint the
plan could not honour is named (a provider we do not price, GPUs or a GPU count that cannot
carry the model, machines too small).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agents.reading.words import UNKNOWN_PROVIDERS
from agents.schemas import WorkloadSpec

OWN_PROVIDER = "own"
OWN_REGION = "on-premises"
# Share of GPU memory a serving engine may use (vLLM's default), as in the compute search.
GPU_MEMORY_UTILIZATION = 0.9
TP_DEGREES = (1, 2, 4, 8)


def _gpus(count: int) -> str:
    return f"{count} GPU" + ("" if count == 1 else "s")


def own_fit(
    spec: WorkloadSpec, fit: Mapping[str, Any] | None, gpu_memory_gb: float | None
) -> tuple[int | None, str]:
    """Return the smallest TP degree within one of the user's nodes that holds the model.

    Returns:
        (TP degree, or None when the nodes cannot hold it; what was compared, in words).

    """
    own = spec.own_hardware
    per_node = own.gpus_per_node or 1
    needs = {int(tp): float(gb) for tp, gb in ((fit or {}).get("per_gpu_gb_by_tp") or {}).items()}
    if not needs or not gpu_memory_gb:
        return None, "the model's memory need or the GPU's memory is unknown"
    usable = gpu_memory_gb * GPU_MEMORY_UTILIZATION
    for tp in TP_DEGREES:
        if tp <= per_node and tp in needs and needs[tp] <= usable:
            return tp, f"{needs[tp]:.1f} GB per GPU at TP {tp} ≤ {usable:.1f} GB usable"
    smallest = min(needs)
    largest = max((tp for tp in needs if tp <= per_node), default=smallest)
    return None, (
        f"it needs {needs[largest]:.1f} GB per GPU at TP {largest}, and a {own.gpu_model} "
        f"offers {usable:.1f} GB usable ({gpu_memory_gb:g} GB × {GPU_MEMORY_UTILIZATION:g})"
    )


def own_row(spec: WorkloadSpec, tp: int, gpu_memory_gb: float) -> dict[str, Any]:
    """Return the user's node as a compute row: priced at $0, running the model at ``tp``."""
    own = spec.own_hardware
    per_node = own.gpus_per_node or 1
    nodes = own.nodes or 1
    replicas = nodes * (per_node // tp)
    return {
        "provider": OWN_PROVIDER,
        "instance_type": f"{per_node}x-{own.gpu_model}-node",
        "region": OWN_REGION,
        "gpu_model": own.gpu_model,
        "gpu_count": float(per_node),
        "gpu_memory_gb_total": per_node * gpu_memory_gb,
        "price_hourly_usd": 0.0,
        "spot_price_hourly_usd": 0.0,
        "tensor_parallel": tp,
        "source": (
            f"your own hardware: {nodes} node(s) × {per_node} {own.gpu_model}, "
            f"{replicas} replica(s) at TP {tp}"
        ),
    }


def plan_on_own_hardware(
    spec: WorkloadSpec, compute: Mapping[str, Any], gpu_memory: Mapping[str, float]
) -> tuple[list[dict[str, Any]] | None, list[str]]:
    """Return the rows to plan on when the user runs their own GPUs, and warnings.

    Returns:
        (rows: the user's node when the model fits, [] when it does not and the cloud is ruled
        out, None to plan on the cloud rows as usual; warnings).

    """
    own = spec.own_hardware
    no_cloud = own.cloud_allowed is False
    if not own.gpu_model:
        if no_cloud:
            return [], [
                "you asked to run on your own hardware: say which GPUs your servers have "
                "(model and count per server) and I will size the deployment for them"
            ]
        return None, []
    memory = gpu_memory.get(own.gpu_model)
    tp, why = own_fit(spec, compute.get("fit"), memory)
    label = f"{own.nodes or 1} node(s) × {own.gpus_per_node or 1} {own.gpu_model}"
    if tp is not None and memory:
        return [own_row(spec, tp, memory)], []
    alternative = "no cloud instance is listed, as you ruled the cloud out" if no_cloud else (
        "the cloud instances below would hold it"
    )
    return ([] if no_cloud else None), [
        f"your own hardware ({label}) cannot hold this model: {why}; {alternative}"
    ]


def constraint_warnings(
    spec: WorkloadSpec, results: Mapping[str, Any], rows: list[dict[str, Any]]
) -> list[str]:
    """Name every constraint the plan could not honour, and providers we do not price."""
    warnings = []
    first = rows[0] if rows else None
    planned = (
        f"{first['provider']} {first['instance_type']} ({first['gpu_count']:g}× "
        f"{first['gpu_model']})"
        if first
        else None
    )
    for name in spec.unknown_providers:
        shown = next((v for v in UNKNOWN_PROVIDERS.values() if v.lower() == name), name)
        where = f"the nearest catalogued option is {planned}" if planned else "none fits"
        sizing = results.get("sizing") or {}
        ask = (
            f"; ask {shown} for GPUs with at least {sizing['per_gpu_gb']:.0f} GB each "
            f"(TP {sizing['tensor_parallel']})"
            if sizing.get("per_gpu_gb")
            else ""
        )
        warnings.append(
            f"{shown} is not in our catalog, so its prices are not compared: {where}{ask}"
        )
    if results.get("relaxed"):
        asked = []
        hardware = spec.hardware
        if hardware.gpu_models:
            asked.append("/".join(hardware.gpu_models) + " GPUs")
        if hardware.instance_types:
            asked.append("instance type " + "/".join(hardware.instance_types))
        if hardware.max_gpus:
            asked.append(f"at most {_gpus(hardware.max_gpus)}")
        where = f" on {', '.join(spec.providers)}" if spec.providers else ""
        outcome = f"planned on {planned} instead" if planned else "and nothing else fits either"
        soft = hardware.max_gpus_strict is False and not hardware.gpu_models
        verb = "did not fit" if soft else "cannot be met"
        warnings.append(
            f"your hardware constraint ({' and '.join(asked)}){where} {verb}: no instance "
            f"that meets it holds this workload; {outcome}"
        )
    return warnings
