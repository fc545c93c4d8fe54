-- A counter that moves whenever a catalog the configuration search reads changes (an ingest,
-- or any statement that writes the instance, GPU or architecture tables), so that results
-- computed from those tables can be kept in memory and dropped as soon as they may be stale.
create table if not exists public.catalog_epoch (
    only_row boolean primary key default true check (only_row),
    epoch bigint not null default 0
);
insert into public.catalog_epoch (only_row, epoch) values (true, 0) on conflict do nothing;
grant select on public.catalog_epoch to authenticated;
-- Epochs come from a sequence, which a rollback does not take back: a change rolled back
-- leaves its epoch unused, so no later change can be mistaken for it.
create sequence if not exists public.catalog_epoch_seq;

create or replace function public.bump_catalog_epoch() returns trigger
language plpgsql as $$
begin
    update public.catalog_epoch set epoch = nextval('public.catalog_epoch_seq');
    return null;
end
$$;

drop trigger if exists catalog_epoch_instances on cloud.instances;
create trigger catalog_epoch_instances
    after insert or update or delete or truncate on cloud.instances
    for each statement execute function public.bump_catalog_epoch();
drop trigger if exists catalog_epoch_gpus on cloud.gpus;
create trigger catalog_epoch_gpus
    after insert or update or delete or truncate on cloud.gpus
    for each statement execute function public.bump_catalog_epoch();
drop trigger if exists catalog_epoch_architectures on hf.architectures;
create trigger catalog_epoch_architectures
    after insert or update or delete or truncate on hf.architectures
    for each statement execute function public.bump_catalog_epoch();
