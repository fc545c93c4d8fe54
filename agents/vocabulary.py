"""What the requirements step must recognise in chat: catalog model names and regions."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from psycopg import AsyncConnection

from agents.offline_extractor import ModelIndex, read_message


@dataclass(frozen=True)
class Vocabulary:
    """Catalog names the extractor matches against."""

    models: ModelIndex
    regions: frozenset[str]
    pipeline_tags: Mapping[str, str | None] = field(default_factory=dict)
    """Catalog model id → its Hub task, to tell what kind of model a named one is."""


async def load_vocabulary(conn: AsyncConnection[Any]) -> Vocabulary:
    """Read model ids and region names from the catalogs."""
    models = await (await conn.execute("select model_id, pipeline_tag from hf.models")).fetchall()
    regions = await (
        await conn.execute("select distinct lower(region) as region from cloud.instances")
    ).fetchall()
    return Vocabulary(
        ModelIndex.from_ids(row["model_id"] for row in models),
        frozenset(row["region"] for row in regions),
        {row["model_id"]: row["pipeline_tag"] for row in models},
    )


def field_reader(vocabulary: Vocabulary) -> Callable[[str], Mapping[str, Any]]:
    """Return text → the WorkloadSpec fields it states, cached (later turns re-read old text)."""

    @lru_cache(maxsize=4096)
    def read(text: str) -> Mapping[str, Any]:
        return read_message(text, vocabulary.models, vocabulary.regions).values

    return read
