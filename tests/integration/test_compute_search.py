"""Compute search against the real catalog, checked by an independent scan of the CSV files."""

import csv
from collections import Counter

import psycopg
import pytest

from core.db import connection_kwargs
from core.settings import Settings
from tools.compute import ComputeQuery, search_instances
from tools.compute_fit import UnknownModelError
from tools.configuration import ConfigurationQuery, search_catalog
from tools.sizing import DATA_DIR, Workload, default_architectures, vram_requirement

pytestmark = pytest.mark.integration

HOURS = 730
LLAMA_70B = "meta-llama/Llama-3.1-70B-Instruct"


def _num(text):
    return float(text) if text != "" else None


def _load_rows():
    with (DATA_DIR / "gpus.csv").open(newline="") as handle:
        vendors = {row["gpu_model"]: row["vendor"] for row in csv.DictReader(handle)}
    with (DATA_DIR / "instances.csv").open(newline="") as handle:
        rows = []
        for raw in csv.DictReader(handle):
            rows.append(
                {
                    "provider": raw["provider"],
                    "instance_type": raw["instance_type"],
                    "region": raw["region"],
                    "vcpus": _num(raw["vcpus"]) or 0.0,
                    "memory_gb": _num(raw["memory_gb"]) or 0.0,
                    "gpu_model": raw["gpu_model"] or None,
                    "vendor": vendors.get(raw["gpu_model"]),
                    "gpu_count": _num(raw["gpu_count"]) or 0.0,
                    "per_gpu": _num(raw["gpu_memory_gb_per_gpu"]),
                    "vram": _num(raw["gpu_memory_gb_total"]) or 0.0,
                    "price": _num(raw["price_hourly_usd"]),
                    "spot": _num(raw["spot_price_hourly_usd"]),
                }
            )
    return rows


ROWS = _load_rows()


def _cuda(row):
    return row["gpu_model"] is not None and row["vendor"] == "NVIDIA"


def _rank_key(row, price_field="price"):
    return (
        row[price_field],
        -row["vram"],
        -row["gpu_count"],
        row["provider"],
        row["instance_type"],
        row["region"],
    )


def _one_per_type(rows, price_field="price"):
    best = {}
    for row in sorted(rows, key=lambda r: _rank_key(r, price_field)):
        best.setdefault((row["provider"], row["instance_type"]), row)
    return sorted(best.values(), key=lambda r: _rank_key(r, price_field))


def _ids(rows):
    return [(r["provider"], r["instance_type"], r["region"]) for r in rows]


def _result_ids(result):
    return [(r.provider, r.instance_type, r.region) for r in result.results]


async def test_cheapest_gpu_with_24gb_then_same_first_instance_as_csv_scan(adb, ingested):
    expected = _one_per_type(
        [r for r in ROWS if _cuda(r) and r["price"] is not None and r["vram"] >= 24]
    )

    result = await search_instances(adb, ComputeQuery(gpu_needed=True, min_vram_gb=24))

    assert _result_ids(result)[0] == _ids(expected)[0]
    assert result.results[0].price_hourly_usd == expected[0]["price"]


async def test_combined_filters_then_top_ten_match_csv_scan_in_order(adb, ingested):
    def passes(r):
        return (
            r["provider"] in ("aws", "gcp")
            and r["region"] in ("us-east-1", "us-central1", "us-west-2")
            and _cuda(r)
            and r["price"] is not None
            and r["vcpus"] >= 8
            and r["memory_gb"] >= 32
            and min(r["per_gpu"], r["vram"]) >= 20
            and r["price"] * HOURS <= 3000
        )

    expected = sorted((r for r in ROWS if passes(r)), key=_rank_key)[:10]
    query = ComputeQuery(
        gpu_needed=True,
        providers=["AWS", "gcp"],
        regions=["us-east-1", "us-central1", "us-west-2"],
        min_vcpu=8,
        min_ram_gb=32,
        min_vram_per_gpu_gb=20,
        max_price_monthly=3000,
        top_k=10,
    )

    result = await search_instances(adb, query)

    assert expected
    assert _result_ids(result) == _ids(expected)


