"""Hugging Face model search over the embedded card chunks.

``search_models`` embeds the query, takes the nearest card chunks from the HNSW index, keeps
each model's best chunk, applies the pipeline-tag, licence and VRAM filters and ranks with
``tools.hf_rank``. When the filters leave fewer than ``top_k`` models it repeats the search as
an exact scan restricted by the filters in SQL. ``format_hf_results`` (``tools.hf_rank``)
fences retrieved card text as untrusted data. ``card_vector_store`` exposes the chunks as a
langchain-postgres ``PGVectorStore``; the hot path stays plain SQL on the app's pool.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import psycopg
from langchain_core.embeddings import Embeddings
from langchain_postgres import PGEngine, PGVectorStore
from sqlalchemy.engine import make_url

from core.cards import CHUNKER_VERSION
from core.db import fetch_with_local_settings
from core.embeddings import Embedder, aembed, vector_literal
from tools.hf_rank import (
    Candidate,
    ChunkHit,
    HfModelHit,
    HfSearchResult,
    ModelMatch,
    Ranked,
    best_chunk_per_model,
    excerpt,
    format_hf_results,
    rank_candidates,
)
from tools.sizing import Architecture, Workload, estimate_memory, estimate_non_llm_memory

logger = logging.getLogger(__name__)

MAX_QUERY_CHARS = 1000
MAX_TOP_K = 50
ANN_CANDIDATES = 100  # chunks taken from the HNSW index; hnsw.ef_search is raised to match
EXACT_CANDIDATES = 400  # chunks kept by the filtered exact scan
# Embeddings read "text to image" and "image to text" as the same bag of words, so a query
# that names one of these directional Hub tasks is taken at its word: it implies the filter.
_DIRECTIONAL = """text-to-image image-to-text image-text-to-text image-to-image text-to-speech
text-to-audio audio-to-audio text-to-video image-to-video video-text-to-text text-to-3d
image-to-3d"""
DIRECTIONAL_TASKS = {task.replace("-", " "): task for task in _DIRECTIONAL.split()}
DIRECTIONAL_TASKS["speech to text"] = "automatic-speech-recognition"
QUERY_CACHE_SIZE = 1024  # query vectors kept per process (a few MB at 384 dimensions)
CARD_DOCS_VIEW = "card_chunk_docs"  # in schema hf; see migrations/0006_hf_card_chunk_docs.sql
CARD_DOCS_METADATA = ["model_id", "card_hash", "chunk_index", "heading"]
CARD_DOCS_METADATA += ["embedding_model_name", "chunker_version"]

# HfModelHit, HfSearchResult and format_hf_results live in tools.hf_rank; callers import here.
__all__ = ["EmbeddingMismatchError", "EmbedderEmbeddings", "HfModelHit", "HfSearchResult"]
__all__ += ["card_vector_engine", "card_vector_store", "format_hf_results", "search_models"]


class EmbeddingMismatchError(RuntimeError):
    """Raised when the stored card vectors were made by another embedding model or chunker."""

    def __init__(
        self,
        stored: Sequence[tuple[str, str]],
        query_model: str,
        query_chunker: str,
        detail: str = "",
    ) -> None:
        self.stored = list(stored)
        self.query_model = query_model
        self.query_chunker = query_chunker
        made_with = "; ".join(f"model {m!r}, chunker {c!r}" for m, c in self.stored)
        super().__init__(
            f"hf.card_chunks holds vectors made with {made_with}, but this query uses model "
            f"{query_model!r}, chunker {query_chunker!r}{detail}; re-run `stack8s ingest` "
            "with the query-time embedder, or configure the embedder the cards were made with"
        )


# One stored vector of the query's model and chunker, for its dimensions: the common case
# reads one row. Only when there is none does _STORED_SQL list what is stored (every row).
_DIMS_SQL = """
select vector_dims(embedding) as dims from hf.card_chunks
where embedding_model_name = %s and chunker_version = %s limit 1
"""
_STORED_SQL = """
select distinct embedding_model_name, chunker_version from hf.card_chunks
"""
_MODEL_COLUMNS = """
    mc.model_id, m.pipeline_tag, m.license, m.params_billion, m.context_length,
    m.min_vram_gb_fp16, m.downloads, m.likes, to_jsonb(a) as architecture
