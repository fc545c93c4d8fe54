"""A model's VRAM need, read from the catalogs in Postgres, for compute search and sizing.

``tools.sizing`` holds the formulas; this module finds the model in ``hf.architectures``
(or, for pipelines without one, its parameter count in ``hf.models``) and asks it for the
per-GPU requirement at every tensor-parallel degree, which compute search compares with
each instance's GPUs.
"""

from __future__ import annotations

import functools
import time
from typing import Any, Literal

from psycopg import AsyncConnection
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tools.sizing import (
    BYTES_PER_PARAM,
    DTYPE_ALIASES,
    TP_DEGREES,
    Architecture,
    SizingResult,
    Task,
    Workload,
    estimate_memory,
    estimate_non_llm_memory,
    load_architecture,
    tensor_parallel_supported,
    vram_requirement,
)


class UnknownModelError(ValueError):
    """Raised when a model id is in neither the architecture nor the model catalog."""


def reject_nul(value: Any) -> Any:
    """Refuse NUL characters in a string or list of strings: Postgres text cannot hold them."""
    items = value if isinstance(value, list) else [value]
    if any(isinstance(item, str) and "\x00" in item for item in items):
        raise ValueError("must not contain NUL characters")
    return value


class WorkloadFields(BaseModel):
    """How a model will run: the knobs of ``tools.sizing.Workload`` plus GPU utilization."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    task: Task = Field(default="inference", description="inference, full, lora or qlora")
    dtype: str = Field(default="native", max_length=16, description="bf16, fp8, int4, ...")
    kv_cache_dtype: Literal["auto", "fp32", "bf16", "fp16", "fp8"] = "auto"
    context_length: int = Field(default=4096, ge=1, le=10_485_760, description="tokens")
    concurrency: int = Field(default=1, ge=1, le=100_000, description="sequences at once")
    gpu_memory_utilization: float = Field(default=0.9, gt=0, le=1)

    @field_validator("dtype")
    @classmethod
    def _known_dtype(cls, value: str) -> str:
        name = DTYPE_ALIASES.get(value.strip().lower(), value.strip().lower())
        if name != "native" and name not in BYTES_PER_PARAM:
            raise ValueError(f"unknown dtype; expected one of: {', '.join(BYTES_PER_PARAM)}")
        return name

    def workload(self) -> Workload:
        """Return the sizing workload these fields describe."""
        return Workload(
            task=self.task,
            dtype=self.dtype,
            kv_cache_dtype=self.kv_cache_dtype,
            context_length=self.context_length,
            concurrent_sequences=self.concurrency,
        )


class SizingQuery(WorkloadFields):
    """What to size: a catalog model id, or an explicit architecture, and how it runs."""

    model_id: str | None = Field(default=None, min_length=1, max_length=200)
    architecture: Architecture | None = Field(
        default=None, description="explicit transformer dims instead of a catalog id"
    )
    params_billion: float | None = Field(
        default=None, gt=0, le=10_000, description="for a model missing from the catalogs"
    )
    gpu_memory_gb: float | None = Field(
        default=None, gt=0, le=10_000, description="one GPU: picks the smallest TP that fits"
    )
    tensor_parallel: Literal[1, 2, 4, 8] | None = None

    _no_nul = field_validator("model_id")(reject_nul)

    @model_validator(mode="after")
    def _one_model(self) -> SizingQuery:
        if (self.model_id is None) == (self.architecture is None):
            raise ValueError("give exactly one of model_id or architecture")
        return self


class ModelFit(BaseModel):
    """Per-GPU VRAM a model needs at each tensor-parallel degree it splits over."""

    model_config = ConfigDict(frozen=True, protected_namespaces=())

    model_id: str
    # Kept for throughput estimates; left out of JSON to keep tool results compact.
    architecture: Architecture | None = Field(default=None, exclude=True)
    per_gpu_gb_by_tp: dict[int, float]
    total_vram_gb_by_tp: dict[int, float]
    gpu_memory_utilization: float
    note: str | None = None

    def min_gpu_memory_gb(self, tensor_parallel: int) -> float | None:
        """Return the smallest GPU whose usable share holds one shard at this degree."""
        need = self.per_gpu_gb_by_tp.get(tensor_parallel)
        return None if need is None else need / self.gpu_memory_utilization


# Architectures change only when the catalogs are re-ingested: a minute of staleness saves a
# round trip on every model-driven search. Misses are not remembered, so the cache holds at
# most the catalog's rows and a model added by ingestion is found at once.
ARCHITECTURE_TTL_S = 60.0
_architectures: dict[str, tuple[float, Architecture]] = {}


async def cached_architecture(conn: AsyncConnection[Any], model_id: str) -> Architecture | None:
    """Return ``tools.sizing.load_architecture``'s answer, remembered for ARCHITECTURE_TTL_S."""
    key = model_id.strip().lower()
    hit = _architectures.get(key)
    if hit is not None and time.monotonic() - hit[0] < ARCHITECTURE_TTL_S:
        return hit[1]
    arch = await load_architecture(conn, model_id)
    if arch is not None:
        _architectures[key] = (time.monotonic(), arch)
    return arch


