"""The compute search's one SQL statement, composed from constant fragments per query.

It reads instance shapes (migration 0007): an instance type's rows that differ only by region
and price, with their prices sorted. Every value a query compares against is a bound
parameter; the fragments themselves are constants chosen by which filters are active.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tools.compute import ComputeQuery
    from tools.compute_fit import ModelFit

HOURS_PER_MONTH = 730
EXAMPLES_PER_REASON = 3


# (reason, SQL condition on the shape `s`), in the order they are checked: the first failed
# check names a row's rejection. Conditions are constants; every value they compare against is
# a bound parameter. The checks marked None are not asked of a shape: provider and region
# decide which shapes are checked at all (the rest are counted from a provider/region
# summary), and a shape's rows split by counting between no price, over budget and passing.
REASONS: tuple[tuple[str, str | None], ...] = (
    ("provider excluded", None),
    ("region excluded", None),
    ("no GPU", None),
    ("different GPU model", "not (s.gpu_model_key = any(%(gpu_models)s))"),
    ("different instance type", "not (lower(s.instance_type) = any(%(instance_types)s))"),
    (
        "not a CUDA GPU",
        "s.gpu_model not in (select gpu_model from cloud.gpus where vendor = 'NVIDIA')",
    ),
    ("too many GPUs", "s.gpu_count > %(max_gpu_count)s"),
    ("no on-demand price", None),
    ("no spot price", None),
    ("too few vCPUs", "coalesce(s.vcpus, 0) < %(min_vcpu)s"),
    ("too little RAM", "coalesce(s.memory_gb, 0) < %(min_ram_gb)s"),
    ("accelerator memory unknown", "s.gpu_model is not null and s.gpu_memory_gb_total <= 0"),
    ("too little VRAM", "s.gpu_memory_gb_total < %(min_vram_gb)s"),
    ("too little VRAM per GPU", "s.gpu_slice_gb < %(min_vram_per_gpu_gb)s"),
    ("fractional GPU too small for the model", "s.gpu_count < 1 and s.tp is null"),
    ("model does not fit", "s.tp is null"),
    ("over budget", None),
)
CODES = {reason: code for code, (reason, _) in enumerate(REASONS)}
# Closest misses first: for memory reasons the biggest boxes, otherwise the cheapest.
_MEMORY_REASONS = ("too little VRAM", "too little VRAM per GPU", "model does not fit",
                   "fractional GPU too small for the model")


def active_reasons(query: ComputeQuery, fit: ModelFit | None) -> list[str]:
    """Return the rejection reasons that apply to ``query``, in the order they are checked."""
    active = {
        "provider excluded": query.providers is not None,
        "region excluded": query.regions is not None,
        "no GPU": query.needs_accelerator,
        "different GPU model": query.gpu_model is not None,
        "different instance type": query.instance_types is not None,
        # Naming a GPU model is asking for it, whatever its vendor.
        "not a CUDA GPU": query.needs_accelerator
        and not query.include_non_cuda
        and query.gpu_model is None,
        "too many GPUs": query.max_gpu_count is not None,
        "no on-demand price": not query.spot,
        "no spot price": query.spot,
        "too few vCPUs": query.min_vcpu is not None,
        "too little RAM": query.min_ram_gb is not None,
        "accelerator memory unknown": fit is not None
        or bool(query.min_vram_gb or query.min_vram_per_gpu_gb),
        "too little VRAM": query.min_vram_gb is not None,
        "too little VRAM per GPU": query.min_vram_per_gpu_gb is not None,
        "fractional GPU too small for the model": fit is not None,
        "model does not fit": fit is not None,
        "over budget": query.max_price_monthly is not None,
    }
    return [reason for reason, _ in REASONS if active[reason]]


def _tp_sql(fit: ModelFit | None) -> str:
    # The smallest TP degree whose shard fits one GPU's usable memory; a fractional GPU
    # offers only its slice and no tensor parallelism.
    if fit is None:
        return "null::int"
    whole = " ".join(
        f"when i.gpu_count >= {tp} and %(need_{tp})s::float8 <= "
        f"i.gpu_memory_gb_per_gpu * %(util)s then {tp}"
        for tp in sorted(fit.per_gpu_gb_by_tp)
    )
    return (
        f"case when i.gpu_count >= 1 then (case {whole} end) "
        "when i.gpu_count > 0 and %(need_1)s::float8 <= i.gpu_memory_gb_total * %(util)s "
        "then 1 end"
    )


def _shape_reason_sql(query: ComputeQuery, fit: ModelFit | None) -> str:
    # The first failed check that holds for every row of a shape, as its code; null if none.
    conditions = dict(REASONS)
    whens = " ".join(
        f"when {conditions[reason]} then {CODES[reason]}"
        for reason in active_reasons(query, fit)
        if conditions[reason] is not None
    )
    return f"case {whens} end" if whens else "null::int"


def _split_sql(query: ComputeQuery, fit: ModelFit | None) -> dict[int, tuple[str, str]]:
    """Return, per reason a checked shape can fail, (rows it rejects, whether it rejects any).

    Only a checked shape's rows in the regions asked for (``rows_in``) are its to split:
    all of them if a shape check before the price check fails; those without a price; all
    the priced ones if a later shape check fails; the priced ones over budget; the rest pass.
    """
    no_price = CODES[_no_price_reason(query)]
    split: dict[int, tuple[str, str]] = {}
    for reason in active_reasons(query, fit):
        code = CODES[reason]
        if reason in _OUT_OF_SCOPE:
            continue
        if code == no_price:
            split[code] = (
                "s.rows_in - s.priced",
                f"(s.reason is null or s.reason > {code}) and s.rows_in > s.priced",
            )
        elif reason == "over budget":
            split[code] = ("s.priced - s.passing", "s.reason is null and s.priced > s.passing")
        elif code < no_price:
            split[code] = ("s.rows_in", f"s.reason = {code}")
        else:
            split[code] = ("s.priced", f"s.reason = {code} and s.priced > 0")
    return split


# Rows rejected before any shape check: they are counted from cloud.instance_row_counts.
_OUT_OF_SCOPE = ("provider excluded", "region excluded", "no GPU")


def _scope_sql(query: ComputeQuery) -> str:
    # The shapes checked one by one: the providers asked for, and when a GPU is needed only
    # shapes with one. (Regions: _shapes_in_regions_sql returns only shapes present there.)
    conditions = []
    if query.providers is not None:
        conditions.append("i.provider_key = any(%(providers)s)")
    if query.needs_accelerator:
        conditions.append("i.gpu_model is not null")
    return "where " + " and ".join(conditions) if conditions else ""


def _unchecked_sql(query: ComputeQuery) -> dict[int, tuple[str, str]]:
    """Return, per reason for rows outside the checked shapes, (count, example) conditions.

    The count condition is asked of a provider/region/GPU summary row ``r``
    (cloud.instance_row_counts), the example condition of a shape ``g``; a shape is in a
    region when one of its rows is.
    """
    def in_regions(negate: str) -> str:
        return (
            "exists (select 1 from cloud.instance_shape_rows x where x.shape_id = g.shape_id "
            f"and {negate}(x.region_key = any(%(regions)s)))"
        )

    provider_ok, region_ok = ("true", "true"), ("true", "true")
    unchecked: dict[int, tuple[str, str]] = {}
    if query.providers is not None:
        unchecked[CODES["provider excluded"]] = (
            "not (r.provider_key = any(%(providers)s))",
            "not (g.provider_key = any(%(providers)s))",
        )
        provider_ok = ("r.provider_key = any(%(providers)s)", "g.provider_key = any(%(providers)s)")
    if query.regions is not None:
        unchecked[CODES["region excluded"]] = (
            f"{provider_ok[0]} and not (r.region_key = any(%(regions)s))",
            f"{provider_ok[1]} and {in_regions('not ')}",
        )
        region_ok = ("r.region_key = any(%(regions)s)", in_regions(""))
    if query.needs_accelerator:
        unchecked[CODES["no GPU"]] = (
            f"{provider_ok[0]} and {region_ok[0]} and not r.has_gpu",
            f"{provider_ok[1]} and {region_ok[1]} and g.gpu_model is null",
        )
    return unchecked


def _no_price_reason(query: ComputeQuery) -> str:
    return "no spot price" if query.spot else "no on-demand price"


def _shapes_in_regions_sql(basis: str, price_column: str) -> str:
    # The shapes with a row in the regions asked for, with rows_in and the price arrays of the
    # basis searched over those regions only (the all-region arrays are not read). One
    # ordering for all three aggregates: Postgres sorts the rows once, not per aggregate.
    # (It replaces migration 0007's cloud.instance_shapes_in, which built both bases; that
    # function stays until no running version calls it, so a rolling upgrade keeps working.)
    price, order = f"r.{price_column}", f"order by r.{price_column}, r.region"
    priced = f"filter (where r.{price_column} is not null), '{{}}')"
    return f"""(
        select i.shape_id, i.type_key, i.provider, i.instance_type, i.gpu_model, i.gpu_count,
               i.gpu_memory_gb_per_gpu, i.gpu_memory_gb_total, i.vcpus, i.memory_gb, i.row_count,
               i.cheapest_on_demand, i.cheapest_spot, i.provider_key, i.gpu_model_key,
               i.gpu_slice_gb, p.rows_in, p.prices as {basis}_prices,
               p.monthly as {basis}_monthly, p.regions as {basis}_regions
        from cloud.instance_shapes i join (
            select r.shape_id, count(*)::int as rows_in,
                   coalesce(array_agg({price} {order}) {priced} as prices,
                   coalesce(array_agg({price} * {HOURS_PER_MONTH} {order}) {priced} as monthly,
                   coalesce(array_agg(r.region {order}) {priced} as regions
            from cloud.instance_shape_rows r where r.region_key = any(%(regions)s)
            group by r.shape_id
        ) p using (shape_id)
    )"""


def build_search_sql(query: ComputeQuery, fit: ModelFit | None) -> str:
    """Compose the one search statement from constant fragments for the active filters.

    It reads instance shapes (migration 0007), not rows, and splits each shape's rows between
    the reasons by counting (``_split_sql``); a budget is a binary search of the sorted
    monthly prices. Reasons travel as their index in ``REASONS``.
    """
    basis = "spot" if query.spot else "on_demand"
    price_column = "spot_price_hourly_usd" if query.spot else "price_hourly_usd"
    shapes = (
        _shapes_in_regions_sql(basis, price_column) if query.regions else "cloud.instance_shapes"
    )
    passing = (
        f"width_bucket(%(max_price_monthly)s::float8, i.{basis}_monthly)"
        if query.max_price_monthly is not None
        else f"cardinality(i.{basis}_prices)"
    )
    # One row per type at its cheapest region, or every passing region when regions are asked.
    # Then only the top_k shapes by their cheapest row can hold the top_k rows (a shape's
    # rows differ only in price and region, so its cheapest row ranks first among them).
    if query.regions:
        kept_prices = "s.prices, s.price_regions"
        passing_prices = "unnest(s.prices[1:s.passing], s.price_regions[1:s.passing])"
        passing_shapes = (
            "(select * from s where s.reason is null and s.passing > 0 order by s.prices[1], "
            "s.gpu_memory_gb_total desc, s.gpu_count desc, s.provider, s.instance_type, "
            "s.price_regions[1] limit %(top_k)s) s"
        )
    else:
        kept_prices = "s.prices[1] as first_price, s.price_regions[1] as first_region"
        passing_prices = "(select s.first_price, s.first_region)"
        passing_shapes = "(select * from s where s.reason is null and s.passing > 0) s"
    # A type's rows in one region are one row; without regions a type whose regions differ
    # in more than price (two shapes) still gets one row.
    one_per = "" if query.regions else "distinct on (c.type_key)"
    one_per_order = "" if query.regions else "order by c.type_key, c.price, c.region"
    split, unchecked = _split_sql(query, fit), _unchecked_sql(query)
    counts = ", ".join(
        [f"'{code}', sum({rows}) filter (where {exists})" for code, (rows, exists) in split.items()]
        + [f"'{code}', (select sum(r.row_count) from cloud.instance_row_counts r where {where})"
           for code, (where, _) in unchecked.items()]
    )
    # Closest misses first: for memory reasons the biggest boxes, for over budget the cheapest
    # price over it, for a missing price none (names decide), otherwise the cheapest region.
    budget, no_price = CODES["over budget"], CODES[_no_price_reason(query)]
    memory = {CODES[r] for r in _MEMORY_REASONS}
    closest = {
        code: "-s.gpu_memory_gb_total" if code in memory
        else "s.next_price" if code == budget
        else "null::float8" if code == no_price
        else "s.cheapest"
        for code in split
    }
    branches = [
        f"(select {code} as reason, s.type_key, {closest[code]} as rank_key, s.provider, "
        f"s.instance_type from s where {exists} order by 3 nulls last, 4, 5 "
        "limit %(examples)s)"
        for code, (_, exists) in split.items()
    ]
    # The cheapest unchecked shapes, read cheapest first from an index until enough match.
    cheapest = f"g.cheapest_{basis}"
    branches += [
        f"(select {code}, g.type_key, {cheapest}, g.provider, g.instance_type "
        f"from cloud.instance_shapes g where {where} "
        f"order by {cheapest}, g.provider, g.instance_type limit %(examples)s)"
        for code, (_, where) in unchecked.items()
    ]
    examples = " union all ".join(branches) or (
        "select null::int, null::bigint, null::float8, null::text, null::text where false"
    )
    return f"""
with s as materialized (
    -- Only what the later steps read: rows this wide are copied into the CTE's store.
    select s.shape_id, s.type_key, s.provider, s.instance_type, s.gpu_count,
           s.gpu_memory_gb_total, s.row_count, s.rows_in, s.tp, s.priced, s.passing,
           s.cheapest, s.prices[s.passing + 1] as next_price, {kept_prices},
           {_shape_reason_sql(query, fit)} as reason
    from (
        select i.*, {_tp_sql(fit)} as tp, cardinality(i.{basis}_prices) as priced,
               {passing} as passing, i.cheapest_{basis} as cheapest,
               i.{basis}_prices as prices, i.{basis}_regions as price_regions
        from {shapes} i {_scope_sql(query)}
        offset 0  -- computed once per shape, not once per use in the select list above
    ) s
),
candidates as (
    select {one_per} c.*
    from (
        select s.type_key, s.provider, s.instance_type, s.gpu_memory_gb_total as vram,
               s.gpu_count as gpus, s.tp, p.price, p.region
        from {passing_shapes} cross join lateral {passing_prices} p(price, region)
    ) c
    {one_per_order}
),
top as (
    select t.price, t.vram, t.gpus, t.tp, i.*
    from (
        select * from candidates
        order by price, vram desc, gpus desc, provider, instance_type, region
        limit %(top_k)s
    ) t
    join cloud.instances i
      on i.provider = t.provider and i.instance_type = t.instance_type and i.region = t.region
),
misses as (
    select m.reason, m.rank_in_reason, i.*
    from (
        select e.*, row_number() over (
                   partition by e.reason order by e.rank_key nulls last, e.provider, e.instance_type
               ) as rank_in_reason
        from ({examples}) e
    ) m
    cross join lateral (
        -- The type's cheapest region stands for it.
        select * from cloud.instances i where i.type_key = m.type_key
        order by i.{price_column} nulls last, i.region limit 1
    ) i
    where m.rank_in_reason <= %(examples)s
)
select
    (select coalesce(jsonb_agg(jsonb_build_object(
                'provider', t.provider, 'instance_type', t.instance_type, 'region', t.region,
                'vcpus', t.vcpus, 'memory_gb', t.memory_gb, 'gpu_model', t.gpu_model,
                'gpu_count', t.gpu_count, 'gpu_memory_gb_per_gpu', t.gpu_memory_gb_per_gpu,
                'gpu_memory_gb_total', t.gpu_memory_gb_total,
                'price_hourly_usd', t.price_hourly_usd,
                'spot_price_hourly_usd', t.spot_price_hourly_usd,
                'catalog_source', t.catalog_source, 'price', t.price, 'tp', t.tp,
                'vendor', g.vendor, 'memory_bandwidth_gbps', g.memory_bandwidth_gbps,
                'fp16_bf16_dense_tflops', g.fp16_bf16_dense_tflops,
                'fp8_dense_tflops', g.fp8_dense_tflops, 'int8_dense_tops', g.int8_dense_tops)
            order by t.price, t.vram desc, t.gpus desc, t.provider, t.instance_type, t.region),
            '[]')
     from top t left join cloud.gpus g on g.gpu_model = t.gpu_model) as results,
    (select coalesce(jsonb_agg(jsonb_build_object(
                'reason', m.reason, 'provider', m.provider, 'instance_type', m.instance_type,
                'region', m.region, 'gpu_model', m.gpu_model, 'gpu_count', m.gpu_count,
                'gpu_memory_gb_total', m.gpu_memory_gb_total,
                'price_hourly_usd', m.price_hourly_usd)
            order by m.reason, m.rank_in_reason), '[]')
     from misses m) as examples,
    (select jsonb_build_object({counts}{', ' if counts else ''}
                               '-1', sum(s.passing) filter (where s.reason is null))
     from s) as counts
"""


def search_params(query: ComputeQuery, fit: ModelFit | None) -> dict[str, Any]:
    """Return the bound parameters for ``build_search_sql``."""
    params: dict[str, Any] = {
        "providers": query.providers,
        "regions": query.regions,
        "gpu_models": query.gpu_model,
        "instance_types": query.instance_types,
        "max_gpu_count": query.max_gpu_count,
        "min_vcpu": query.min_vcpu,
        "min_ram_gb": query.min_ram_gb,
        "min_vram_gb": query.min_vram_gb,
        "min_vram_per_gpu_gb": query.min_vram_per_gpu_gb,
        "max_price_monthly": query.max_price_monthly,
        "hours": HOURS_PER_MONTH,
        "top_k": query.top_k,
        "examples": EXAMPLES_PER_REASON,
        "util": query.gpu_memory_utilization,
    }
    for tp, need in (fit.per_gpu_gb_by_tp if fit else {}).items():
        params[f"need_{tp}"] = need
    return params
