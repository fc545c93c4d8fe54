-- Chats: threads, runs and their streamed events, and vaulted provider keys. RLS by owner.
create schema if not exists chat;
grant usage on schema chat to authenticated;

create table if not exists chat.threads (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null,
    title text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    deleted_at timestamptz
);
create index if not exists threads_user_id_idx on chat.threads (user_id, updated_at desc);

create table if not exists chat.runs (
    id uuid primary key default gen_random_uuid(),
    thread_id uuid not null references chat.threads (id) on delete cascade,
    user_id uuid not null,
    status text not null default 'running' check (status in ('running', 'done', 'failed')),
    error text,
    created_at timestamptz not null default now(),
    heartbeat_at timestamptz not null default now(),
    finished_at timestamptz
);
-- One writer per thread: a second running run of the same thread violates this index.
create unique index if not exists runs_one_running_per_thread
    on chat.runs (thread_id) where status = 'running';
create index if not exists runs_user_id_idx on chat.runs (user_id);

create table if not exists chat.run_events (
    run_id uuid not null references chat.runs (id) on delete cascade,
    seq integer not null,
    user_id uuid not null,
    event text not null,
    data jsonb not null,
    created_at timestamptz not null default now(),
    primary key (run_id, seq)
);

create table if not exists chat.vaulted_keys (
    user_id uuid not null,
    provider text not null,
    ciphertext bytea not null,
    last_four text not null,
    key_version integer not null default 1,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    primary key (user_id, provider)
);

alter table chat.threads enable row level security;
alter table chat.runs enable row level security;
alter table chat.run_events enable row level security;
alter table chat.vaulted_keys enable row level security;

do $$
declare
    t text;
begin
    foreach t in array array['threads', 'runs', 'run_events', 'vaulted_keys'] loop
        if not exists (
            select 1 from pg_policies where schemaname = 'chat' and tablename = t
                and policyname = t || '_owner'
        ) then
            execute format(
                'create policy %I on chat.%I for all to authenticated '
                'using ((select auth.uid()) = user_id) '
                'with check ((select auth.uid()) = user_id)',
                t || '_owner', t
            );
        end if;
    end loop;
end
$$;

grant select, insert, update, delete on all tables in schema chat to authenticated;