@functools.lru_cache(maxsize=256)
def _needs(arch: Architecture, workload: Workload) -> tuple[tuple[int, float, float], ...]:
    # Pure in (architecture, workload), and both are frozen: repeated searches for the same
    # model skip the sizing arithmetic.
    degrees = [
        tp for tp in TP_DEGREES
        if workload.task != "inference" or tensor_parallel_supported(arch, tp)
    ]
    out = []
    for tp in degrees:
        need = vram_requirement(arch, workload, tp)
        out.append((tp, need.per_gpu_gb, need.total_vram_gb))
    return tuple(out)


async def _catalog_params(conn: AsyncConnection[Any], model_id: str) -> dict[str, Any] | None:
    cursor = await conn.execute(
        "select model_id, params_billion from hf.models where lower(model_id) = %s",
        (model_id.strip().lower(),),
    )
    row = await cursor.fetchone()
    return row if row is not None and row["params_billion"] else None


async def model_fit(conn: AsyncConnection[Any], query: WorkloadFields, model_id: str) -> ModelFit:
    """Size ``model_id`` for the workload at every TP degree its attention heads split over.

    Models without an architecture row (diffusion, vision, speech) are sized by
    ``tools.sizing.estimate_non_llm_memory`` from their parameter count, on one GPU.

    Raises:
        UnknownModelError: If the model is in neither catalog.
        ValueError: If the workload is invalid for the model (e.g. full fine-tune on int4).

    """
    workload = query.workload()
    arch = await cached_architecture(conn, model_id)
    if arch is None:
        row = await _catalog_params(conn, model_id)
        if row is None:
            raise UnknownModelError(f"unknown model {model_id!r}: not in the model catalogs")
        sized = estimate_non_llm_memory(row["params_billion"], workload, model_id=row["model_id"])
        return ModelFit(
            model_id=row["model_id"],
            per_gpu_gb_by_tp={1: sized.per_gpu_gb},
            total_vram_gb_by_tp={1: sized.total_vram_gb},
            gpu_memory_utilization=query.gpu_memory_utilization,
            note="no architecture row: sized on one GPU as params × bytes/param × 1.2",
        )
    needs = _needs(arch, workload)
    return ModelFit(
        model_id=arch.model_id or model_id,
        architecture=arch,
        per_gpu_gb_by_tp={tp: per_gpu for tp, per_gpu, _ in needs},
        total_vram_gb_by_tp={tp: total for tp, _, total in needs},
        gpu_memory_utilization=query.gpu_memory_utilization,
    )


async def size_workload(conn: AsyncConnection[Any], query: SizingQuery) -> SizingResult:
    """Size a catalog model (or an explicit architecture) for the workload.

    Lookup order: the explicit architecture; ``hf.architectures``; ``hf.models`` parameter
    count (non-LLM rule); ``params_billion`` with an assumed Llama-style shape.

    Raises:
        UnknownModelError: If the id is in no catalog and no ``params_billion`` is given.
        ValueError: If the workload cannot run the model or the TP degree does not split it.

    """
    workload = query.workload()
    gpu_memory_gb, utilization = query.gpu_memory_gb, query.gpu_memory_utilization
    model: str | Architecture | None = query.architecture
    if model is None and query.model_id is not None:
        model = await load_architecture(conn, query.model_id)
        if model is None:
            row = await _catalog_params(conn, query.model_id)
            if row is not None:
                return estimate_non_llm_memory(
                    row["params_billion"],
                    workload,
                    model_id=row["model_id"],
                    gpu_memory_gb=gpu_memory_gb,
                    gpu_memory_utilization=utilization,
                )
            if query.params_billion is None:
                raise UnknownModelError(
                    f"unknown model {query.model_id!r}: not in the model catalogs; "
                    "give params_billion or an architecture"
                )
            model = query.model_id
    assert model is not None  # the validator demands model_id or architecture
    return estimate_memory(
        model,
        workload,
        tensor_parallel=query.tensor_parallel,
        params_billion=query.params_billion,
        gpu_memory_gb=gpu_memory_gb,
        gpu_memory_utilization=utilization,
    )
