"""The catalogs as the eval reads them: straight from the CSV files, not from the database.

The oracle and the groundedness metric judge plans against these rows, so that a bug in
ingestion, in the compute search's SQL or in the validator cannot hide itself.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from tools.sizing import Architecture, load_architectures_csv

DATA_DIR = Path(__file__).resolve().parent.parent / "data"


def _number(raw: str | None) -> float | None:
    raw = (raw or "").strip()
    return float(raw) if raw else None


@dataclass(frozen=True)
class Instance:
    """One instance type offered in one region."""

    provider: str
    instance_type: str
    region: str
    gpu_model: str | None
    gpu_count: float
    gpu_memory_gb_per_gpu: float | None
    gpu_memory_gb_total: float
    memory_gb: float | None
    price_hourly_usd: float | None
    spot_price_hourly_usd: float | None
    vcpus: float | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        """Return (provider, instance_type, region), the catalog's key."""
        return (self.provider, self.instance_type, self.region)

    @property
    def label(self) -> str:
        """Name the instance for messages."""
        return f"{self.provider}/{self.instance_type}/{self.region}"


@dataclass(frozen=True)
class Model:
    """One model of the model catalog."""

    model_id: str
    license: str | None
    pipeline_tag: str | None
    params_billion: float | None


@dataclass(frozen=True)
class Catalog:
    """Instances, GPU vendors, models, charts and LLM architectures."""

    instances: Mapping[tuple[str, str, str], Instance]
    gpu_vendors: Mapping[str, str]
    models: Mapping[str, Model]
    charts: Mapping[str, frozenset[str]]
    """Chart name → the versions the catalog lists."""
    architectures: Mapping[str, Architecture] = field(default_factory=dict)
    gpu_memory_gb: Mapping[str, float] = field(default_factory=dict)
    """GPU model → its memory, as the GPU catalog lists it."""
    gpu_dense_tflops: Mapping[str, float] = field(default_factory=dict)
    """GPU model → its dense bf16 tensor rate, what a training run's hours are priced from."""
    gpu_fp8: frozenset[str] = frozenset()
    """GPU models that run fp8 weights: fp8 tensor cores, or Ampere (weight-only, Marlin)."""
    gpu_capability: Mapping[str, float] = field(default_factory=dict)
    """GPU model → CUDA compute capability (AWQ int4 kernels need 7.5, Turing, or newer)."""

    @classmethod
    def load(cls, data_dir: Path = DATA_DIR) -> Catalog:
        """Read the five catalog files of ``data_dir``."""
        instances = {}
        for row in _rows(data_dir / "instances.csv"):
            inst = Instance(
                provider=row["provider"].strip(),
                instance_type=row["instance_type"].strip(),
                region=row["region"].strip(),
                gpu_model=row["gpu_model"].strip() or None,
                gpu_count=_number(row["gpu_count"]) or 0.0,
                gpu_memory_gb_per_gpu=_number(row["gpu_memory_gb_per_gpu"]),
                gpu_memory_gb_total=_number(row["gpu_memory_gb_total"]) or 0.0,
                vcpus=_number(row["vcpus"]),
                memory_gb=_number(row["memory_gb"]),
                price_hourly_usd=_number(row["price_hourly_usd"]),
                spot_price_hourly_usd=_number(row["spot_price_hourly_usd"]),
            )
            instances[inst.key] = inst
        gpu_rows = _rows(data_dir / "gpus.csv")
        vendors = {r["gpu_model"].strip(): r["vendor"].strip() for r in gpu_rows}
        memory = {r["gpu_model"].strip(): _number(r["memory_gb"]) or 0.0 for r in gpu_rows}
        tflops = {r["gpu_model"].strip(): _number(r["fp16_bf16_dense_tflops"]) or 0.0
                  for r in gpu_rows}
        models = {
            r["model_id"].strip(): Model(
                model_id=r["model_id"].strip(),
                license=r["license"].strip() or None,
                pipeline_tag=r["pipeline_tag"].strip() or None,
                params_billion=_number(r["params_billion"]),
            )
            for r in _rows(data_dir / "hf_models.csv")
        }
        charts: dict[str, set[str]] = {}
        for r in _rows(data_dir / "helm_charts.csv"):
            charts.setdefault(r["name"].strip(), set()).add(r["version"].strip())
        return cls(
            instances=instances,
            gpu_vendors=vendors,
            models=models,
            charts={name: frozenset(versions) for name, versions in charts.items()},
            architectures=load_architectures_csv(data_dir / "llm_architectures.csv"),
            gpu_memory_gb=memory,
            gpu_dense_tflops={gpu: rate for gpu, rate in tflops.items() if rate > 0},
            gpu_fp8=frozenset(
                r["gpu_model"].strip() for r in gpu_rows
                if _number(r["fp8_dense_tflops"]) or r["architecture"].strip() == "Ampere"
            ),
            gpu_capability={
                r["gpu_model"].strip(): capability for r in gpu_rows
                if (capability := _capability(r["compute_capability"])) is not None
            },
        )

    def with_models(self, extra: Iterable[Model]) -> Catalog:
        """Return the catalog with models added (e.g. ingested from fixture cards)."""
        return replace(self, models={**self.models, **{m.model_id: m for m in extra}})

    def is_cuda(self, instance: Instance) -> bool:
        """Say whether the instance's accelerator is an NVIDIA (CUDA) GPU."""
        model = instance.gpu_model
        return model is not None and self.gpu_vendors.get(model) == "NVIDIA"


def _capability(raw: str | None) -> float | None:
    try:
        return float((raw or "").strip())
    except ValueError:  # AMD and other accelerators name an ISA (gfx942), not a CUDA level
        return None


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))
