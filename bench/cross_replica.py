"""Cross-replica live latency: how much later a stream on replica B sees an event than A.

Starts two API processes (`uvicorn api.app:app`, one worker each) on the benchmark
database under .stack8s/bench, with rate limiting off. For each of --turns chats it posts a
streamed message to replica A (which executes the run and pushes each event to its own
stream from memory) and rejoins the same run on replica B with ``Last-Event-ID`` (B has no
in-memory listener for it: it learns of new events through Postgres ``NOTIFY`` and reads
them from ``chat.run_events``). For every event both streams receive while both are open,
the figure is B's receipt time minus A's, taken in this one client process.

    .venv/bin/python bench/cross_replica.py [--turns 30]

Target: p50 <= 50 ms (issue 17). Writes bench/results/cross_replica.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import httpx

# `python bench/cross_replica.py` puts bench/ on the path, not the project root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    bench_settings,
    forget_threads,
    prepared_database,
    summary_ms,
    write_results,
)
from bench.load_sse import free_port, start_api, wait_ready  # noqa: E402

MESSAGE = "Deploy Llama 3.1 70B for inference for 50 users on AWS or GCP, budget $6k/month"


async def _events(response: httpx.Response, seen: dict[int, float]) -> None:
    """Record the arrival time of each event id until ``end``."""
    name = ""
    async for line in response.aiter_lines():
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("id:"):
            seen[int(line[3:].strip())] = time.perf_counter()
            if name == "end":
                return


async def one_turn(client: httpx.AsyncClient, a: str, b: str) -> tuple[list[float], str]:
    """Run one turn on A while following it on B; return B-minus-A delays and the chat id."""
    chat = (await client.post(f"{a}/api/v1/chat/start")).json()["conversation_id"]
    on_a: dict[int, float] = {}
    on_b: dict[int, float] = {}
    joined_at = float("inf")

    async def follow_on_b(run_id: str) -> None:
        nonlocal joined_at
        url = f"{b}/api/v1/chat/{chat}/runs/{run_id}/stream"
        headers = {"Accept": "text/event-stream", "Last-Event-ID": "1"}
        async with client.stream("GET", url, headers=headers) as response:
            response.raise_for_status()
            joined_at = time.perf_counter()
            await _events(response, on_b)

    body = {"conversation_id": chat, "message": MESSAGE}
    follower: asyncio.Task[None] | None = None
    async with client.stream(
        "POST", f"{a}/api/v1/chat/message", json=body, headers={"Accept": "text/event-stream"}
    ) as response:
        name = ""
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:") and name == "metadata" and follower is None:
                follower = asyncio.create_task(follow_on_b(json.loads(line[5:])["run_id"]))
            elif line.startswith("id:"):
                on_a[int(line[3:].strip())] = time.perf_counter()
                if name == "end":
                    break
    if follower is not None:
        await asyncio.wait_for(follower, 30)
    # Only events that A received after B was attached: earlier ones B replays from the table.
    delays = [on_b[s] - t for s, t in on_a.items() if s in on_b and t > joined_at]
    return delays, chat


async def main_async(turns: int) -> dict[str, Any]:
    """Start the two replicas, run the turns and return the figures."""
    url = prepared_database(bench_settings())
    ports = [free_port(), free_port()]
    procs = [start_api(url, port, workers=1, pool_size=10) for port in ports]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    chats: list[str] = []
    try:
        for base, proc in zip(bases, procs, strict=True):
            await wait_ready(base, proc)
        delays: list[float] = []
        async with httpx.AsyncClient(timeout=30) as client:
            await one_turn(client, *bases)  # warm-up: graph compiled, listener connected
            for _ in range(turns):
                got, chat = await one_turn(client, *bases)
                delays += got
                chats.append(chat)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)
        await forget_threads(url, chats)
    figures = summary_ms(delays)
    return {
        "what": "delay of a live event on a rejoined stream on another replica (B minus A)",
        "turns": turns,
        "events": len(delays),
        "delay": figures,
        "target_p50_ms": 50,
        "met": figures["p50_ms"] <= 50,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }


def main() -> None:
    """Parse the arguments, run and write bench/results/cross_replica.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=30)
    args = parser.parse_args()
    result = asyncio.run(main_async(args.turns))
    path = write_results("cross_replica", result)
    print(json.dumps(result["delay"]), "->", path)  # noqa: T201


if __name__ == "__main__":
    main()
