"""What the requirements step must recognise in chat: catalog model names and regions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

from agents.offline_extractor import ModelIndex


@dataclass(frozen=True)
class Vocabulary:
    """Catalog names the extractor matches against."""

    models: ModelIndex
    regions: frozenset[str]


async def load_vocabulary(conn: AsyncConnection[Any]) -> Vocabulary:
    """Read model ids and region names from the catalogs."""
    models = await (await conn.execute("select model_id from hf.models")).fetchall()
    regions = await (
        await conn.execute("select distinct lower(region) as region from cloud.instances")
    ).fetchall()
    return Vocabulary(
        ModelIndex.from_ids(row["model_id"] for row in models),
        frozenset(row["region"] for row in regions),
    )
