"""Our serving estimates beside AIConfigurator's CLI, and what one estimate costs.

For a grid of (model, GPU, TP, batch, input, output) points that AIConfigurator has measured
data for, runs `aiconfigurator cli estimate` (aggregated mode, vLLM) as a child process and
compares its time per output token and tokens/s with ``tools.performance``: the estimate
the planner uses (AIConfigurator in-process where it covers the point) and the roofline
alone (what the planner falls back to for T4, A10G, consumer and AMD cards). Reports the
median and worst ratio (ours / AIConfigurator) of each, whether the roofline stays within
1.5× on every point, and the latency of one estimate, cold and warm. Writes
bench/results/performance.json; exits 1 when the roofline leaves the 1.5× band.

Needs the `aiconfigurator` CLI (the `bench` extra) on PATH or next to this Python.

    .venv/bin/python bench/performance.py [--points 24] [--warm-iterations 200]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

# `python bench/performance.py` puts bench/ on the path, not the root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import summary_ms, write_results  # noqa: E402
from tools import aiconfigurator  # noqa: E402
from tools.performance import PerformanceQuery, estimate_performance  # noqa: E402
from tools.throughput import load_gpus_csv  # noqa: E402

BAND = 1.5
LLAMA_8B = "meta-llama/Llama-3.1-8B-Instruct"
LLAMA_70B = "meta-llama/Llama-3.1-70B-Instruct"
QWEN3_32B = "Qwen/Qwen3-32B"
QWEN3_8B = "Qwen/Qwen3-8B"
QWEN3_30B_A3B = "Qwen/Qwen3-30B-A3B"
GPT_OSS_20B = "openai/gpt-oss-20b"

# (model, GPU, TP, batch, input, output, precision, KV dtype)
GRID: list[tuple[str, str, int, int, int, int, str, str]] = [
    (LLAMA_8B, "H100", 1, 1, 1024, 256, "native", "native"),
    (LLAMA_8B, "H100", 1, 32, 2048, 512, "native", "native"),
    (LLAMA_8B, "H100", 1, 32, 2048, 512, "fp8", "fp8"),
    (LLAMA_8B, "A100-80GB", 1, 16, 4000, 500, "native", "native"),
    (LLAMA_8B, "L40S", 1, 8, 2048, 256, "native", "native"),
    (LLAMA_8B, "L40S", 2, 32, 1024, 1024, "native", "native"),
    (LLAMA_8B, "H200", 1, 64, 1024, 1024, "native", "native"),
    (LLAMA_8B, "B200", 1, 128, 1024, 256, "native", "native"),
    (LLAMA_70B, "A100-80GB", 4, 50, 4000, 500, "native", "native"),
    (LLAMA_70B, "H100", 2, 16, 2000, 500, "fp8", "fp8"),
    (LLAMA_70B, "H100", 4, 32, 2048, 512, "native", "native"),
    (LLAMA_70B, "H100", 8, 64, 1024, 1024, "native", "native"),
    (LLAMA_70B, "H200", 4, 8, 8192, 512, "native", "native"),
    (LLAMA_70B, "B200", 8, 32, 2048, 512, "native", "native"),
    (LLAMA_70B, "L40S", 4, 8, 4000, 500, "native", "native"),
    (QWEN3_32B, "H100", 2, 8, 4000, 500, "native", "native"),
    (QWEN3_32B, "A100-80GB", 2, 32, 2048, 512, "native", "native"),
    (QWEN3_32B, "L40S", 4, 16, 2048, 512, "native", "native"),
    (QWEN3_32B, "B200", 1, 64, 1024, 1024, "native", "native"),
    (QWEN3_8B, "H100", 1, 16, 4000, 500, "native", "native"),
    (QWEN3_8B, "A100-80GB", 1, 64, 1024, 1024, "native", "native"),
    (QWEN3_8B, "RTXPRO6000", 1, 16, 2000, 500, "native", "native"),
    (QWEN3_30B_A3B, "H100", 2, 64, 2000, 500, "native", "native"),
    (GPT_OSS_20B, "H100", 1, 16, 2000, 500, "native", "native"),
]
MOE = {QWEN3_30B_A3B, GPT_OSS_20B}
FIELD = re.compile(r"^\s*(TTFT|TPOT|tokens/s):\s+([\d,.]+)", re.MULTILINE)


def cli_path() -> str:
    """Return the `aiconfigurator` executable beside this interpreter, else on PATH."""
    beside = Path(sys.executable).with_name("aiconfigurator")
    found = str(beside) if beside.exists() else shutil.which("aiconfigurator")
    if not found:
        raise SystemExit("aiconfigurator CLI not found: install the `bench` extra")
    return found


Point = tuple[str, str, int, int, int, int, str, str]


def cli_estimate(cli: str, point: Point) -> dict[str, float]:
    """Run `aiconfigurator cli estimate` for one point and read TTFT, TPOT and tokens/s."""
    model, gpu, tp, batch, isl, osl, precision, kv = point
    args = [
        cli, "cli", "estimate",
        "--model-path", aiconfigurator.MODELS[model.lower()],
        "--system", aiconfigurator.SYSTEMS[gpu],
        "--backend", "vllm",
        "--isl", str(isl), "--osl", str(osl),
        "--batch-size", str(batch), "--tp-size", str(tp),
    ]
    gemm, kv_mode = aiconfigurator.GEMM_MODES[precision], aiconfigurator.KV_MODES[kv]
    if gemm:
        args += ["--gemm-quant-mode", gemm]
    if kv_mode:
        args += ["--kvcache-quant-mode", kv_mode]
    if model in MOE:
        args += ["--moe-tp-size", str(tp), "--moe-ep-size", "1"]  # as tools.aiconfigurator does
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
    text = done.stdout + done.stderr
    fields = {name: float(value.replace(",", "")) for name, value in FIELD.findall(text)}
    if {"TTFT", "TPOT", "tokens/s"} - fields.keys():
        tail = text[-600:]
        raise RuntimeError(f"aiconfigurator gave no estimate for {point}: {tail}")
    return {
        "ttft_ms": fields["TTFT"], "tpot_ms": fields["TPOT"], "tokens_per_s": fields["tokens/s"]
    }


def query(point: Point) -> PerformanceQuery:
    """Build the performance query of one grid point: one replica of TP GPUs."""
    model, gpu, tp, batch, isl, osl, precision, kv = point
    return PerformanceQuery(
        model_id=model, gpu_model=gpu, gpu_count=tp, tensor_parallel=tp, precision=precision,
        kv_cache_dtype=kv, engine="vLLM", concurrency=batch, input_tokens=isl,
        output_tokens=osl,
    )


def ratios(rows: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """Summarise ours / AIConfigurator for one estimator: median and worst of each figure."""
    out: dict[str, Any] = {}
    for figure in ("tpot_ms", "tokens_per_s"):
        values = [row[key][figure] / row["aiconfigurator_cli"][figure] for row in rows]
        worst = max(values, key=lambda r: max(r, 1 / r))
        out[figure] = {
            "median_ratio": round(statistics.median(values), 3),
            "worst_ratio": round(worst, 3),
            "min_ratio": round(min(values), 3),
            "max_ratio": round(max(values), 3),
        }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=len(GRID), help="grid points to run")
    parser.add_argument("--warm-iterations", type=int, default=200)
    args = parser.parse_args()
    cli = cli_path()
    gpus = load_gpus_csv()
    grid = GRID[: args.points]

    rows: list[dict[str, Any]] = []
    cold_s: list[float] = []
    for point in grid:
        reference = cli_estimate(cli, point)
        started = time.perf_counter()
        ours = estimate_performance(query(point), gpus[point[1]])
        cold_s.append(time.perf_counter() - started)
        roof = estimate_performance(query(point), gpus[point[1]], use_aiconfigurator=False)
        row = {
            "model": point[0], "gpu": point[1], "tensor_parallel": point[2],
            "batch": point[3], "input_tokens": point[4], "output_tokens": point[5],
            "precision": point[6], "kv_cache_dtype": point[7],
            "aiconfigurator_cli": reference,
            "ours": {
                "ttft_ms": round(ours.ttft_ms, 3), "tpot_ms": round(ours.tpot_ms, 3),
                "tokens_per_s": round(ours.tokens_per_s, 2), "estimator": ours.estimator,
            },
            "roofline": {
                "ttft_ms": round(roof.ttft_ms, 3), "tpot_ms": round(roof.tpot_ms, 3),
                "tokens_per_s": round(roof.tokens_per_s, 2), "bound": roof.bound,
            },
        }
        rows.append(row)
        print(
            f"{point[0]:<36} {point[1]:<10} tp{point[2]} b{point[3]:<4} {point[4]}/{point[5]} "
            f"{point[6]}/{point[7]}: TPOT cli {reference['tpot_ms']:.1f} ours "
            f"{ours.tpot_ms:.1f} roofline {roof.tpot_ms:.1f} ms; tokens/s cli "
            f"{reference['tokens_per_s']:.0f} ours {ours.tokens_per_s:.0f} roofline "
            f"{roof.tokens_per_s:.0f}",
            flush=True,
        )

    warm: dict[str, list[float]] = {"aiconfigurator": [], "roofline": []}
    for i in range(args.warm_iterations):
        point = grid[i % len(grid)]
        for name, use in (("aiconfigurator", True), ("roofline", False)):
            started = time.perf_counter()
            estimate_performance(query(point), gpus[point[1]], use_aiconfigurator=use)
            warm[name].append(time.perf_counter() - started)

    roofline = ratios(rows, "roofline")
    in_band = all(
        1 / BAND <= row["roofline"][figure] / row["aiconfigurator_cli"][figure] <= BAND
        for row in rows
        for figure in ("tpot_ms", "tokens_per_s")
    )
    payload = {
        "measured_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "aiconfigurator_core": aiconfigurator.package_version(),
        "points": len(rows),
        "ours_vs_cli": ratios(rows, "ours"),
        "roofline_vs_cli": roofline,
        "roofline_within_1_5x_everywhere": in_band,
        "estimate_latency": {
            "cold_first_call_per_configuration": summary_ms(cold_s),
            "warm_aiconfigurator": summary_ms(warm["aiconfigurator"]),
            "warm_roofline": summary_ms(warm["roofline"]),
        },
        "rows": rows,
    }
    path = write_results("performance", payload)
    for name in ("ours_vs_cli", "roofline_vs_cli"):
        for figure, stats in payload[name].items():
            print(f"{name:<16} {figure:<13} median {stats['median_ratio']:.3f} "
                  f"worst {stats['worst_ratio']:.3f}")
    latency = payload["estimate_latency"]
    print(
        f"estimate latency: cold p50 {latency['cold_first_call_per_configuration']['p50_ms']} ms; "
        f"warm p50 aiconfigurator {latency['warm_aiconfigurator']['p50_ms']} ms, roofline "
        f"{latency['warm_roofline']['p50_ms']} ms"
    )
    print(f"roofline within {BAND}× on every point: {in_band}; wrote {path}")
    return 0 if in_band else 1


if __name__ == "__main__":
    sys.exit(main())