async def test_rejected_counts_then_each_row_counted_once_by_its_first_failed_filter(
    adb, ingested
):
    def reason(r):
        if r["provider"] not in ("aws", "gcp"):
            return "provider excluded"
        if r["gpu_model"] is None:
            return "no GPU"
        if r["vendor"] != "NVIDIA":
            return "not a CUDA GPU"
        if r["price"] is None:
            return "no on-demand price"
        if r["vram"] < 40:
            return "too little VRAM"
        if r["price"] * HOURS > 5000:
            return "over budget"
        return None

    expected = Counter(reason(r) for r in ROWS)
    accepted = expected.pop(None)
    query = ComputeQuery(
        gpu_needed=True, providers=["aws", "gcp"], min_vram_gb=40, max_price_monthly=5000
    )

    result = await search_instances(adb, query)

    assert {k: v.count for k, v in result.rejected.items()} == dict(expected)
    assert result.accepted == accepted
    assert sum(v.count for v in result.rejected.values()) + result.accepted == len(ROWS)
    assert result.considered == len(ROWS)


async def test_without_region_filter_then_one_row_per_instance_type_at_its_cheapest_region(
    adb, ingested
):
    result = await search_instances(adb, ComputeQuery(gpu_model="A100-80GB", top_k=50))

    types = [(r.provider, r.instance_type) for r in result.results]
    assert len(types) == len(set(types))
    for row in result.results:
        cheapest = min(
            r["price"]
            for r in ROWS
            if (r["provider"], r["instance_type"]) == (row.provider, row.instance_type)
            and r["price"] is not None
        )
        assert row.price_hourly_usd == cheapest


async def test_region_filter_then_one_row_per_instance_type_and_region(adb, ingested):
    query = ComputeQuery(gpu_model="T4", regions=["us-east1", "us-central1"], top_k=50)

    result = await search_instances(adb, query)

    regions = {r.region for r in result.results}
    types = Counter((r.provider, r.instance_type) for r in result.results)
    assert regions == {"us-east1", "us-central1"}
    assert max(types.values()) == 2


async def test_spot_then_ranked_and_budgeted_on_spot_price(adb, ingested):
    expected = _one_per_type(
        [r for r in ROWS if _cuda(r) and r["spot"] is not None and r["spot"] * HOURS <= 400],
        "spot",
    )

    result = await search_instances(
        adb, ComputeQuery(gpu_needed=True, spot=True, max_price_monthly=400, top_k=5)
    )

    assert _result_ids(result) == _ids(expected[:5])
    assert all(r.price_basis == "spot" for r in result.results)
    assert result.results[0].price_monthly_usd == round(expected[0]["spot"] * HOURS, 2)


async def test_blank_on_demand_price_then_rejected_unless_spot_asked_and_spot_price_exists(
    adb, ingested
):
    p5e = [r for r in ROWS if r["instance_type"] == "p5e.48xlarge"]

    on_demand = await search_instances(adb, ComputeQuery(gpu_model="H200", top_k=50))
    spot = await search_instances(adb, ComputeQuery(gpu_model="H200", spot=True, top_k=50))

    assert on_demand.rejected["no on-demand price"].count == len(p5e)
    assert "p5e.48xlarge" not in {r.instance_type for r in on_demand.results}
    spot_row = next(r for r in spot.results if r.instance_type == "p5e.48xlarge")
    assert spot_row.price_hourly_usd is None
    assert spot_row.spot_price_hourly_usd == min(r["spot"] for r in p5e if r["spot"])


async def test_h100_over_budget_then_rejection_names_budget_with_cheapest_h100_example(
    adb, ingested
):
    h100 = sorted((r for r in ROWS if r["gpu_model"] == "H100" and r["price"]), key=_rank_key)
    budget = h100[0]["price"] * HOURS - 1

    result = await search_instances(
        adb, ComputeQuery(gpu_model="H100", max_price_monthly=budget)
    )

    assert result.results == []
    rejection = result.rejected["over budget"]
    assert rejection.count == len(h100)
    assert (rejection.examples[0].provider, rejection.examples[0].instance_type) == (
        h100[0]["provider"],
        h100[0]["instance_type"],
    )


