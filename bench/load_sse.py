"""Load: N concurrent streamed chats (SSE) against the API on loopback, one new chat each.

Starts the API itself (`uvicorn api.app:app`) in a subprocess on a free loopback port, on
the benchmark database under .stack8s/bench (bench/common.py prepares it), with rate
limiting off. After a warm-up it runs two phases of N streams (bare HTTP/1.1, Accept:
text/event-stream, each POST starts its own chat): ``burst`` opens all N at once;
``ramp`` opens them evenly over --ramp-s seconds, so that they are still all open
together (a turn under this load lasts longer than the ramp) but do not all arrive in
the same instant. Per stream it measures the time to the first SSE event and to the
``end`` event. An error is a non-200 answer, a transport
error or timeout, a stream that stops without ``end``, or an ``end`` whose status is not
``done``. Bounded: every stream has a deadline, and the whole run one too.

    .venv/bin/python bench/load_sse.py [--concurrency 200] [--ramp-s 1] [--pool-size 20]
        [--replicas 2]

With ``--replicas N`` it starts N API processes (one worker each) on the same database and
runs both phases twice in the same run: against one of them, then spread round-robin over
all N, so that the two figures are taken under the same conditions (written to
bench/results/load_sse_replicas.json; target with 2 replicas: >= 15 turns/s, 0 errors).

The server's pool opens all --pool-size connections at start (DB_POOL_MIN_SIZE), as a
server that has been up a while has them.

Targets: 0 errors at 200 concurrent chats (both phases); first event <= 50 ms p50, judged
on ``ramp``: chats arriving while 200 are open. ``burst`` is the worst case, reported
without a target: N requests in the same instant are served one after another (about 1-2 ms
of CPU each on 2 cores, shared with the client), so its median is N/2 of those, whatever
the server does. Writes bench/results/load_sse.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

# `python bench/load_sse.py` puts bench/ on the path, not the project root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    bench_settings,
    forget_threads,
    prepared_database,
    summary_ms,
    write_results,
)
from core.settings import PROJECT_ROOT  # noqa: E402

REQUESTS = (
    "Deploy Llama 3.1 70B for inference for 50 users on AWS or GCP, budget $6k/month",
    "Serve Mistral 7B with 8k context for 20 users on GCP",
    "Set up Stable Diffusion XL serving",
    "Fine-tune a 7B model with LoRA and track experiments with MLflow",
    "We need to train a computer vision model for object detection, budget $2,000/month",
)
STREAM_DEADLINE_S = 240.0
RUN_DEADLINE_S = 420.0


@dataclass
class StreamResult:
    """What one streamed chat did."""

    ok: bool = False
    first_event_s: float | None = None
    turn_s: float | None = None
    events: int = 0
    error: str | None = None
    kinds: list[str] = field(default_factory=list)
    thread_id: str | None = None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_api(url: str, port: int, workers: int, pool_size: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "AUTH_ENABLED": "false",
        "RATE_LIMIT_ENABLED": "false",
        "DB_POOL_MAX_SIZE": str(pool_size),
        "DB_POOL_MIN_SIZE": str(pool_size),
        "LOG_LEVEL": "warning",
    }
    command = [sys.executable, "-m", "uvicorn", "api.app:app", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", str(workers), "--log-level", "warning"]
    command += ["--no-access-log"]
    return subprocess.Popen(command, cwd=PROJECT_ROOT, env=env)


async def wait_ready(base: str, proc: subprocess.Popen[bytes], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=5) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError("the API exited at start-up")
            try:
                if (await client.get(f"{base}/ready")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.25)
    raise RuntimeError("the API did not become ready")


async def _read_chunked(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    """Yield the body chunks of a chunked HTTP/1.1 response until the last one."""
    while True:
        size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
        if size == 0:
            return
        chunk = await reader.readexactly(size)
        await reader.readexactly(2)  # the CRLF after the chunk
        yield chunk


async def one_stream(base: str, message: str) -> StreamResult:
    """POST one message on a fresh connection and read its SSE stream to the end event.

    A bare HTTP/1.1 client on asyncio streams: with hundreds of streams the client shares
    the machine with the server, and a full client library's own work per request would
    be counted in the server's time to first event.
    """
    result = StreamResult()
    host, port = base.removeprefix("http://").split(":")
    body = json.dumps({"message": message}).encode()
    head = (
        f"POST /api/v1/chat/message HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "Content-Type: application/json\r\nAccept: text/event-stream\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    started = time.perf_counter()
    writer = None
    try:
        async with asyncio.timeout(STREAM_DEADLINE_S):
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(head + body)
            status = await reader.readline()
            headers = (await reader.readuntil(b"\r\n\r\n")).lower()
            if b" 200 " not in status:
                result.error = f"HTTP {status.decode().split(' ')[1]}"
                return result
            if b"transfer-encoding: chunked" not in headers:
                result.error = "not a chunked event stream"
                return result
            pending, event, data = b"", None, ""
            async for chunk in _read_chunked(reader):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for raw in lines:
                    line = raw.decode().rstrip("\r")
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:"):
                        data = line[5:].strip()
                    elif line == "" and event is not None:
                        if result.first_event_s is None:
                            result.first_event_s = time.perf_counter() - started
                        if event == "metadata":
                            result.thread_id = json.loads(data).get("thread_id")
                        result.events += 1
                        result.kinds.append(event)
                        if event == "end":
                            result.turn_s = time.perf_counter() - started
                            result.ok = '"status":"done"' in data
                            if not result.ok:
                                result.error = f"end: {data[:80]}"
                            return result
                        event, data = None, ""
        result.error = "stream ended without an end event"
    except TimeoutError:
        result.error = "timeout"
    except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
        result.error = type(exc).__name__
    finally:
        if writer is not None:
            writer.close()
    return result


def _proc_cpu_s(pid: int) -> tuple[int, str, float] | None:
    """Return a process's parent, name and CPU seconds (user + system), from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            head, _, rest = stat.read().rpartition(")")
    except OSError:
        return None
    fields = rest.split()
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[1]), head.partition("(")[2], (int(fields[11]) + int(fields[12])) / ticks


