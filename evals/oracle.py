"""The numeric oracle: recompute a plan's numbers from the catalog files, trusting none of them.

For a planning turn it re-derives, independently of the plan builder, the validator and the
compute search's SQL:

- the sizing (``tools.sizing`` is the reference formula; the workload is read from the spec
  with the planner's documented defaults), compared with the plan's sizing summary, whose
  breakdown is at tensor parallel 1 and whose ``per_gpu_gb`` is at its stated degree. A model
  in neither catalog is sized as the planner says it sizes one: an assumed dense decoder of
  the parameter count in its id ("acme/foo-13b" → 13B), on one GPU;
- each recommended instance: in the catalog, on-demand price as listed, monthly = hourly × 730,
  and fitting the sizing at some TP ≤ its GPU count with 90 % of each GPU's memory usable (a
  model sized from its id: a GPU slice of at least ⌈need / 0.9⌉ GB, the planner's floor);
- the monthly cost (compute + storage + network) and whether it is within the budget;
- that no instance satisfying the plan's own constraints (providers and regions from the spec,
  CUDA GPUs only, an on-demand price, the memory the sizing needs) is cheaper than the first
  recommendation. Ties are allowed. A training run whose tokens are known is compared by what
  the run costs, not by the hour: hourly × (k·N·D / MFU over the instance's dense rate, plus
  the fixed start-up hours of every run), and each option's run hours and cost, the rule for
  which runners-up are offered and the one-off job cost (the run, its volume for the run's
  hours or a day at least, no egress) are recomputed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from agents.schemas import DeploymentPlan, GpuRecommendation, WorkloadSpec
from evals.catalog import Catalog, Instance
from evals.oracle_sizing import Need, fitting_degree, reference_need, searched_workload
from tools.architecture import model_params_billion

HOURS_PER_MONTH = 730
# The planner's stated policies (say so in every plan's assumptions); kept here on purpose, not
# imported, so that a change to them shows up as an oracle failure until it is agreed.
DEFAULT_MIN_GPU_GB = 16.0  # a GPU job with no model to size needs at least this per GPU
# The planner's documented floor for a CPU-only deployment: a small general-purpose VM.
CPU_ONLY_MIN_VCPU = 4.0
CPU_ONLY_MIN_RAM_GB = 16.0
STORAGE_USD_PER_GB_MONTH = 0.08
MIN_STORAGE_GB = 100
NETWORK_MONTHLY_USD = 500 * 0.09
MONEY_TOLERANCE = 0.02
PRICE_TOLERANCE = 1e-4


@dataclass(frozen=True)
class Check:
    """One recomputed fact and whether the plan agrees with it."""

    name: str
    passed: bool
    detail: str = ""


@dataclass
class OracleResult:
    """Every check made on one plan."""

    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Say whether every check passed."""
        return all(c.passed for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        """Return the failed checks."""
        return [c for c in self.checks if not c.passed]

    def add(self, name: str, passed: bool, detail: str = "") -> None:
        """Record one check."""
        self.checks.append(Check(name, bool(passed), detail))


OWN_PROVIDER = "own"
# What a plan says when it could not meet the GPUs, instances or GPU count the user named.
RELAXED_WARNING = "your hardware constraint"
SHORTFALL_WARNING = "nothing in the catalog carries the load as asked"
TRAINING_NODE_GB = 320  # a long training run goes on one node with this much GPU memory
# A training run's pricing policies, as the planner states them in its assumptions.
TOKENS_PER_EXAMPLE = 512
BYTES_PER_TOKEN = 4
FLOPS_PER_PARAM_TOKEN = {"pretraining": 6, "full": 6, "lora": 4, "qlora": 4}
MFU = {"pretraining": 0.4, "full": 0.4, "lora": 0.3, "qlora": 0.2}
RUN_FIXED_HOURS = 0.5  # start-up, image pull, model download, checkpoints: billed every run
CLOSE_RUN_COST_RATIO = 1.5  # a runner-up within this of the cheapest run, no more GPUs
FAST_RUN_COST_RATIO, FAST_RUN_TIME_RATIO = 3.0, 0.5  # or one this much dearer, this much sooner
MIN_JOB_STORAGE_HOURS = 24


def hourly_price(instance: Instance, spec: WorkloadSpec) -> float | None:
    """Return the price the plan is costed on: spot when the user allowed spot."""
    if spec.hardware.spot_allowed:
        return instance.spot_price_hourly_usd
    return instance.price_hourly_usd


def _allowed(instance: Instance, spec: WorkloadSpec, relaxed: bool) -> bool:
    providers = {p.lower() for p in spec.providers}
    regions = {r.lower() for r in spec.regions}
    if providers and instance.provider.lower() not in providers:
        return False
    if regions and instance.region.lower() not in regions:
        return False
    if relaxed or spec.gpu_needed is False:
        return True
    hardware = spec.hardware
    own_gpu = spec.own_hardware.gpu_model
    gpus = {g.lower() for g in hardware.gpu_models or ([own_gpu] if own_gpu else [])}
    if gpus and (instance.gpu_model or "").lower() not in gpus:
        return False
    types = {t.lower() for t in hardware.instance_types}
    if types and instance.instance_type.lower() not in types:
        return False
    return not hardware.max_gpus or instance.gpu_count <= hardware.max_gpus


def _run_tokens(spec: WorkloadSpec) -> float:
    """Return a run's tokens: stated, or examples × 512, or GB × 1e9 / 4; times the epochs."""
    data = spec.training
    tokens = data.dataset_tokens or (
        data.dataset_examples * TOKENS_PER_EXAMPLE if data.dataset_examples
        else (data.dataset_gb * 1e9 / BYTES_PER_TOKEN if data.dataset_gb else 0.0)
    )
    return tokens * (data.epochs or 1)


def _params(need: Need | None, catalog: Catalog) -> float | None:
    if need is None:
        return None
    arch = catalog.architectures.get(need.model_id)
    model = catalog.models.get(need.model_id)
    return (model_params_billion(arch)[0] if arch else None) or (
        model.params_billion if model else None
    )


def _long_training_run(spec: WorkloadSpec, need: Need | None, catalog: Catalog) -> bool:
    """Say whether the planner's rule puts a training run on one multi-GPU node.

    Documented rule: 6·N·D FLOPs at 40 % of an A100's 312 dense TFLOPS over 24 GPU-hours
    (D: dataset tokens, or examples × 512, or GB × 1e9 / 4, times the epochs), unless the
    user limited the GPUs to fewer than the node's four.
    """
    tokens = _run_tokens(spec)
    params = _params(need, catalog)
    if spec.task_type not in ("training", "fine_tuning") or not tokens or not params:
        return False
    if spec.hardware.max_gpus and spec.hardware.max_gpus < 4:
        return False  # a GPU limit under the node's four GPUs wins: a longer run
    gpu_hours = 6 * params * 1e9 * tokens / (312e12 * 0.4) / 3600
    return gpu_hours > 24


def job_ranked(spec: WorkloadSpec) -> bool:
    """Say whether the planner's rule ranks instances by the cost of the run, not the hour.

    Documented rule: training or fine-tuning whose tokens are known (dataset tokens, or
    examples, or GB of text) is priced as a job, and the job's cost ranks the instances.
    """
    return spec.task_type in ("training", "fine_tuning") and _run_tokens(spec) > 0


def run_work(spec: WorkloadSpec, need: Need | None, catalog: Catalog) -> float | None:
    """Return a run's work, k·N·D / MFU in dense TFLOP-hours (the method's k and MFU)."""
    params = _params(need, catalog)
    tokens = _run_tokens(spec)
    if not job_ranked(spec) or not params:
        return None
    method = "pretraining"
    if spec.task_type == "fine_tuning":
        method = spec.model_needs.fine_tuning_method or "lora"
    flops = FLOPS_PER_PARAM_TOKEN[method] * params * 1e9 * tokens
    return flops / (MFU[method] * 1e12 * 3600)


def run_on(
    instance: Instance, spec: WorkloadSpec, catalog: Catalog, work: float
) -> tuple[float, float]:
    """Return (hours on the clock, cost) of the run on an instance; infinite when unpriced."""
    hourly = hourly_price(instance, spec)
    rate = catalog.gpu_dense_tflops.get(instance.gpu_model or "")
    if hourly is None or not rate or instance.gpu_count <= 0:
        return float("inf"), float("inf")
    hours = work / (instance.gpu_count * rate) + RUN_FIXED_HOURS
    return hours, hourly * hours


def worth_offering(
    run: tuple[float, float], cheapest: tuple[float, float], gpus: float, cheapest_gpus: float
) -> bool:
    """Say whether the planner's rule offers a runner-up (hours, cost) beside the cheapest.

    Close in cost on no more GPUs, or much sooner done for a bounded premium.
    """
    (hours, cost), (best_hours, best_cost) = run, cheapest
    if cost <= best_cost * CLOSE_RUN_COST_RATIO * (1 + 1e-6) and gpus <= cheapest_gpus:
        return True
    return (cost <= best_cost * FAST_RUN_COST_RATIO * (1 + 1e-6)
            and hours <= best_hours * FAST_RUN_TIME_RATIO * (1 + 1e-6))


def run_cost_key(instance: Instance, spec: WorkloadSpec, catalog: Catalog) -> float:
    """Return what one dense TFLOP-hour costs on the instance: a run's cost is proportional.

    GPU-hours = FLOPs / (rate × MFU) and cost = GPU-hours × hourly / GPUs, so at one MFU and
    one FLOP count the run costs hourly / (GPUs × rate) times a constant. Unknown rates last.
    """
    hourly = hourly_price(instance, spec)
    rate = catalog.gpu_dense_tflops.get(instance.gpu_model or "")
    if hourly is None or not rate or instance.gpu_count <= 0:
        return float("inf")
    return hourly / (instance.gpu_count * rate)


def candidates(
    spec: WorkloadSpec, need: Need | None, catalog: Catalog, relaxed: bool = False
) -> list[tuple[Instance, float]]:
    """Return every instance satisfying the plan's constraints, with its monthly price.

    ``relaxed`` leaves out the GPUs, instance types and GPU count the user named: what a plan
    that says it could not meet them is compared with.
    """
    found = []
    node_floor = TRAINING_NODE_GB if _long_training_run(spec, need, catalog) else 0.0
    for inst in catalog.instances.values():
        hourly = hourly_price(inst, spec)
        if hourly is None or not _allowed(inst, spec, relaxed):
            continue
        if inst.gpu_memory_gb_total < node_floor:
            continue
        if spec.gpu_needed is False:
            # CPU-only: the documented floor, with RAM for the model when one was sized.
            ram = max(CPU_ONLY_MIN_RAM_GB, need.total_gb if need is not None else 0.0)
            if (inst.vcpus or 0.0) < CPU_ONLY_MIN_VCPU or (inst.memory_gb or 0.0) < ram:
                continue
        else:
            if not catalog.is_cuda(inst):
                continue
            floor = spec.min_vram_gb or (None if need else DEFAULT_MIN_GPU_GB)
            if fitting_degree(inst, need, floor) is None:
                continue
        found.append((inst, round(hourly * HOURS_PER_MONTH, 2)))
    return found


def _close(actual: float, expected: float, rel: float = 0.002, floor: float = 0.01) -> bool:
    return abs(actual - expected) <= max(floor, rel * abs(expected))


def expected_model_ok(model_id: str, spec: WorkloadSpec, catalog: Catalog) -> tuple[bool, str]:
    """Say whether the sized model is the one the spec calls for (named, or closest in size)."""
    named = spec.model_needs.named_models
    if named:
        wanted = named[0].lower()
        ok = model_id.lower() in (wanted, f"{wanted}-instruct")
        return ok, f"sized {model_id}, asked for {named[0]}"
    size = spec.model_needs.size_billion_params
    if not size:
        return True, ""
    allowed = set(spec.model_needs.license_allow_list)
    sizes = {
        mid: arch.params_billion_total
        for mid, arch in catalog.architectures.items()
        if arch.params_billion_total
        and not arch.is_moe
        and (catalog.models.get(mid) and catalog.models[mid].pipeline_tag == "text-generation")
        and (not allowed or catalog.models[mid].license in allowed)
    }
    if model_id not in sizes:
        return False, f"sized {model_id}: not a dense text-generation model of the catalog"

    def gap(mid: str) -> float:
        # The planner's documented rule: the relative size gap, a code model's plus 0.5.
        code = "code" in mid.lower()
        return abs(sizes[mid] - size) / size + (0.5 if code else 0.0)

    best = min(gap(mid) for mid in sizes)
    got = gap(model_id)
    return got <= best + 1e-9, f"sized {model_id} ({sizes[model_id]:g}B) for {size:g}B"


def _check_sizing(plan: DeploymentPlan, need: Need | None, result: OracleResult) -> None:
    sizing = plan.sizing
    if sizing is None:
        return
    if need is None:
        result.add("sizing", False, f"{sizing.model_id}: the catalogs cannot size this model")
        return
    tp = sizing.tensor_parallel
    # The plan states the total at its own TP degree: every GPU carries its engine overhead
    # (and replicated KV heads), so the total across GPUs is per-GPU × TP.
    total = need.per_gpu_by_tp[tp] * tp if tp in need.per_gpu_by_tp else need.total_gb
    pairs = [
        ("weights_gb", sizing.weights_gb, need.weights_gb),
        ("kv_cache_gb", sizing.kv_cache_gb, need.kv_cache_gb),
        ("total_vram_gb", sizing.total_vram_gb, total),
        (
            "breakdown",
            sizing.weights_gb + sizing.kv_cache_gb + sizing.overhead_gb,
            sizing.total_vram_gb,
        ),
    ]
    if tp in need.per_gpu_by_tp:
        pairs.append((f"per_gpu_gb@tp{tp}", sizing.per_gpu_gb, need.per_gpu_by_tp[tp]))
    else:
        result.add("sizing", False, f"tensor parallel {tp} does not split {need.model_id}")
    wrong = [f"{n} {a:.3f} ≠ {e:.3f}" for n, a, e in pairs if not _close(a, e, floor=0.02)]
    result.add("sizing", not wrong, "; ".join(wrong) or f"{need.model_id} at tp{tp}")


def _check_instances(
    plan: DeploymentPlan,
    need: Need | None,
    spec: WorkloadSpec,
    catalog: Catalog,
    result: OracleResult,
) -> list[Instance]:
    rows: list[Instance] = []
    priced: list[tuple[GpuRecommendation, Instance]] = []
    for rec in plan.gpu_recommendations:
        label = f"{rec.provider}/{rec.instance_type}/{rec.region}"
        if rec.provider == OWN_PROVIDER:
            _check_own(rec, need, spec, catalog, result)
            continue
        inst = catalog.instances.get((rec.provider, rec.instance_type, rec.region))
        hourly = hourly_price(inst, spec) if inst is not None else None
        if inst is None or hourly is None:
            result.add("price", False, f"{label}: not in the catalog with a price to run on")
            continue
        rows.append(inst)
        priced.append((rec, inst))
        monthly = round(hourly * HOURS_PER_MONTH, 2)
        price_ok = abs(rec.price_hourly_usd - hourly) <= PRICE_TOLERANCE
        monthly_ok = abs(rec.price_monthly_usd - monthly) <= 0.01
        result.add(
            "price",
            price_ok and monthly_ok,
            f"{label}: ${rec.price_hourly_usd}/h, ${rec.price_monthly_usd}/month; "
            f"catalog ${hourly}/h → ${monthly}/month",
        )
        if spec.gpu_needed is False:
            result.add("cpu_only", not inst.gpu_model, f"{label} has {inst.gpu_model} GPUs")
            continue
        if plan.configuration is not None and rec is not plan.gpu_recommendations[0]:
            continue  # an alternative at its own precision: the search fitted it
        tp = fitting_degree(inst, need, spec.min_vram_gb or (None if need else DEFAULT_MIN_GPU_GB))
        result.add(
            "fits",
            catalog.is_cuda(inst) and tp is not None,
            f"{label}: {inst.gpu_count:g}× {inst.gpu_model} does not hold the need",
        )
    searched = plan.configuration is not None
    prices = [r.price_monthly_usd * (r.instances if searched else 1)
              for r in plan.gpu_recommendations]
    if searched:
        # The chosen configuration first (the cheapest that carries the load), then the
        # alternatives; each alternative runs its own precision, so only the first is sized.
        rest = prices[1:]
        result.add("order", rest == sorted(rest), f"monthly totals in plan order: {prices}")
    elif job_ranked(spec) and plan.cost_estimate is not None and plan.cost_estimate.job:
        work = run_work(spec, need, catalog)
        if work is None:
            keys = [run_cost_key(inst, spec, catalog) for inst in rows]
            result.add("order", keys == sorted(keys),
                       f"$ per dense TFLOP-hour in plan order: {[round(k, 5) for k in keys]}")
        else:
            _check_runs(priced, spec, catalog, work, result)
    else:
        result.add("order", prices == sorted(prices), f"monthly prices in plan order: {prices}")
    if searched and rows and plan.sizing is not None and need is not None:
        tp = plan.sizing.tensor_parallel
        usable = (rows[0].gpu_memory_gb_per_gpu or 0.0) * 0.9
        holds = tp in need.per_gpu_by_tp and need.per_gpu_by_tp[tp] <= usable + 1e-6
        wanted = need.per_gpu_by_tp.get(tp, float("nan"))
        result.add("tensor_parallel", holds and tp <= rows[0].gpu_count,
                   f"plan says tp{tp} on {rows[0].label}; need {wanted:.1f} GiB per GPU, "
                   f"{usable:.1f} usable")
    elif rows and plan.sizing is not None and need is not None and spec.gpu_needed is not False:
        best = fitting_degree(rows[0], need, None)
        result.add(
            "tensor_parallel",
            best == plan.sizing.tensor_parallel,
            f"plan says tp{plan.sizing.tensor_parallel}; smallest fitting on "
            f"{rows[0].label} is tp{best}",
        )
    return rows


def _check_runs(
    priced: list[tuple[GpuRecommendation, Instance]],
    spec: WorkloadSpec,
    catalog: Catalog,
    work: float,
    result: OracleResult,
) -> None:
    """Check a training plan's options: run hours and cost each, cheapest run first, offered."""
    runs = [run_on(inst, spec, catalog, work) for _, inst in priced]
    wrong = [
        f"{rec.instance_type}: {rec.run_hours} h, ${rec.run_usd}; expected {hours:.2f} h, "
        f"${cost:,.2f}"
        for (rec, _), (hours, cost) in zip(priced, runs, strict=True)
        if rec.run_hours is None or rec.run_usd is None
        or not _close(rec.run_hours, hours, floor=0.006) or not _close(rec.run_usd, cost)
    ]
    result.add("run", not wrong, "; ".join(wrong) or f"{len(runs)} options' runs")
    costs = [cost for _, cost in runs]
    ordered = all(a <= b * (1 + 1e-9) for a, b in zip(costs, costs[1:], strict=False))
    result.add("order", ordered, f"run costs in plan order: {[round(c, 2) for c in costs]}")
    first = priced[0][1].gpu_count if priced else 0.0
    dear = [rec.instance_type for (rec, inst), run in zip(priced[1:], runs[1:], strict=True)
            if not worth_offering(run, runs[0], inst.gpu_count, first)]
    result.add("offered", not dear,
               f"{dear} cost more than the cheapest run, or run more GPUs, without finishing "
               "much sooner")


def _check_own(
    rec: GpuRecommendation,
    need: Need | None,
    spec: WorkloadSpec,
    catalog: Catalog,
    result: OracleResult,
) -> None:
    """Check a recommendation of the user's own node: their GPUs, free, and holding the need."""
    own = spec.own_hardware
    label = f"own/{rec.instance_type}"
    memory = catalog.gpu_memory_gb.get(own.gpu_model or "")
    result.add(
        "own_hardware",
        rec.gpu_model == own.gpu_model
        and rec.gpu_count == (own.gpus_per_node or 1)
        and rec.price_hourly_usd == 0.0,
        f"{label}: {rec.gpu_count:g}× {rec.gpu_model} at ${rec.price_hourly_usd}/h, "
        f"the user has {own.gpus_per_node}× {own.gpu_model}",
    )
    if need is None or memory is None:
        return
    fits = any(
        tp <= rec.gpu_count and per_gpu <= memory * 0.9 + 1e-6
        for tp, per_gpu in need.per_gpu_by_tp.items()
    )
    result.add("fits", fits, f"{label}: {memory:g} GB GPUs do not hold {need.model_id}")


def _check_cost(
    plan: DeploymentPlan,
    spec: WorkloadSpec,
    need: Need | None,
    top: Instance | None,
    pool: list[tuple[Instance, float]],
    result: OracleResult,
) -> None:
    weights = need.weights_gb if (need is not None and plan.sizing is not None) else 0.0
    storage = round(max(MIN_STORAGE_GB, round(3 * weights)) * STORAGE_USD_PER_GB_MONTH, 2)
    overhead = storage + NETWORK_MONTHLY_USD
    hourly = hourly_price(top, spec) if top is not None else None
    first = plan.gpu_recommendations[0] if plan.gpu_recommendations else None
    searched = plan.configuration is not None and first is not None
    if searched and hourly is not None and first is not None and first.price_hourly_usd:
        hourly = first.price_hourly_usd  # spot or on-demand, as the search chose
    instances = first.instances if searched and first is not None else 1
    compute = round(hourly * HOURS_PER_MONTH * instances, 2) if hourly else 0.0
    if plan.cost_estimate is not None and plan.cost_estimate.job is not None:
        job = plan.cost_estimate.job
        compute = round(job.total_usd * (job.runs_per_month or 1), 2)
    total = round(compute + overhead, 2)
    cost = plan.cost_estimate
    if cost is None:
        result.add("cost", not plan.gpu_recommendations, "the plan has no cost estimate")
        return
    wrong = [
        f"{name} {got:,.2f} ≠ {want:,.2f}"
        for name, got, want in (
            ("compute", cost.compute_monthly_usd, compute),
            ("storage", cost.storage_monthly_usd, storage),
            ("network", cost.network_monthly_usd, NETWORK_MONTHLY_USD),
            ("total", cost.total_monthly_usd, total),
        )
        if abs(got - want) > MONEY_TOLERANCE
    ]
    result.add("cost", not wrong, "; ".join(wrong) or f"total ${total:,.2f}/month")
    budget = spec.budget_monthly_usd
    if budget is None:
        return
    # Nothing to run is not within a budget: $0 of compute is no plan.
    nothing = not plan.gpu_recommendations and spec.gpu_needed is not False
    within = total <= budget + 1e-9 and not nothing
    affordable = [i for i, monthly in pool if monthly + overhead <= budget + 1e-9]
    says_so = any("budget" in w.lower() for w in plan.warnings)
    if cost.within_budget is not within:
        result.add(
            "budget",
            False,
            f"plan says within_budget={cost.within_budget}; ${total:,.2f} vs ${budget:,.0f}",
        )
    elif affordable and not within and not searched:
        result.add("budget", False, f"over budget although {affordable[0].label} fits within it")
    elif (searched or not affordable) and not within and not says_so:
        result.add("budget", False, "nothing fits the budget and the plan does not say so")
    else:
        result.add("budget", True, f"${total:,.2f} vs ${budget:,.0f}")


def _storage_gb(plan: DeploymentPlan, need: Need | None) -> float:
    weights = need.weights_gb if (need is not None and plan.sizing is not None) else 0.0
    return max(MIN_STORAGE_GB, round(3 * weights))


def _check_job_cost(
    plan: DeploymentPlan,
    spec: WorkloadSpec,
    need: Need | None,
    top: Instance,
    pool: list[tuple[Instance, float]],
    work: float,
    catalog: Catalog,
    result: OracleResult,
) -> None:
    """Check a training run's one-off cost: the run, its volume for the run's hours, no egress.

    The volume is billed for the run's hours, at least ``MIN_JOB_STORAGE_HOURS``; a monthly
    budget is met when the run costs no more than it.
    """
    cost = plan.cost_estimate
    if cost is None:
        return
    disk = _storage_gb(plan, need)

    def total(inst: Instance) -> tuple[float, float, float]:
        hours, compute = run_on(inst, spec, catalog, work)
        storage = disk * STORAGE_USD_PER_GB_MONTH * max(hours, MIN_JOB_STORAGE_HOURS) / 730
        return compute, storage, compute + storage

    compute, storage, whole = total(top)
    wrong = [
        f"{name} {got:,.2f} ≠ {want:,.2f}"
        for name, got, want in (
            ("compute", cost.compute_monthly_usd, compute),
            ("storage", cost.storage_monthly_usd, storage),
            ("network", cost.network_monthly_usd, 0.0),
            ("total", cost.total_monthly_usd, whole),
        )
        if abs(got - want) > MONEY_TOLERANCE + 0.002 * want
    ]
    if cost.period != "run":
        wrong.append(f"a training run priced as a {cost.period}, not once")
    result.add("cost", not wrong, "; ".join(wrong) or f"the run ${whole:,.2f}, once")
    budget = spec.budget_monthly_usd
    if budget is None:
        return
    within = whole <= budget + 0.01
    affordable = [inst for inst, _ in pool if total(inst)[2] <= budget]
    if cost.within_budget is not within:
        result.add("budget", False,
                   f"plan says within_budget={cost.within_budget}; ${whole:,.2f} vs ${budget:,.0f}")
    elif affordable and not within:
        result.add("budget", False, f"over budget although {affordable[0].label} runs within it")
    else:
        result.add("budget", True, f"the run ${whole:,.2f} vs ${budget:,.0f}")


def check_plan(plan: DeploymentPlan, spec: WorkloadSpec, catalog: Catalog) -> OracleResult:
    """Recompute the plan's numbers from the catalogs and compare."""
    result = OracleResult()
    need = None
    config = plan.configuration
    if plan.sizing is not None and plan.sizing.model_id and config is not None:
        # A searched plan sized its own configuration: re-derive that, independently.
        short = any(SHORTFALL_WARNING in w for w in plan.warnings)
        carried = (config.concurrency, config.input_tokens) if short else None
        workload = searched_workload(spec, config.precision, config.kv_cache_dtype,
                                     config.replicas, config.max_model_len, carried)
        if spec.task_type == "batch":
            workload = workload.model_copy(
                update={"concurrent_sequences": config.estimate.concurrency_per_replica})
        need = reference_need(plan.sizing.model_id, spec, catalog, workload)
        ok, detail = expected_model_ok(plan.sizing.model_id, spec, catalog)
        result.add("sized_model", ok, detail)
    elif plan.sizing is not None and plan.sizing.model_id:
        need = reference_need(plan.sizing.model_id, spec, catalog)
        ok, detail = expected_model_ok(plan.sizing.model_id, spec, catalog)
        result.add("sized_model", ok, detail)
    elif (
        spec.gpu_needed is not False
        and (spec.model_needs.named_models or spec.model_needs.size_billion_params)
        and spec.domain in ("llm", "multimodal")
    ):
        result.add("sizing", False, "the spec names a language model but the plan has no sizing")
    _check_sizing(plan, need, result)
    rows = _check_instances(plan, need, spec, catalog, result)
    relaxed = any(RELAXED_WARNING in w for w in plan.warnings)
    pool = candidates(spec, need, catalog, relaxed=relaxed)
    top = rows[0] if rows else None
    cheapest = min(pool, key=lambda item: item[1], default=None)
    on_own = bool(plan.gpu_recommendations) and (
        plan.gpu_recommendations[0].provider == OWN_PROVIDER
    )
    no_cloud = spec.own_hardware.cloud_allowed is False
    if on_own or no_cloud:
        # The user's machines (or none, the cloud ruled out): no cloud price to beat.
        result.add("cheapest", True, "planned on the user's own hardware")
        pool = [] if no_cloud else pool
    elif top is None:
        result.add(
            "cheapest",
            cheapest is None,
            f"no instance recommended, but {cheapest[0].label} fits" if cheapest else "",
        )
    elif config is not None:
        # Latency decides between configurations; the oracle has no performance model of its
        # own, so it checks the search's ordering: nothing listed beats the chosen one.
        result.add("cheapest", True, "searched configuration (ordering checked above)")
    elif (
        job_ranked(spec) and plan.cost_estimate is not None and plan.cost_estimate.job
        and (job_work := run_work(spec, need, catalog)) is not None
    ):
        # A training run: the cheapest run, its fixed hours counted, not the cheapest hour.
        def run_cost(inst: Instance) -> float:
            return run_on(inst, spec, catalog, job_work)[1]

        best = min(pool, key=lambda item: run_cost(item[0]), default=None)
        top_cost = run_cost(top)
        best_cost = run_cost(best[0]) if best else float("inf")
        result.add(
            "cheapest",
            best is None or top_cost <= best_cost * (1 + 1e-9),
            f"{best[0].label if best else '-'} runs the job for ${best_cost:,.2f}, cheaper than "
            f"{top.label} at ${top_cost:,.2f}",
        )
    elif job_ranked(spec) and plan.cost_estimate is not None and plan.cost_estimate.job:
        # A training run of a model the catalogs cannot count: by $ per dense TFLOP-hour.
        best = min(pool, key=lambda item: run_cost_key(item[0], spec, catalog), default=None)
        top_key = run_cost_key(top, spec, catalog)
        best_key = run_cost_key(best[0], spec, catalog) if best else float("inf")
        result.add(
            "cheapest",
            best is None or top_key <= best_key * (1 + 1e-9),
            f"{best[0].label if best else '-'} runs the job for ${best_key:.5f} per dense "
            f"TFLOP-hour, cheaper than {top.label} at ${top_key:.5f}",
        )
    elif cheapest is not None and (top_hourly := hourly_price(top, spec)) is not None:
        top_monthly = round(top_hourly * HOURS_PER_MONTH, 2)
        result.add(
            "cheapest",
            top_monthly <= cheapest[1] + 0.005,
            f"{cheapest[0].label} fits at ${cheapest[1]:,.2f}/month, cheaper than "
            f"{top.label} at ${top_monthly:,.2f}",
        )
    work = run_work(spec, need, catalog) if job_ranked(spec) else None
    if work is not None and top is not None and plan.cost_estimate is not None and (
        plan.cost_estimate.job is not None
    ):
        _check_job_cost(plan, spec, need, top, pool, work, catalog, result)
    else:
        _check_cost(plan, spec, need, top, pool, result)
    return result


def failed_names(results: Iterable[OracleResult]) -> dict[str, int]:
    """Count failed checks by name over many plans."""
    counts: dict[str, int] = {}
    for res in results:
        for check in res.failures:
            counts[check.name] = counts.get(check.name, 0) + 1
    return counts
