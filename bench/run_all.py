"""Run every benchmark in bench/, one after another, and list the figures they wrote.

What `make bench` runs. Each script runs in its own process with its default arguments (so
one script's warm caches do not flatter the next), from the project root; a script that
fails is reported and the others still run. The exit status is non-zero when any failed
or ran past its time limit.

    .venv/bin/python bench/run_all.py [--only graph_turn load_sse] [--timeout-s 900]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results"
NOT_BENCHMARKS = {"__init__", "common", "run_all"}


def benchmarks() -> list[str]:
    """Return the benchmark scripts' names, cheapest first, the load test last."""
    names = [p.stem for p in BENCH_DIR.glob("*.py") if p.stem not in NOT_BENCHMARKS]
    # The load test saturates the machine; run it after the latency figures.
    return sorted(names, key=lambda n: (n == "load_sse", n))


def run(name: str, timeout_s: float) -> tuple[int, float]:
    started = time.perf_counter()
    print(f"\n=== bench/{name}.py ===", flush=True)
    try:
        code = subprocess.run(
            [sys.executable, "-m", f"bench.{name}"], cwd=ROOT, timeout=timeout_s
        ).returncode
    except subprocess.TimeoutExpired:
        print(f"bench/{name}.py ran past {timeout_s:.0f} s and was stopped")
        code = 124
    return code, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="*", default=None, help="benchmark names to run")
    parser.add_argument("--timeout-s", type=float, default=900.0, help="per benchmark")
    args = parser.parse_args()

    names = [n for n in benchmarks() if not args.only or n in args.only]
    print(f"benchmarks: {', '.join(names)}; {os.cpu_count()} CPUs, load {os.getloadavg()}")
    outcomes = {name: run(name, args.timeout_s) for name in names}

    print("\n=== summary ===")
    for name, (code, seconds) in outcomes.items():
        status = "ok" if code == 0 else f"FAILED (exit {code})"
        result = RESULTS / f"{name}.json"
        written = f"bench/results/{name}.json" if result.exists() else "no results file"
        print(f"{name:<12} {status:<18} {seconds:7.1f} s  {written}")
    summary = {
        name: {"exit": code, "seconds": round(seconds, 1)}
        for name, (code, seconds) in outcomes.items()
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "run_all.json").write_text(json.dumps(summary, indent=2) + "\n")
    return 0 if all(code == 0 for code, _ in outcomes.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
