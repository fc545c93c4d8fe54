"""Load the catalogs into Postgres: validate every file first, then write all in one transaction.

Ingestion mirrors the files: rows are upserted on their natural keys and rows no longer in a
file are removed, so running it twice changes nothing and the tables hold what the files say.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from tqdm import tqdm

from core.cards import CHUNKER_VERSION, Card, Chunk, chunk_card, compose_card, read_readme_card
from core.catalog_files import (
    ARCHITECTURES,
    CATALOG_FILES,
    DATA_DIR,
    MODELS,
    CatalogFile,
    ParsedCatalog,
    parse_catalog,
)
from core.embeddings import Embedder, embed_with_cache, vector_literal

logger = logging.getLogger(__name__)

COUNT_QUERIES = {
    "instances": "select count(*) from cloud.instances",
    "gpus": "select count(*) from cloud.gpus",
    "charts": "select count(*) from k8s.charts",
    "models": "select count(*) from hf.models",
    "architectures": "select count(*) from hf.architectures",
    "cards": "select count(*) from hf.cards",
    "chunks": "select count(*) from hf.card_chunks",
}


@dataclass
class IngestReport:
    """What an ingestion loaded: row counts per table after it, and what it skipped."""

    counts: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    embedded_chunks: int = 0


def catalog_counts(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """Return the row count of every catalog table."""
    counts = {}
    for name, query in COUNT_QUERIES.items():
        row = conn.execute(query).fetchone()
        counts[name] = int(row["count"]) if row else 0
    return counts


def catalogs_empty(conn: psycopg.Connection[Any]) -> bool:
    """Say whether any core catalog is empty (a fresh database)."""
    counts = catalog_counts(conn)
    return any(counts[name] == 0 for name in ("instances", "gpus", "charts", "models", "chunks"))


def parse_source(source: Path) -> tuple[list[ParsedCatalog], list[str]]:
    """Validate the catalog files found in ``source``; name the ones that are absent."""
    parsed, skipped = [], []
    for spec in CATALOG_FILES:
        path = source / spec.filename
        if path.exists():
            parsed.append(parse_catalog(spec, path))
        else:
            skipped.append(spec.filename)
    return parsed, skipped


def _progress(rows: Iterable[Any], total: int, label: str, show: bool) -> Iterable[Any]:
    return tqdm(rows, total=total, desc=label, unit="row", disable=not show, leave=False)


def _mirror(
    conn: psycopg.Connection[Any],
    table: str,
    columns: Sequence[str],
    key: Sequence[str],
    rows: Sequence[Sequence[Any]],
    show_progress: bool,
) -> None:
    """Make ``table`` hold exactly ``rows``: stage them by COPY, upsert, delete the rest."""
    schema, name = table.split(".")
    target = sql.Identifier(schema, name)
    stage = sql.Identifier(f"stage_{name}")
    cols = sql.SQL(", ").join(map(sql.Identifier, columns))
    conn.execute(
        sql.SQL("create temp table {} on commit drop as select {} from {} limit 0").format(
            stage, cols, target
        )
    )
    with conn.cursor().copy(sql.SQL("copy {} ({}) from stdin").format(stage, cols)) as copy:
        for row in _progress(rows, len(rows), table, show_progress):
            copy.write_row(row)
    updates = [c for c in columns if c not in key]
    conflict = sql.SQL(", ").join(map(sql.Identifier, key))
    set_clause = (
        sql.SQL("do update set ")
        + sql.SQL(", ").join(
            sql.SQL("{0} = excluded.{0}").format(sql.Identifier(c)) for c in updates
        )
        if updates
        else sql.SQL("do nothing")
    )
    conn.execute(
        sql.SQL("insert into {} ({}) select {} from {} on conflict ({}) {}").format(
            target, cols, cols, stage, conflict, set_clause
        )
    )
    match = sql.SQL(" and ").join(sql.SQL("s.{0} = t.{0}").format(sql.Identifier(k)) for k in key)
    conn.execute(
        sql.SQL("delete from {} t where not exists (select 1 from {} s where {})").format(
            target, stage, match
        )
    )


def build_cards(
    models: list[dict[str, Any]],
    architectures: dict[str, dict[str, Any]],
    readme_cards: dict[str, Card],
) -> dict[str, Card]:
    """Return one card per model: its real README when given, else one composed from facts."""
    cards = {m["model_id"]: compose_card(m, architectures.get(m["model_id"])) for m in models}
    cards.update(readme_cards)
    return cards


def read_cards_dir(cards_dir: Path) -> tuple[dict[str, Card], dict[str, dict[str, Any]]]:
    """Read every ``<org>/<name>/README.md`` under ``cards_dir``."""
    cards: dict[str, Card] = {}
    front_matter: dict[str, dict[str, Any]] = {}
    for path in sorted(cards_dir.glob("*/*/README.md")):
        card, front = read_readme_card(path, cards_dir)
        cards[card.model_id] = card
        front_matter[card.model_id] = front
    if not cards:
        raise ValueError(f"no <org>/<name>/README.md cards found under {cards_dir}")
    return cards, front_matter


def _current_models(
    conn: psycopg.Connection[Any], only: set[str] | None = None
) -> list[dict[str, Any]]:
    if only is not None and not only:
        return []
    query = "select * from hf.models where (%s::text[] is null or model_id = any(%s))"
    ids = sorted(only) if only is not None else None
    return conn.execute(query + " order by model_id", (ids, ids)).fetchall()


def _current_architectures(conn: psycopg.Connection[Any]) -> dict[str, dict[str, Any]]:
    rows = conn.execute("select * from hf.architectures").fetchall()
    return {r["model_id"]: r for r in rows}


def _existing_readme_cards(conn: psycopg.Connection[Any]) -> dict[str, Card]:
    rows = conn.execute(
        "select m.model_id, c.content from hf.model_to_card m "
        "join hf.cards c using (card_hash) where c.source = 'readme'"
    ).fetchall()
    return {r["model_id"]: Card(r["model_id"], r["content"], "readme") for r in rows}


def _models_from_front_matter(
    known: set[str], front_matter: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """Catalog rows for carded models the catalog lacks, from their cards' front matter."""
    rows = []
    for model_id, front in front_matter.items():
        if model_id in known:
            continue
        license_ = front.get("license")
        rows.append(
            {
                **dict.fromkeys(MODELS.column_names),
                "model_id": model_id,
                "pipeline_tag": front.get("pipeline_tag"),
                "license": license_ if isinstance(license_, str) else None,
                "library": front.get("library_name"),
            }
        )
    return rows


