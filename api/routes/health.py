"""Liveness and readiness."""

from __future__ import annotations

import logging
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.deps import AppSettings, Pool
from core.db import pgvector_version
from tools.catalog import catalog_sizes

logger = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


class HealthPublic(BaseModel):
    """The process answers."""

    status: Literal["ok"] = Field(description="Always ok: the process is alive.")


class DatabaseStatus(BaseModel):
    """Whether the database answered, and its pgvector version."""

    ok: bool = Field(description="Whether a connection was had within 2 s.")
    pgvector_version: str | None = Field(
        default=None, description="The vector extension's version; null if not installed."
    )


class EmbedderStatus(BaseModel):
    """The embedder the app is configured with."""

    provider: str = Field(description="local, http or openai.")
    model: str = Field(description="The embedding model's name.")


class ReadyPublic(BaseModel):
    """Whether the app can serve, and what is missing when it cannot (200 or 503)."""

    status: Literal["ready", "catalogs_empty", "unavailable"] = Field(
        description="ready; catalogs_empty (run `stack8s ingest`); unavailable (no database)."
    )
    database: DatabaseStatus = Field(description="The database check.")
    catalogs: dict[str, int] | None = Field(
        default=None,
        description="Rows per catalog table: instances, gpus, charts, models, chunks.",
    )
    embedder: EmbedderStatus = Field(description="The configured embedder.")


@router.get("/health", response_model=HealthPublic)
async def health() -> dict[str, str]:
    """Say the process is alive (no dependencies checked)."""
    return {"status": "ok"}


@router.get(
    "/ready",
    response_model=ReadyPublic,
    responses={503: {"model": ReadyPublic, "description": "Not ready: status says why."}},
)
async def ready(pool: Pool, settings: AppSettings) -> dict[str, Any] | JSONResponse:
    """Report whether the app can serve: database, pgvector, catalog sizes, embedder."""
    embedder = {
        "provider": settings.embeddings_provider,
        "model": settings.embeddings_model,
    }
    try:
        async with pool.connection(timeout=2.0) as conn:
            version = await pgvector_version(conn)
            counts = await catalog_sizes(conn)
    except Exception as exc:  # any failure here means "not ready", with the reason logged
        logger.warning("not ready: %s", type(exc).__name__)
        return JSONResponse(
            {"status": "unavailable", "database": {"ok": False}, "embedder": embedder},
            status_code=503,
        )
    catalogs_ready = all(n > 0 for n in counts.values())
    body = {
        "status": "ready" if catalogs_ready else "catalogs_empty",
        "database": {"ok": True, "pgvector_version": version},
        "catalogs": counts,
        "embedder": embedder,
    }
    return body if catalogs_ready else JSONResponse(body, status_code=503)
