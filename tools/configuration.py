"""The configuration search over the catalog: what a plan deploys, and what the budget buys.

Reads the offers the user allowed (``tools.catalog``), runs ``tools.search`` over them, sizes
the chosen configuration's memory (``tools.sizing``: typical and worst-case KV beside each
other) and, when a monthly budget is given, says whether the chosen configuration keeps to
it and, if not, by how much and how many concurrent sequences the budget would carry.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from psycopg import AsyncConnection
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from tools.architecture import Architecture, load_architecture
from tools.catalog import OfferFilters, catalog_epoch, load_gpu_specs, load_offers
from tools.compute_fit import UnknownModelError, reject_nul
from tools.offers import MARKETPLACES, Offer
from tools.search import HOURS_PER_MONTH, Configuration, Load, SearchOutcome, search_configurations
from tools.sizing import SizingResult, Workload, estimate_memory
from tools.throughput import GpuSpec

# A stated precision narrows the search to the builds that store weights that way.
PRECISIONS: dict[str, tuple[str, ...]] = {
    "fp32": ("native",), "bf16": ("native",), "fp16": ("native",),
    "fp8": ("fp8",), "int8": ("fp8",), "int4": ("int4",),
}
# Halving the load this many times finds what a budget carries (1/2 … 1/64 of it).
BUDGET_STEPS = 6
# A slower token rate is the first thing a budget can trade: 50 ms → 75 ms per output token.
RELAXED_TPOT = 1.5
# Long prompts take longer to prefill: the first token's default target can stretch this far.
RELAXED_TTFT = 3.0
# The prompt a chat request is assumed to carry when nothing else is known.
DEFAULT_PROMPT_TOKENS = 1024


class ConfigurationQuery(BaseModel):
    """Arguments of ``configuration_search``: the model, the load, and where it may run."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model_id: str = Field(min_length=1, max_length=200, description="catalog model id")
    kind: Literal["chat", "batch"] = Field(
        default="chat", description="chat: latency targets per user; batch: throughput only"
    )
    concurrency: int = Field(default=1, ge=1, le=100_000, description="sequences in flight")
    input_tokens: int = Field(default=1024, ge=1, le=10_485_760, description="typical prompt")
    output_tokens: int = Field(default=256, ge=2, le=1_000_000, description="typical output")
    max_model_len: int | None = Field(
        default=None, ge=1, le=10_485_760, description="longest sequence served (context)"
    )
    ttft_ms: float | None = Field(default=2000, gt=0, description="first-token target, chat")
    tpot_ms: float | None = Field(default=50, gt=0, description="per-token target, chat")
    min_tokens_per_s: float | None = Field(
        default=None, gt=0, description="output tokens/s the deployment must sustain"
    )
    tokens_per_run: float | None = Field(
        default=None, gt=0, le=1e15,
        description="batch: output tokens one run makes (ranks by the run's $ per 1M tokens, "
        "start-up included)",
    )
    precision: str | None = Field(
        default=None, max_length=16, description="bf16, fp8 or int4 if the user fixed it"
    )
    spot: bool = Field(default=False, description="spot capacity allowed")
    providers: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=20, description="providers allowed, e.g. aws"
    )
    regions: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=50, description="regions allowed, e.g. us-east-1"
    )
    gpu_model: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=20, description="GPU models allowed, e.g. H100"
    )
    instance_types: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] = (
        Field(default_factory=list, max_length=20, description="instance types allowed")
    )
    max_gpu_count: int | None = Field(
        default=None, ge=1, le=64, description="most GPUs one instance may have"
    )
    min_vram_per_gpu_gb: float | None = Field(default=None, ge=0, description="GB per GPU")
    max_instances: int = Field(default=8, ge=1, le=16, description="instances at most")
    budget_monthly_usd: float | None = Field(
        default=None, ge=0, description="compute budget per month (storage and network apart)"
    )
    latency_stated: bool = Field(
        default=False, description="the user set the latency targets (else they are defaults)"
    )

    _no_nul = field_validator(
        "model_id", "providers", "regions", "gpu_model", "instance_types", mode="before"
    )(reject_nul)

    @field_validator("precision")
    @classmethod
    def _known_precision(cls, value: str | None) -> str | None:
        if value is not None and value.lower() not in PRECISIONS:
            raise ValueError(f"unknown precision; expected one of: {', '.join(PRECISIONS)}")
        return value.lower() if value else None

    def load(self) -> Load:
        """Return the search's load from these arguments."""
        return Load(
            kind=self.kind, concurrency=self.concurrency, input_tokens=self.input_tokens,
            output_tokens=self.output_tokens, max_model_len=self.max_model_len,
            ttft_ms=self.ttft_ms, tpot_ms=self.tpot_ms, min_tokens_per_s=self.min_tokens_per_s,
            tokens_per_run=self.tokens_per_run,
            spot_ok=self.spot, allow_marketplace=bool(MARKETPLACES & set(self.providers)),
            max_instances=self.max_instances, allow_non_cuda=bool(self.gpu_model),
        )


