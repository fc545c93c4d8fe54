"""A plan's parts from the configuration search: instances, memory, estimate, trades, budget.

``configuration_search`` chose the cheapest build × precision × KV dtype × tensor parallel ×
replicas × instances that carries the load; this module turns its result into the plan's
recommendations (the chosen configuration first, then the next cheapest that trade something
away), its sizing (typical and worst-case KV side by side, in GiB), the tradeoffs an engineer
reads (what each alternative gives up, why the cheaper shapes failed) and, over budget, by how
much and what the budget would buy. Batch work is priced as a job as well.
"""

from __future__ import annotations

from typing import Any

from agents.schemas import GpuRecommendation, WorkloadSpec
from tools.search import HOURS_PER_MONTH, OUTLIER_SHARE, Configuration


def searched(results: dict[str, Any]) -> dict[str, Any] | None:
    """Return the configuration search's result when it chose a configuration."""
    found = results.get("configuration")
    return found if found and found.get("chosen") else None


def _words(config: Configuration) -> str:
    build = "" if config.build_repo == config.model_id else f" from {config.build_repo}"
    kv = f", {config.kv_cache_dtype} KV cache" if config.kv_cache_dtype == "fp8" else ""
    return (f"{config.precision} weights{build}{kv}, tensor parallel {config.tensor_parallel}, "
            f"{config.replicas} replica(s) on {config.instances}× {config.instance_type}")


def _estimate_words(config: Configuration) -> str:
    e = config.estimate
    return (f"TTFT {e.ttft_ms:,.0f} ms, {e.tpot_ms:.0f} ms per output token "
            f"({e.tokens_per_s_per_user:.0f} tokens/s per user), {e.tokens_per_s:,.0f} tokens/s "
            f"in total, {e.memory_gb:.1f} GiB per GPU")


def recommendation(config: Configuration, rank: int) -> GpuRecommendation:
    """Return one configuration as an instance recommendation (price per instance)."""
    hourly = config.hourly_usd / config.instances
    why = [
        "the cheapest configuration that carries the load" if rank == 1
        else f"alternative #{rank - 1}",
        _words(config),
        _estimate_words(config),
    ]
    if config.spot:
        why.append("spot price")
    if config.marketplace:
        why.append("marketplace host: no datacenter SLA")
    if config.price_outlier:
        why.append("catalog price far under this type's other regions: confirm it")
    return GpuRecommendation(
        provider=config.provider,
        instance_type=config.instance_type,
        region=config.region,
        gpu_model=config.gpu_model,
        gpu_count=config.gpus_per_instance,
        vram_total_gb=round(config.gpu_memory_gb * config.gpus_per_instance, 2),
        price_hourly_usd=hourly,
        price_monthly_usd=round(hourly * HOURS_PER_MONTH, 2),
        est_tokens_per_s=round(config.estimate.tokens_per_s, 1),
        usd_per_1m_tokens=round(config.usd_per_million_tokens, 4),
        instances=config.instances,
        precision=config.precision,
        # A build is named only where it is another repository (an AWQ int4 build); fp8 is
        # the base checkpoint quantized at load.
        build_repo=None if config.build_repo.lower() == config.model_id.lower()
        else config.build_repo,
        kv_cache_dtype=config.kv_cache_dtype,
        tensor_parallel=config.tensor_parallel,
        replicas=config.replicas,
        why="; ".join(why),
    )


def configurations(result: dict[str, Any]) -> list[Configuration]:
    """Return the chosen configuration and its alternatives, distinct instance types."""
    configs = [Configuration.model_validate(result["chosen"])]
    for alt in result.get("alternatives", []):
        config = Configuration.model_validate(alt)
        if all(config.instance_type != c.instance_type for c in configs):
            configs.append(config)
    return configs[:3]


def row_of(config: Configuration, instance: dict[str, Any] | None) -> dict[str, Any]:
    """Return the configuration as a compute row (what constraint warnings read)."""
    return {
        "provider": config.provider,
        "instance_type": config.instance_type,
        "region": config.region,
        "gpu_model": config.gpu_model,
        "gpu_count": config.gpus_per_instance,
        "tensor_parallel": config.tensor_parallel,
        "vcpus": (instance or {}).get("vcpus"),
        "memory_gb": (instance or {}).get("memory_gb"),
    }


