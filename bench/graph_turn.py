"""Offline plan turn, server-side: Postgres checkpointer against InMemorySaver, same turns.

Usage: .venv/bin/python bench/graph_turn.py [--turns 40]
Target: full offline turn ≤ 150 ms p50; Postgres / InMemory ≤ 1.5×.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from pathlib import Path

# `python bench/graph_turn.py` (what `make bench` runs) puts bench/ on the path, not the root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from langchain_core.messages import HumanMessage  # noqa: E402
from langgraph.checkpoint.memory import InMemorySaver  # noqa: E402

from bench.common import (  # noqa: E402
    bench_settings,
    forget_threads,
    prepared_database,
    summary_ms,
    write_results,
)
from core.db import create_pool  # noqa: E402
from core.embeddings import get_embedder  # noqa: E402
from core.resources import Resources  # noqa: E402
from graph.builder import builder  # noqa: E402
from graph.checkpointer import compile_with_postgres  # noqa: E402
from graph.context import Context  # noqa: E402

REQUESTS = (
    "Deploy Llama 3.1 70B for inference for 50 users on AWS or GCP, budget $6k/month",
    "Serve Mistral 7B with 8k context for 20 users on GCP",
    "Set up Stable Diffusion XL serving",
    "Fine-tune a 7B model with LoRA and track experiments with MLflow",
    "We need to train a computer vision model for object detection, budget $2,000/month",
)


async def _time_turns(graph, context: Context, turns: int, threads: list[str]) -> list[float]:
    samples = []
    for i in range(turns):
        text = REQUESTS[i % len(REQUESTS)]
        threads.append(str(uuid.uuid4()))
        config = {"configurable": {"thread_id": threads[-1]}}
        started = time.perf_counter()
        state = await graph.ainvoke({"messages": [HumanMessage(text)]}, config, context=context)
        samples.append(time.perf_counter() - started)
        assert state["decision"] == "plan", text
    return samples


async def main(turns: int) -> None:
    settings = bench_settings()
    url = prepared_database(settings)
    load_before = os.getloadavg()
    pool = create_pool(url, settings)
    await pool.open()
    context = Context(resources=Resources(settings, pool, get_embedder(settings)))
    threads: list[str] = []  # the Postgres ones, deleted at the end
    try:
        postgres = await compile_with_postgres(pool)
        memory = builder.compile(checkpointer=InMemorySaver())
        await _time_turns(memory, context, len(REQUESTS), [])  # warm: model load, vocabulary, plans
        # Interleave the two so that machine noise falls on both alike.
        pg_samples, mem_samples = [], []
        for _ in range(turns // len(REQUESTS)):
            pg_samples += await _time_turns(postgres, context, len(REQUESTS), threads)
            mem_samples += await _time_turns(memory, context, len(REQUESTS), [])
    finally:
        await pool.close()
        await forget_threads(url, threads)
    pg, mem = summary_ms(pg_samples), summary_ms(mem_samples)
    ratio = pg["p50_ms"] / mem["p50_ms"]
    print(f"{'checkpointer':<14}{'p50 ms':>10}{'p95 ms':>10}{'mean ms':>10}{'n':>6}")
    for name, row in (("postgres", pg), ("in-memory", mem)):
        print(
            f"{name:<14}{row['p50_ms']:>10.1f}{row['p95_ms']:>10.1f}{row['mean_ms']:>10.1f}"
            f"{row['n']:>6}"
        )
    print(
        f"postgres / in-memory p50 ratio: {ratio:.2f}x (target <= 1.5x); "
        f"offline turn p50 {pg['p50_ms']:.1f} ms (target <= 150 ms)"
    )
    print(f"load average before: {load_before} on {os.cpu_count()} CPUs")
    write_results(
        "graph_turn",
        {
            "postgres": pg,
            "in_memory": mem,
            "ratio_p50": round(ratio, 3),
            "targets": {"postgres_p50_ms": 150, "ratio_p50": 1.5},
            "machine": {
                "cpus": os.cpu_count(),
                "load_avg_before": [round(x, 2) for x in load_before],
            },
        },
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=40)
    asyncio.run(main(parser.parse_args().turns))