class InstanceFacts(BaseModel):
    """Catalog facts of the chosen instance type the configuration does not carry."""

    vcpus: float | None
    memory_gb: float | None
    gpu_memory_gb_total: float
    source: str


class BudgetCheck(BaseModel):
    """The chosen configuration against the monthly compute budget."""

    budget_monthly_usd: float
    within_budget: bool
    over_by_usd: float = Field(description="0 when within the budget")
    carries_concurrency: int | None = Field(
        description="most sequences in flight a configuration within the budget carries"
    )
    carries_configuration: Configuration | None = None
    relaxed_tpot_configuration: Configuration | None = Field(
        default=None, description="the full load within the budget at 1.5× the TPOT target"
    )


class ConfigurationResult(SearchOutcome):
    """The search's outcome with the chosen configuration's memory and the budget's verdict."""

    model_config = ConfigDict(protected_namespaces=())

    model_id: str
    load: Load
    sizing: SizingResult | None = Field(description="memory of one replica, chosen config")
    instance: InstanceFacts | None
    budget: BudgetCheck | None
    shortfall: str | None = Field(
        default=None,
        description="when nothing carries the load as asked: what the chosen one gives up",
    )
    meets_targets: Configuration | None = Field(
        default=None,
        description="when the default TPOT target was relaxed to keep to the budget: the "
        "cheapest configuration that meets it",
    )


def _offer(row: dict[str, Any]) -> Offer:
    return Offer.model_validate(row)


def _cheapest_hourly(offer: Offer, load: Load) -> float:
    prices = [offer.price_hourly_usd, offer.spot_price_hourly_usd if load.spot_ok else None]
    return min((p for p in prices if p), default=float("inf"))


def chosen_sizing(arch: Any, config: Configuration, load: Load) -> SizingResult:
    """Return the memory one replica of ``config`` needs at its sequences per replica."""
    workload = Workload(
        dtype=config.precision, kv_cache_dtype=config.kv_cache_dtype,  # type: ignore[arg-type]
        context_length=config.max_model_len,
        concurrent_sequences=config.estimate.concurrency_per_replica,
        typical_tokens=min(load.input_tokens + load.output_tokens, config.max_model_len),
    )
    return estimate_memory(arch, workload, tensor_parallel=config.tensor_parallel)


