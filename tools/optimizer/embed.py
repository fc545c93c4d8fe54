"""Step 2, embed: unit vectors for the units, through the shared embedder and its cache."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import psycopg

from core.embeddings import Embedder, aembed, aembed_with_cache


async def embed_texts(
    embedder: Embedder,
    texts: Sequence[str],
    cache_conn: psycopg.AsyncConnection[Any] | None = None,
    ttl_days: int = 30,
) -> np.ndarray:
    """Return one L2-normalised row per text.

    Args:
        embedder: The shared embedder (``core.embeddings.get_embedder``).
        texts: The texts, duplicates allowed.
        cache_conn: An async connection for the ``cache.embeddings`` table; without one the
            embedder is called directly.
        ttl_days: How old a cached vector may be.

    Returns:
        A float32 array of shape ``(len(texts), embedder.dim)``.

    """
    if cache_conn is not None:
        return await aembed_with_cache(embedder, texts, cache_conn, ttl_days)
    unique = list(dict.fromkeys(texts))
    if not unique:
        return np.zeros((0, embedder.dim), dtype=np.float32)
    vectors = await aembed(embedder, unique)
    row = {text: i for i, text in enumerate(unique)}
    return np.asarray(vectors, dtype=np.float32)[[row[t] for t in texts]]