def _llama_needs(workload):
    arch = default_architectures()[LLAMA_70B]
    return {tp: vram_requirement(arch, workload, tp).per_gpu_gb for tp in (1, 2, 4, 8)}


def _fits(row, needs, utilization=0.9):
    if row["gpu_count"] >= 1:
        return any(
            tp <= row["gpu_count"] and need <= row["per_gpu"] * utilization
            for tp, need in needs.items()
        )
    return row["gpu_count"] > 0 and needs[1] <= row["vram"] * utilization


async def test_model_70b_bf16_8k_32_then_cheapest_fitting_cuda_instance_first(adb, ingested):
    workload = Workload(dtype="bf16", context_length=8192, concurrent_sequences=32)
    needs = _llama_needs(workload)
    expected = _one_per_type(
        [r for r in ROWS if _cuda(r) and r["price"] is not None and _fits(r, needs)]
    )
    query = ComputeQuery(
        model_id="Llama-3.1-70B-Instruct", dtype="bf16", context_length=8192, concurrency=32
    )

    result = await search_instances(adb, query)

    assert _result_ids(result)[:3] == _ids(expected[:3])
    first = result.results[0]
    assert first.tensor_parallel is not None and first.tensor_parallel <= first.gpu_count
    assert first.est_tokens_per_s > 0 and first.usd_per_1m_tokens > 0
    assert result.fit.per_gpu_gb_by_tp == pytest.approx(needs)


async def test_model_70b_then_fractional_gpus_rejected_with_their_own_reason(adb, ingested):
    fractional = [r for r in ROWS if _cuda(r) and 0 < r["gpu_count"] < 1 and r["price"]]

    result = await search_instances(adb, ComputeQuery(model_id=LLAMA_70B, dtype="bf16"))

    assert result.rejected["fractional GPU too small for the model"].count == len(fractional)


async def test_model_then_tpu_and_neuron_rejected_as_not_cuda_unless_included(adb, ingested):
    non_cuda = [r for r in ROWS if r["gpu_model"] and r["vendor"] != "NVIDIA"]

    default = await search_instances(adb, ComputeQuery(model_id=LLAMA_70B, dtype="int4"))
    included = await search_instances(
        adb, ComputeQuery(model_id=LLAMA_70B, dtype="int4", include_non_cuda=True)
    )

    assert default.rejected["not a CUDA GPU"].count == len(non_cuda)
    assert "not a CUDA GPU" not in included.rejected
    assert included.rejected["accelerator memory unknown"].count == sum(
        1 for r in non_cuda if r["vram"] == 0 and r["price"]
    )


async def test_model_without_architecture_row_then_sized_on_one_gpu_from_params(adb, ingested):
    query = ComputeQuery(model_id="stabilityai/stable-diffusion-xl-base-1.0", top_k=3)

    result = await search_instances(adb, query)

    assert list(result.fit.per_gpu_gb_by_tp) == [1]
    # 3.5e9 params × 2 bytes × 1.2 = 8.4e9 bytes = 7.82 GiB.
    assert result.fit.per_gpu_gb_by_tp[1] == pytest.approx(3.5e9 * 2 * 1.2 / 2**30)
    assert result.results and all(r.tensor_parallel == 1 for r in result.results)


async def test_unknown_model_then_unknown_model_error(adb, ingested):
    with pytest.raises(UnknownModelError, match="unknown model"):
        await search_instances(adb, ComputeQuery(model_id="acme/not-a-model-7b"))


async def test_every_result_then_carries_the_catalog_source_of_its_row(adb, ingested):
    with (DATA_DIR / "instances.csv").open(newline="") as handle:
        sources = {
            (r["provider"], r["instance_type"], r["region"]): r["catalog_source"]
            for r in csv.DictReader(handle)
        }

    result = await search_instances(adb, ComputeQuery(top_k=50))

    assert len(result.results) == 50
    assert all(r.source == sources[r.provider, r.instance_type, r.region] for r in result.results)


