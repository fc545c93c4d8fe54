-- Compute search (tools/compute.py) reads instance *shapes*: the rows of one instance type
-- that share every column but region and price (2,137 shapes for 8,031 rows). Every filter
-- but region, price and budget is a property of the shape; the prices of a shape's regions
-- are kept sorted so that a budget is one binary search (width_bucket) instead of a row scan.

-- Every catalog row with the shape it belongs to, found by region for searches that name one.
create materialized view if not exists cloud.instance_shape_rows as
select
    dense_rank() over (
        order by provider, instance_type, gpu_model, gpu_count, gpu_memory_gb_per_gpu,
                 gpu_memory_gb_total, vcpus, memory_gb
    )::int as shape_id,
    provider, instance_type, region, lower(region collate "C") as region_key,
    price_hourly_usd, spot_price_hourly_usd
from cloud.instances;

create index if not exists instance_shape_rows_region_idx
    on cloud.instance_shape_rows (region_key);

-- The prices of each shape's rows in the regions asked for (every region for null): rows_in
-- counts them; *_regions line up with *_prices, cheapest first, ties by region name; monthly
-- is hourly × 730.
create or replace function cloud.shape_prices(regions text[])
returns table (
    shape_id integer,
    rows_in integer,
    on_demand_prices double precision[],
    on_demand_monthly double precision[],
    on_demand_regions text[],
    spot_prices double precision[],
    spot_monthly double precision[],
    spot_regions text[]
)
language sql stable
as $$
select
    r.shape_id,
    count(*)::int,
    coalesce(array_agg(r.price_hourly_usd order by r.price_hourly_usd, r.region)
             filter (where r.price_hourly_usd is not null), '{}'),
    coalesce(array_agg(r.price_hourly_usd * 730 order by r.price_hourly_usd, r.region)
             filter (where r.price_hourly_usd is not null), '{}'),
    coalesce(array_agg(r.region order by r.price_hourly_usd, r.region)
             filter (where r.price_hourly_usd is not null), '{}'),
    coalesce(array_agg(r.spot_price_hourly_usd order by r.spot_price_hourly_usd, r.region)
             filter (where r.spot_price_hourly_usd is not null), '{}'),
    coalesce(array_agg(r.spot_price_hourly_usd * 730 order by r.spot_price_hourly_usd, r.region)
             filter (where r.spot_price_hourly_usd is not null), '{}'),
    coalesce(array_agg(r.region order by r.spot_price_hourly_usd, r.region)
             filter (where r.spot_price_hourly_usd is not null), '{}')
from cloud.instance_shape_rows r
where regions is null or r.region_key = any(regions)
group by r.shape_id
$$;

-- One row per shape with the prices of all its regions. row_count is every row of the shape;
-- cheapest_* is over every region. The *_key and gpu_slice_gb columns are what the filters
-- compare, computed once here instead of on every search.
create materialized view if not exists cloud.instance_shapes as
select
    s.shape_id, s.type_key, s.provider, s.instance_type, s.gpu_model, s.gpu_count,
    s.gpu_memory_gb_per_gpu, s.gpu_memory_gb_total, s.vcpus, s.memory_gb, s.row_count,
    s.cheapest_on_demand, s.cheapest_spot,
    lower(s.provider collate "C") as provider_key,
    lower(s.gpu_model collate "C") as gpu_model_key,
    -- A fractional GPU's slice is smaller than the GPU.
    least(s.gpu_memory_gb_per_gpu, s.gpu_memory_gb_total) as gpu_slice_gb,
    p.rows_in, p.on_demand_prices, p.on_demand_monthly, p.on_demand_regions,
    p.spot_prices, p.spot_monthly, p.spot_regions
from (
    select r.shape_id, i.type_key, i.provider, i.instance_type, i.gpu_model, i.gpu_count,
           i.gpu_memory_gb_per_gpu, i.gpu_memory_gb_total, i.vcpus, i.memory_gb,
           count(*)::int as row_count,
           min(i.price_hourly_usd) as cheapest_on_demand,
           min(i.spot_price_hourly_usd) as cheapest_spot
    from cloud.instance_shape_rows r
    join cloud.instances i using (provider, instance_type, region)
    group by r.shape_id, i.type_key, i.provider, i.instance_type, i.gpu_model, i.gpu_count,
             i.gpu_memory_gb_per_gpu, i.gpu_memory_gb_total, i.vcpus, i.memory_gb
) s
join cloud.shape_prices(null) p using (shape_id);

-- The shapes with a row in the regions asked for: rows_in and the price arrays cover only
-- those regions.
create or replace function cloud.instance_shapes_in(regions text[])
returns setof cloud.instance_shapes
language sql stable
as $$
select
    s.shape_id, s.type_key, s.provider, s.instance_type, s.gpu_model, s.gpu_count,
    s.gpu_memory_gb_per_gpu, s.gpu_memory_gb_total, s.vcpus, s.memory_gb, s.row_count,
    s.cheapest_on_demand, s.cheapest_spot, s.provider_key, s.gpu_model_key, s.gpu_slice_gb,
    p.rows_in, p.on_demand_prices, p.on_demand_monthly, p.on_demand_regions,
    p.spot_prices, p.spot_monthly, p.spot_regions
from cloud.instance_shapes s
join cloud.shape_prices(regions) p using (shape_id)
$$;

-- Rows by provider, region and whether they have a GPU (a few hundred groups): a search
-- counts the rows it rejects on provider, region or "no GPU" here rather than shape by shape,
-- and takes its examples of them, the cheapest such types, in price order from the indexes.
create materialized view if not exists cloud.instance_row_counts as
select lower(provider collate "C") as provider_key, lower(region collate "C") as region_key,
       gpu_model is not null as has_gpu, count(*)::int as row_count
from cloud.instances
group by 1, 2, 3;

create index if not exists instance_shapes_on_demand_idx
    on cloud.instance_shapes (cheapest_on_demand, provider, instance_type);
create index if not exists instance_shapes_spot_idx
    on cloud.instance_shapes (cheapest_spot, provider, instance_type);
create index if not exists instance_shape_rows_shape_idx
    on cloud.instance_shape_rows (shape_id, region_key);

-- Rebuilds the three views from cloud.instances. Security definer: refreshing needs the
-- views' owner, whoever wrote the rows. A writer that bypasses triggers (a restore, a copy
-- under session_replication_role = replica) must call it itself.
create or replace function cloud.rebuild_instance_shapes() returns void
language plpgsql security definer set search_path = pg_catalog, pg_temp
as $$
begin
    refresh materialized view cloud.instance_shape_rows;
    refresh materialized view cloud.instance_shapes;
    refresh materialized view cloud.instance_row_counts;
end
$$;

-- Any write to the instances rebuilds the shapes in the same transaction (tens of ms), so no
-- writer, ingestion or a test's fixture, can leave the search reading a stale catalog.
create or replace function cloud.refresh_instance_shapes() returns trigger
language plpgsql
as $$
begin
    perform cloud.rebuild_instance_shapes();
    return null;
end
$$;

create or replace trigger instances_refresh_shapes
    after insert or update or delete or truncate on cloud.instances
    for each statement execute function cloud.refresh_instance_shapes();

grant select on cloud.instance_shape_rows, cloud.instance_shapes,
    cloud.instance_row_counts
    to authenticated;
grant execute on function cloud.shape_prices(text[]), cloud.instance_shapes_in(text[])
    to authenticated;
revoke execute on function cloud.rebuild_instance_shapes() from public;