def search_assumptions(
    result: dict[str, Any], spec: WorkloadSpec, workload: list[str]
) -> list[str]:
    """Say the load the search carried and what it searched over, in place of fixed choices."""
    load = result["load"]
    chosen = Configuration.model_validate(result["chosen"])
    sizing = result.get("sizing") or {}
    typical = load["input_tokens"] + load["output_tokens"]
    said = [line for line in workload
            if not line.startswith("weights in") and "-token sequences" not in line]
    said.append(
        f"each request {load['input_tokens']:,} tokens in and {load['output_tokens']:,} out: "
        f"the KV cache is budgeted at {typical:,} tokens a sequence; the engine accepts up to "
        f"{chosen.max_model_len:,} (every sequence at that length would need "
        f"{sizing.get('kv_cache_worst_case_gb', 0):,.1f} GiB of KV per replica)"
    )
    if load["kind"] == "chat":
        stated = spec.latency.ttft_ms or spec.latency.tpot_ms
        said.append(
            f"latency targets{'' if stated else ' (defaults)'}: first token within "
            f"{load['ttft_ms']:,.0f} ms, {load['tpot_ms']:g} ms per output token"
        )
    elif load.get("min_tokens_per_s"):
        hours = spec.scale.batch_window_hours
        spread = f"within the {hours:g}-hour window" if hours else "spread over 24 h"
        said.append(f"throughput floor {load['min_tokens_per_s']:,.0f} output tokens/s "
                    f"(the day's tokens {spread}); ranked by $ per 1M tokens")
    spot = ", spot or on-demand" if load.get("spot_ok") else ""
    said.append(
        f"searched weight precision (bf16, fp8, int4 builds), KV cache dtype, tensor "
        f"parallel, replicas and instances{spot}: {result['examined']:,} configurations "
        "estimated with the roofline of tools.performance (calibrated against NVIDIA "
        "AIConfigurator)"
    )
    said += [line for line in result.get("assumptions", []) if "skipped" in line]
    return said