async def test_model_for_fine_tuning_then_fitting_instances_without_throughput(adb, ingested):
    query = ComputeQuery(model_id="meta-llama/Llama-3.1-8B-Instruct", task="qlora", top_k=3)

    result = await search_instances(adb, query)

    assert len(result.results) == 3
    assert all(r.tensor_parallel and r.est_tokens_per_s is None for r in result.results)


def _reference_reason(row, query):
    """The first failed filter of one CSV row, checked in REASONS order, written from the spec."""
    price = row["spot"] if query.spot else row["price"]
    needs_gpu = query.needs_accelerator
    checks = [
        ("provider excluded", query.providers and row["provider"] not in query.providers),
        ("region excluded", query.regions and row["region"].lower() not in query.regions),
        ("no GPU", needs_gpu and row["gpu_model"] is None),
        (
            "different GPU model",
            query.gpu_model and (row["gpu_model"] or "").lower() not in query.gpu_model,
        ),
        (
            "different instance type",
            query.instance_types and row["instance_type"].lower() not in query.instance_types,
        ),
        (
            "not a CUDA GPU",
            needs_gpu and not query.include_non_cuda and not query.gpu_model and not _cuda(row),
        ),
        (
            "too many GPUs",
            query.max_gpu_count is not None and row["gpu_count"] > query.max_gpu_count,
        ),
        ("no on-demand price", not query.spot and price is None),
        ("no spot price", query.spot and price is None),
        ("too few vCPUs", query.min_vcpu is not None and row["vcpus"] < query.min_vcpu),
        ("too little RAM", query.min_ram_gb is not None and row["memory_gb"] < query.min_ram_gb),
        (
            "accelerator memory unknown",
            bool(query.min_vram_gb or query.min_vram_per_gpu_gb)
            and row["gpu_model"] is not None
            and row["vram"] <= 0,
        ),
        ("too little VRAM", query.min_vram_gb is not None and row["vram"] < query.min_vram_gb),
        (
            "too little VRAM per GPU",
            query.min_vram_per_gpu_gb is not None
            and min(row["per_gpu"] or row["vram"], row["vram"]) < query.min_vram_per_gpu_gb,
        ),
        (
            "over budget",
            query.max_price_monthly is not None
            and price is not None  # a row without a price failed earlier
            and price * HOURS > query.max_price_monthly,
        ),
    ]
    return next((reason for reason, failed in checks if failed), None)


EQUIVALENCE_QUERIES = [
    ComputeQuery(),
    ComputeQuery(gpu_needed=True, min_vram_gb=24, top_k=20),
    ComputeQuery(gpu_needed=True, providers=["aws", "gcp"], max_price_monthly=5000, top_k=5),
    ComputeQuery(gpu_model="H100", spot=True, max_price_monthly=20000, top_k=8),
    ComputeQuery(min_vcpu=8, min_ram_gb=32, regions=["us-east-1", "eastus"], top_k=15),
    ComputeQuery(
        gpu_needed=True,
        providers=["azure", "gcp"],
        regions=["eastus", "westeurope", "us-central1", "europe-west4"],
        max_price_monthly=9000,
        spot=True,
        top_k=25,
    ),
    ComputeQuery(
        gpu_needed=True, include_non_cuda=True, min_vram_per_gpu_gb=40, max_price_monthly=25000
    ),
    ComputeQuery(
        gpu_model=["A100", "A100-80GB"], max_gpu_count=2, providers=["gcp", "azure"], top_k=10
    ),
    ComputeQuery(instance_types=["p5.48xlarge", "a2-highgpu-1g", "g5.xlarge"], top_k=10),
]


async def _connection(pg_url, prepared_statements):
    settings = Settings(_env_file=None, db_prepared_statements=prepared_statements)
    return await psycopg.AsyncConnection.connect(pg_url, **connection_kwargs(settings))


@pytest.fixture(params=["off", "on"], ids=["unprepared", "prepared"])
async def search_conn(pg_url, request):
    """A connection that does not prepare the search, or one that does (generic plan)."""
    conn = await _connection(pg_url, request.param)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
