-- Per-user rate limits shared by every API replica: one token bucket per key.
-- Unlogged: a bucket is worth nothing after a crash (losing it only forgives a burst), so
-- its writes, one per limited request, skip the WAL.
create schema if not exists limits;

create unlogged table if not exists limits.rate_buckets (
    key text primary key,
    tokens double precision not null,
    admitted boolean not null,
    updated_at timestamptz not null default now()
);
create index if not exists rate_buckets_updated_idx on limits.rate_buckets (updated_at);
