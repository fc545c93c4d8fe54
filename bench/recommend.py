"""GPUs our configuration search needs beside AIConfigurator's `recommend`, case by case.

For (model, GPU, concurrency, SLA) cases AIConfigurator has measured data for, runs
`aiconfigurator cli recommend` (vLLM; its aggregated-serving answer, "agg GPUs needed") as a
child process, and ``tools.search.search_configurations`` on the same GPU with instances of
1, 2, 4 and 8 GPUs priced per GPU, the model's native weights and KV dtype (what
AIConfigurator assumes), so the cheapest configuration is the one with the fewest GPUs.
Reports, per case, both GPU counts and whether ours equals AIConfigurator's or is within one
step of the 1-2-4-8-16… ladder. Writes bench/results/recommend.json; exits 1 when fewer than
10 cases agree within a step.

    .venv/bin/python bench/recommend.py [--cases 11]
"""

from __future__ import annotations

import argparse
import datetime
import math
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import write_results  # noqa: E402
from bench.performance import cli_path  # noqa: E402
from tools import aiconfigurator  # noqa: E402
from tools.search import Load, Offer, search_configurations  # noqa: E402
from tools.throughput import load_gpus_csv  # noqa: E402

LLAMA_8B = "meta-llama/Llama-3.1-8B-Instruct"
LLAMA_70B = "meta-llama/Llama-3.1-70B-Instruct"
QWEN3_32B = "Qwen/Qwen3-32B"
QWEN3_8B = "Qwen/Qwen3-8B"

# (model, GPU, concurrency, input, output, TTFT ms, TPOT ms)
CASES: list[tuple[str, str, int, int, int, float, float]] = [
    (LLAMA_70B, "H100", 50, 4000, 500, 2000, 50),
    (LLAMA_70B, "A100-80GB", 50, 4000, 500, 2000, 50),
    (LLAMA_70B, "H200", 20, 8000, 500, 2000, 50),
    (LLAMA_70B, "B200", 100, 4000, 500, 2000, 50),
    (LLAMA_8B, "H100", 50, 2000, 500, 2000, 30),
    (LLAMA_8B, "L40S", 32, 2000, 500, 2000, 50),
    (LLAMA_8B, "A100-80GB", 100, 1000, 500, 2000, 50),
    (QWEN3_32B, "H100", 32, 4000, 500, 2000, 50),
    (QWEN3_32B, "H200", 64, 2000, 1000, 2000, 50),
    (QWEN3_32B, "L40S", 16, 2000, 500, 2000, 100),
    (QWEN3_8B, "B200", 128, 1000, 1000, 2000, 30),
]
NEEDED = re.compile(r"agg GPUs needed:\s*(\d+)")


def aic_recommend(cli: str, case: tuple[str, str, int, int, int, float, float]) -> int | None:
    """Return AIConfigurator's aggregated-serving GPU count for a case, None if it found none."""
    model, gpu, concurrency, isl, osl, ttft, tpot = case
    args = [
        cli, "cli", "recommend",
        "--model-path", aiconfigurator.MODELS[model.lower()],
        "--system", aiconfigurator.SYSTEMS[gpu], "--backend", "vllm",
        "--isl", str(isl), "--osl", str(osl), "--ttft", str(ttft), "--tpot", str(tpot),
        "--target-concurrency", str(concurrency),
    ]
    done = subprocess.run(args, capture_output=True, text=True, timeout=600, check=False)
    found = NEEDED.search(done.stdout + done.stderr)
    return int(found[1]) if found else None


def ours(case: tuple[str, str, int, int, int, float, float]) -> dict[str, Any] | None:
    """Return the GPU count and configuration our search picks on that GPU alone."""
    model, gpu, concurrency, isl, osl, ttft, tpot = case
    gpus = load_gpus_csv()
    memory = gpus[gpu].memory_gb
    offers = [
        Offer(provider="bench", instance_type=f"{n}x{gpu}", region="any", gpu_model=gpu,
              gpu_count=n, gpu_memory_gb_per_gpu=memory, price_hourly_usd=float(n))
        for n in (1, 2, 4, 8)
    ]
    load = Load(concurrency=concurrency, input_tokens=isl, output_tokens=osl, ttft_ms=ttft,
                tpot_ms=tpot, max_instances=16)
    outcome = search_configurations(model, load, offers, gpus, precisions=("native",),
                                    kv_cache_dtypes=("auto",))
    chosen = outcome.chosen
    if chosen is None:
        return None
    return {
        "gpus": chosen.gpu_count, "tensor_parallel": chosen.tensor_parallel,
        "replicas": chosen.replicas, "ttft_ms": round(chosen.estimate.ttft_ms, 1),
        "tpot_ms": round(chosen.estimate.tpot_ms, 2),
    }


def within_step(a: int, b: int) -> bool:
    """Return whether two GPU counts are equal or one step apart on the doubling ladder."""
    return abs(math.log2(a) - math.log2(b)) <= 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=len(CASES))
    args = parser.parse_args()
    cli = cli_path()
    rows = []
    for case in CASES[: args.cases]:
        started = time.perf_counter()
        reference = aic_recommend(cli, case)
        aic_s = time.perf_counter() - started
        started = time.perf_counter()
        mine = ours(case)
        search_ms = (time.perf_counter() - started) * 1e3
        agree = reference is not None and mine is not None and within_step(mine["gpus"], reference)
        rows.append({
            "model": case[0], "gpu": case[1], "concurrency": case[2], "input_tokens": case[3],
            "output_tokens": case[4], "ttft_ms": case[5], "tpot_ms": case[6],
            "aiconfigurator_gpus": reference, "ours": mine, "within_one_step": agree,
            "equal": bool(mine and reference == mine["gpus"]),
            "aiconfigurator_s": round(aic_s, 1), "search_ms": round(search_ms, 1),
        })
        print(f"{case[0]:<34} {case[1]:<10} c={case[2]:<4} {case[3]}/{case[4]} "
              f"TTFT≤{case[5]:g} TPOT≤{case[6]:g}: aiconfigurator {reference} GPUs, ours "
              f"{mine['gpus'] if mine else None} ({'ok' if agree else 'OFF'})", flush=True)
    agreeing = sum(row["within_one_step"] for row in rows)
    payload = {
        "measured_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "aiconfigurator_core": aiconfigurator.package_version(),
        "cases": len(rows),
        "equal": sum(row["equal"] for row in rows),
        "within_one_step": agreeing,
        "rows": rows,
    }
    path = write_results("recommend", payload)
    print(f"{payload['equal']} equal, {agreeing} of {len(rows)} within one step; wrote {path}")
    return 0 if agreeing >= min(10, len(rows)) else 1


if __name__ == "__main__":
    sys.exit(main())
