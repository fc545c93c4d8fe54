"""Latency of each search tool over the full catalogs: p50 and p95 per tool.

Sets up like `stack8s serve` (embedded Postgres under .stack8s/bench unless DATABASE_URL is
set, migrations, ingestion when the catalogs are empty), warms up, then times each tool
call end to end on one async connection made as the app makes them (prepared statements
per DB_PREPARED_STATEMENTS; --prepared-statements overrides it): SQL, Python ranking and,
for hf, the query embedding. Prints a table and writes bench/results/tools.json.

    .venv/bin/python bench/tools.py [--iterations 200] [--warmup 20]
                                    [--prepared-statements auto|on|off]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import itertools
import os
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psycopg

# `python bench/tools.py` (what `make bench` runs) puts bench/ on the path, not the root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import bench_settings, percentile, prepared_database, write_results  # noqa: E402
from core.db import connect, connection_kwargs  # noqa: E402
from core.embeddings import get_embedder  # noqa: E402
from core.ingest import catalog_counts  # noqa: E402
from core.settings import Settings  # noqa: E402
from tools.compute import ComputeQuery, search_instances  # noqa: E402
from tools.compute_fit import SizingQuery, size_workload  # noqa: E402
from tools.hf import search_models  # noqa: E402
from tools.k8s import search_charts  # noqa: E402

TARGETS_MS = {"compute": 5.0, "compute+model": 5.0, "k8s": 5.0, "hf": 30.0, "sizing": None}

COMPUTE_QUERIES = [
    ComputeQuery(gpu_needed=True, min_vram_gb=24),
    ComputeQuery(gpu_needed=True, providers=["aws", "gcp"], max_price_monthly=5000, top_k=5),
    ComputeQuery(gpu_model="H100", spot=True, top_k=5),
    ComputeQuery(min_vcpu=8, min_ram_gb=32, regions=["us-east-1", "eastus"], top_k=5),
]
MODEL_QUERIES = [
    ComputeQuery(
        model_id="meta-llama/Llama-3.1-70B-Instruct",
        dtype="bf16",
        context_length=8192,
        concurrency=32,
    ),
    ComputeQuery(model_id="Qwen/Qwen2.5-7B-Instruct", dtype="int4", max_price_monthly=1000),
]
CHART_QUERIES = ["postgres", "vector database", "monitoring", "mlflow", "kube prometheus"]
MODEL_SEARCHES = [
    "text to image generation",
    "small chat model for customer support",
    "speech recognition in many languages",
    "code completion model",
]
SIZINGS = [
    SizingQuery(
        model_id="meta-llama/Llama-3.1-70B-Instruct",
        dtype="bf16",
        context_length=8192,
        concurrency=32,
        gpu_memory_gb=80,
    ),
    SizingQuery(model_id="mistralai/Mistral-7B-Instruct-v0.3", task="qlora"),
]


def prepare(prepared_statements: str | None) -> tuple[str, Settings]:
    """Start or reach the bench database (.stack8s/bench), migrated and ingested."""
    settings = bench_settings()
    if prepared_statements is not None:
        settings = settings.model_copy(update={"db_prepared_statements": prepared_statements})
    url = prepared_database(settings)
    with connect(url) as conn:
        counts = catalog_counts(conn)
    print("catalog rows: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    return url, settings


async def time_calls(
    call: Callable[[int], Awaitable[Any]], iterations: int, warmup: int
) -> list[float]:
    """Run ``call(i)`` warmup + iterations times; return the timed ones in milliseconds."""
    for i in range(warmup):
        await call(i)
    samples = []
    for i in range(iterations):
        started = time.perf_counter_ns()
        await call(i)
        samples.append((time.perf_counter_ns() - started) / 1e6)
    return samples


async def compare_prepared(url: str, iterations: int) -> dict[str, float]:
    """Time the compute queries prepared and unprepared, call for call in turn.

    Alternating calls see the same moments of a machine whose speed drifts, so the ratio
    holds even when the absolute figures move.
    """
    modes = ("on", "off")
    conns = {
        mode: await psycopg.AsyncConnection.connect(
            url, **connection_kwargs(Settings(db_prepared_statements=mode))
        )
        for mode in modes
    }
    samples: dict[str, list[float]] = {mode: [] for mode in modes}
    try:
        for i in range(iterations):
            query = COMPUTE_QUERIES[i % len(COMPUTE_QUERIES)]
            for mode in modes:
                started = time.perf_counter_ns()
                await search_instances(conns[mode], query)
                samples[mode].append((time.perf_counter_ns() - started) / 1e6)
    finally:
        for conn in conns.values():
            await conn.close()
    # The first pass over the queries prepares them (and warms the other side's caches).
    prepared, unprepared = (statistics.median(samples[m][len(COMPUTE_QUERIES):]) for m in modes)
    return {
        "prepared_p50_ms": round(prepared, 3),
        "unprepared_p50_ms": round(unprepared, 3),
        "ratio": round(prepared / unprepared, 3),
    }


async def run(url: str, settings: Settings, iterations: int, warmup: int) -> dict[str, Any]:
    """Time every tool and return p50/p95 per tool."""
    embedder = get_embedder(settings)
    conn = await psycopg.AsyncConnection.connect(url, **connection_kwargs(settings))
    cycle = itertools.cycle
    compute_q, model_q = cycle(COMPUTE_QUERIES), cycle(MODEL_QUERIES)
    charts_q, hf_q, sizing_q = cycle(CHART_QUERIES), cycle(MODEL_SEARCHES), cycle(SIZINGS)
    calls: dict[str, Callable[[int], Awaitable[Any]]] = {
        "compute": lambda _: search_instances(conn, next(compute_q)),
        "compute+model": lambda _: search_instances(conn, next(model_q)),
        "k8s": lambda _: search_charts(conn, next(charts_q), top_k=5),
        # A fresh embedding every call: the query text cycles, nothing caches it.
        "hf": lambda _: search_models(conn, embedder, query=next(hf_q), top_k=5),
        "sizing": lambda _: size_workload(conn, next(sizing_q)),
    }
    results = {}
    try:
        for name, call in calls.items():
            samples = await time_calls(call, iterations, warmup)
            results[name] = {
                "iterations": iterations,
                "p50_ms": round(statistics.median(samples), 3),
                "p95_ms": round(percentile(samples, 95), 3),
                "mean_ms": round(statistics.fmean(samples), 3),
                "max_ms": round(max(samples), 3),
                "target_ms": TARGETS_MS[name],
            }
    finally:
        await conn.close()
    return results


def report(results: dict[str, Any]) -> None:
    """Print the table."""
    print(f"{'tool':<15}{'p50 ms':>10}{'p95 ms':>10}{'target':>10}  met")
    for name, r in results.items():
        target = r["target_ms"]
        met = "-" if target is None else ("yes" if r["p50_ms"] <= target else "NO")
        shown = "-" if target is None else f"≤{target:g}"
        print(f"{name:<15}{r['p50_ms']:>10.2f}{r['p95_ms']:>10.2f}{shown:>10}  {met}")


def main() -> int:
    """Set up, time, print and save."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--prepared-statements", choices=["auto", "on", "off"], default=None)
    args = parser.parse_args()
    url, settings = prepare(args.prepared_statements)
    print(f"prepared statements: {'on' if settings.prepared_statements else 'off'}")
    load_before = os.getloadavg()[0]
    results = asyncio.run(run(url, settings, args.iterations, args.warmup))
    report(results)
    # Only where prepared statements are allowed: an external database may sit behind a pooler.
    ab = None
    if settings.prepared_statements:
        ab = asyncio.run(compare_prepared(url, args.iterations))
        print(
            f"compute prepared vs unprepared, alternating: p50 {ab['prepared_p50_ms']:.2f} vs "
            f"{ab['unprepared_p50_ms']:.2f} ms, ratio {ab['ratio']:.2f}"
        )
    path = write_results(
        "tools",
        {
            "measured_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "machine": {
                "platform": platform.platform(),
                "processor": platform.processor() or platform.machine(),
                "cpus": os.cpu_count(),
                # Other work on the machine moves these figures; the load says how much.
                "load_avg_1m_before": round(load_before, 2),
                "load_avg_1m_after": round(os.getloadavg()[0], 2),
            },
            "python": platform.python_version(),
            "prepared_statements": settings.prepared_statements,
            "tools": results,
            "compute_prepared_vs_unprepared": ab,
        },
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
