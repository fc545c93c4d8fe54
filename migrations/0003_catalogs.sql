-- Catalogs: cloud instances and GPU specs, Helm charts, Hugging Face models and their cards.
-- Written by ingestion only; the app role reads them.
create schema if not exists cloud;
create schema if not exists k8s;
create schema if not exists hf;

create table if not exists cloud.gpus (
    gpu_model text primary key,
    vendor text not null,
    memory_gb double precision,
    memory_type text,
    memory_bandwidth_gbps double precision,
    fp16_bf16_dense_tflops double precision,
    fp8_dense_tflops double precision,
    int8_dense_tops double precision,
    tdp_watts double precision,
    interconnect text,
    architecture text,
    compute_capability text,
    notes text,
    source text
);

create table if not exists cloud.instances (
    provider text not null,
    instance_type text not null,
    region text not null,
    vcpus double precision,
    memory_gb double precision,
    gpu_model text,
    gpu_count double precision not null default 0,
    gpu_memory_gb_per_gpu double precision,
    price_hourly_usd double precision,
    spot_price_hourly_usd double precision,
    gpu_memory_gb_total double precision not null default 0,
    catalog_source text not null,
    primary key (provider, instance_type, region)
);
create index if not exists instances_price_idx on cloud.instances (price_hourly_usd);
create index if not exists instances_gpu_idx on cloud.instances (gpu_model, gpu_memory_gb_total);

-- array_to_string is only stable; the generated column below needs an immutable spelling.
create or replace function k8s.join_words(words text[]) returns text
language sql immutable parallel safe
as $$ select coalesce(array_to_string(words, ' '), '') $$;

create table if not exists k8s.charts (
    name text not null,
    chart_repo text not null,
    version text,
    app_version text,
    description text,
    keywords text[] not null default '{}',
    home text,
    source text,
    category text,
    license text,
    deprecated boolean not null default false,
    dependencies text[] not null default '{}',
    kube_version text,
    chart_path text,
    -- Name outweighs keywords, which outweigh the description.
    search_tsv tsvector generated always as (
        setweight(to_tsvector('simple', coalesce(name, '')), 'A')
        || setweight(to_tsvector('english', k8s.join_words(keywords)), 'B')
        || setweight(to_tsvector('english', coalesce(description, '')), 'C')
    ) stored,
    primary key (name, chart_repo)
);
create index if not exists charts_search_idx on k8s.charts using gin (search_tsv);

create table if not exists hf.models (
    model_id text primary key,
    pipeline_tag text,
    license text,
    params_billion double precision,
    active_params_billion double precision,
    library text,
    context_length integer,
    min_vram_gb_fp16 double precision,
    description text,
    downloads bigint,
    likes bigint
);

create table if not exists hf.architectures (
    model_id text primary key,
    architecture text,
    num_hidden_layers integer not null,
    hidden_size integer not null,
    intermediate_size integer,
    num_attention_heads integer not null,
    num_key_value_heads integer not null,
    head_dim integer not null,
    vocab_size integer,
    max_position_embeddings integer,
    tie_word_embeddings boolean,
    is_moe boolean not null default false,
    num_experts integer,
    num_experts_per_tok integer,
    params_billion_total double precision,
    params_billion_active double precision,
    native_dtype text,
    sliding_window integer,
    kv_lora_rank integer,
    notes text,
    source text
);

-- A card is stored once per distinct text; models point at it.
create table if not exists hf.cards (
    card_hash text primary key,
    source text not null,
    content text not null,
    created_at timestamptz not null default now()
);

create table if not exists hf.model_to_card (
    model_id text primary key references hf.models (model_id) on delete cascade,
    card_hash text not null references hf.cards (card_hash) on delete cascade
);
create index if not exists model_to_card_card_idx on hf.model_to_card (card_hash);

create table if not exists hf.card_chunks (
    card_hash text not null references hf.cards (card_hash) on delete cascade,
    chunk_index integer not null,
    heading text,
    content text not null,
    token_count integer not null,
    embedding vector(384) not null,
    embedding_model_name text not null,
    chunker_version text not null,
    primary key (card_hash, chunk_index, embedding_model_name, chunker_version)
);
create index if not exists card_chunks_embedding_idx
    on hf.card_chunks using hnsw (embedding vector_cosine_ops);

-- What each catalog file was when it was last ingested, for plan provenance.
create table if not exists public.catalog_versions (
    catalog text primary key,
    file_sha256 text not null,
    row_count integer not null,
    ingested_at timestamptz not null default now()
);

grant usage on schema cloud, k8s, hf to authenticated;
grant select on all tables in schema cloud, k8s, hf to authenticated;
grant select on public.catalog_versions to authenticated;