async def prepared_conn(pg_url):
    conn = await _connection(pg_url, "on")
    try:
        yield conn
    finally:
        await conn.close()


@pytest.mark.parametrize("query", EQUIVALENCE_QUERIES, ids=lambda q: q.model_dump_json(
    exclude_defaults=True))
async def test_filter_mix_then_counts_and_ranking_equal_a_row_by_row_scan_of_the_csv(
    search_conn, ingested, query
):
    price_field = "spot" if query.spot else "price"
    reasons = {id(row): _reference_reason(row, query) for row in ROWS}
    passing = [row for row in ROWS if reasons[id(row)] is None]
    if query.regions:  # one row per type and region: every passing row stands
        expected = sorted(passing, key=lambda r: _rank_key(r, price_field))
    else:
        expected = _one_per_type(passing, price_field)
    counts = Counter(reason for reason in reasons.values() if reason is not None)

    # Twice: a prepared statement's second run is the one that reuses its plan.
    await search_instances(search_conn, query)
    result = await search_instances(search_conn, query)

    assert _result_ids(result) == _ids(expected[: query.top_k])
    assert {k: v.count for k, v in result.rejected.items()} == dict(counts)
    assert result.accepted == len(passing)
    for reason, rejection in result.rejected.items():
        assert 0 < len(rejection.examples) <= 3, reason


async def test_catalog_row_changed_then_next_search_sees_it_without_a_rebuild_step(adb, ingested):
    # The search reads materialized shapes; a trigger keeps them in step with every write.
    row = next(r for r in ROWS if r["gpu_model"] == "H100" and r["price"])
    query = ComputeQuery(gpu_needed=True, top_k=1)

    async with adb.transaction(force_rollback=True):
        await adb.execute(
            "update cloud.instances set price_hourly_usd = 0.0001 "
            "where provider = %s and instance_type = %s and region = %s",
            (row["provider"], row["instance_type"], row["region"]),
        )
        changed = await search_instances(adb, query)
    restored = await search_instances(adb, query)

    assert _result_ids(changed) == [(row["provider"], row["instance_type"], row["region"])]
    assert _result_ids(restored) != _result_ids(changed)


async def _prepared_plans(conn):
    cursor = await conn.execute(
        "select generic_plans, custom_plans from pg_prepared_statements"
        " where statement like '%%instance_shapes%%'"
    )
    return [(r["generic_plans"], r["custom_plans"]) for r in await cursor.fetchall()]


async def _plan_cache_mode(conn):
    return (await (await conn.execute("show plan_cache_mode")).fetchone())["plan_cache_mode"]


async def test_prepared_search_then_plan_reused_and_no_other_statement_forced_generic(
    prepared_conn, ingested
):
    query = ComputeQuery(gpu_needed=True, min_vram_gb=24)

    for _ in range(3):
        await search_instances(prepared_conn, query)

    assert await _prepared_plans(prepared_conn) == [(3, 0)]
    # The generic-plan setting lived only in the search's own implicit transaction.
    assert await _plan_cache_mode(prepared_conn) == "auto"


async def test_search_inside_a_caller_transaction_then_not_prepared_and_setting_untouched(
    prepared_conn, ingested
):
    async with prepared_conn.transaction():
        result = await search_instances(prepared_conn, ComputeQuery(gpu_needed=True, top_k=3))
        mode = await _plan_cache_mode(prepared_conn)

    assert len(result.results) == 3
    assert mode == "auto"
    assert await _prepared_plans(prepared_conn) == []


async def test_price_changed_after_a_prepared_search_then_the_next_one_sees_it(
    prepared_conn, adb, ingested
):
    row = next(r for r in ROWS if r["gpu_model"] == "H100" and r["price"])
    key = (row["provider"], row["instance_type"], row["region"])
    query = ComputeQuery(gpu_needed=True, top_k=1)
    update = (
        "update cloud.instances set price_hourly_usd = %s "
        "where provider = %s and instance_type = %s and region = %s"
    )
    before = await search_instances(prepared_conn, query)
    try:
        # Committed by another session, as an ingestion would: the cached plan must not
        # keep serving the shapes it was planned against.
        await adb.execute(update, (0.0001, *key))
        changed = await search_instances(prepared_conn, query)
    finally:
        await adb.execute(update, (row["price"], *key))
    restored = await search_instances(prepared_conn, query)

    assert _result_ids(changed) == [key]
    assert _result_ids(restored) == _result_ids(before) != [key]


