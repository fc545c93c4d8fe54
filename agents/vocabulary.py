"""What the requirements step must recognise in chat: catalog names, loaded once."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from psycopg import AsyncConnection

from agents.offline_extractor import read_message
from agents.reading.vocabulary import Vocabulary
from tools.catalog import load_catalog_facts

__all__ = ["Vocabulary", "field_reader", "load_vocabulary"]


async def load_vocabulary(conn: AsyncConnection[Any]) -> Vocabulary:
    """Read model, GPU, region and instance names from the catalogs."""
    return Vocabulary.from_facts(await load_catalog_facts(conn))


def field_reader(vocabulary: Vocabulary) -> Callable[[str], Mapping[str, Any]]:
    """Return text → the WorkloadSpec fields it states, cached (later turns re-read old text)."""

    @lru_cache(maxsize=4096)
    def read(text: str) -> Mapping[str, Any]:
        return read_message(text, vocabulary).values

    return read
