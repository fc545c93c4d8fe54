"""Catalog facts the agents read: model, GPU, provider, region and instance names.

The one place outside the search tools where agents' catalog questions become SQL. The
facts are small (a few thousand names) and change only at ingest, so callers load them once
per process.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psycopg import AsyncConnection


@dataclass(frozen=True)
class ModelFacts:
    """What the catalog says about one model."""

    model_id: str
    pipeline_tag: str | None
    params_billion: float | None
    license: str | None


@dataclass(frozen=True)
class GpuFacts:
    """One GPU model of the catalog."""

    name: str
    vendor: str
    memory_gb: float


@dataclass(frozen=True)
class CatalogFacts:
    """Names the requirements reader matches chat text against."""

    models: tuple[ModelFacts, ...]
    gpus: tuple[GpuFacts, ...]
    regions_by_provider: dict[str, frozenset[str]]
    instance_types: frozenset[str]

    @property
    def providers(self) -> frozenset[str]:
        """Return the providers the catalog prices."""
        return frozenset(self.regions_by_provider)


async def load_catalog_facts(conn: AsyncConnection[Any]) -> CatalogFacts:
    """Read model, GPU, region and instance names from the catalog tables."""
    models = await (
        await conn.execute(
            "select model_id, pipeline_tag, params_billion, license from hf.models"
        )
    ).fetchall()
    gpus = await (
        await conn.execute("select gpu_model, vendor, memory_gb from cloud.gpus")
    ).fetchall()
    regions = await (
        await conn.execute(
            "select provider, array_agg(distinct lower(region)) as regions "
            "from cloud.instances group by provider"
        )
    ).fetchall()
    instances = await (
        await conn.execute("select distinct lower(instance_type) as name from cloud.instances")
    ).fetchall()
    return CatalogFacts(
        models=tuple(
            ModelFacts(
                row["model_id"],
                row["pipeline_tag"],
                float(row["params_billion"]) if row["params_billion"] is not None else None,
                row["license"],
            )
            for row in models
        ),
        gpus=tuple(
            GpuFacts(row["gpu_model"], row["vendor"], float(row["memory_gb"] or 0)) for row in gpus
        ),
        regions_by_provider={row["provider"]: frozenset(row["regions"]) for row in regions},
        instance_types=frozenset(row["name"] for row in instances),
    )


async def representative_model(
    conn: AsyncConnection[Any],
    size_billion: float,
    *,
    fine_tuning: bool,
    licenses: list[str] | None = None,
) -> str | None:
    """Return the catalog LLM closest in size (and allowed licence), base weights to fine-tune."""
    row = await (
        await conn.execute(
            """
            select a.model_id from hf.architectures a
            join hf.models m using (model_id)
            where m.pipeline_tag = 'text-generation'
              and a.params_billion_total is not null and not a.is_moe
              and (%s::text[] is null or m.license = any(%s))
            order by abs(a.params_billion_total - %s),
                     (a.model_id ilike '%%instruct%%' or a.model_id ilike '%%chat%%') = %s,
                     a.model_id
            limit 1
            """,
            (licenses or None, licenses or None, size_billion, fine_tuning),
        )
    ).fetchone()
    return row["model_id"] if row else None


async def model_licences(conn: AsyncConnection[Any], model_ids: list[str]) -> dict[str, str | None]:
    """Return the licence of each catalog model among ``model_ids``."""
    rows = await (
        await conn.execute(
            "select model_id, license from hf.models where model_id = any(%s)", (model_ids,)
        )
    ).fetchall()
    return {row["model_id"]: row["license"] for row in rows}


def catalog_facts_from_files(data_dir: Path) -> CatalogFacts:
    """Read the same facts from the catalog CSV files (for tools that run without a database)."""
    with (data_dir / "hf_models.csv").open(encoding="utf-8") as f:
        models = tuple(
            ModelFacts(
                row["model_id"],
                row["pipeline_tag"] or None,
                float(row["params_billion"]) if row["params_billion"] else None,
                row["license"] or None,
            )
            for row in csv.DictReader(f)
        )
    with (data_dir / "gpus.csv").open(encoding="utf-8") as f:
        gpus = tuple(
            GpuFacts(row["gpu_model"], row["vendor"], float(row["memory_gb"] or 0))
            for row in csv.DictReader(f)
        )
    regions: dict[str, set[str]] = {}
    instances: set[str] = set()
    with (data_dir / "instances.csv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            regions.setdefault(row["provider"], set()).add(row["region"].lower())
            instances.add(row["instance_type"].lower())
    return CatalogFacts(
        models=models,
        gpus=gpus,
        regions_by_provider={p: frozenset(r) for p, r in regions.items()},
        instance_types=frozenset(instances),
    )
