-- Embedding cache: (model, sha256(text)) -> vector, expired by age.
create schema if not exists cache;

create table if not exists cache.embeddings (
    model text not null,
    text_sha256 bytea not null,
    embedding vector not null,
    created_at timestamptz not null default now(),
    primary key (model, text_sha256)
);
create index if not exists embeddings_created_idx on cache.embeddings (created_at);