def ingest(
    conn: psycopg.Connection[Any],
    embedder: Embedder,
    *,
    source: Path = DATA_DIR,
    cards_dir: Path | None = None,
    cache_ttl_days: int = 30,
    show_progress: bool = False,
) -> IngestReport:
    """Validate and load the catalogs in ``source`` (and real cards in ``cards_dir``).

    Every file is parsed before anything is written; the writes share one transaction, so a
    bad file or a failure half-way leaves the database as it was.
    """
    parsed, skipped = parse_source(source)
    by_name = {p.spec.name: p for p in parsed}
    readme_cards, front_matter = read_cards_dir(cards_dir) if cards_dir else ({}, {})

    models = by_name[MODELS.name].rows if MODELS.name in by_name else _current_models(conn)
    known_ids = {m["model_id"] for m in models}
    # Real cards given earlier stay until replaced, and so do the models known only from them.
    readme_cards = {**_existing_readme_cards(conn), **readme_cards}
    extra_models = _models_from_front_matter(known_ids, front_matter)
    extra_models += _current_models(
        conn, only=set(readme_cards) - known_ids - {m["model_id"] for m in extra_models}
    )
    all_models = models + extra_models
    architectures = (
        {r["model_id"]: r for r in by_name[ARCHITECTURES.name].rows}
        if ARCHITECTURES.name in by_name
        else _current_architectures(conn)
    )
    cards = build_cards(all_models, architectures, readme_cards)
    chunks = {card.card_hash: chunk_card(card) for card in cards.values()}
    texts = [chunk.content for card_chunks in chunks.values() for chunk in card_chunks]
    logger.info("embedding %d card chunks with %s", len(texts), embedder.model_name)
    vectors = embed_with_cache(embedder, texts, conn, cache_ttl_days)

    with conn.transaction():
        for catalog in parsed:
            spec: CatalogFile = catalog.spec
            source_rows = all_models if spec is MODELS else catalog.rows
            rows = [[row[c] for c in spec.column_names] for row in source_rows]
            _mirror(conn, spec.table, spec.column_names, spec.key, rows, show_progress)
            conn.execute(
                "insert into public.catalog_versions (catalog, file_sha256, row_count) "
                "values (%s, %s, %s) on conflict (catalog) do update set "
                "file_sha256 = excluded.file_sha256, row_count = excluded.row_count, "
                "ingested_at = now()",
                (spec.name, catalog.sha256, len(catalog.rows)),
            )
        if extra_models and MODELS.name not in by_name:
            _mirror_extra_models(conn, extra_models)
        _write_cards(conn, cards, chunks, vectors, embedder.model_name, show_progress)

    report = IngestReport(catalog_counts(conn), skipped, len(texts))
    logger.info("ingested catalogs", extra={"counts": report.counts})
    return report


def _mirror_extra_models(conn: psycopg.Connection[Any], rows: list[dict[str, Any]]) -> None:
    cols = MODELS.column_names
    with conn.cursor() as cur:
        cur.executemany(
            sql.SQL("insert into hf.models ({}) values ({}) on conflict do nothing").format(
                sql.SQL(", ").join(map(sql.Identifier, cols)),
                sql.SQL(", ").join(sql.Placeholder() * len(cols)),
            ),
            [[row[c] for c in cols] for row in rows],
        )


def _write_cards(
    conn: psycopg.Connection[Any],
    cards: dict[str, Card],
    chunks: dict[str, list[Chunk]],
    vectors: Any,
    model_name: str,
    show_progress: bool,
) -> None:
    unique_cards = {card.card_hash: card for card in cards.values()}
    _mirror(
        conn,
        "hf.cards",
        ["card_hash", "source", "content"],
        ["card_hash"],
        [[h, c.source, c.content] for h, c in unique_cards.items()],
        show_progress,
    )
    _mirror(
        conn,
        "hf.model_to_card",
        ["model_id", "card_hash"],
        ["model_id"],
        [[model_id, card.card_hash] for model_id, card in cards.items()],
        show_progress,
    )
    # ``vectors`` follows the order in which ``chunks`` was flattened for embedding.
    flat = [(h, chunk) for h, card_chunks in chunks.items() for chunk in card_chunks]
    chunk_rows = [
        [
            card_hash,
            chunk.index,
            chunk.heading,
            chunk.content,
            chunk.word_count,
            vector_literal(vector),
            model_name,
            CHUNKER_VERSION,
        ]
        for (card_hash, chunk), vector in zip(flat, vectors, strict=True)
    ]
    _mirror(
        conn,
        "hf.card_chunks",
        [
            "card_hash",
            "chunk_index",
            "heading",
            "content",
            "token_count",
            "embedding",
            "embedding_model_name",
            "chunker_version",
        ],
        ["card_hash", "chunk_index", "embedding_model_name", "chunker_version"],
        chunk_rows,
        show_progress,
    )
