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
            -- A code model is a stand-in for a general one only when nothing general is
            -- within half the size again (the relative gap gets 0.5 added).
            order by abs(a.params_billion_total - %s) / %s
                     + case when a.model_id ~* 'code|coder' then 0.5 else 0 end,
                     (a.model_id ilike '%%instruct%%' or a.model_id ilike '%%chat%%') = %s,
                     a.model_id
            limit 1
            """,
            (licenses or None, licenses or None, size_billion, size_billion, fine_tuning),
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


@dataclass(frozen=True)
class OfferFilters:
    """What the user allowed: providers, regions, GPUs, instance types, GPUs per instance."""

    providers: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    gpu_models: tuple[str, ...] = ()
    instance_types: tuple[str, ...] = ()
    max_gpu_count: int | None = None
    min_gpu_memory_gb: float | None = None


# The cheapest region of each instance type, on-demand and (separately) spot: the search
# prices one offer per instance shape, so the other regions of a type can never win. Each
# carries the type's median on-demand price over all its regions, to flag outliers.
_OFFERS_SQL = """
with medians as (
    select provider, instance_type,
           percentile_cont(0.5) within group (order by price_hourly_usd) as median_hourly_usd
    from cloud.instances
    where gpu_count >= 1 and price_hourly_usd > 0
    group by provider, instance_type
),
allowed as (
    select i.provider, i.instance_type, region, vcpus, memory_gb, gpu_model, gpu_count,
           gpu_memory_gb_per_gpu, price_hourly_usd, spot_price_hourly_usd, catalog_source,
           m.median_hourly_usd
    from cloud.instances i left join medians m using (provider, instance_type)
    where gpu_count >= 1 and gpu_model is not null
      and (%(providers)s::text[] is null or lower(i.provider) = any(%(providers)s))
      and (%(regions)s::text[] is null or lower(region) = any(%(regions)s))
      and (%(gpus)s::text[] is null or lower(gpu_model) = any(%(gpus)s))
      and (%(types)s::text[] is null or lower(i.instance_type) = any(%(types)s))
      and (%(max_gpus)s::float8 is null or gpu_count <= %(max_gpus)s)
      and (%(min_memory)s::float8 is null or gpu_memory_gb_per_gpu >= %(min_memory)s)
)
(select distinct on (provider, instance_type) * from allowed
 where price_hourly_usd > 0
 order by provider, instance_type, price_hourly_usd, region)
union
(select distinct on (provider, instance_type) * from allowed
 where spot_price_hourly_usd > 0
 order by provider, instance_type, spot_price_hourly_usd, region)
"""

_GPUS_SQL = """
select gpu_model, vendor, memory_gb, memory_bandwidth_gbps, fp16_bf16_dense_tflops,
       fp8_dense_tflops, int8_dense_tops, interconnect, architecture, compute_capability
from cloud.gpus
"""


def _lower(names: tuple[str, ...]) -> list[str] | None:
    return [name.lower() for name in names] or None


async def load_offers(conn: AsyncConnection[Any], filters: OfferFilters) -> list[dict[str, Any]]:
    """Return GPU instance offers that pass the filters: each type's cheapest region."""
    cursor = await conn.execute(
        _OFFERS_SQL,
        {
            "providers": _lower(filters.providers),
            "regions": _lower(filters.regions),
            "gpus": _lower(filters.gpu_models),
            "types": _lower(filters.instance_types),
            "max_gpus": filters.max_gpu_count,
            "min_memory": filters.min_gpu_memory_gb,
        },
    )
    return list(await cursor.fetchall())


async def catalog_epoch(conn: AsyncConnection[Any]) -> int:
    """Return the catalogs' epoch: it moves on every write to the tables searches read."""
    row = await (await conn.execute("select epoch from public.catalog_epoch")).fetchone()
    return int(row["epoch"]) if row else 0


async def load_gpu_specs(conn: AsyncConnection[Any]) -> list[dict[str, Any]]:
    """Return every GPU of the catalog with the figures sizing and performance read."""
    return list(await (await conn.execute(_GPUS_SQL)).fetchall())


CATALOG_TABLES = {
    "instances": "cloud.instances",
    "gpus": "cloud.gpus",
    "charts": "k8s.charts",
    "models": "hf.models",
    "chunks": "hf.card_chunks",
}
"""The catalog tables whose sizes ``/ready`` reports: the app is not ready while one is empty."""


async def catalog_sizes(conn: AsyncConnection[Any]) -> dict[str, int]:
    """Count the rows of each table of ``CATALOG_TABLES``, by its short name."""
    sizes = {}
    for name, table in CATALOG_TABLES.items():
        row = await (await conn.execute(f"select count(*) as n from {table}")).fetchone()
        sizes[name] = int(row["n"]) if row else 0
    return sizes