"""
_MODEL_JOINS = """
join hf.models m on m.model_id = mc.model_id
left join hf.architectures a on a.model_id = mc.model_id
"""
_FILTERS = """
    (%(tags)s::text[] is null or lower(m.pipeline_tag) = any(%(tags)s))
    and (%(licenses)s::text[] is null or lower(m.license) = any(%(licenses)s))
    and (%(min_params)s::float8 is null or m.params_billion >= %(min_params)s)
    and (%(max_params)s::float8 is null or m.params_billion <= %(max_params)s)
"""
# Filters apply after the index scan, to the candidates it returned.
_ANN_SQL = f"""
with near as materialized (
    select card_hash, content, embedding <=> %(query)s::vector as distance
    from hf.card_chunks
    where embedding_model_name = %(model)s and chunker_version = %(chunker)s
    order by embedding <=> %(query)s::vector
    limit %(limit)s
)
select {_MODEL_COLUMNS}, 1 - near.distance as similarity, near.content
from near join hf.model_to_card mc on mc.card_hash = near.card_hash {_MODEL_JOINS}
where {_FILTERS}
"""
# Ordering by the similarity expression rather than by the distance operator keeps the
# planner off the HNSW index, so the filters run first and every matching card is scored.
_EXACT_SQL = f"""
select {_MODEL_COLUMNS}, 1 - (ch.embedding <=> %(query)s::vector) as similarity, ch.content
from hf.card_chunks ch join hf.model_to_card mc on mc.card_hash = ch.card_hash {_MODEL_JOINS}
where ch.embedding_model_name = %(model)s and ch.chunker_version = %(chunker)s and {_FILTERS}
order by similarity desc
limit %(limit)s
"""


# Query vectors, most recently used last: many chats ask the same thing, and encoding a query
# costs far more CPU than the rest of a search.
# Keyed by the embedder object too: a stand-in may carry a real model's name.
_query_vectors: OrderedDict[tuple[int, str, str], np.ndarray] = OrderedDict()
_query_lock = threading.Lock()
# Encodes under way, by event loop and query: the same query asked again meanwhile waits for
# the same encode (single flight) instead of queueing a second one.
_query_encodes: dict[tuple[int, int, str, str], asyncio.Future[np.ndarray]] = {}


def _cached_query_vector(key: tuple[int, str, str]) -> np.ndarray | None:
    with _query_lock:
        vector = _query_vectors.get(key)
        if vector is not None:
            _query_vectors.move_to_end(key)
        return vector


async def query_vector(embedder: Embedder, text: str) -> np.ndarray:
    """Return the vector of a search query: from the cache, or encoded and cached.

    Encodes go through the process's one encoder (``core.embeddings.aembed``), which batches
    the queries waiting together and encodes a query asked twice in a batch once.
    """
    key = (id(embedder), embedder.model_name, text)
    vector = _cached_query_vector(key)
    if vector is not None:
        return vector
    flight = (id(asyncio.get_running_loop()), *key)
    encode = _query_encodes.get(flight)
    if encode is None:
        encode = asyncio.ensure_future(aembed(embedder, [text]))
        _query_encodes[flight] = encode
        encode.add_done_callback(lambda _: _query_encodes.pop(flight, None))
    # Shielded: one caller giving up must not cancel the encode the others wait for.
    vector = np.asarray((await asyncio.shield(encode))[0])
    with _query_lock:
        _query_vectors[key] = vector
        while len(_query_vectors) > QUERY_CACHE_SIZE:
            _query_vectors.popitem(last=False)
    return vector


async def search_models(
    conn: psycopg.AsyncConnection[Any],
    embedder: Embedder,
    *,
    query: str,
    pipeline_tag: str | None = None,
    license_filter: list[str] | None = None,
    top_k: int = 5,
    fits_vram_gb: float | None = None,
    min_params_billion: float | None = None,
    max_params_billion: float | None = None,
) -> HfSearchResult:
    """Find catalog models whose cards match ``query``, filtered, reranked and cut to ``top_k``.

    Args:
        conn: A connection with ``dict_row`` rows (the app pool's).
        embedder: Must be the embedding model the stored card chunks were made with.
        query: What the model should do, in words (1 to MAX_QUERY_CHARS characters).
        pipeline_tag: Keep only this Hub task, e.g. ``text-to-image`` (case-insensitive).
        license_filter: Keep only these Hub licence ids; None or empty keeps all.
        top_k: How many models to return, 1 to MAX_TOP_K.
        fits_vram_gb: Keep only models whose inference estimate from ``tools.sizing`` (native
            dtype, 4,096-token context, one sequence, one GPU) fits in this many GB.
        min_params_billion: Keep only models of at least this many billion parameters.
        max_params_billion: Keep only models of at most this many billion parameters (with
            the minimum, a size class: alternatives comparable to a named model). A model
            of unknown size is left out when either bound is given.

    Returns:
        The ranked models with notes on how they were found and ranked.

    Raises:
        ValueError: On an empty or too long query, or ``top_k``/``fits_vram_gb`` out of range.
        EmbeddingMismatchError: If the stored vectors come from another model or chunker.

    """
    text = _check_arguments(query, top_k, fits_vram_gb)
    for bound in (min_params_billion, max_params_billion):
        if bound is not None and not (math.isfinite(bound) and bound > 0):
            raise ValueError(f"parameter bounds must be positive billions, got {bound}")
    implied = None if pipeline_tag and pipeline_tag.strip() else named_task(text)
    tags = _labels([pipeline_tag or implied or ""])
    licenses = _labels(license_filter)
    made_with = (embedder.model_name, CHUNKER_VERSION)
    sample = await (await conn.execute(_DIMS_SQL, made_with)).fetchone()
    if sample is None:
        stored = await (await conn.execute(_STORED_SQL)).fetchall()
        if not stored:
            return HfSearchResult(
                results=[],
                popularity_used=False,
                notes=["no model cards stored: run `stack8s ingest`"],
                embedding_model=embedder.model_name,
                chunker_version=CHUNKER_VERSION,
            )
        pairs = [(r["embedding_model_name"], r["chunker_version"]) for r in stored]
        raise EmbeddingMismatchError(pairs, *made_with)
    vector = await query_vector(embedder, text)
    if len(vector) != sample["dims"]:
        detail = f" (stored vectors have {sample['dims']} dimensions, the query's {len(vector)})"
        raise EmbeddingMismatchError([made_with], *made_with, detail)
    params = {
        "query": vector_literal(vector),
        "model": embedder.model_name,
        "chunker": CHUNKER_VERSION,
        "tags": tags,
        "licenses": licenses,
        "min_params": min_params_billion,
        "max_params": max_params_billion,
        "limit": ANN_CANDIDATES,
    }
    # The index yields at most ef_search rows (40 by default).
    ef_search = {"hnsw.ef_search": str(ANN_CANDIDATES)}
    pool = _pool(await fetch_with_local_settings(conn, _ANN_SQL, params, ef_search), fits_vram_gb)
    notes: list[str] = []
    if implied:
        notes.append(
            f"the query names the task {implied}: only {implied} models were considered "
            "(pass pipeline_tag to choose another)"
        )
    if len(pool.matches) < top_k:
        params["limit"] = EXACT_CANDIDATES
        pool = _pool(await (await conn.execute(_EXACT_SQL, params)).fetchall(), fits_vram_gb)
        notes.append(
            f"the {ANN_CANDIDATES} nearest card chunks held fewer than {top_k} models passing "
            "the filters: scored every card that passes them, exactly"
        )
    rows = pool.rows
    ranking = rank_candidates(
        [
            Candidate(
                m.model_id, m.relevance, rows[m.model_id]["downloads"], rows[m.model_id]["likes"]
            )
            for m in pool.matches
        ],
        top_k,
    )
    notes += ranking.notes
    if fits_vram_gb is not None:
        notes.append(
            f"VRAM filter {fits_vram_gb:g} GB: tools.sizing inference estimate (native dtype, "
            "4,096-token context, one sequence, one GPU)"
            + (f"; {pool.unsized} candidates of unknown size left out" if pool.unsized else "")
        )
    if min_params_billion is not None or max_params_billion is not None:
        low = f"{min_params_billion:g}" if min_params_billion is not None else "any"
        high = f"{max_params_billion:g}" if max_params_billion is not None else "any"
        notes.append(f"size filter: {low} to {high} billion parameters")
    if len(ranking.ranked) < top_k:
        notes.append(f"only {len(ranking.ranked)} models match the query and filters")
    hits = [_hit(r, pool, fits_vram_gb) for r in ranking.ranked]
    return HfSearchResult(
        results=hits,
        popularity_used=ranking.popularity_used,
        notes=notes,
        embedding_model=embedder.model_name,
        chunker_version=CHUNKER_VERSION,
    )


def _check_arguments(query: str, top_k: int, fits_vram_gb: float | None) -> str:
    text = query.strip() if isinstance(query, str) else ""
    if not text:
        raise ValueError("query is empty: describe the model wanted, e.g. 'text to image'")
    if len(text) > MAX_QUERY_CHARS:
        raise ValueError(f"query is {len(text)} characters long; the limit is {MAX_QUERY_CHARS}")
    if not 1 <= top_k <= MAX_TOP_K:
        raise ValueError(f"top_k must be between 1 and {MAX_TOP_K}, got {top_k}")
    if fits_vram_gb is not None and not (math.isfinite(fits_vram_gb) and fits_vram_gb > 0):
        raise ValueError(f"fits_vram_gb must be a positive number of GB, got {fits_vram_gb}")
    return text


def named_task(query: str) -> str | None:
    """Return the directional Hub task a query names ("text to image"), if exactly one."""
    words = " " + " ".join(re.sub(r"[^a-z0-9]+", " ", query.lower()).split()) + " "
    found = {task for phrase, task in DIRECTIONAL_TASKS.items() if f" {phrase} " in words}
    # A query naming several ("text to image or image to text") asks for no one task.
    return found.pop() if len(found) == 1 else None


def _labels(values: Sequence[str] | None) -> list[str] | None:
    """Lower-case and de-duplicate filter values; no values means no filter."""
    cleaned = sorted({v.strip().lower() for v in values or [] if v and v.strip()})
    return cleaned or None


@dataclass
class _Pool:
    """The candidate models from one retrieval: best chunks, catalog rows and VRAM sizes."""

    matches: list[ModelMatch]
    rows: dict[str, dict[str, Any]]
    sizes: dict[str, float]
    unsized: int

    @cached_property
    def by_id(self) -> dict[str, ModelMatch]:
        """Return the matches keyed by model id."""
        return {m.model_id: m for m in self.matches}


def _pool(rows: list[dict[str, Any]], fits_vram_gb: float | None) -> _Pool:
    catalog = {r["model_id"]: r for r in rows}
    matches = best_chunk_per_model(
        ChunkHit(r["model_id"], float(r["similarity"]), r["content"]) for r in rows
    )
    sizes: dict[str, float] = {}
    unsized = 0
    if fits_vram_gb is not None:
        kept = []
        for match in matches:
            size = vram_estimate_gb(catalog[match.model_id])
            if size is None:
                unsized += 1
            elif size <= fits_vram_gb:
                sizes[match.model_id] = size
                kept.append(match)
        matches = kept
    return _Pool(matches, catalog, sizes, unsized)


def vram_estimate_gb(row: dict[str, Any]) -> float | None:
    """Return the GB a catalog model needs for inference, per ``tools.sizing``; None if unknown.

    LLMs with an architecture row get ``estimate_memory`` at their native dtype, a 4,096-token
    context, one sequence and one GPU; other models with a parameter count get
    ``estimate_non_llm_memory`` (bf16 × 1.2); the catalog's fp16 figure is the last resort.
    """
    arch_row = row.get("architecture")
    try:
        if arch_row:
            arch = Architecture.model_validate({k: v for k, v in arch_row.items() if v is not None})
            return estimate_memory(arch, Workload(), tensor_parallel=1).total_vram_gb
        if row.get("params_billion"):
            return estimate_non_llm_memory(row["params_billion"], Workload()).total_vram_gb
    except ValueError as exc:  # a malformed catalog row: fall back rather than fail the search
        logger.warning("sizing failed", extra={"model_id": row.get("model_id"), "error": str(exc)})
    fp16 = row.get("min_vram_gb_fp16")
    return float(fp16) if fp16 is not None else None


def _hit(ranked: Ranked, pool: _Pool, fits_vram_gb: float | None) -> HfModelHit:
    row = pool.rows[ranked.model_id]
    match = pool.by_id[ranked.model_id]
    why = [f"card cosine {ranked.relevance:.3f} with the query"]
    if match.matched_chunks > 1:
        why.append(f"{match.matched_chunks} card chunks matched")
    if ranked.popularity is not None:
        why.append(f"popularity {ranked.popularity:.2f} (min-max over candidates)")
    if fits_vram_gb is not None:
        why.append(f"needs ~{pool.sizes[ranked.model_id]:.1f} GB ≤ {fits_vram_gb:g} GB")
    return HfModelHit(
        model_id=ranked.model_id,
        pipeline_tag=row["pipeline_tag"],
        license=row["license"],
        params_billion=row["params_billion"],
        context_length=row["context_length"],
        min_vram_gb_fp16=row["min_vram_gb_fp16"],
        relevance=round(ranked.relevance, 4),
        popularity=None if ranked.popularity is None else round(ranked.popularity, 4),
        score=round(ranked.score, 4),
        matched_chunk=excerpt(match.content, ranked.model_id),
        why="; ".join(why),
    )


class EmbedderEmbeddings(Embeddings):
    """One of our embedders seen as a LangChain ``Embeddings``."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed documents with the wrapped embedder."""
        return [[float(x) for x in row] for row in self.embedder.embed(texts)]

    def embed_query(self, text: str) -> list[float]:
        """Embed one query with the wrapped embedder."""
        return self.embed_documents([text])[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed documents off the event loop, through the process's one encoder."""
        return [[float(x) for x in row] for row in await aembed(self.embedder, texts)]

    async def aembed_query(self, text: str) -> list[float]:
        """Embed one query off the event loop, through the process's one encoder."""
        return (await self.aembed_documents([text]))[0]


def card_vector_engine(database_url: str) -> PGEngine:
    """Open a langchain-postgres engine (SQLAlchemy over psycopg) on a libpq ``database_url``.

    This is a second pool beside the app's: open it once per process, and only where a
    LangChain retriever is wanted; ``search_models`` does not need it.
    """
    url = make_url(database_url).set(drivername="postgresql+psycopg")
    # prepare_threshold=None for the same reason as core.db: transaction poolers.
    return PGEngine.from_connection_string(url, connect_args={"prepare_threshold": None})


def card_vector_store(engine: PGEngine, embedder: Embedder, *, k: int = 4) -> PGVectorStore:
    """Return a read-only PGVectorStore over the card chunks (the ``hf.card_chunk_docs`` view).

    Documents are chunks; their metadata holds the model id, card hash, chunk index, heading,
    embedding model and chunker version, and filters may use any of those.

    Raises:
        EmbeddingMismatchError: If any stored chunk was embedded with another model or chunker,
            since the store cannot keep such rows out of its searches.

    """
    store = PGVectorStore.create_sync(
        engine,
        EmbedderEmbeddings(embedder),
        CARD_DOCS_VIEW,
        schema_name="hf",
        id_column="id",
        content_column="content",
        embedding_column="embedding",
        metadata_columns=CARD_DOCS_METADATA,
        k=k,
    )
    foreign = store.get(
        where={
            "$or": [
                {"embedding_model_name": {"$ne": embedder.model_name}},
                {"chunker_version": {"$ne": CHUNKER_VERSION}},
            ]
        },
        limit=1,
        include=["metadatas"],
    )
    if foreign["ids"]:
        meta = foreign["metadatas"][0]
        stored = [(meta["embedding_model_name"], meta["chunker_version"])]
        raise EmbeddingMismatchError(stored, embedder.model_name, CHUNKER_VERSION)
    return store
