"""Shared set-up for the benchmarks: a migrated, ingested database and percentile maths."""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

from core.db import connect, database_url
from core.embeddings import get_embedder
from core.ingest import catalogs_empty, ingest
from core.migrate import apply_migrations
from core.settings import PROJECT_ROOT, Settings

RESULTS_DIR = PROJECT_ROOT / "bench" / "results"


def bench_settings() -> Settings:
    """Return settings for a benchmark database under .stack8s/bench (or DATABASE_URL)."""
    return Settings(stack8s_home=PROJECT_ROOT / ".stack8s" / "bench")


def prepared_database(settings: Settings) -> str:
    """Start or reach the database, migrate it and ingest the catalogs when empty."""
    url = database_url(settings)
    with connect(url) as conn:
        apply_migrations(conn)
        if catalogs_empty(conn):
            print("ingesting the catalogs for the benchmark database (first run only)")
            ingest(conn, get_embedder(settings))
    return url


def percentile(samples: list[float], q: float) -> float:
    """Return the q-th percentile (0-100) by linear interpolation."""
    ordered = sorted(samples)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary_ms(samples_s: list[float]) -> dict[str, float]:
    """Summarise durations in seconds as milliseconds: p50, p95, mean, n."""
    ms = [s * 1000 for s in samples_s]
    return {
        "p50_ms": round(percentile(ms, 50), 3),
        "p95_ms": round(percentile(ms, 95), 3),
        "mean_ms": round(statistics.fmean(ms), 3),
        "n": len(ms),
    }


def write_results(name: str, payload: dict[str, Any]) -> Path:
    """Write a benchmark's figures to bench/results/<name>.json."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


async def forget_threads(url: str, thread_ids: Iterable[str]) -> int:
    """Delete the chats a benchmark made: their rows (runs, events) and their checkpoints.

    Left behind, every run would grow the bench database, and the next run's figures would
    be taken over bigger tables than this one's. Returns how many threads were deleted.
    """
    ids = sorted(set(thread_ids))
    with connect(url) as conn:
        conn.execute("delete from chat.threads where id = any(%s::uuid[])", (ids,))
    async with AsyncPostgresSaver.from_conn_string(url) as saver:
        for thread_id in ids:
            await saver.adelete_thread(thread_id)
    return len(ids)
