"""Catalog fixtures: model cards ingested for a scenario and removed after it.

A card (``tests/fixtures/cards/<org>/<name>/README.md``) is copied to a temporary folder and
ingested with ``core.ingest.ingest(..., cards_dir=...)`` from an empty source folder, so that
only the cards are written and the catalogs already in the database stay as they are. The
graph's cached vocabulary is dropped on the way in and out, as a restart would.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import yaml

from core.db import connect
from core.ingest import ingest
from core.resources import Resources
from core.settings import PROJECT_ROOT
from evals.catalog import Model

CARDS_DIR = PROJECT_ROOT / "tests" / "fixtures" / "cards"


def card_model(model_id: str, cards_dir: Path = CARDS_DIR) -> Model:
    """Return the catalog row a card's front matter makes for its model."""
    text = (cards_dir / model_id / "README.md").read_text(encoding="utf-8")
    front: dict[str, Any] = {}
    if text.startswith("---"):
        block = text.split("---", 2)[1]
        front = yaml.safe_load(block) or {}
    license_ = front.get("license")
    return Model(
        model_id=model_id,
        license=license_ if isinstance(license_, str) else None,
        pipeline_tag=front.get("pipeline_tag"),
        params_billion=None,
    )


def _ingest_cards(url: str, resources: Resources, model_ids: Sequence[str]) -> list[str]:
    """Ingest the cards; return the ids of the models that were not in the catalog before."""
    with connect(url) as conn:
        rows = conn.execute(
            "select model_id from hf.models where model_id = any(%s)", (list(model_ids),)
        ).fetchall()
    present = {row["model_id"] for row in rows}
    with tempfile.TemporaryDirectory(prefix="stack8s-eval-cards-") as tmp:
        root = Path(tmp)
        for model_id in model_ids:
            shutil.copytree(CARDS_DIR / model_id, root / "cards" / model_id)
        (root / "empty").mkdir()
        with connect(url) as conn:
            ingest(
                conn,
                resources.embedder,
                source=root / "empty",
                cards_dir=root / "cards",
                cache_ttl_days=resources.settings.embeddings_cache_ttl_days,
            )
    return [m for m in model_ids if m not in present]


def _remove_cards(url: str, model_ids: Sequence[str]) -> None:
    if not model_ids:
        return
    with connect(url) as conn, conn.transaction():
        conn.execute("delete from hf.models where model_id = any(%s)", (list(model_ids),))
        conn.execute(
            "delete from hf.cards c where not exists "
            "(select 1 from hf.model_to_card m where m.card_hash = c.card_hash)"
        )


@asynccontextmanager
async def card_fixtures(
    resources: Resources, model_ids: Sequence[str]
) -> AsyncIterator[list[Model]]:
    """Ingest the cards for the duration of the block; yield the models they add."""
    url = resources.pool.conninfo
    if not isinstance(url, str):
        raise TypeError("card fixtures need a pool opened with a connection string")
    models = [card_model(m) for m in model_ids]
    added: list[str] = []
    try:
        added = await asyncio.to_thread(_ingest_cards, url, resources, model_ids)
        resources.catalog_facts.clear()
        yield models
    finally:
        # Only what this block added is removed: a card that was there before stays.
        await asyncio.to_thread(_remove_cards, url, added)
        resources.catalog_facts.clear()