def cpu_snapshot(servers: list[int]) -> dict[str, float]:
    """CPU seconds so far of the API processes, of Postgres, and of this client.

    Postgres is every process named ``postgres`` (the bench's cluster: run it on a machine
    with no other cluster busy); a process's exited children are not counted.
    """
    procs = {}
    for name in os.listdir("/proc"):
        if name.isdigit() and (found := _proc_cpu_s(int(name))) is not None:
            procs[int(name)] = found
    server = sum(procs[pid][2] for pid in servers if pid in procs)
    postgres = sum(cpu for _, comm, cpu in procs.values() if comm.startswith("postgres"))
    return {"server": server, "postgres": postgres, "client": time.process_time()}


def cpu_per_turn_ms(
    before: dict[str, float], after: dict[str, float], turns: int
) -> dict[str, float] | None:
    """Return the CPU milliseconds each side spent per finished turn between two snapshots."""
    if not turns:
        return None
    spent = {k: round((after[k] - before[k]) * 1000 / turns, 1) for k in before}
    spent["total"] = round(sum(spent.values()), 1)
    return spent


async def run_phase(
    bases: list[str], concurrency: int, ramp_s: float
) -> tuple[list[StreamResult], float, int]:
    """Run ``concurrency`` streams opened over ``ramp_s``; return results, wall, peak open."""
    open_now = peak = 0

    async def delayed(i: int) -> StreamResult:
        nonlocal open_now, peak
        await asyncio.sleep(ramp_s * i / concurrency)
        open_now += 1
        peak = max(peak, open_now)
        try:
            return await one_stream(bases[i % len(bases)], REQUESTS[i % len(REQUESTS)])
        finally:
            open_now -= 1

    started = time.perf_counter()
    results = await asyncio.wait_for(
        asyncio.gather(*(delayed(i) for i in range(concurrency))), RUN_DEADLINE_S
    )
    return list(results), time.perf_counter() - started, peak


async def run_load(
    bases: list[str],
    concurrency: int,
    ramp_s: float,
    made: list[StreamResult],
    servers: list[int],
    cpu: dict[str, dict[str, float] | None],
) -> dict[str, tuple[list[StreamResult], float, int]]:
    """Warm up, then run the burst and the ramp; every stream opened is added to ``made``."""
    # Warm-up: model load, vocabulary, tool node, first connections.
    for base in bases:
        for message in REQUESTS:
            made.append(warm := await one_stream(base, message))
            if not warm.ok:
                raise RuntimeError(f"warm-up turn failed: {warm.error}")
    phases = {}
    for name, ramp in (("burst", 0.0), ("ramp", ramp_s)):
        before = cpu_snapshot(servers)
        phases[name] = await run_phase(bases, concurrency, ramp)
        finished = sum(1 for r in phases[name][0] if r.ok)
        cpu[name] = cpu_per_turn_ms(before, cpu_snapshot(servers), finished)
        made.extend(phases[name][0])
    return phases


