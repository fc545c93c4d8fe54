"""Facts about the hardware a plan runs on: CPU architecture, GPU generation, node labels.

Kept as small tables: the instance catalog names GPUs the way SkyPilot's catalog does (T4,
A100-80GB, ...) and says nothing of CPU architecture or GPU compute capability.
"""

from __future__ import annotations

import re
from typing import Literal

from tools.offers import ARM_HOSTED_GPUS

Arch = Literal["x86_64", "arm64"]

# CUDA compute capability per catalog GPU name: picks TEI's image and says which
# quantization kernels a GPU runs.
COMPUTE_CAPABILITY: dict[str, float] = {
    "M60": 5.2, "P4": 6.1, "P100": 6.0, "V100": 7.0, "V100-32GB": 7.0,
    "T4": 7.5, "T4g": 7.5, "RTX6000": 7.5,
    "A100": 8.0, "A100-80GB": 8.0,
    "A10": 8.6, "A10G": 8.6, "A6000": 8.6, "RTXA6000": 8.6, "RTXA5000": 8.6, "RTX3090": 8.6,
    "RTX3060": 8.6,
    "L4": 8.9, "L40": 8.9, "L40S": 8.9, "RTX4090": 8.9, "RTX4070": 8.9, "RTX4060": 8.9,
    "RTX6000-Ada": 8.9, "RTX5880-Ada": 8.9,
    "H100": 9.0, "H100-MEGA": 9.0, "H200": 9.0, "GH200": 9.0,
    "B200": 10.0, "B300": 10.0, "GB200": 10.0, "GB300": 10.0,
    "RTX5090": 12.0, "RTX5070": 12.0, "RTXPRO6000": 12.0, "RTXPRO6000WS": 12.0,
}  # fmt: skip

# Values of the ``nvidia.com/gpu.product`` label that NVIDIA's GPU feature discovery sets on
# nodes carrying each GPU (the product name with spaces as dashes; one entry per board).
GPU_PRODUCT_LABELS: dict[str, tuple[str, ...]] = {
    "T4": ("Tesla-T4",),
    "T4g": ("Tesla-T4", "NVIDIA-T4G"),
    "V100": ("Tesla-V100-SXM2-16GB", "Tesla-V100-PCIE-16GB"),
    "V100-32GB": ("Tesla-V100-SXM2-32GB", "Tesla-V100-PCIE-32GB"),
    "A10": ("NVIDIA-A10",),
    "A10G": ("NVIDIA-A10G",),
    "A100": ("NVIDIA-A100-SXM4-40GB", "NVIDIA-A100-PCIE-40GB"),
    "A100-80GB": ("NVIDIA-A100-SXM4-80GB", "NVIDIA-A100-80GB-PCIe"),
    "L4": ("NVIDIA-L4",),
    "L40S": ("NVIDIA-L40S",),
    "A6000": ("NVIDIA-RTX-A6000",),
    "H100": ("NVIDIA-H100-80GB-HBM3", "NVIDIA-H100-PCIe", "NVIDIA-H100-NVL"),
    "H100-MEGA": ("NVIDIA-H100-80GB-HBM3",),
    "H200": ("NVIDIA-H200", "NVIDIA-H200-NVL"),
    "GH200": ("NVIDIA-GH200-480GB",),
    "B200": ("NVIDIA-B200",),
}
# Hosts of these GPUs are Arm machines (Grace CPUs, AWS Graviton).
ARM_GPUS = ARM_HOSTED_GPUS
# AWS Graviton families: a "g" right after the generation digit (c7g, m6gd, g5g, t4g, r8g).
_AWS_ARM = re.compile(r"^[a-z]+\d+g[a-z]*\.")
# GCP Arm families (Tau T2A, Axion C4A) and Azure Arm sizes (a "p" in the size's features).
_GCP_ARM = re.compile(r"^(t2a|c4a|n4a)-")
_AZURE_ARM = re.compile(r"^Standard_[A-Z]+\d+[a-oq-z]*p[a-z]*_v\d", re.IGNORECASE)


def cpu_arch(provider: str | None, instance_type: str | None, gpu_model: str | None) -> Arch:
    """Return the CPU architecture of an instance type, x86_64 unless it is a known Arm one."""
    if gpu_model in ARM_GPUS:
        return "arm64"
    name = instance_type or ""
    if provider == "aws" and _AWS_ARM.match(name):
        return "arm64"
    if provider == "gcp" and _GCP_ARM.match(name):
        return "arm64"
    if provider == "azure" and _AZURE_ARM.match(name):
        return "arm64"
    return "x86_64"


def is_cuda(gpu_model: str | None) -> bool:
    """Return whether a catalog accelerator is an NVIDIA (CUDA) GPU."""
    return gpu_model in COMPUTE_CAPABILITY


def compute_capability(gpu_model: str | None) -> float | None:
    """Return the CUDA compute capability of a catalog GPU, None when unknown or not NVIDIA."""
    return COMPUTE_CAPABILITY.get(gpu_model or "")