def _dense_tflops():
    with (DATA_DIR / "gpus.csv").open(newline="") as handle:
        return {r["gpu_model"]: _num(r["fp16_bf16_dense_tflops"]) for r in csv.DictReader(handle)}


@pytest.mark.parametrize("query", [
    ComputeQuery(gpu_needed=True, providers=["aws", "gcp"], min_vram_per_gpu_gb=24,
                 rank="run_cost", top_k=5),
    ComputeQuery(gpu_needed=True, min_vram_gb=320, spot=True, rank="run_cost", top_k=3),
], ids=["aws-gcp-24gb", "node-320gb-spot"])
async def test_rank_by_run_cost_then_the_cheapest_training_run_first_not_the_cheapest_hour(
    adb, ingested, query
):
    # A run costs hourly / (GPUs × dense rate) times one constant (6·N·D at one MFU).
    price_field = "spot" if query.spot else "price"
    tflops = _dense_tflops()
    passing = [row for row in ROWS if _reference_reason(row, query) is None]
    by_hour = _one_per_type(passing, price_field)

    def run_cost(row):
        rate = tflops.get(row["gpu_model"])
        return row[price_field] / (row["gpu_count"] * rate) if rate else float("inf")

    expected = sorted(by_hour, key=run_cost)

    result = await search_instances(adb, query)

    assert _result_ids(result) == _ids(expected[: query.top_k])
    assert _ids(expected[: query.top_k]) != _ids(by_hour[: query.top_k])


async def test_rank_by_run_cost_of_a_short_job_then_start_up_keeps_big_nodes_out(adb, ingested):
    # 300 dense TFLOP-hours (a LoRA of an 8B model on 10M tokens): every run also bills half
    # an hour of start-up at the instance's full price, so an 8-GPU node does not lead.
    query = ComputeQuery(gpu_needed=True, providers=["aws"], min_vram_per_gpu_gb=24,
                         rank="run_cost", run_work_tflop_hours=300.0, top_k=5)
    tflops = _dense_tflops()
    by_hour = _one_per_type([r for r in ROWS if _reference_reason(r, query) is None], "price")

    def run_cost(row):
        rate = tflops.get(row["gpu_model"])
        hours = 300.0 / (row["gpu_count"] * rate) + 0.5 if rate else float("inf")
        return row["price"] * hours

    expected = sorted(by_hour, key=run_cost)

    result = await search_instances(adb, query)

    assert _result_ids(result) == _ids(expected[: query.top_k])
    assert result.results[0].gpu_count == 1


async def test_catalog_price_changed_then_the_configuration_search_sees_it(adb, ingested):
    # Searches are kept in memory while the catalogs' epoch stands; every write moves it.
    query = ConfigurationQuery(model_id="meta-llama/Llama-3.1-8B-Instruct", concurrency=10)
    before = (await search_catalog(adb, query)).chosen
    assert before is not None

    async with adb.transaction(force_rollback=True):
        await adb.execute(
            "update cloud.instances set price_hourly_usd = price_hourly_usd * 100,"
            " spot_price_hourly_usd = spot_price_hourly_usd * 100"
            " where provider = %s and instance_type = %s",
            (before.provider, before.instance_type),
        )
        dearer = (await search_catalog(adb, query)).chosen
    restored = (await search_catalog(adb, query)).chosen
    async with adb.transaction(force_rollback=True):
        # Another change after the rollback: it must not be answered with the rolled-back
        # change's result (an epoch is never given out twice).
        await adb.execute("update cloud.gpus set memory_gb = memory_gb where false")
        later = (await search_catalog(adb, query)).chosen

    assert dearer is not None
    assert (dearer.provider, dearer.instance_type) != (before.provider, before.instance_type)
    assert restored == before
    assert later == before