def summarise(results: list[StreamResult], wall_s: float, peak: int) -> dict[str, object]:
    errors = [r for r in results if not r.ok]
    first = [r.first_event_s for r in results if r.first_event_s is not None]
    turns = [r.turn_s for r in results if r.ok and r.turn_s is not None]
    reasons: dict[str, int] = {}
    for r in errors:
        reasons[r.error or "?"] = reasons.get(r.error or "?", 0) + 1
    return {
        "streams": len(results),
        "peak_open_streams": peak,
        "errors": len(errors),
        "error_reasons": reasons,
        "first_event": summary_ms(first) if first else None,
        "full_turn": summary_ms(turns) if turns else None,
        "wall_s": round(wall_s, 2),
        "turns_per_s": round(len(turns) / wall_s, 2) if wall_s else None,
    }


def show(name: str, phase: dict[str, Any]) -> None:
    print(f"[{name}] {phase['streams']} streams, peak {phase['peak_open_streams']} open at once")
    print(f"  errors: {phase['errors']} (target 0) {phase['error_reasons'] or ''}")
    if phase["first_event"]:
        fe = phase["first_event"]
        target = "(target p50 <= 50 ms)" if name == "ramp" else "(worst case, no target)"
        print(f"  first event  p50 {fe['p50_ms']:.1f} ms  p95 {fe['p95_ms']:.1f} ms {target}")
    if phase["full_turn"]:
        ft = phase["full_turn"]
        print(f"  full turn    p50 {ft['p50_ms']:.1f} ms  p95 {ft['p95_ms']:.1f} ms")
    print(f"  wall {phase['wall_s']:.1f} s, {phase['turns_per_s']} turns/s")
    if phase.get("cpu_ms_per_turn"):
        spent, cores = phase["cpu_ms_per_turn"], os.cpu_count() or 1
        print(
            f"  CPU per turn: API {spent['server']:.0f} ms, Postgres {spent['postgres']:.0f} ms,"
            f" client {spent['client']:.0f} ms, total {spent['total']:.0f} ms"
            f" ({cores} cores: at most {cores * 1000 / spent['total']:.1f} turns/s)"
            if spent["total"]
            else "  CPU per turn: not measured"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--ramp-s", type=float, default=1.0, help="ramp phase: open over this")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--pool-size", type=int, default=20, help="DB_POOL_MAX_SIZE per worker")
    parser.add_argument("--replicas", type=int, default=1, help="API processes, one database")
    args = parser.parse_args()

    url = prepared_database(bench_settings())
    ports = [free_port() for _ in range(args.replicas)]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    procs = [start_api(url, port, args.workers, args.pool_size) for port in ports]
    load_before = os.getloadavg()
    made: list[StreamResult] = []
    runs: dict[str, dict[str, tuple[list[StreamResult], float, int]]] = {}
    cpu: dict[str, dict[str, dict[str, float] | None]] = {"one_replica": {}, "all": {}}
    servers = [proc.pid for proc in procs]
    try:
        for base, proc in zip(bases, procs, strict=True):
            asyncio.run(wait_ready(base, proc))
        if args.replicas > 1:
            runs["one_replica"] = asyncio.run(
                run_load(
                    bases[:1], args.concurrency, args.ramp_s, made, servers, cpu["one_replica"]
                )
            )
        runs["all"] = asyncio.run(
            run_load(bases, args.concurrency, args.ramp_s, made, servers, cpu["all"])
        )
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        asyncio.run(forget_threads(url, (r.thread_id for r in made if r.thread_id)))

    phases = runs["all"]
    payload: dict[str, Any] = {
        "concurrency": args.concurrency,
        "ramp_s": args.ramp_s,
        "workers": args.workers,
        "replicas": args.replicas,
        "db_pool_max_size": args.pool_size,
        **{
            name: {**summarise(*phase), "cpu_ms_per_turn": cpu["all"][name]}
            for name, phase in phases.items()
        },
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_avg_before": [round(x, 2) for x in load_before],
            "note": "client and server share the machine",
        },
        "targets": {"errors": 0, "first_event_p50_ms": 50, "first_event_judged_on": "ramp"},
    }
    if "one_replica" in runs:
        payload["one_replica"] = {
            n: {**summarise(*p), "cpu_ms_per_turn": cpu["one_replica"][n]}
            for n, p in runs["one_replica"].items()
        }
        payload["targets"]["turns_per_s"] = 15
    setup = f"{args.workers} worker(s), pool {args.pool_size}, load average before {load_before}"
    print(f"{args.concurrency} concurrent SSE chats on loopback; {setup}")
    if "one_replica" in payload:
        print("one replica:")
        for name in phases:
            show(name, payload["one_replica"][name])
        print(f"{args.replicas} replicas:")
    for name in phases:
        show(name, payload[name])
    write_results("load_sse" if args.replicas == 1 else "load_sse_replicas", payload)
    return 1 if any(payload[name]["errors"] for name in phases) else 0


if __name__ == "__main__":
    sys.exit(main())