def rejected_by_kind(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Count the cheaper shapes the search turned down, by what they missed."""
    counts: dict[str, int] = {}
    for miss in result.get("rejected", []):
        kind = miss["reason"].split(":")[0].split(" ")[0]
        label = "memory" if kind == "memory" else f"{kind} target missed"
        counts[label] = counts.get(label, 0) + 1
    return {label: {"count": n, "examples": []} for label, n in counts.items()}


def tradeoffs(result: dict[str, Any]) -> list[str]:
    """Say what each alternative trades and why the cheaper shapes could not carry the load."""
    chosen, *others = configurations(result)
    # A batch is paid by its runs, not by a month of renting: its price is per 1M tokens.
    batch = result["load"]["kind"] == "batch"
    price = (f"${chosen.usd_per_million_tokens:,.2f} per 1M output tokens" if batch
             else f"${chosen.monthly_usd:,.0f}/month")
    said = [f"chosen: {_words(chosen)} at {price}; {_estimate_words(chosen)} (roofline estimate)"]
    for alt in others:
        delta = alt.monthly_usd - chosen.monthly_usd
        gives = []
        if alt.precision != chosen.precision:
            gives.append(f"{alt.precision} instead of {chosen.precision} weights")
        if alt.estimate.tpot_ms > chosen.estimate.tpot_ms * 1.1:
            gives.append(f"slower tokens ({alt.estimate.tpot_ms:.0f} ms)")
        elif alt.estimate.tpot_ms < chosen.estimate.tpot_ms * 0.9:
            gives.append(f"faster tokens ({alt.estimate.tpot_ms:.0f} ms)")
        if batch:
            per_million = alt.usd_per_million_tokens - chosen.usd_per_million_tokens
            gives.append(f"${per_million:+,.2f} per 1M tokens")
        else:
            gives.append(f"${delta:+,.0f}/month")
        said.append(f"alternative: {_words(alt)}: " + ", ".join(gives))
    for miss in result.get("rejected", [])[:3]:
        said.append(f"cheaper but short: {miss['gpus_per_instance']}× {miss['gpu_model']} "
                    f"(${miss['hourly_usd']:.2f}/h): {miss['reason']}")
    return said


def offer_warnings(result: dict[str, Any]) -> list[str]:
    """Flag a chosen price that is an outlier, or a marketplace host, rather than hide it."""
    chosen = Configuration.model_validate(result["chosen"])
    said = []
    if chosen.price_outlier:
        hourly = chosen.hourly_usd / chosen.instances
        said.append(
            f"the catalog prices {chosen.provider} {chosen.instance_type} in {chosen.region} "
            f"at ${hourly:,.2f}/h, under {OUTLIER_SHARE:.0%} of the type's median across its "
            "regions: confirm the price with the provider before relying on it"
        )
    if chosen.marketplace:
        said.append(
            f"{chosen.provider} is a marketplace of community hosts: no datacenter SLA; keep a "
            "datacenter fallback for production"
        )
    return said


def shortfall_warnings(result: dict[str, Any]) -> list[str]:
    """Say that nothing carries the load as asked, why, and what the plan carries instead."""
    change = result.get("shortfall")
    if not change:
        return []
    misses = result.get("rejected", [])
    # The misses that are not memory say most: the GPUs held the model but not the load.
    telling = [m for m in misses if not m["reason"].startswith("memory")] or misses
    why = "; ".join(f"{miss['gpus_per_instance']}× {miss['gpu_model']}: {miss['reason']}"
                    for miss in telling[-2:])
    return [
        f"nothing in the catalog carries the load as asked ({why}); the plan below is the "
        f"nearest that does, with {change}"
    ]


def budget_warnings(result: dict[str, Any], spec: WorkloadSpec, total_usd: float) -> list[str]:
    """Say by how much the plan is over budget, the budget that would do, and what fits it."""
    budget = spec.budget_monthly_usd
    meets = result.get("meets_targets")
    if budget is not None and meets and total_usd <= budget:
        chosen = Configuration.model_validate(result["chosen"])
        faster = Configuration.model_validate(meets)
        target = result["load"]["tpot_ms"]
        return [
            f"the {target:g} ms per output token target is a default, and your "
            f"${budget:,.0f}/month budget is not: the plan runs at "
            f"{chosen.estimate.tpot_ms:.0f} ms per output token "
            f"({chosen.estimate.tokens_per_s_per_user:.0f} tokens/s per user); meeting "
            f"{target:g} ms takes {_words(faster)} at ${faster.monthly_usd:,.0f}/month"
        ]
    if budget is None or total_usd <= budget:
        return []
    users = spec.scale.concurrent_users or spec.scale.concurrent_sequences
    which = "nearest" if result.get("shortfall") else "cheapest"
    warnings = [
        f"over budget: nothing fits the ${budget:,.0f}/month budget; the {which} "
        f"configuration that carries the load costs ${total_usd:,.0f}/month in total, "
        f"${total_usd - budget:,.0f} over it; a budget of ${total_usd:,.0f}/month would do"
    ]
    verdict = result.get("budget") or {}
    slower = verdict.get("relaxed_tpot_configuration")
    if slower:
        config = Configuration.model_validate(slower)
        warnings.append(
            f"within ${budget:,.0f}: {_words(config)} at ${config.monthly_usd:,.0f}/month "
            f"carries the same load at {config.estimate.tpot_ms:.0f} ms per output token, "
            "slower than the target"
        )
    carries, fits = verdict.get("carries_concurrency"), verdict.get("carries_configuration")
    if carries and fits:
        config = Configuration.model_validate(fits)
        who = "users" if users else "sequences in flight"
        warnings.append(
            f"within ${budget:,.0f}: {carries} concurrent {who} at the latency targets on "
            f"{_words(config)} (${config.monthly_usd:,.0f}/month)"
        )
    if not slower and not carries:
        warnings.append(
            f"no configuration of this model within ${budget:,.0f}/month carries even one "
            "sequence at the targets: a smaller or quantized model, or a shorter context, "
            "would be needed"
        )
    return warnings
