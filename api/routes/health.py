"""Liveness and readiness."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import AppSettings, Pool

logger = logging.getLogger(__name__)
router = APIRouter(tags=["health"])

_READY_COUNTS = {
    "instances": "cloud.instances",
    "gpus": "cloud.gpus",
    "charts": "k8s.charts",
    "models": "hf.models",
    "chunks": "hf.card_chunks",
}


@router.get("/health")
async def health() -> dict[str, str]:
    """Say the process is alive (no dependencies checked)."""
    return {"status": "ok"}


@router.get("/ready", response_model=None)
async def ready(pool: Pool, settings: AppSettings) -> dict[str, Any] | JSONResponse:
    """Report whether the app can serve: database, pgvector, catalog sizes, embedder."""
    embedder = {
        "provider": settings.embeddings_provider,
        "model": settings.embeddings_model,
    }
    try:
        async with pool.connection(timeout=2.0) as conn:
            row = await (
                await conn.execute("select extversion from pg_extension where extname = 'vector'")
            ).fetchone()
            counts = {}
            for name, table in _READY_COUNTS.items():
                result = await (await conn.execute(f"select count(*) as n from {table}")).fetchone()
                counts[name] = int(result["n"]) if result else 0
    except Exception as exc:  # any failure here means "not ready", with the reason logged
        logger.warning("not ready: %s", type(exc).__name__)
        return JSONResponse(
            {"status": "unavailable", "database": {"ok": False}, "embedder": embedder},
            status_code=503,
        )
    catalogs_ready = all(n > 0 for n in counts.values())
    body = {
        "status": "ready" if catalogs_ready else "catalogs_empty",
        "database": {"ok": True, "pgvector_version": row["extversion"] if row else None},
        "catalogs": counts,
        "embedder": embedder,
    }
    return body if catalogs_ready else JSONResponse(body, status_code=503)