def _budget_check(
    query: ConfigurationQuery, outcome: SearchOutcome, run: Any
) -> BudgetCheck | None:
    """Compare the chosen configuration with the budget; if over, find what the budget buys.

    ``run(concurrency, tpot_ms)`` searches again among the offers one instance of which the
    budget pays for. Chat tries, in turn, the same users at a relaxed 1.5× time per output
    token, then fewer users at the stated targets (halving, then stepping back up).
    """
    budget = query.budget_monthly_usd
    if budget is None:
        return None
    chosen = outcome.chosen
    if chosen is not None and chosen.monthly_usd <= budget:
        return BudgetCheck(budget_monthly_usd=budget, within_budget=True, over_by_usd=0.0,
                           carries_concurrency=query.concurrency,
                           carries_configuration=chosen)
    over = round(chosen.monthly_usd - budget, 2) if chosen else 0.0
    verdict = BudgetCheck(budget_monthly_usd=budget, within_budget=False, over_by_usd=over,
                          carries_concurrency=None)
    if query.kind != "chat":
        return verdict

    def fits(concurrency: int, tpot_ms: float | None) -> Configuration | None:
        found = run(concurrency, tpot_ms).chosen
        return found if found is not None and found.monthly_usd <= budget else None

    if query.tpot_ms and (slower := fits(query.concurrency, query.tpot_ms * RELAXED_TPOT)):
        verdict.relaxed_tpot_configuration = slower
    low, high, config = 0, query.concurrency, None
    for _ in range(BUDGET_STEPS):
        trial = max(1, high // 2)
        config = fits(trial, query.tpot_ms)
        if config is not None:
            low = trial
            break
        high = trial
        if trial == 1:
            break
    if config is None:
        return verdict
    step = max(1, (high - low) // 4)
    for trial in range(low + step, high, step):
        found = fits(trial, query.tpot_ms)
        if found is None:
            break
        low, config = trial, found
    verdict.carries_concurrency, verdict.carries_configuration = low, config
    return verdict


def _easier_loads(query: ConfigurationQuery, load: Load) -> Iterator[tuple[str, Load]]:
    """Yield loads a step easier than asked, each with what it gives up, nearest first.

    Unstated latency targets loosen first (3× to the first token, 1.5× per token), then the
    prompts shorten to the 1,024-token default, then the users halve, down to one.
    """
    if load.kind != "chat":
        return
    current, said = load, []
    if not query.latency_stated and load.ttft_ms and load.tpot_ms:
        ttft, tpot = load.ttft_ms * RELAXED_TTFT, load.tpot_ms * RELAXED_TPOT
        current = load.model_copy(update={"ttft_ms": ttft, "tpot_ms": tpot})
        said.append(f"slower than the default targets: first token within {ttft / 1000:g} s, "
                    f"{tpot:g} ms per output token")
        yield "; ".join(said), current
    if current.input_tokens > DEFAULT_PROMPT_TOKENS:
        said.append(f"prompts of about {DEFAULT_PROMPT_TOKENS:,} tokens, not "
                    f"{current.input_tokens:,}")
        current = current.model_copy(update={"input_tokens": DEFAULT_PROMPT_TOKENS})
        yield "; ".join(said), current
    concurrency = current.concurrency
    while concurrency > 1:
        concurrency //= 2
        fewer = f"{concurrency} concurrent sequences, not {load.concurrency}"
        yield "; ".join([*said, fewer]), current.model_copy(update={"concurrency": concurrency})


async def search_catalog(
    conn: AsyncConnection[Any], query: ConfigurationQuery
) -> ConfigurationResult:
    """Search the catalog's offers for the cheapest configuration that carries the load.

    Raises:
        UnknownModelError: If the model is not in the architecture catalog.

    """
    # The search is a pure function of the query and the catalog tables, and CPU work (tens
    # to hundreds of ms, the largest part of a turn): while the database's catalogs have not
    # changed (their epoch moves on every write, by trigger) the same search is answered
    # from memory.
    database = (conn.info.host, conn.info.port, conn.info.dbname)
    key = (query.model_dump_json(), *database, await catalog_epoch(conn))
    found = _searched.get(key)
    if found is None:
        found = await _search_tables(conn, query)
        _searched[key] = found
        while len(_searched) > SEARCH_CACHE_SIZE:
            _searched.popitem(last=False)
    else:
        _searched.move_to_end(key)
    return found.model_copy(deep=True)  # callers may change what they get


SEARCH_CACHE_SIZE = 256
_searched: OrderedDict[tuple[str, str, int, str, int], ConfigurationResult] = OrderedDict()


async def _search_tables(
    conn: AsyncConnection[Any], query: ConfigurationQuery
) -> ConfigurationResult:
    """Read the model, the offers and the GPUs the search needs, and run it off the loop."""
    arch = await load_architecture(conn, query.model_id)
    if arch is None:
        raise UnknownModelError(
            f"unknown model {query.model_id!r}: not in the architecture catalog"
        )
    filters = OfferFilters(
        providers=tuple(query.providers), regions=tuple(query.regions),
        gpu_models=tuple(query.gpu_model), instance_types=tuple(query.instance_types),
        max_gpu_count=query.max_gpu_count, min_gpu_memory_gb=query.min_vram_per_gpu_gb,
    )
    rows = await load_offers(conn, filters)
    gpus = {row["gpu_model"]: GpuSpec.model_validate(
        {k: v for k, v in row.items() if v is not None}) for row in await load_gpu_specs(conn)}
    offers = [_offer(row) for row in rows]
    return await asyncio.to_thread(_search_offers, query, arch, rows, offers, gpus)


def _search_offers(
    query: ConfigurationQuery,
    arch: Architecture,
    rows: list[dict[str, Any]],
    offers: list[Offer],
    gpus: dict[str, GpuSpec],
) -> ConfigurationResult:
    """Run the search, the nearest easier load if none carries it, and the budget's check."""
    catalog = {arch.model_id or query.model_id: arch}
    precisions = PRECISIONS.get(query.precision or "", ("native", "fp8", "int4"))
    load = query.load()

    def search(trial: Load, among: list[Offer]) -> SearchOutcome:
        return search_configurations(arch.model_id or query.model_id, trial, among, gpus,
                                     catalog=catalog, precisions=precisions)

    outcome = search(load, offers)
    shortfall = None
    if outcome.chosen is None:
        # Nothing carries the load as asked: find the nearest load something does carry.
        for change, trial in _easier_loads(query, load):
            easier = search(trial, offers)
            if easier.chosen is not None:
                shortfall, load = change, trial
                outcome = easier.model_copy(update={
                    "rejected": outcome.rejected, "examined": outcome.examined + easier.examined,
                })
                break
    budget = query.budget_monthly_usd
    # What the budget buys is searched among offers one instance of which it pays for.
    affordable = [o for o in offers if budget is not None and _cheapest_hourly(o, load)
                  * HOURS_PER_MONTH <= budget]

    def within(concurrency: int, tpot_ms: float | None) -> SearchOutcome:
        trial = load.model_copy(update={"concurrency": concurrency, "tpot_ms": tpot_ms})
        return search(trial, affordable)

    verdict = _budget_check(query, outcome, within)
    meets = None
    if verdict and not verdict.within_budget and verdict.relaxed_tpot_configuration and (
        not query.latency_stated
    ):
        # The user set a budget and no latency: the default target gives way to the budget.
        meets, relaxed = outcome.chosen, verdict.relaxed_tpot_configuration
        others = [c for c in (meets, *outcome.alternatives) if c is not None][:3]
        outcome = outcome.model_copy(update={"chosen": relaxed, "alternatives": others})
        verdict = verdict.model_copy(update={"within_budget": True, "over_by_usd": 0.0})
    chosen = outcome.chosen
    sizing = chosen_sizing(arch, chosen, load) if chosen else None
    instance = None
    if chosen is not None:
        row = next(r for r in rows if (r["provider"], r["instance_type"])
                   == (chosen.provider, chosen.instance_type))
        instance = InstanceFacts(
            vcpus=row["vcpus"], memory_gb=row["memory_gb"],
            gpu_memory_gb_total=float(row["gpu_memory_gb_per_gpu"] or 0) * chosen.gpus_per_instance,
            source=row["catalog_source"],
        )
    return ConfigurationResult(
        **outcome.model_dump(),
        model_id=arch.model_id or query.model_id,
        load=load,
        sizing=sizing,
        instance=instance,
        budget=verdict,
        meets_targets=meets,
        shortfall=shortfall,
    )


def format_configuration(result: ConfigurationResult) -> str:
    """Say the chosen configuration, its estimate and memory, and the budget's verdict."""
    chosen = result.chosen
    if chosen is None:
        why = "; ".join(f"{r.gpus_per_instance}× {r.gpu_model}: {r.reason}"
                        for r in result.rejected[:4])
        return f"no configuration of {result.model_id} carries the load. {why}"
    e = chosen.estimate
    lines = [
        f"{result.model_id} as {chosen.build_repo} ({chosen.precision}, KV {chosen.kv_cache_dtype}"
        f", TP {chosen.tensor_parallel}, {chosen.replicas} replica(s)) on {chosen.instances}× "
        f"{chosen.provider} {chosen.instance_type} ({chosen.gpus_per_instance}× "
        f"{chosen.gpu_model}) in {chosen.region}{' (spot)' if chosen.spot else ''}: "
        f"${chosen.monthly_usd:,.0f}/month; TTFT {e.ttft_ms:,.0f} ms, TPOT {e.tpot_ms:.0f} ms, "
        f"{e.tokens_per_s:,.0f} tokens/s, {e.memory_gb:.1f} GiB per GPU",
    ]
    for alt in result.alternatives:
        lines.append(f"alternative: {alt.precision} TP {alt.tensor_parallel} on {alt.instances}× "
                     f"{alt.instance_type} ${alt.monthly_usd:,.0f}/month")
    if result.budget and not result.budget.within_budget:
        lines.append(f"over the ${result.budget.budget_monthly_usd:,.0f} budget by "
                     f"${result.budget.over_by_usd:,.0f}")
    return "\n".join(lines)
